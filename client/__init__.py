"""Python client for the kgreason Reasoner and GraphAdmin services.

Needs only grpcio and protobuf, so other services can install it without torch, DGL or
transformers.

    from client import ReasonerClient

    with ReasonerClient("127.0.0.1:50051") as reasoner:
        response = reasoner.verify("aspirin", "treats", "headache")
        for verdict in reasoner.verify_stream(claims):  # claims: mappings or 3-tuples
            ...
"""
from client.client import AsyncReasonerClient, ReasonerClient, TlsOptions, retry_service_config, to_request
from kgreason.v1 import graph_admin_pb2, graph_admin_pb2_grpc, reasoner_pb2, reasoner_pb2_grpc

__all__ = [
    "AsyncReasonerClient",
    "ReasonerClient",
    "TlsOptions",
    "graph_admin_pb2",
    "graph_admin_pb2_grpc",
    "reasoner_pb2",
    "reasoner_pb2_grpc",
    "retry_service_config",
    "to_request",
]
