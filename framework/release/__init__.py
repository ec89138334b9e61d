"""Safe release: a model registry kept as data, traffic derived from it, and targets.

- `registry`: versions and stages (candidate, canary, production, archived), the last-good
  pointer and the history, in one JSON file written atomically under a file lock.
- `routing`: which version answers a request (weighted split, optionally sticky by header).
- `stats` and `policy`: per-version counters and latency, and the automatic rollback rule.
- `kserve` and `vertex`: the same state rendered for production targets.

Nothing here imports TensorFlow; the server in `framework.serving` does.
"""
