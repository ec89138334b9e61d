"""Cross-cutting leaves every layer may import: errors, progress, network probe, speedups.

Nothing here imports another framework package.
"""
