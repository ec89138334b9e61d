"""Pipeline packages: each sub-package is one pipeline (see framework/discovery.py)."""
