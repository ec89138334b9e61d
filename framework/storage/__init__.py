"""Where the framework keeps its own state: a local folder or a gs:// location, one API.

`files` reads, writes, lists and deletes objects under either; `lease` is a lock that holds
across processes and hosts on object storage (create-if-absent with a generation
precondition, an expiry so that a dead holder does not block forever). TFX components keep
using their own file system layer (`tf.io.gfile`); this package is for what the framework
writes itself. It imports nothing else of the framework but its errors.
"""
