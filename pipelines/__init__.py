"""Pipeline packages: each sub-package is one pipeline (see framework/pipeline/discovery.py)."""
