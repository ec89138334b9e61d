"""`mlops ui`: a local, read-only dashboard over the stores the other commands use.

- `source`: the ML-Metadata store opened read-only, and the queries every page shares
  (runs of a pipeline by their contexts, the node of an execution), with small caches.
- one module per page's data, each a set of functions returning plain dicts from the
  stores: `runs`, `run`, `data`, `model`, `lineage`, `ct`, `release`;
- `dag` (the pipeline graph as SVG) and `charts` (figures for plotly.js, as plain dicts);
- `app`: the WSGI application (routing, templates, static files), `server`: waitress.

Nothing here writes: not to ML-Metadata (SQLite is opened read-only), not to the release
registry (read, never synced), not to the CT history.
"""
