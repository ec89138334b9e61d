"""Servers that answer without doing any work, for serving_bench.py's floor: the latency and
throughput that the HTTP and gRPC stacks and the benchmark's own clients reach on this
machine when the prediction service costs nothing.

    python benchmarks/empty_servers.py rest|grpc PORT

REST: tornado's HTTP server on asyncio (as `mlops serve`), answering every request with a
fixed TensorFlow Serving-style JSON body. gRPC: grpc.aio (as `mlops serve`), PredictionService
.Predict answering an empty PredictResponse. Prints "ready" once listening.
"""

from __future__ import annotations

import sys

ANSWER = b'{"predictions": [[0.5]]}'


def rest(port: int) -> None:
    import asyncio

    from tornado.web import Application, RequestHandler

    class Empty(RequestHandler):
        def post(self, *_):
            self.set_header("Content-Type", "application/json")
            self.finish(ANSWER)

    async def serve():
        app = Application([(r".*", Empty)], log_function=lambda handler: None)
        app.listen(port, "127.0.0.1")
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


def grpc_server(port: int) -> None:
    import asyncio

    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Empty(prediction_service_pb2_grpc.PredictionServiceServicer):
        async def Predict(self, request, context):
            return predict_pb2.PredictResponse()

    async def serve():
        server = grpc.aio.server()
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Empty(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        print("ready", flush=True)
        await server.wait_for_termination()

    asyncio.run(serve())


if __name__ == "__main__":
    {"rest": rest, "grpc": grpc_server}[sys.argv[1]](int(sys.argv[2]))
