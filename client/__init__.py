"""Python client for the kgreason Reasoner and GraphAdmin services.

Needs only grpcio and protobuf, so other services can install it without torch, DGL or
transformers.
"""
from kgreason.v1 import graph_admin_pb2, graph_admin_pb2_grpc, reasoner_pb2, reasoner_pb2_grpc

__all__ = ["graph_admin_pb2", "graph_admin_pb2_grpc", "reasoner_pb2", "reasoner_pb2_grpc"]
