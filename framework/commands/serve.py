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
                        help="threads for model calls that are not batched "
                             "(default: release.threads)")


def run(args) -> int:
    import logging
    import threading

    from framework.serving.app import service_from_settings
    from framework.serving.server import serve
    from framework.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    settings = load_settings(args.pipeline, args.env)
    release = settings.release
    host = args.host or release.host
    port = release.port if args.port is None else args.port
    service = service_from_settings(settings, threads=args.threads)
    grpc_port = release.grpc_port if args.grpc_port is None else args.grpc_port
    server = serve(service, host, port, grpc_port or None,  # 0: REST only
                   release.grpc_max_message_bytes)
    traffic = ", ".join(f"{v}: {p}%" for v, p in service.routing.traffic.items())
    grpc_text = f"gRPC on {server.grpc_address}" if server.grpc else "gRPC off"
    # benchmarks/ and tests/ read the REST address from this line: keep "on http://...".
    print(f"serving {service.model_name} on {server.url}/v1/models/{service.model_name} "
          f"({traffic}); {grpc_text}; Ctrl-C stops", flush=True)
    run_until_stopped(threading.Event().wait, server.stop)  # the loop thread serves
    return 0
