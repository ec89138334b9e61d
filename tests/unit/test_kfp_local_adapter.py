"""The rehearsal's seams in kfp.local: the artifact-type fix, the version check, the restore."""

from __future__ import annotations

import pytest

EXAMPLES = "title: tfx.Examples\ntype: object\n"


def _component_spec():
    from kfp.pipeline_spec import pipeline_spec_pb2 as pb

    spec = pb.ComponentSpec()
    spec.input_definitions.artifacts["examples"].artifact_type.instance_schema = EXAMPLES
    return spec


def test_kfp_local_alone_hands_tfx_a_generic_artifact_type():
    """The limitation itself: without the adapter the instanceSchema is lost."""
    from kfp import dsl
    from kfp.local import executor_input_utils

    upstream = dsl.Artifact(name="examples", uri="/root/x/examples", metadata={})
    made = executor_input_utils.construct_executor_input(
        component_spec=_component_spec(), arguments={"examples": upstream},
        task_root="/root/x/task", block_input_artifact=False)
    [artifact] = made.inputs.artifacts["examples"].artifacts
    assert artifact.type.schema_title == "system.Artifact"
    assert artifact.type.instance_schema == ""


def test_restore_input_types_gives_each_input_the_type_its_consumer_declares():
    from kfp import dsl
    from kfp.local import executor_input_utils

    from framework.rehearsal.kfp_local_adapter import restore_input_types

    component = _component_spec()
    upstream = dsl.Artifact(name="examples", uri="/root/x/examples", metadata={"span": 0})
    made = executor_input_utils.construct_executor_input(
        component_spec=component, arguments={"examples": upstream}, task_root="/root/x/task",
        block_input_artifact=False)
    [artifact] = restore_input_types(made, component).inputs.artifacts["examples"].artifacts
    assert artifact.type.instance_schema == EXAMPLES
    assert artifact.uri == "/root/x/examples" and artifact.metadata["span"] == 0


def test_another_kfp_version_is_refused_in_one_line(monkeypatch):
    import kfp

    from framework.core.errors import UserError
    from framework.rehearsal.kfp_local_adapter import check_version

    assert check_version() == kfp.__version__
    monkeypatch.setattr(kfp, "__version__", "2.14.0")
    with pytest.raises(UserError, match=r"supports kfp 2\.13\.x .* kfp 2\.14\.0 is installed"):
        check_version()


def test_a_seam_missing_from_kfp_is_refused(monkeypatch):
    from kfp.local import docker_task_handler

    from framework.core.errors import UserError
    from framework.rehearsal.kfp_local_adapter import check_version

    monkeypatch.delattr(docker_task_handler, "run_docker_container")
    with pytest.raises(UserError, match="run_docker_container is missing"):
        check_version()


def test_kfp_local_is_patched_only_inside_adapted(tmp_path):
    from kfp.local import docker_task_handler, executor_input_utils, task_dispatcher

    from framework.rehearsal.kfp_local_adapter import Observed, adapted

    originals = (executor_input_utils.construct_executor_input,
                 task_dispatcher.run_single_task_implementation,
                 docker_task_handler.run_docker_container)
    with pytest.raises(RuntimeError, match="inside"):
        with adapted(Observed(tmp_path)):
            assert executor_input_utils.construct_executor_input is not originals[0]
            assert task_dispatcher.run_single_task_implementation is not originals[1]
            raise RuntimeError("inside")
    assert (executor_input_utils.construct_executor_input,
            task_dispatcher.run_single_task_implementation,
            docker_task_handler.run_docker_container) == originals
