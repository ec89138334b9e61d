"""`mlops serve`: the local prediction service (TensorFlow Serving's REST and gRPC APIs)."""

from __future__ import annotations

from framework.commands._common import add_pipeline_env, run_until_stopped

NAME = "serve"
HELP = ("serve the registry's production and canary versions over the TF Serving REST and "
        "gRPC APIs")


def add_arguments(parser) -> None:
    add_pipeline_env(parser)
    parser.add_argument("--host", default=None,
                        help="address to bind (default: release.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None,
                        help="port (default: release.port, 8501; 0 picks a free one)")
    parser.add_argument("--grpc-port", type=int, default=None,
                        help="gRPC port (default: release.grpc_port, 8500; 0 turns gRPC off)")
    parser.add_argument("--threads", type=int, default=None,
                        help="REST worker threads (default: release.threads)")


def run(args) -> int:
    import logging

    from framework.serving.app import service_from_settings
    from framework.serving.server import (
        grpc_address,
        make_grpc_server,
        make_server,
        stop_grpc_server,
        stop_server,
    )
    from framework.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    settings = load_settings(args.pipeline, args.env)
    release = settings.release
    host = args.host or release.host
    port = release.port if args.port is None else args.port
    service = service_from_settings(settings)
    threads = args.threads or release.threads
    grpc_port = release.grpc_port if args.grpc_port is None else args.grpc_port
    server = make_server(service, host, port, threads)
    grpc_server = None
    if grpc_port:  # 0: REST only
        try:
            grpc_server, grpc_port = make_grpc_server(service, host, grpc_port, threads,
                                                      release.grpc_max_message_bytes)
        except BaseException:
            stop_server(server)
            service.stop_watching()
            raise
    routing = service.routing
    traffic = ", ".join(f"{v}: {p}%" for v, p in routing.traffic.items())
    grpc_text = f"gRPC on {grpc_address(host, grpc_port)}" if grpc_server else "gRPC off"
    # benchmarks/ and tests/ read the REST address from this line: keep "on http://...".
    print(f"serving {service.model_name} on http://{host}:{server.effective_port}"
          f"/v1/models/{service.model_name} ({traffic}); {grpc_text}; Ctrl-C stops",
          flush=True)

    def stop() -> None:
        if grpc_server is not None:
            stop_grpc_server(grpc_server)
        stop_server(server)
        service.stop_watching()
        service.stats.stop_writer()
        if service.outcomes is not None:
            service.outcomes.stop_writer()

    run_until_stopped(server.run, stop)
    return 0
