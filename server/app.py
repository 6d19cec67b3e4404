"""Assembly of the running server: model workers, Neo4j drivers, pipeline, gRPC services, shutdown."""
from __future__ import annotations

import asyncio
import json
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from graph_loader.text_encoder import TextEncoder
from kgreason.v1 import graph_admin_pb2, graph_admin_pb2_grpc, reasoner_pb2, reasoner_pb2_grpc
from server.admin import GraphAdminService
from server.admission import AdmissionQueue
from server.auth import BearerTokenInterceptor
from server.batcher import DynamicBatcher
from server.cache import SubgraphCache
from server.config import ServerConfig
from server.inference import ClaimScorer, Retriever
from server.metrics import ServingMetrics
from server.pipeline import Pipeline
from server.resolution import EntityResolver
from server.service import ReasonerService
from server.workers import load_workers

logger = logging.getLogger(__name__)

SERVER_VERSION = "0.1.0"
# Seconds the Neo4j driver keeps retrying a failed read (its default is 30 s). A claim waiting
# behind an unreachable Neo4j should fail fast with UNAVAILABLE, which clients retry themselves.
NEO4J_RETRY_TIME_S = 3.0
REASONER_SERVICE = reasoner_pb2.DESCRIPTOR.services_by_name["Reasoner"].full_name
GRAPH_ADMIN_SERVICE = graph_admin_pb2.DESCRIPTOR.services_by_name["GraphAdmin"].full_name


def build_retriever(config: ServerConfig, driver, scorer: ClaimScorer) -> Retriever:
    """Build a Neo4j retriever with the model's radius and fan-out, unless the config sets them."""
    from server.model import Neo4jRetriever

    model = scorer.config  # the model's ModelConfig: hops, fanout, node_text_dimensions
    return Neo4jRetriever(
        driver,
        hops=config.hops or model.hops,
        fanout=config.fanout or model.fanout,
        embedding_dimensions=model.node_text_dimensions,
    )


def read_model_card(model_dir: str) -> tuple[str, str]:
    """Return the model's name and data set from its config.json ("" where absent)."""
    path = Path(model_dir) / "config.json"
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        logger.warning("could not read the model card %s: %s", path, error)
        return "", ""
    return str(card.get("name") or Path(model_dir).resolve().name), str(card.get("dataset", ""))


def _read_file(path: str) -> bytes:
    return Path(path).read_bytes()


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    if not config.tls_cert:
        return None
    client_ca = _read_file(config.tls_client_ca) if config.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(_read_file(config.tls_key), _read_file(config.tls_cert))],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


class StartupError(Exception):
    """A setting that keeps the server from starting; the message names it and the fix."""


def check_neo4j(driver, config: ServerConfig) -> None:
    """Connect to Neo4j once so that wrong credentials stop the server at start.

    Neo4j being down is not fatal: the server starts, fails claims with UNAVAILABLE, and
    recovers by itself when Neo4j comes back.
    """
    from neo4j.exceptions import AuthError, ServiceUnavailable

    try:
        driver.verify_connectivity()
    except AuthError as error:
        raise StartupError(
            f"Neo4j at {config.neo4j_uri} rejected user {config.neo4j_user!r}: {error.message}; "
            "set --neo4j-user and --neo4j-password (or KGREASON_NEO4J_USER and KGREASON_NEO4J_PASSWORD)"
        ) from None
    except (ServiceUnavailable, OSError) as error:
        logger.warning(
            "Neo4j at %s is unreachable (%s); claims get UNAVAILABLE until it is reachable", config.neo4j_uri, error
        )


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    service: ReasonerService
    pipeline: Pipeline
    health: health.aio.HealthServicer
    drivers: tuple
    admin: GraphAdminService | None = None


async def start_server(config: ServerConfig) -> RunningServer:
    """Load the model, connect to Neo4j, and start serving; return once the port is bound."""
    from neo4j import AsyncGraphDatabase, GraphDatabase

    auth = (config.neo4j_user, config.neo4j_password)
    options = {"max_transaction_retry_time": NEO4J_RETRY_TIME_S, "connection_timeout": NEO4J_RETRY_TIME_S}
    sync_driver = GraphDatabase.driver(config.neo4j_uri, auth=auth, **options)
    try:
        check_neo4j(sync_driver, config)
    except StartupError:
        sync_driver.close()
        raise
    async_driver = AsyncGraphDatabase.driver(config.neo4j_uri, auth=auth, **options)
    workers = load_workers(config.model_dir, config.devices, config.worker_kind)
    scorers = [worker.scorer for worker in workers]

    metrics = ServingMetrics()
    queue = AdmissionQueue(config.queue_capacity)
    batcher = DynamicBatcher(
        queue, config.max_batch, config.max_wait_ms, on_skip=lambda _: metrics.dropped.labels("cancelled").inc()
    )
    resolver = EntityResolver(async_driver)
    retriever = build_retriever(config, sync_driver, scorers[0])
    pipeline = Pipeline(
        batcher,
        resolver,
        retriever,
        SubgraphCache(config.cache_size),
        workers,
        metrics,
    )
    model_name, model_dataset = read_model_card(config.model_dir)
    info = reasoner_pb2.ServerInfo(
        model_name=model_name,
        model_dataset=model_dataset,
        relations=scorers[0].relations,
        devices=[scorer.device for scorer in scorers],
        max_batch=config.max_batch,
        max_wait_ms=config.max_wait_ms,
        queue_capacity=config.queue_capacity,
        hops=retriever.hops,
        fanout=retriever.fanout,
        server_version=SERVER_VERSION,
    )
    service = ReasonerService(queue, scorers[0].relations, resolver, info, config.stream_window, metrics)

    interceptors = [BearerTokenInterceptor(config.bearer_token)] if config.bearer_token else []
    server = grpc.aio.server(interceptors=interceptors)
    reasoner_pb2_grpc.add_ReasonerServicer_to_server(service, server)
    served = [REASONER_SERVICE]
    admin = None
    if config.graph_admin:
        admin = GraphAdminService(sync_driver, lambda: TextEncoder(device="cpu"))
        graph_admin_pb2_grpc.add_GraphAdminServicer_to_server(admin, server)
        served.append(GRAPH_ADMIN_SERVICE)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*served, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    credentials = server_credentials(config)
    if credentials is None:
        port = server.add_insecure_port(config.listen)
    else:
        port = server.add_secure_port(config.listen, credentials)
    if port == 0:
        raise OSError(f"could not bind the gRPC port {config.listen}")

    pipeline.start()
    await server.start()
    for name in ("", *served):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    if config.metrics_port:
        metrics.serve(config.listen.rsplit(":", 1)[0].strip("[]"), config.metrics_port)
    host = config.listen.rsplit(":", 1)[0]
    logger.info(
        "serving Reasoner on %s:%d (%s) with %s workers on %s, max_batch=%d, max_wait_ms=%d, queue_capacity=%d",
        host, port, "TLS" if credentials else "plaintext", config.worker_kind, ",".join(info.devices),
        config.max_batch, config.max_wait_ms, config.queue_capacity,
    )
    if admin is not None:
        logger.info("serving GraphAdmin: LoadTriples writes to %s%s", config.neo4j_uri,
                    "" if config.bearer_token or config.tls_client_ca else " and no bearer token or client certificate guards it")
    return RunningServer(server, port, service, pipeline, health_servicer, (sync_driver, async_driver), admin)


async def shutdown(running: RunningServer, grace_s: float) -> None:
    """Report NOT_SERVING, stop admitting, answer every admitted claim, then stop."""
    logger.info("shutdown: reporting NOT_SERVING and draining admitted claims")
    await running.health.enter_graceful_shutdown()
    drained = await running.service.drain(grace_s)
    await running.server.stop(grace=5.0)
    await running.pipeline.stop()
    if running.admin is not None:
        running.admin.close()
    sync_driver, async_driver = running.drivers
    await async_driver.close()
    sync_driver.close()
    logger.info("shutdown complete%s", "" if drained else " (some claims were still in flight)")


async def serve(config: ServerConfig) -> int:
    """Run until SIGTERM or SIGINT; return the process exit code."""
    running = await start_server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await shutdown(running, config.shutdown_grace_s)
    return 0
