"""The Reasoner gRPC service: validation, admission, deadlines, streams and shutdown."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import AsyncIterator

import grpc

from kgreason.v1 import reasoner_pb2, reasoner_pb2_grpc
from server.admission import AdmissionQueue, ClaimFailure, PendingClaim, QueueFullError
from server.metrics import ServingMetrics
from server.pipeline import ClaimOutcome
from server.resolution import EntityResolver
from server.validation import validate_request

logger = logging.getLogger(__name__)

VERDICTS = {
    "SUPPORTED": reasoner_pb2.SUPPORTED,
    "REFUTED": reasoner_pb2.REFUTED,
    "NOT_ENOUGH_INFO": reasoner_pb2.NOT_ENOUGH_INFO,
}
# Seconds before the server-side deadline within which a cancelled call counts as timed out.
DEADLINE_SKEW_S = 0.02
# Trailing metadata of a VerifyStream: how many of its claims the server admitted.
ADMITTED_TRAILER = "kgreason-admitted"


def outcome_to_response(request_id: str, outcome: ClaimOutcome, latency_ms: float) -> reasoner_pb2.VerifyResponse:
    result = outcome.result
    response = reasoner_pb2.VerifyResponse(
        request_id=request_id,
        verdict=VERDICTS[result.verdict],
        probability=result.probability,
        threshold=result.threshold,
        subject=reasoner_pb2.Entity(id=outcome.subject.id, name=result.subject_name or outcome.subject.name),
        object=reasoner_pb2.Entity(id=outcome.object.id, name=result.object_name or outcome.object.name),
        predicate=outcome.relation,
        claim_asserted_in_graph=result.claim_asserted_in_graph,
        graph_version=outcome.graph_version,
        latency_ms=latency_ms,
    )
    for path in result.evidence:
        message = response.evidence.add(score=path.score)
        for step in path.steps:
            message.steps.add(
                source=reasoner_pb2.Entity(id=step.source_id, name=step.source_name),
                relation=step.relation,
                target=reasoner_pb2.Entity(id=step.target_id, name=step.target_name),
                forward=step.forward,
            )
    return response


def failure_to_response(request_id: str, failure: ClaimFailure) -> reasoner_pb2.VerifyResponse:
    return reasoner_pb2.VerifyResponse(
        request_id=request_id,
        error=reasoner_pb2.ClaimError(code=failure.code.value[0], message=failure.message, field=failure.field),
    )


class ReasonerService(reasoner_pb2_grpc.ReasonerServicer):
    """Implements Verify, VerifyStream and GetServerInfo on top of the admission queue.

    Args:
        queue: the bounded admission queue the pipeline reads.
        relations: the model's relation vocabulary; other predicates are rejected.
        resolver: reads the graph version for GetServerInfo.
        info: the static part of the GetServerInfo response.
        stream_window: claims one stream keeps in flight before it stops reading.
        metrics: claim counts by status code, queue depth, in-flight claims.
    """

    def __init__(
        self,
        queue: AdmissionQueue,
        relations: list[str],
        resolver: EntityResolver,
        info: reasoner_pb2.ServerInfo,
        stream_window: int,
        metrics: ServingMetrics,
    ):
        self.queue = queue
        self.relations = list(relations)
        self.resolver = resolver
        self.info = info
        self.stream_window = stream_window
        self.metrics = metrics
        self.accepting = True
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = asyncio.Event()

    # Admission

    def _admit(self, request_id: str, request, deadline: float | None, require_request_id: bool) -> PendingClaim:
        if not self.accepting:
            raise ClaimFailure(grpc.StatusCode.UNAVAILABLE, "server is shutting down; send the claim to another replica")
        claim, evidence_paths = validate_request(request, self.relations, require_request_id)
        if request.timeout_ms:
            claim_deadline = time.monotonic() + request.timeout_ms / 1000
            deadline = claim_deadline if deadline is None else min(deadline, claim_deadline)
        if deadline is not None and time.monotonic() >= deadline:
            raise ClaimFailure(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before admission")
        pending = PendingClaim(
            request_id=request_id,
            claim=claim,
            max_evidence_paths=evidence_paths,
            deadline=deadline,
            future=asyncio.get_running_loop().create_future(),
        )
        try:
            self.queue.admit(pending)
        except QueueFullError as error:
            raise ClaimFailure(
                grpc.StatusCode.RESOURCE_EXHAUSTED, f"{error}; retry later with backoff or lower the request rate"
            ) from None
        self._in_flight += 1
        self._idle.clear()
        self.metrics.in_flight.set(self._in_flight)
        self.metrics.queue_depth.set(len(self.queue))
        pending.future.add_done_callback(lambda _: self._release())
        return pending

    def _release(self) -> None:
        self._in_flight -= 1
        self.metrics.in_flight.set(self._in_flight)
        if self._in_flight == 0:
            self._idle.set()

    def _record(self, code: grpc.StatusCode, pending: PendingClaim | None) -> None:
        self.metrics.claims.labels(code.name).inc()
        if pending is not None:
            self.metrics.stage_latency.labels("total").observe(time.monotonic() - pending.admitted_at)

    # RPCs

    async def Verify(self, request, context: grpc.aio.ServicerContext) -> reasoner_pb2.VerifyResponse:
        """Verify one claim; failures end the call with the status the failure carries."""
        request_id = request.request_id or uuid.uuid4().hex
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        pending = None
        try:
            pending = self._admit(request_id, request, deadline, require_request_id=False)
            outcome = await pending.future
        except ClaimFailure as failure:
            self._record(failure.code, pending)
            logger.info("request %s: %s %s", request_id, failure.code.name, failure.message)
            await context.abort(failure.code, failure.message)
        except asyncio.CancelledError:
            if pending is not None:
                pending.future.cancel()
            # The server's deadline starts when the call arrives, so it ends a little after the
            # client's. A cancellation that close to it is the client's deadline passing.
            expired = deadline is not None and time.monotonic() >= deadline - DEADLINE_SKEW_S
            code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
            self._record(code, pending)
            logger.info("request %s: %s before the verdict was ready", request_id,
                        "deadline passed" if expired else "cancelled by the caller")
            raise
        self._record(grpc.StatusCode.OK, pending)
        latency_ms = (time.monotonic() - pending.admitted_at) * 1000
        logger.debug(
            "request %s: %s %s %s -> %s p=%.3f in %.1f ms",
            request_id, outcome.subject.id, outcome.relation, outcome.object.id,
            outcome.result.verdict, outcome.result.probability, latency_ms,
        )
        return outcome_to_response(request_id, outcome, latency_ms)

    async def VerifyStream(self, request_iterator, context: grpc.aio.ServicerContext) -> AsyncIterator[reasoner_pb2.VerifyResponse]:
        """Verify the claims of a stream; responses come in completion order with their request_id.

        A claim that fails gets a response with ``error`` set and the stream goes on. At most
        ``stream_window`` claims are in flight; beyond that the server stops reading, and gRPC
        flow control slows the client down. On shutdown the server stops reading, answers every
        claim it admitted, and ends the stream with UNAVAILABLE; the trailing metadata
        ``kgreason-admitted`` says how many claims were admitted.
        """
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        # None in the queue means "check whether the stream is complete".
        responses: asyncio.Queue[reasoner_pb2.VerifyResponse | None] = asyncio.Queue()
        window = asyncio.Semaphore(self.stream_window)
        in_flight: dict[str, PendingClaim] = {}
        admitted = 0
        reading_done = asyncio.Event()

        def finish_if_complete() -> None:
            # Wakes the response loop once nothing more can arrive: the caller stopped sending and
            # every admitted claim is settled. The loop then ends the stream.
            if reading_done.is_set() and not in_flight:
                responses.put_nowait(None)

        def on_done(pending: PendingClaim, future: asyncio.Future) -> None:
            in_flight.pop(pending.request_id, None)
            window.release()
            try:
                respond(pending, future)
            finally:
                finish_if_complete()

        def respond(pending: PendingClaim, future: asyncio.Future) -> None:
            if future.cancelled():
                return
            failure = future.exception()
            if failure is None:
                self._record(grpc.StatusCode.OK, pending)
                latency_ms = (time.monotonic() - pending.admitted_at) * 1000
                responses.put_nowait(outcome_to_response(pending.request_id, future.result(), latency_ms))
            elif isinstance(failure, ClaimFailure):
                self._record(failure.code, pending)
                responses.put_nowait(failure_to_response(pending.request_id, failure))
            else:
                self._record(grpc.StatusCode.INTERNAL, pending)
                responses.put_nowait(failure_to_response(
                    pending.request_id, ClaimFailure(grpc.StatusCode.INTERNAL, "internal error")))

        async def read_requests() -> None:
            nonlocal admitted
            try:
                async for request in request_iterator:
                    await window.acquire()
                    if self._stopping.is_set():
                        window.release()
                        break
                    try:
                        if request.request_id in in_flight:
                            raise ClaimFailure(
                                grpc.StatusCode.INVALID_ARGUMENT,
                                f"request_id: {request.request_id!r} is already in flight on this stream",
                                "request_id",
                            )
                        pending = self._admit(request.request_id, request, deadline, require_request_id=True)
                    except ClaimFailure as failure:
                        window.release()
                        self._record(failure.code, None)
                        responses.put_nowait(failure_to_response(request.request_id, failure))
                        continue
                    admitted += 1
                    in_flight[pending.request_id] = pending
                    pending.future.add_done_callback(lambda future, p=pending: on_done(p, future))
            finally:
                reading_done.set()
                finish_if_complete()

        async def stop_reading_on_shutdown() -> None:
            await self._stopping.wait()
            reader.cancel()

        reader = asyncio.create_task(read_requests())
        watcher = asyncio.create_task(stop_reading_on_shutdown())
        try:
            while True:
                response = await responses.get()
                if response is not None:
                    yield response
                elif reading_done.is_set() and not in_flight and responses.empty():
                    break
        finally:
            watcher.cancel()
            reader.cancel()
            for pending in list(in_flight.values()):
                pending.future.cancel()
        logger.info("stream ended: %d claims admitted, each with a response sent", admitted)
        trailers = ((ADMITTED_TRAILER, str(admitted)),)
        context.set_trailing_metadata(trailers)
        if self._stopping.is_set():
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                "server is shutting down; resend unanswered claims to another replica",
                trailing_metadata=trailers,
            )

    async def GetServerInfo(self, request, context: grpc.aio.ServicerContext) -> reasoner_pb2.ServerInfo:
        info = reasoner_pb2.ServerInfo()
        info.CopyFrom(self.info)
        try:
            info.graph_version = await self.resolver.graph_version()
        except Exception as error:  # the rest of the response is still useful without the version
            logger.warning("GetServerInfo could not read the graph version: %s", error)
        return info

    # Shutdown

    async def drain(self, timeout_s: float) -> bool:
        """Stop admitting, let streams stop reading, and wait until every admitted claim is answered.

        Returns False when claims were still in flight after `timeout_s` seconds.
        """
        self.accepting = False
        self._stopping.set()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
            return True
        except TimeoutError:
            logger.warning("shutdown: %d claims still in flight after %.0f s", self._in_flight, timeout_s)
            return False
