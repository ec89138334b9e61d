"""ML-Metadata: the store connection (store), lineage queries (lineage) and what a finished
run produced (outcome). Import the submodules; this package re-exports nothing.
"""
