"""Bearer-token check for the Reasoner and GraphAdmin services, as a grpc.aio server interceptor."""
from __future__ import annotations

import hmac
import logging

import grpc

logger = logging.getLogger(__name__)

# Health checks and reflection stay open so probes and stock tools work without the token.
OPEN_SERVICE_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Rejects calls without the metadata ``authorization: Bearer <token>`` with UNAUTHENTICATED."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method.startswith(OPEN_SERVICE_PREFIXES):
            return await continuation(handler_call_details)
        supplied = dict(handler_call_details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(supplied.encode(), self._expected):
            return await continuation(handler_call_details)
        logger.info("rejected %s: missing or wrong bearer token", method)
        return _unauthenticated_handler(await continuation(handler_call_details))


def _unauthenticated_handler(handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler | None:
    if handler is None:
        return None
    message = "missing or invalid bearer token; send metadata 'authorization: Bearer <token>'"

    async def reject_unary(request, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def reject_stream(request_iterator, context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover - makes this an async generator, as stream handlers are

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(
            reject_stream, handler.request_deserializer, handler.response_serializer
        )
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(
            reject_unary, handler.request_deserializer, handler.response_serializer
        )
    return grpc.unary_unary_rpc_method_handler(reject_unary, handler.request_deserializer, handler.response_serializer)
