"""`mlops serve`: the local prediction service (TensorFlow Serving REST API)."""

from __future__ import annotations

from framework.commands._common import add_pipeline_env

NAME = "serve"
HELP = "serve the registry's production and canary versions over the TF Serving REST API"


def add_arguments(parser) -> None:
    add_pipeline_env(parser)
    parser.add_argument("--host", default=None,
                        help="address to bind (default: release.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default: release.port, 8501; 0 picks a free one)")
    parser.add_argument("--threads", type=int, default=None,
                        help="worker threads (default: release.threads)")


def run(args) -> int:
    import logging
    import signal

    from framework.serving.app import service_from_settings
    from framework.serving.server import make_server, stop_server
    from framework.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    settings = load_settings(args.pipeline, args.env)
    release = settings.release
    host = args.host or release.host
    port = release.port if args.port is None else args.port
    service = service_from_settings(settings)
    server = make_server(service, host, port, args.threads or release.threads)
    routing = service.routing
    traffic = ", ".join(f"{v}: {p}%" for v, p in routing.traffic.items())
    print(f"serving {service.model_name} on http://{host}:{server.effective_port}"
          f"/v1/models/{service.model_name} ({traffic}); Ctrl-C stops", flush=True)

    def _terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        stop_server(server)
        service.stop_watching()
        service.stats.stop_writer()
    print("stopped", flush=True)
    return 0
