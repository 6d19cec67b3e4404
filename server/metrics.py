"""Prometheus metrics of the serving pipeline, exported on their own HTTP port."""
from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

# Seconds; from 0.5 ms (a cache hit) up to 10 s (a cold retrieval on a large graph).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServingMetrics:
    """The server's metrics, in a registry of their own so several servers can share a process.

    Stages: ``queue`` (admission to batch), ``resolution`` (entity names to ids and the graph
    version), ``retrieval`` (subgraphs from Neo4j or the cache), ``inference`` (the model),
    ``total`` (admission to response).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.stage_latency = Histogram(
            "kgreason_stage_latency_seconds", "Time a claim or batch spends in each pipeline stage.",
            ["stage"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.batch_size = Histogram(
            "kgreason_batch_size", "Claims per batch sent to inference.",
            buckets=BATCH_SIZE_BUCKETS, registry=self.registry,
        )
        self.queue_depth = Gauge(
            "kgreason_queue_depth", "Claims admitted and waiting for a batch.", registry=self.registry,
        )
        self.in_flight = Gauge(
            "kgreason_claims_in_flight", "Claims admitted and not yet answered.", registry=self.registry,
        )
        self.cache_hits = Counter(
            "kgreason_subgraph_cache_hits", "Subgraphs served from the retrieval cache.", registry=self.registry,
        )
        self.cache_misses = Counter(
            "kgreason_subgraph_cache_misses", "Subgraphs fetched from Neo4j.", registry=self.registry,
        )
        self.cache_hit_ratio = Gauge(
            "kgreason_subgraph_cache_hit_ratio", "Cache hits over lookups since the server started.",
            registry=self.registry,
        )
        self.neo4j_errors = Counter(
            "kgreason_neo4j_errors", "Failed Neo4j round trips.", ["stage"], registry=self.registry,
        )
        self.dropped = Counter(
            "kgreason_claims_dropped", "Admitted claims dropped before inference: expired deadline or caller gone.",
            ["reason"], registry=self.registry,
        )
        self.claims = Counter(
            "kgreason_claims", "Claims answered, by gRPC status code.", ["code"], registry=self.registry,
        )

    def record_cache(self, hits: int, misses: int) -> None:
        self.cache_hits.inc(hits)
        self.cache_misses.inc(misses)
        total_hits = self.cache_hits._value.get()
        lookups = total_hits + self.cache_misses._value.get()
        if lookups:
            self.cache_hit_ratio.set(total_hits / lookups)

    def serve(self, host: str, port: int) -> None:
        """Start the /metrics HTTP endpoint in a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
        logger.info("metrics endpoint listening on http://%s:%d/metrics", host, port)
