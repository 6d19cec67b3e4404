"""Synchronous and asyncio clients for the Reasoner service.

Both retry calls that fail with UNAVAILABLE through gRPC's own retry policy (the channel's
service config), apply a default deadline to every call, and speak plaintext, TLS or mutual TLS.
A stream is retried only until its first response arrives; gRPC does not replay later messages.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Union

import grpc

from kgreason.v1 import reasoner_pb2, reasoner_pb2_grpc

REASONER_SERVICE = "kgreason.v1.Reasoner"

ClaimLike = Union[reasoner_pb2.VerifyRequest, reasoner_pb2.Claim, Mapping[str, Any], tuple]


def retry_service_config(max_attempts: int = 4, initial_backoff_s: float = 0.1, max_backoff_s: float = 2.0) -> str:
    """Return a gRPC service config (JSON) that retries UNAVAILABLE on every Reasoner method."""
    return json.dumps({
        "methodConfig": [{
            "name": [{"service": REASONER_SERVICE}],
            "retryPolicy": {
                "maxAttempts": max_attempts,
                "initialBackoff": f"{initial_backoff_s}s",
                "maxBackoff": f"{max_backoff_s}s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }]
    })


@dataclass(frozen=True)
class TlsOptions:
    """TLS settings of a client channel.

    Args:
        root_certificates: PEM of the CA that signed the server certificate; None uses the
            system roots.
        client_certificate: PEM of this client's certificate, for mutual TLS.
        client_key: PEM of this client's private key, for mutual TLS.
        server_name: overrides the name checked against the server certificate.
    """

    root_certificates: bytes | None = None
    client_certificate: bytes | None = None
    client_key: bytes | None = None
    server_name: str | None = None

    @classmethod
    def from_files(cls, ca: str | None = None, cert: str | None = None, key: str | None = None,
                   server_name: str | None = None) -> "TlsOptions":
        read = lambda path: Path(path).read_bytes() if path else None  # noqa: E731
        return cls(read(ca), read(cert), read(key), server_name)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.root_certificates, self.client_key, self.client_certificate)


def _channel_options(tls: TlsOptions | None, max_attempts: int) -> list[tuple[str, Any]]:
    # gRPC rejects a retry policy with fewer than 2 attempts, so 1 means no policy at all.
    if max_attempts > 1:
        options: list[tuple[str, Any]] = [
            ("grpc.enable_retries", 1),
            ("grpc.service_config", retry_service_config(max_attempts)),
        ]
    else:
        options = [("grpc.enable_retries", 0)]
    if tls is not None and tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return options


def to_request(claim: ClaimLike, index: int = 0) -> reasoner_pb2.VerifyRequest:
    """Build a VerifyRequest from a request, a Claim, a mapping or a (subject, predicate, object) tuple.

    A mapping takes the keys ``subject``, ``predicate``, ``object`` and optionally
    ``context_text``, ``request_id``, ``max_evidence_paths`` and ``timeout_ms``. A missing request_id becomes
    the claim's position in its stream (``"0"``, ``"1"``, ...).
    """
    if isinstance(claim, reasoner_pb2.VerifyRequest):
        request = reasoner_pb2.VerifyRequest()
        request.CopyFrom(claim)
    elif isinstance(claim, reasoner_pb2.Claim):
        request = reasoner_pb2.VerifyRequest(claim=claim)
    elif isinstance(claim, Mapping):
        unknown = set(claim) - {"subject", "predicate", "object", "context_text", "request_id", "max_evidence_paths", "timeout_ms"}
        if unknown:
            raise ValueError(f"unknown claim keys: {', '.join(sorted(unknown))}")
        request = reasoner_pb2.VerifyRequest(
            request_id=str(claim.get("request_id", "")),
            claim=reasoner_pb2.Claim(
                subject=str(claim.get("subject", "")),
                predicate=str(claim.get("predicate", "")),
                object=str(claim.get("object", "")),
                context_text=str(claim.get("context_text", "")),
            ),
            max_evidence_paths=int(claim.get("max_evidence_paths", 0)),
            timeout_ms=int(claim.get("timeout_ms", 0)),
        )
    elif isinstance(claim, tuple) and len(claim) in (3, 4):
        request = reasoner_pb2.VerifyRequest(claim=reasoner_pb2.Claim(
            subject=claim[0], predicate=claim[1], object=claim[2], context_text=claim[3] if len(claim) == 4 else "",
        ))
    else:
        raise TypeError(f"cannot build a claim from {type(claim).__name__}; pass a mapping or a 3-tuple")
    if not request.request_id:
        request.request_id = str(index)
    return request


class _ClientBase:
    def __init__(self, target: str, timeout: float | None, tls: TlsOptions | None, token: str | None, max_attempts: int):
        self.target = target
        self.timeout = timeout
        self.tls = tls
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._options = _channel_options(tls, max_attempts)

    def _timeout(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout


class ReasonerClient(_ClientBase):
    """Blocking client of the Reasoner service.

    Args:
        target: ``host:port`` of the server.
        timeout: default deadline of each call in seconds (a whole stream counts as one call);
            None for no deadline.
        tls: TLS settings; None for a plaintext channel.
        token: bearer token sent as ``authorization`` metadata, if the server requires one.
        max_attempts: attempts per call when the server returns UNAVAILABLE (1 turns retries off).

    Calls raise ``grpc.RpcError``; its ``code()`` and ``details()`` say what failed.
    """

    def __init__(self, target: str, *, timeout: float | None = 30.0, tls: TlsOptions | None = None,
                 token: str | None = None, max_attempts: int = 4):
        super().__init__(target, timeout, tls, token, max_attempts)
        if tls is None:
            self.channel = grpc.insecure_channel(target, options=self._options)
        else:
            self.channel = grpc.secure_channel(target, tls.credentials(), options=self._options)
        self.stub = reasoner_pb2_grpc.ReasonerStub(self.channel)

    def verify(self, subject: str, predicate: str, object: str, context_text: str = "", *,
               request_id: str = "", max_evidence_paths: int = 0, timeout: float | None = None) -> reasoner_pb2.VerifyResponse:
        """Verify one claim; subject and object are entity ids or names.

        The call waits for the channel to connect (wait_for_ready), up to its deadline, so a
        server that is still starting is not an error.
        """
        request = reasoner_pb2.VerifyRequest(
            request_id=request_id,
            claim=reasoner_pb2.Claim(subject=subject, predicate=predicate, object=object, context_text=context_text),
            max_evidence_paths=max_evidence_paths,
        )
        return self.stub.Verify(request, timeout=self._timeout(timeout), metadata=self._metadata, wait_for_ready=True)

    def verify_stream(self, claims: Iterable[ClaimLike], *, timeout: float | None = None) -> Iterator[reasoner_pb2.VerifyResponse]:
        """Stream `claims` to the server and yield responses in completion order.

        A claim that failed yields a response with ``error`` set; match responses to claims by
        ``request_id``. Claims are read lazily, so `claims` may be a generator over a large file.
        """
        requests = (to_request(claim, index) for index, claim in enumerate(claims))
        yield from self.stub.VerifyStream(requests, timeout=self._timeout(timeout), metadata=self._metadata)

    def server_info(self, *, timeout: float | None = None) -> reasoner_pb2.ServerInfo:
        return self.stub.GetServerInfo(
            reasoner_pb2.GetServerInfoRequest(), timeout=self._timeout(timeout), metadata=self._metadata
        )

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "ReasonerClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class AsyncReasonerClient(_ClientBase):
    """asyncio client of the Reasoner service; the arguments are those of ReasonerClient."""

    def __init__(self, target: str, *, timeout: float | None = 30.0, tls: TlsOptions | None = None,
                 token: str | None = None, max_attempts: int = 4):
        super().__init__(target, timeout, tls, token, max_attempts)
        if tls is None:
            self.channel = grpc.aio.insecure_channel(target, options=self._options)
        else:
            self.channel = grpc.aio.secure_channel(target, tls.credentials(), options=self._options)
        self.stub = reasoner_pb2_grpc.ReasonerStub(self.channel)

    async def verify(self, subject: str, predicate: str, object: str, context_text: str = "", *,
                     request_id: str = "", max_evidence_paths: int = 0, timeout: float | None = None) -> reasoner_pb2.VerifyResponse:
        request = reasoner_pb2.VerifyRequest(
            request_id=request_id,
            claim=reasoner_pb2.Claim(subject=subject, predicate=predicate, object=object, context_text=context_text),
            max_evidence_paths=max_evidence_paths,
        )
        return await self.stub.Verify(request, timeout=self._timeout(timeout), metadata=self._metadata, wait_for_ready=True)

    async def verify_stream(self, claims: Iterable[ClaimLike] | AsyncIterable[ClaimLike], *,
                            timeout: float | None = None) -> AsyncIterator[reasoner_pb2.VerifyResponse]:
        """Stream `claims` (a sync or async iterable) and yield responses in completion order."""
        async def requests():
            index = 0
            if hasattr(claims, "__aiter__"):
                async for claim in claims:  # type: ignore[union-attr]
                    yield to_request(claim, index)
                    index += 1
            else:
                for claim in claims:  # type: ignore[union-attr]
                    yield to_request(claim, index)
                    index += 1

        call = self.stub.VerifyStream(requests(), timeout=self._timeout(timeout), metadata=self._metadata)
        async for response in call:
            yield response

    async def server_info(self, *, timeout: float | None = None) -> reasoner_pb2.ServerInfo:
        return await self.stub.GetServerInfo(
            reasoner_pb2.GetServerInfoRequest(), timeout=self._timeout(timeout), metadata=self._metadata
        )

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> "AsyncReasonerClient":
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()
