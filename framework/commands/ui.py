"""`mlops ui`: a local, read-only dashboard of runs, data, models, lineage, CT and release."""

from __future__ import annotations

from framework.commands._common import add_pipeline_env, run_until_stopped

NAME = "ui"
HELP = ("a local read-only dashboard: runs, data, model, lineage, continuous training, "
        "release")
DEFAULT_PORT = 8765


def add_arguments(parser) -> None:
    add_pipeline_env(parser)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default: {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: 127.0.0.1, this machine only)")


def _warm_up(app) -> None:
    """Load what the Data, Model and Run pages need (TFMA, TFDV, the pipeline's definition)
    while the first pages are read, so the first click on them is not the slow one."""
    import logging

    try:
        import tensorflow_data_validation  # noqa: F401
        import tensorflow_model_analysis  # noqa: F401

        app.source.definition(app.source.pipeline)
    except Exception as exc:  # a page that needs them says so when it is opened
        logging.getLogger("mlops.ui").warning("warm-up: %s: %s", type(exc).__name__, exc)


def run(args) -> int:
    import logging
    import threading

    from framework.core.errors import UserError
    from framework.ct.quiet import quiet_libraries
    from framework.settings import load_settings
    from framework.ui.app import Dashboard, plotly_js_path
    from framework.ui.server import is_loopback, make_server, stop_server

    quiet_libraries()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        datefmt="%H:%M:%S")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {args.port}")
    settings = load_settings(args.pipeline, args.env)
    app = Dashboard(settings)
    server = make_server(app, args.host, args.port)
    host = f"[{args.host}]" if ":" in args.host else args.host
    if not is_loopback(args.host):
        print(f"warning: --host {args.host}: the dashboard is reachable from other machines, "
              "without a login; it shows run logs, paths and metrics (read-only)", flush=True)
    if plotly_js_path() is None:
        print("warning: plotly is not installed: pages show tables without charts "
              "(pip install plotly)", flush=True)
    print(f"dashboard of {settings.pipeline.name} [{settings.env}] on "
          f"http://{host}:{server.effective_port} (read-only; Ctrl-C stops)", flush=True)
    threading.Thread(target=_warm_up, args=(app,), name="warm-up", daemon=True).start()

    run_until_stopped(server.run, lambda: stop_server(server))
    return 0
