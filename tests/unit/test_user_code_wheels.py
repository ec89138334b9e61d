"""User-code wheels: built by TFX the first time, reused while the module folder is unchanged."""

import pytest


@pytest.fixture
def module_dir(tmp_path):
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / "trainer_module.py").write_text("def run_fn(args):\n    return 1\n")
    (folder / "helpers.py").write_text("VALUE = 1\n")
    return folder


def _package(module_dir, root):
    from tfx.components.util import udf_utils

    return udf_utils.package_user_module_file("Trainer", str(module_dir / "trainer_module.py"),
                                              str(root))


def test_second_packaging_reuses_the_wheel_without_building(module_dir, tmp_path, monkeypatch):
    from tfx.components.util import udf_utils

    from framework.runners.user_code_wheels import reuse_built_wheels

    root = tmp_path / "pipeline_root"
    with reuse_built_wheels():
        first = _package(module_dir, root)  # nothing built yet: TFX builds it
    assert first[1] == f"trainer_module@{first[0]}" and first[0].endswith("-py3-none-any.whl")

    def no_build(*args):
        raise AssertionError("built again")

    monkeypatch.setattr(udf_utils, "package_user_module_file", no_build)
    with reuse_built_wheels():
        assert _package(module_dir, root) == first
    assert udf_utils.package_user_module_file is no_build  # restored on the way out


def test_an_edited_file_beside_the_module_gets_a_new_wheel(module_dir, tmp_path):
    from framework.runners.user_code_wheels import existing_wheel, reuse_built_wheels

    root = tmp_path / "pipeline_root"
    with reuse_built_wheels():
        first, _ = _package(module_dir, root)
        (module_dir / "helpers.py").write_text("VALUE = 2\n")
        assert existing_wheel("Trainer", str(module_dir / "trainer_module.py"), str(root)) is None
        second, _ = _package(module_dir, root)
    assert second != first
    # another component's wheel of the same files is not taken for this one
    assert existing_wheel("Transform", str(module_dir / "trainer_module.py"), str(root)) is None
