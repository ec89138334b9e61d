"""Sub-commands of `mlops`; every public module here is one (see framework/cli.py)."""
