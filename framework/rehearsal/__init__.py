"""The production rehearsal: the compiled Kubeflow or Vertex spec, run in its image here.

`rehearse.py` drives it; `local_spec.py` makes the spec runnable on one machine and lists
every change; `checks.py` stops a rehearsal that cannot work before any container starts;
`kfp_local_adapter.py` holds the seams inside kfp.local, checked against its version.
"""
