"""DataflowRunner arguments, checked with Beam's own option parser and validator.

The arguments themselves come from `framework.pipeline.pipeline_support.beam_args(settings)`; this
module says, one line each, what Beam would reject, before anything is compiled.
"""

from __future__ import annotations

import contextlib
import io


class _Runner:
    """Stands in for DataflowRunner in Beam's validator (it only looks at the class name)."""

    @staticmethod
    def get_default_gcp_region():
        return None  # never ask gcloud: a missing region must be reported, not guessed


_Runner.__name__ = "DataflowRunner"


def check_beam_args(args: list[str]) -> list[str]:
    """Problems Beam finds in `args`: unknown options, bad values, what Dataflow requires."""
    import logging

    from apache_beam.options import pipeline_options as po
    from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator

    problems: list[str] = []
    parser = po._BeamArgumentParser()
    for cls in {str(c): c for c in po.PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            _, unknown = parser.parse_known_args(args)
    except SystemExit:
        lines = [line for line in err.getvalue().splitlines() if line.strip()]
        message = lines[-1].split("error:", 1)[-1].strip() if lines else "unparseable arguments"
        return [f"Beam rejects the arguments: {message}"]
    for flag in unknown:
        if flag.startswith("-"):
            problems.append(f"Beam does not know the option {flag.split('=', 1)[0]}")
    beam_logger = logging.getLogger("apache_beam.options.pipeline_options")
    previous = beam_logger.level
    beam_logger.setLevel(logging.ERROR)  # we report unknown options ourselves
    try:
        options = po.PipelineOptions(args)
        runner = options.view_as(po.StandardOptions).runner
        if runner == "DataflowRunner":
            errors = _validate(options, PipelineOptionsValidator)
            problems += [f"Dataflow: {e.strip()}" for e in errors]
            worker = options.view_as(po.WorkerOptions)
            setup = options.view_as(po.SetupOptions)
            if not (worker.sdk_container_image or setup.setup_file or setup.requirements_file
                    or setup.extra_packages):
                problems.append(
                    "Dataflow: no way for the user code to reach the workers: "
                    "dataflow.sdk_container_image defaults to the pipeline image, which needs "
                    "image.repository and a tag (--tag, --manifest or image.tag); or set "
                    "dataflow.sdk_container_image or dataflow.setup_file")
    finally:
        beam_logger.setLevel(previous)
    return problems


def _validate(options, validator_class) -> list[str]:
    """Beam's validation for DataflowRunner, without its network calls.

    GoogleCloudOptions.validate looks up (and may create) GCS buckets; its pure checks
    (gs:// paths, project id, region) are run here directly instead.
    """
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    validator = validator_class(options, _Runner())
    errors: list[str] = []
    for cls in validator.OPTIONS:
        if cls is GoogleCloudOptions:
            continue
        if "validate" in cls.__dict__ and callable(cls.__dict__["validate"]):
            errors.extend(options.view_as(cls).validate(validator))
    cloud = options.view_as(GoogleCloudOptions)
    for name in ("temp_location", "staging_location"):
        if getattr(cloud, name, None) is not None or name == "temp_location":
            errors.extend(validator.validate_gcs_path(cloud, name))
    errors.extend(validator.validate_cloud_options(cloud))
    return errors


def dataflow_args(settings) -> list[str]:
    """The DataflowRunner arguments settings produce (empty for DirectRunner)."""
    from framework.pipeline.pipeline_support import beam_args

    if settings.beam.runner != "DataflowRunner":
        return []
    return beam_args(settings)
