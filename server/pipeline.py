"""The serving pipeline: batches of admitted claims through resolution, retrieval and inference.

One lane runs per inference worker (one per configured device). A lane forms a batch, resolves
its entity texts and reads the graph version (one Neo4j round trip), fetches the subgraphs the
cache lacks (one more), and hands the batch to its worker (``server.workers``). While the worker computes,
the lane already forms and retrieves the next batch, so graph I/O overlaps inference.
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import grpc

from server.admission import ClaimFailure, PendingClaim
from server.batcher import DynamicBatcher
from server.cache import SubgraphCache, fetch_with_cache
from server.inference import ClaimInput, Retriever, VerdictResult
from server.metrics import ServingMetrics
from server.resolution import EntityResolver, ResolvedEntity
from server.workers import InferenceWorker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClaimOutcome:
    """A scored claim as the service turns it into a VerifyResponse."""

    result: VerdictResult
    subject: ResolvedEntity
    object: ResolvedEntity
    relation: str
    graph_version: int


def _neo4j_unavailable_errors() -> tuple[type[BaseException], ...]:
    from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired

    # AuthError: the credentials were accepted at start, so Neo4j's users changed since then.
    return (ServiceUnavailable, SessionExpired, AuthError, ConnectionError)


class Pipeline:
    """Runs one lane per worker over a shared batcher.

    Args:
        batcher: the source of batches.
        resolver: entity names to ids, and the graph version.
        retriever: subgraphs from Neo4j.
        cache: subgraphs already fetched at the current graph version.
        workers: one per device.
        metrics: where the stage latencies, batch sizes and errors go.
    """

    def __init__(
        self,
        batcher: DynamicBatcher,
        resolver: EntityResolver,
        retriever: Retriever,
        cache: SubgraphCache,
        workers: Sequence[InferenceWorker],
        metrics: ServingMetrics,
    ):
        self.batcher = batcher
        self.resolver = resolver
        self.retriever = retriever
        self.cache = cache
        self.workers = list(workers)
        self.metrics = metrics
        self._retrieval_executor = ThreadPoolExecutor(max_workers=len(self.workers), thread_name_prefix="retrieval")
        self._lanes: list[asyncio.Task] = []
        self._unavailable = _neo4j_unavailable_errors()

    def start(self) -> None:
        for worker in self.workers:
            self._lanes.append(asyncio.create_task(self._run_lane(worker), name=f"lane-{worker.scorer.device}"))

    async def stop(self) -> None:
        for lane in self._lanes:
            lane.cancel()
        await asyncio.gather(*self._lanes, return_exceptions=True)
        for worker in self.workers:
            worker.close()
        self._retrieval_executor.shutdown(wait=False)

    async def _run_lane(self, worker: InferenceWorker) -> None:
        inference: asyncio.Task | None = None
        while True:
            batch = await self.batcher.next_batch()
            self.metrics.queue_depth.set(len(self.batcher.queue))
            try:
                prepared = await self._prepare(batch)
            except Exception:
                logger.exception("batch of %d claims failed before inference", len(batch))
                _fail_all(batch, ClaimFailure(grpc.StatusCode.INTERNAL, "internal error while preparing the claim"))
                continue
            if inference is not None:
                await asyncio.wait([inference])
            if prepared:
                inference = asyncio.create_task(self._infer(worker, *prepared))

    def _drop(self, claim: PendingClaim) -> bool:
        """Fail a claim whose deadline passed, skip one whose caller went away; True if either."""
        if claim.settled():
            self.metrics.dropped.labels("cancelled").inc()
            return True
        if claim.expired():
            claim.fail(ClaimFailure(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline passed before the claim reached the model"))
            self.metrics.dropped.labels("expired").inc()
            logger.info("request %s: deadline passed before inference, dropped", claim.request_id)
            return True
        return False

    async def _prepare(self, batch: list[PendingClaim]):
        """Resolve entities and fetch subgraphs; return (claims, inputs, subgraphs, version) or None."""
        now = time.monotonic()
        for claim in batch:
            self.metrics.stage_latency.labels("queue").observe(now - claim.admitted_at)
        live = [claim for claim in batch if not self._drop(claim)]
        if not live:
            return None

        started = time.monotonic()
        texts = [text for claim in live for text in (claim.claim.subject, claim.claim.object)]
        try:
            resolved, version = await self.resolver.resolve(texts)
        except self._unavailable as error:
            self.metrics.neo4j_errors.labels("resolution").inc()
            logger.warning("entity resolution failed for %d claims: Neo4j unavailable: %s", len(live), error)
            _fail_all(live, ClaimFailure(grpc.StatusCode.UNAVAILABLE, f"Neo4j is unavailable: {error}"))
            return None
        self.metrics.stage_latency.labels("resolution").observe(time.monotonic() - started)

        ready: list[PendingClaim] = []
        for claim in live:
            subject = resolved[claim.claim.subject]
            obj = resolved[claim.claim.object]
            failure = next((side for side in (subject, obj) if isinstance(side, ClaimFailure)), None)
            if failure is not None:
                field = "claim.subject" if failure is subject else "claim.object"
                claim.fail(ClaimFailure(failure.code, f"{field}: {failure.message}", field))
                logger.info("request %s: %s", claim.request_id, failure.message)
                continue
            claim.resolved = (subject, obj)
            ready.append(claim)
        if not ready:
            return None

        inputs = [
            ClaimInput(c.resolved[0].id, c.claim.predicate, c.resolved[1].id, c.claim.context_text) for c in ready
        ]
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            subgraphs, version, hits = await loop.run_in_executor(
                self._retrieval_executor, fetch_with_cache, self.retriever, self.cache, inputs, version
            )
        except self._unavailable as error:
            self.metrics.neo4j_errors.labels("retrieval").inc()
            logger.warning("retrieval failed for %d claims: Neo4j unavailable: %s", len(ready), error)
            _fail_all(ready, ClaimFailure(grpc.StatusCode.UNAVAILABLE, f"Neo4j is unavailable: {error}"))
            return None
        elapsed = time.monotonic() - started
        self.metrics.stage_latency.labels("retrieval").observe(elapsed)
        self.metrics.record_cache(hits, len(inputs) - hits)
        logger.debug(
            "retrieval took %.1f ms for %d claims, cache hit %.2f", elapsed * 1000, len(inputs), hits / len(inputs)
        )
        return ready, inputs, subgraphs, version

    async def _infer(self, worker: InferenceWorker, claims, inputs, subgraphs, version: int) -> None:
        try:
            await self._infer_batch(worker, claims, inputs, subgraphs, version)
        except Exception:
            logger.exception("batch of %d claims on %s failed", len(claims), worker.scorer.device)
            _fail_all(claims, ClaimFailure(grpc.StatusCode.INTERNAL, "internal error during inference"))

    async def _infer_batch(self, worker: InferenceWorker, claims, inputs, subgraphs, version: int) -> None:
        # Work whose deadline passed or whose caller went away is dropped here, before compute.
        keep = [i for i, claim in enumerate(claims) if not self._drop(claim)]
        if not keep:
            return
        claims = [claims[i] for i in keep]
        inputs = [inputs[i] for i in keep]
        subgraphs = [subgraphs[i] for i in keep]
        # The scorer fills at most the largest evidence request of the batch; extras are cut per claim.
        evidence_paths = max(claim.max_evidence_paths for claim in claims)

        self.metrics.batch_size.observe(len(claims))
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(
                worker.executor, worker.scorer.score, inputs, subgraphs, evidence_paths
            )
        except Exception:
            logger.exception("inference on %s failed for a batch of %d claims", worker.scorer.device, len(claims))
            _fail_all(claims, ClaimFailure(grpc.StatusCode.INTERNAL, "internal error during inference"))
            return
        elapsed = time.monotonic() - started
        self.metrics.stage_latency.labels("inference").observe(elapsed)
        logger.debug("inference on %s took %.1f ms for %d claims", worker.scorer.device, elapsed * 1000, len(claims))

        for claim, claim_input, result in zip(claims, inputs, results):
            result.evidence = result.evidence[: claim.max_evidence_paths]
            subject, obj = claim.resolved
            claim.succeed(ClaimOutcome(result, subject, obj, claim_input.relation, version))


def _fail_all(claims: Sequence[PendingClaim], failure: ClaimFailure) -> None:
    for claim in claims:
        claim.fail(failure)
