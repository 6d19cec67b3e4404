"""The GraphAdmin gRPC service: load triples into Neo4j while the server runs, and describe the graph.

Each message of a LoadTriples stream is one batch. A batch is validated whole, then written by
``graph_loader`` in its own transactions, which bump the graph version. The Reasoner's next claim
batch reads the new version, drops its cached subgraphs and retrieves the new edges, so loaded
data counts in verdicts without a restart.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import grpc

from graph_loader import schema
from graph_loader.readers import EntityText, Triple
from kgreason.v1 import graph_admin_pb2, graph_admin_pb2_grpc

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "online"
MAX_ID_BYTES = 512
MAX_TEXT_BYTES = 4096
MAX_BATCH_ITEMS = 50_000

GRAPH_INFO_QUERY = f"""
CALL () {{ MATCH (e:{schema.ENTITY_LABEL}) RETURN count(e) AS entities }}
CALL () {{ MATCH ()-[r]->() RETURN count(r) AS relationships }}
CALL () {{ MATCH (r:{schema.RELATION_LABEL}) RETURN count(r) AS relation_types }}
CALL () {{ {schema.GRAPH_VERSION_QUERY} }}
RETURN entities, relationships, relation_types, version
"""
EXISTING_ENTITIES_QUERY = f"MATCH (e:{schema.ENTITY_LABEL}) WHERE e.id IN $ids RETURN count(e) AS count"


class BatchError(ValueError):
    """An invalid field in a LoadTriples batch; the message names the batch and the field."""


def _check_text(field: str, value: str, limit: int, required: bool) -> None:
    if required and not value.strip():
        raise BatchError(f"{field}: is required and must not be blank")
    size = len(value.encode("utf-8"))
    if size > limit:
        raise BatchError(f"{field}: is {size} bytes; the maximum is {limit} UTF-8 bytes")


def read_options(message: graph_admin_pb2.LoadTriplesRequest) -> tuple[str, str]:
    """Return the data-set name and split of a stream's first message, with their defaults."""
    dataset = message.options.dataset.strip() or DEFAULT_DATASET
    split = message.options.split.strip() or schema.DEFAULT_SPLIT
    _check_text("options.dataset", dataset, MAX_ID_BYTES, required=True)
    if split not in schema.SPLITS:
        raise BatchError(f"options.split: invalid split {split!r}; use one of {', '.join(schema.SPLITS)}")
    return dataset, split


def read_batch(message: graph_admin_pb2.LoadTriplesRequest) -> tuple[list[Triple], dict[str, EntityText]]:
    """Validate one batch and return its triples and entity texts.

    Raises:
        BatchError: the first invalid field, as ``triples[3].relation: is required ...``.
    """
    items = len(message.triples) + len(message.entities)
    if items > MAX_BATCH_ITEMS:
        raise BatchError(f"has {items} triples and entities; the maximum per message is {MAX_BATCH_ITEMS}")
    triples = []
    for index, triple in enumerate(message.triples):
        for name in ("head", "relation", "tail"):
            _check_text(f"triples[{index}].{name}", getattr(triple, name), MAX_ID_BYTES, required=True)
        triples.append(Triple(triple.head.strip(), triple.relation.strip(), triple.tail.strip()))
    entities = {}
    for index, entity in enumerate(message.entities):
        _check_text(f"entities[{index}].id", entity.id, MAX_ID_BYTES, required=True)
        _check_text(f"entities[{index}].name", entity.name, MAX_ID_BYTES, required=False)
        _check_text(f"entities[{index}].description", entity.description, MAX_TEXT_BYTES, required=False)
        entities[entity.id.strip()] = EntityText(entity.name.strip() or None, entity.description.strip() or None)
    return triples, entities


class GraphAdminService(graph_admin_pb2_grpc.GraphAdminServicer):
    """Implements LoadTriples and GetGraphInfo on a synchronous Neo4j driver.

    Args:
        driver: a ``neo4j.Driver``; writes run in one thread of their own, one batch at a time.
        encoder_factory: returns the text encoder for entity texts. It is called at the first
            batch that has texts, so a server that never loads texts never loads BERT.
    """

    def __init__(self, driver, encoder_factory: Callable[[], object]):
        self.driver = driver
        self._encoder_factory = encoder_factory
        self._encoder = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graph-admin")

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _load_batch(self, triples: list[Triple], entities: dict[str, EntityText], dataset: str, split: str):
        from graph_loader.loader import GraphLoader

        if entities and self._encoder is None:
            self._encoder = self._encoder_factory()
        ids = sorted({t.head for t in triples} | {t.tail for t in triples} | set(entities))
        existing = self.driver.execute_query(EXISTING_ENTITIES_QUERY, ids=ids).records[0]["count"]
        loader = GraphLoader(self.driver, self._encoder, progress=False)
        summary = loader.load_triples(triples, dataset=dataset, split=split, entities=entities)
        return summary, len(ids) - existing

    async def LoadTriples(self, request_iterator, context: grpc.aio.ServicerContext) -> graph_admin_pb2.LoadTriplesResponse:
        """Validate and write each batch of the stream in order; earlier batches stay on failure."""
        from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired

        loop = asyncio.get_running_loop()
        response = graph_admin_pb2.LoadTriplesResponse()
        dataset = split = ""
        number = 0
        async for message in request_iterator:
            number += 1
            try:
                if number == 1:
                    dataset, split = read_options(message)
                elif message.HasField("options"):
                    raise BatchError("options: only the first message of the stream may carry options")
                triples, entities = read_batch(message)
            except BatchError as error:
                logger.info("LoadTriples rejected batch %d: %s", number, error)
                await context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"batch {number}: {error}; batches before it ({number - 1}) are committed",
                )
            if not triples and not entities:
                continue
            try:
                summary, created = await loop.run_in_executor(
                    self._executor, self._load_batch, triples, entities, dataset, split
                )
            except (ServiceUnavailable, SessionExpired, AuthError, ConnectionError) as error:
                logger.warning("LoadTriples batch %d failed: Neo4j unavailable: %s", number, error)
                await context.abort(
                    grpc.StatusCode.UNAVAILABLE,
                    f"batch {number}: Neo4j is unavailable ({error}); batches before it ({number - 1}) are "
                    "committed, and resending this batch is safe because loads are idempotent",
                )
            response.triples_written += summary.triples
            response.entities_created += created
            response.graph_version = summary.graph_version
            logger.info(
                "LoadTriples batch %d: %d triples, %d new entities into %s/%s, graph version %d",
                number, summary.triples, created, dataset, split, summary.graph_version,
            )
        if number == 0 or not response.graph_version:
            response.graph_version = await loop.run_in_executor(self._executor, self._graph_version)
        return response

    def _graph_version(self) -> int:
        return int(self.driver.execute_query(schema.GRAPH_VERSION_QUERY).records[0]["version"])

    def _graph_info(self) -> graph_admin_pb2.GraphInfo:
        record = self.driver.execute_query(GRAPH_INFO_QUERY).records[0]
        return graph_admin_pb2.GraphInfo(
            entities=record["entities"],
            relationships=record["relationships"],
            relation_types=record["relation_types"],
            graph_version=record["version"],
        )

    async def GetGraphInfo(self, request, context: grpc.aio.ServicerContext) -> graph_admin_pb2.GraphInfo:
        from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired

        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._graph_info)
        except (ServiceUnavailable, SessionExpired, AuthError, ConnectionError) as error:
            logger.warning("GetGraphInfo failed: Neo4j unavailable: %s", error)
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"Neo4j is unavailable: {error}")
