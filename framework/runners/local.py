"""The local runner: TFX's portable launcher, node by node, Beam DirectRunner, SQLite MLMD.

It follows tfx.orchestration.local.LocalDagRunner, with what a user at a terminal needs
added: progress per component (cached or not, duration), TFX's log flood sent to a log file
unless --verbose, one clear line when a component fails, a lock so two runs never write the
same SQLite store at once, and a RunResult read back from ML-Metadata.
"""

from __future__ import annotations

import datetime
import os
import time
from contextlib import contextmanager
from pathlib import Path

from framework.core.errors import RunFailedError, ValidationGateError
from framework.runners.base import ComponentResult, Runner, RunResult
from framework.runners.log_capture import quiet_logs

GATE_NODE = "ValidationGate"
GATE_ERROR_PREFIX = "data validation failed"  # as raised by components/validation_gate.py


@contextmanager
def metadata_lock(path: str, progress):
    """Serialise runs that share one SQLite store (SQLite allows one writer)."""
    import fcntl

    lock_path = f"{path}.lock"
    os.makedirs(os.path.dirname(lock_path) or ".", exist_ok=True)
    with open(lock_path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress.message(f"waiting: another run is using {path} ...")
            fcntl.flock(handle, fcntl.LOCK_EX)
            progress.message("the other run finished; starting")
        yield


def _short_error(exc: BaseException) -> str:
    """The exception's first line, named by its type unless it is a plain RuntimeError."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if type(exc) is RuntimeError and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_gate_refusal(node_id: str, message: str) -> bool:
    """The validation gate stopping the run on anomalies: its one line says it all."""
    return node_id == GATE_NODE and message.startswith(GATE_ERROR_PREFIX)


def _log_failure(node_id: str, exc: BaseException, where: str | None) -> None:
    """The whole traceback, into the run's log (fd 2 is the log file unless --verbose): the
    terminal's one line cannot hold it, and TFX's launcher does not log it."""
    import sys
    import traceback

    origin = f" in the pipeline package at {where}" if where else ""
    print(f"{node_id} failed{origin}:", file=sys.stderr)
    traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.flush()


def default_log_dir(settings) -> str:
    """<pipeline_root>/logs, or a local folder when the root is remote (the log is a local
    file the run appends to; `Path("gs://...")` would be a folder named `gs:`)."""
    from framework.storage import files

    root = settings.pipeline.pipeline_root
    if files.is_remote(root):
        from framework.pipeline.discovery import project_root

        return str(project_root() / ".mlops" / "logs" / settings.pipeline.name)
    return os.path.join(root, "logs")


class LocalRunner(Runner):
    name = "local"

    def __init__(self, settings, *, verbose: bool = False, log_dir: str | None = None, **options):
        super().__init__(settings, **options)
        self.verbose = verbose
        self.log_dir = log_dir

    def _log_file(self, run_id: str) -> Path | None:
        if self.verbose:
            return None
        return Path(self.log_dir or default_log_dir(self.settings)) / \
            f"{run_id.replace(':', '-')}.log"

    def run(self, progress=None) -> RunResult:
        from framework.core.progress import ConsoleProgress
        from framework.pipeline.data_checks import check_local_inputs

        progress = progress or ConsoleProgress()
        self._check_beam()
        rows = check_local_inputs(self.settings)
        if rows:
            progress.message(f"input data: {rows} rows checked under {self.settings.pipeline.data_root}")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        run_id = datetime.datetime.now().isoformat()
        log_file = self._log_file(run_id)
        started = time.monotonic()
        with self._store_guard(progress), self._beam_services(run_id, progress):
            self._cancel_orphans(progress)
            with quiet_logs(log_file, progress):
                result = self._run(run_id, progress)
        result.seconds = time.monotonic() - started
        if not result.succeeded and log_file is not None:
            result.error = f"{result.error} (full log: {log_file})"
        return result

    @property
    def _shared_store(self) -> bool:
        """A MySQL store: runs on other processes and hosts write it at the same time."""
        return self.settings.metadata.mysql is not None

    @contextmanager
    def _store_guard(self, progress):
        """SQLite allows one writer: runs on one store take turns. MySQL takes them all."""
        if self._shared_store:
            from framework.metadata.store import open_store

            with open_store(self.settings):  # a wrong password or no server: stop here
                pass
            yield
            return
        with metadata_lock(self.settings.metadata.sqlite_path, progress):
            yield

    def _cancel_orphans(self, progress) -> None:
        from framework.metadata.store import cancel_orphaned_executions, open_store

        sqlite = self.settings.metadata.sqlite_path
        if not self._shared_store and not (sqlite and os.path.exists(sqlite)):
            return
        with open_store(self.settings) as store:
            count, left = cancel_orphaned_executions(
                store, self.settings.pipeline.name, sole_writer=not self._shared_store)
        if count:
            progress.message(f"marked {count} execution(s) left running by an interrupted run as canceled")
        if left:
            progress.message(f"{left} execution(s) of other runs are running (here or on another "
                             "host): left as they are")

    def _compile(self, run_id: str):
        from tfx.dsl.compiler import compiler, constants
        from tfx.dsl.components.base import base_component
        from tfx.orchestration.portable import runtime_parameter_utils

        from framework.metadata.store import connection_config
        from framework.runners.user_code_wheels import reuse_built_wheels

        pipeline = self.build_pipeline()
        pipeline.metadata_connection_config = connection_config(self.settings)
        with reuse_built_wheels():
            for component in pipeline.components:
                if isinstance(component, base_component.BaseComponent):
                    # Packages module_file user code as a wheel, as LocalDagRunner does.
                    component._resolve_pip_dependencies(pipeline.pipeline_info.pipeline_root)
        ir = compiler.Compiler().compile(pipeline)
        runtime_parameter_utils.substitute_runtime_parameter(
            ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
        )
        return ir

    def _run(self, run_id: str, progress) -> RunResult:
        from tfx.orchestration import metadata
        from tfx.orchestration.local import runner_utils
        from tfx.orchestration.portable import launcher

        from framework.core import speedups

        with speedups.running_here(self.settings):  # components run in this process
            ir = self._compile(run_id)
        deployment = runner_utils.extract_local_deployment_config(ir)
        conn = deployment.metadata_connection_config
        conn = getattr(conn, conn.WhichOneof("connection_config"))
        nodes = [n.pipeline_node for n in ir.nodes]
        names = [n.node_info.id for n in nodes]
        result = RunResult(self.settings.pipeline.name, run_id, self.name, succeeded=False)
        progress.pipeline_started(self.settings.pipeline.name, run_id, names,
                                  f"local (Beam {_beam_label(self.settings.beam)})")
        self._record_owner(run_id)
        for index, node in enumerate(nodes, start=1):
            node_id = node.node_info.id
            if node.execution_options.HasField("skip"):
                result.components.append(ComponentResult(node_id, "skipped"))
                continue
            progress.component_started(index, node_id)
            t0 = time.monotonic()
            node_launcher = launcher.Launcher(
                pipeline_node=node,
                mlmd_connection=metadata.Metadata(conn),
                pipeline_info=ir.pipeline_info,
                pipeline_runtime_spec=ir.runtime_spec,
                executor_spec=runner_utils.extract_executor_spec(deployment, node_id),
                custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment, node_id),
            )
            try:
                info = node_launcher.launch()
            except Exception as exc:  # the component failed: report it, stop the run
                seconds = time.monotonic() - t0
                where = self._package_location(exc)
                if not _is_gate_refusal(node_id, str(exc)):  # a refusal of the data, not a bug
                    _log_failure(node_id, exc, where)
                error = self._store_lost() or self._workers_lost() or \
                    _short_error(exc) + (f" at {where}" if where else "")
                progress.component_finished(index, node_id, "FAILED", seconds)
                result.components.append(ComponentResult(node_id, "failed", seconds, error))
                result.error = f"{node_id} failed: {error}"
                for rest in names[index:]:
                    result.components.append(ComponentResult(rest, "skipped"))
                return result
            seconds = time.monotonic() - t0
            state = self._state(conn, info)
            progress.component_finished(index, node_id, state, seconds)
            result.components.append(ComponentResult(node_id, state, seconds))
        result.succeeded = True
        self._read_outcome(result)
        return result

    def _check_beam(self) -> None:
        """A portable runner's settings, checked before anything runs (one line, the first)."""
        from framework.core.errors import SettingsError, UserError
        from framework.core.net import answers
        from framework.production.portable import check_portable, split_endpoint

        problems = check_portable(self.settings)
        if problems:
            more = f" ({len(problems) - 1} more: mlops check)" if len(problems) > 1 else ""
            raise SettingsError(f"{self.settings.source}: {problems[0]}{more}")
        portable = self.settings.beam.portable
        if self.settings.beam.runner == "PortableRunner" and not portable.local_services:
            host, port = split_endpoint(portable.job_endpoint)
            if not answers(host, port):
                raise UserError(f"no Beam job service answers at {portable.job_endpoint} "
                                "(beam.portable.job_endpoint): is the Flink or Spark job "
                                "server running?")

    @contextmanager
    def _beam_services(self, run_id: str, progress):
        """Beam's own job service and worker pool for this run, when settings ask for them."""
        portable = self.settings.beam.portable
        if self.settings.beam.runner != "PortableRunner" or not portable.local_services:
            self._services = {}
            yield
            return
        from framework.runners.beam_services import local_services

        log_dir = Path(self._log_file(run_id) or default_log_dir(self.settings)).parent
        declared = self.settings
        with local_services(declared, log_dir, progress.message) as (live, services):
            self.settings, self._services = live, services
            try:
                yield
            finally:
                self.settings, self._services = declared, {}

    def _package_location(self, exc: BaseException) -> str | None:
        """'file:line' in the pipeline package where `exc` came from (the user's code)."""
        from framework.core.errors import UserError
        from framework.pipeline.discovery import find_pipeline, package_location

        try:
            return package_location(exc, find_pipeline(self.settings.pipeline.name).folder)
        except UserError:  # settings made up without a package (tests): no file to name
            return None

    def _workers_lost(self) -> str | None:
        """What to say when a component failed because the worker pool died."""
        pool = getattr(self, "_services", {}).get("worker pool")
        if pool is None or pool.poll() is None:
            return None
        return (f"the Beam SDK worker pool stopped (exit code {pool.returncode}) while the "
                "run needed it; run again: finished components come from the cache")

    def _record_owner(self, run_id: str) -> None:
        from framework.metadata.store import open_store, record_run_owner

        with open_store(self.settings) as store:
            record_run_owner(store, self.settings.pipeline.name, run_id)

    def _store_lost(self) -> str | None:
        """What to say when a component failed because the MySQL server went away."""
        from framework.core.net import answers
        from framework.metadata.store import describe_store

        mysql = self.settings.metadata.mysql
        if mysql is None or answers(mysql.host, mysql.port):
            return None
        return (f"the ML-Metadata server went away ({describe_store(self.settings)} does not "
                "answer); start it and run again: finished components come from the cache")

    @staticmethod
    def _state(conn, info) -> str:
        from tfx.orchestration import metadata

        from framework.metadata.store import STATE_NAMES

        if info is None or info.execution_id is None:
            return "skipped"
        with metadata.Metadata(conn) as m:
            [execution] = m.store.get_executions_by_id([info.execution_id])
        return STATE_NAMES.get(execution.last_known_state, "?")

    def _read_outcome(self, result: RunResult) -> None:
        from framework.metadata.outcome import read_outcome

        with_store = read_outcome(self.settings, result.run_id)
        result.metrics, result.blessed, result.pushed_model = with_store


def raise_for_result(result: RunResult) -> None:
    """Turn a failed RunResult into the one-line error the CLI prints."""
    if result.succeeded:
        return
    failed = [c for c in result.components if c.state == "failed"]
    if failed and _is_gate_refusal(failed[0].name, failed[0].error or ""):
        raise ValidationGateError(
            f"run stopped before Transform and Trainer: {failed[0].error}; nothing was pushed"
        )
    raise RunFailedError(result.error or "the run failed")


def _beam_label(beam) -> str:
    """How Beam runs, for the run's first line: DirectRunner's mode, or the runner's name."""
    if beam.runner == "DirectRunner":
        return beam.direct_running_mode
    workers = beam.portable.sdk_worker_parallelism
    return beam.runner + (f", {workers} SDK workers" if workers else "")
