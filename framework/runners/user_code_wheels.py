"""User-code wheels built once per content, not once per run.

TFX packages a component's module file, with every .py file beside it, into a wheel under
`<pipeline_root>/_wheels` whose version is a hash of those files
(`tfx_user_code_<component>-0.0+<sha256>-py3-none-any.whl`), and LocalDagRunner builds it
again on every run: one `setup.py bdist_wheel` subprocess per component, about 0.6 s each,
which was an eighth of an unchanged re-run. A wheel whose name already carries the current
hash holds exactly these files (TFX writes it through a temporary file and a rename), so
it is reused.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def existing_wheel(instance_name: str, module_path: str, pipeline_root: str) -> str | None:
    """The wheel TFX would build for this module's folder as it is now, if already built."""
    from tfx.components.util import udf_utils
    from tfx.dsl.io import fileio

    directory = os.path.dirname(os.path.abspath(module_path))
    sources = [name for name in os.listdir(directory) if name.endswith(".py")]
    version = udf_utils._get_version_hash(directory, sources)
    wanted = _normal(f"tfx-user-code-{instance_name}")
    pattern = os.path.join(pipeline_root, "_wheels", f"*-0.0+{version}-py3-none-any.whl")
    for path in fileio.glob(pattern):
        if _normal(os.path.basename(path).split("-", 1)[0]) == wanted:
            return path
    return None


@contextmanager
def reuse_built_wheels():
    """While open, TFX's wheel packaging returns an already built wheel when there is one."""
    from tfx.components.util import udf_utils

    build = udf_utils.package_user_module_file

    def package(instance_name: str, module_path: str, pipeline_root: str):
        wheel = existing_wheel(instance_name, module_path, pipeline_root)
        if wheel is None:
            return build(instance_name, module_path, pipeline_root)
        module_name = re.sub(r"\.py$", "", os.path.basename(module_path))
        return wheel, f"{module_name}@{wheel}"  # TFX's user-module key format

    udf_utils.package_user_module_file = package
    try:
        yield
    finally:
        udf_utils.package_user_module_file = build
