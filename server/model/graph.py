"""An in-memory copy of the knowledge graph: entities with their text embeddings, typed edges.

Training and offline evaluation read neighbourhoods from this copy; serving reads them from Neo4j
(``server.model.retrieval``). Both feed the same extraction rules in ``server.model.subgraph``.
The copy is built from a data-set folder or exported from Neo4j once, page by page.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

# Rows per page when exporting edges and entities from Neo4j.
EXPORT_PAGE_SIZE = 20_000


@dataclass(frozen=True)
class EdgeFilter:
    """Which stored edges retrieval may see.

    ``None`` fields mean no restriction. Honest evaluation of a data set's dev or test split uses
    ``EdgeFilter(dataset=name, splits=("train",))`` so held-out edges never reach the model input.
    """

    dataset: str | None = None
    splits: tuple[str, ...] | None = None

    def accepts(self, dataset: str | None, split: str | None) -> bool:
        if self.dataset is not None and dataset != self.dataset:
            return False
        if self.splits is not None and split not in self.splits:
            return False
        return True


# One entry of a node's adjacency: (neighbour id, relation, forward). ``forward`` is True when
# the stored edge points from the node to the neighbour.
Adjacent = tuple[str, str, bool]


def adjacency_sort_key(entry: Adjacent) -> tuple[str, str, int]:
    """The fan-out order: neighbour id, then relation, then outgoing before incoming.

    The Cypher retrieval sorts the same way (``ORDER BY id, relation, forward DESC``).
    """
    neighbour, relation, forward = entry
    return (neighbour, relation, 0 if forward else 1)


class KnowledgeGraph:
    """Entities (id, name, optional text embedding) and deduplicated typed edges.

    Args:
        embedding_dimensions: width of the entity text embeddings; entities without one get a
            row of zeros and ``has_embedding`` False.
    """

    def __init__(self, embedding_dimensions: int):
        self.embedding_dimensions = embedding_dimensions
        self.entity_index: dict[str, int] = {}
        self.entity_ids: list[str] = []
        self.entity_names: list[str] = []
        self._embeddings: list[np.ndarray | None] = []
        self._adjacency: dict[str, list[Adjacent]] = {}
        self._edges: set[tuple[str, str, str]] = set()
        self._sorted = True
        self._embedding_table: np.ndarray | None = None

    # Building

    def add_entity(self, entity_id: str, name: str | None = None, embedding: Sequence[float] | None = None) -> int:
        """Add an entity or update its name and embedding; return its row in the embedding table."""
        index = self.entity_index.get(entity_id)
        vector = None
        if embedding is not None:
            vector = np.asarray(embedding, dtype=np.float32)
            if vector.shape != (self.embedding_dimensions,):
                raise ValueError(
                    f"entity {entity_id!r} has an embedding of shape {vector.shape}; "
                    f"expected ({self.embedding_dimensions},)"
                )
        if index is None:
            index = len(self.entity_ids)
            self.entity_index[entity_id] = index
            self.entity_ids.append(entity_id)
            self.entity_names.append(name or entity_id)
            self._embeddings.append(vector)
            self._adjacency.setdefault(entity_id, [])
        else:
            if name:
                self.entity_names[index] = name
            if vector is not None:
                self._embeddings[index] = vector
        self._embedding_table = None
        return index

    def add_edge(self, head: str, relation: str, tail: str) -> bool:
        """Add the edge head -[relation]-> tail; return False when it was already there."""
        key = (head, relation, tail)
        if key in self._edges:
            return False
        for entity in (head, tail):
            if entity not in self.entity_index:
                self.add_entity(entity)
        self._edges.add(key)
        self._adjacency[head].append((tail, relation, True))
        self._adjacency[tail].append((head, relation, False))
        self._sorted = False
        return True

    def add_edges(self, triples: Iterable[tuple[str, str, str]]) -> int:
        return sum(self.add_edge(head, relation, tail) for head, relation, tail in triples)

    # Reading

    def __contains__(self, entity_id: str) -> bool:
        return entity_id in self.entity_index

    @property
    def num_edges(self) -> int:
        return len(self._edges)

    def has_edge(self, head: str, relation: str, tail: str) -> bool:
        return (head, relation, tail) in self._edges

    def name(self, entity_id: str) -> str:
        index = self.entity_index.get(entity_id)
        return self.entity_names[index] if index is not None else entity_id

    def adjacency(self, entity_id: str, limit: int | None = None) -> list[Adjacent]:
        """The node's edges in fan-out order (``adjacency_sort_key``), the first ``limit`` of them."""
        if not self._sorted:
            for entries in self._adjacency.values():
                entries.sort(key=adjacency_sort_key)
            self._sorted = True
        entries = self._adjacency.get(entity_id, [])
        return entries if limit is None else entries[:limit]

    def embedding_table(self) -> tuple[np.ndarray, np.ndarray]:
        """A (num_entities, dimensions) float32 table and a (num_entities,) bool mask of rows with text."""
        if self._embedding_table is None:
            table = np.zeros((len(self.entity_ids), self.embedding_dimensions), dtype=np.float32)
            has = np.zeros(len(self.entity_ids), dtype=bool)
            for row, vector in enumerate(self._embeddings):
                if vector is not None:
                    table[row] = vector
                    has[row] = True
            self._embedding_table = table
            self._has_embedding = has
        return self._embedding_table, self._has_embedding


def export_from_neo4j(driver, embedding_dimensions: int, edge_filter: EdgeFilter | None = None, database: str | None = None) -> KnowledgeGraph:
    """Copy the graph (entities with name and embedding, edges passing ``edge_filter``) from Neo4j.

    Reads page by page, ordered by internal element id, so memory on the server stays bounded.
    """
    edge_filter = edge_filter or EdgeFilter()
    graph = KnowledgeGraph(embedding_dimensions)
    entity_query = (
        "MATCH (e:Entity) WHERE elementId(e) > $after "
        "RETURN elementId(e) AS key, e.id AS id, e.name AS name, e.embedding AS embedding "
        "ORDER BY key LIMIT $limit"
    )
    after = ""
    while True:
        records = driver.execute_query(entity_query, after=after, limit=EXPORT_PAGE_SIZE, database_=database).records
        for record in records:
            embedding = record["embedding"]
            if embedding is not None and len(embedding) != embedding_dimensions:
                logger.warning("entity %s has a %d-float embedding, expected %d; treated as no text",
                               record["id"], len(embedding), embedding_dimensions)
                embedding = None
            graph.add_entity(record["id"], record["name"], embedding)
        if len(records) < EXPORT_PAGE_SIZE:
            break
        after = records[-1]["key"]

    edge_query = (
        "MATCH (a:Entity)-[r]->(b:Entity) WHERE elementId(r) > $after "
        "AND ($dataset IS NULL OR r.dataset = $dataset) AND ($splits IS NULL OR r.split IN $splits) "
        "RETURN elementId(r) AS key, a.id AS head, type(r) AS relation, b.id AS tail "
        "ORDER BY key LIMIT $limit"
    )
    splits = list(edge_filter.splits) if edge_filter.splits is not None else None
    after = ""
    while True:
        records = driver.execute_query(
            edge_query, after=after, limit=EXPORT_PAGE_SIZE, dataset=edge_filter.dataset, splits=splits,
            database_=database,
        ).records
        graph.add_edges((record["head"], record["relation"], record["tail"]) for record in records)
        if len(records) < EXPORT_PAGE_SIZE:
            break
        after = records[-1]["key"]
    logger.info("exported %d entities and %d edges from Neo4j", len(graph.entity_ids), graph.num_edges)
    return graph
