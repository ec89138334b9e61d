"""Beam's own portable job service, with each job spread over `sdk_worker_parallelism` workers.

    python -m framework.runners.beam_job_service --port N   (the arguments of Beam's
    apache_beam.runners.portability.local_job_service_main)

Beam's local job service runs each job on an FnApiRunner that it enters through
`run_via_runner_api`, which skips the place where FnApiRunner reads its worker count from the
options: every job runs on one SDK worker, whatever `--sdk_worker_parallelism` says. Flink's
and Spark's job servers honour that option; this job service does too, so a run here spreads
each stage's bundles over that many workers of the EXTERNAL pool, as a cluster would.

The count is set on FnApiRunner's private `_num_workers`, written for Beam 2.59: on another
Beam, or if that attribute is gone, the service runs as Beam ships it (one worker) and says
so once in its log.
"""

from __future__ import annotations

import logging
import sys

_LOG = logging.getLogger(__name__)
WRITTEN_FOR = "2.59."


def _counted_job_class(local_job_service):
    from apache_beam.options.pipeline_options import PortableOptions
    from apache_beam.portability.api import beam_job_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    class CountedBeamJob(local_job_service.BeamJob):
        def _invoke_runner(self):
            self.set_state(beam_job_api_pb2.JobState.RUNNING)
            runner = fn_runner.FnApiRunner(provision_info=self._provision_info)
            options = self.pipeline_options()
            # Options arrive through the Job API as a proto Struct: the count may be a string.
            workers = int(options.view_as(PortableOptions).sdk_worker_parallelism or 1)
            runner._num_workers = max(1, workers)
            return runner.run_via_runner_api(self._pipeline_proto, options)

    return CountedBeamJob


def install() -> bool:
    """Make the local job service count workers; False (and one log line) if it cannot."""
    from importlib.metadata import version

    from apache_beam.runners.portability import local_job_service
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    beam = version("apache-beam")
    probe = fn_runner.FnApiRunner()
    if (not beam.startswith(WRITTEN_FOR) or not hasattr(probe, "_num_workers")
            or not hasattr(local_job_service.BeamJob, "_invoke_runner")):
        _LOG.warning("apache-beam %s: jobs run on one SDK worker (worker count written for "
                     "Beam %sx)", beam, WRITTEN_FOR)
        return False
    # create_beam_job() looks BeamJob up in its module on each call.
    local_job_service.BeamJob = _counted_job_class(local_job_service)
    return True


def main(argv: list[str]) -> None:
    import signal

    from apache_beam.runners.portability import local_job_service_main

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # as Beam's own main does
    logging.basicConfig(level=logging.INFO)
    install()
    local_job_service_main.run(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
