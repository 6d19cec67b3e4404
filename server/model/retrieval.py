"""Retrieval of enclosing subgraphs from Neo4j, one Cypher round trip per batch of claims.

The query walks out from every subject and object of the batch. For each node it expands, it
returns the first ``fanout + MASK_SLACK`` adjacency entries in fan-out order. It also returns the
node names and embeddings, whether each claimed edge is stored, and the graph version. The rules in
``server.model.subgraph`` then cut and mask these lists exactly as for the in-memory graph.
"""
from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np

from graph_loader.schema import GRAPH_VERSION_QUERY, META_KEY, META_LABEL
from server.inference import ClaimInput
from server.model.graph import EdgeFilter
from server.model.subgraph import MASK_SLACK, ClaimSubgraph, build_claim_subgraph

logger = logging.getLogger(__name__)

_EDGE_CONDITION = "($dataset IS NULL OR r.dataset = $dataset) AND ($splits IS NULL OR r.split IN $splits)"

# Adjacency of node `s` in fan-out order: neighbour id, relation type, outgoing before incoming.
# NOTE: Neo4j orders strings by UTF-16 code unit and Python by code point. The two orders differ
# only for ids with characters outside the Basic Multilingual Plane.
_ADJACENCY = f"""
  CALL (s) {{
    CALL (s) {{
      MATCH (s)-[r]->(n:Entity) WHERE {_EDGE_CONDITION}
      RETURN n.id AS neighbour, type(r) AS relation, true AS forward
      UNION ALL
      MATCH (s)<-[r]-(n:Entity) WHERE {_EDGE_CONDITION}
      RETURN n.id AS neighbour, type(r) AS relation, false AS forward
    }}
    WITH neighbour, relation, forward ORDER BY neighbour, relation, forward DESC LIMIT $limit
    RETURN collect([neighbour, relation, forward]) AS adjacency
  }}"""


def build_retrieval_query(hops: int) -> str:
    """Build the Cypher query for a radius of ``hops``; it expands nodes up to ``hops - 1`` away."""
    if hops < 1:
        raise ValueError(f"hops must be at least 1, got {hops}")
    parts = [
        f"""CALL () {{
  UNWIND $seeds AS node_id
  MATCH (s:Entity {{id: node_id}})
  {_ADJACENCY}
  RETURN collect([s.id, adjacency]) AS level
}}
WITH level AS level0"""
    ]
    carried = ["level0"]
    for depth in range(1, hops):
        previous = f"level{depth - 1}"
        parts.append(
            f"""CALL ({previous}) {{
  UNWIND {previous} AS row
  UNWIND row[1] AS entry
  WITH DISTINCT entry[0] AS node_id
  MATCH (s:Entity {{id: node_id}})
  {_ADJACENCY}
  RETURN collect([s.id, adjacency]) AS level
}}
WITH {", ".join(carried)}, level AS level{depth}"""
        )
        carried.append(f"level{depth}")
    parts.append(
        f"""WITH {" + ".join(carried)} AS expanded
CALL (expanded) {{
  UNWIND expanded AS row
  UNWIND [row[0]] + [entry IN row[1] | entry[0]] AS node_id
  WITH DISTINCT node_id
  MATCH (n:Entity {{id: node_id}})
  RETURN collect([n.id, n.name, n.embedding]) AS nodes
}}
CALL () {{
  UNWIND range(0, size($claims) - 1) AS position
  WITH position, $claims[position] AS claim
  OPTIONAL MATCH (a:Entity {{id: claim[0]}})-[r]->(b:Entity {{id: claim[2]}})
  WHERE type(r) = claim[1] AND {_EDGE_CONDITION}
  WITH position, count(r) > 0 AS asserted ORDER BY position
  RETURN collect(asserted) AS asserted
}}
OPTIONAL MATCH (m:{META_LABEL} {{key: '{META_KEY}'}})
RETURN expanded, nodes, asserted, coalesce(m.version, 0) AS version"""
    )
    return "\n".join(parts)


class Neo4jRetriever:
    """Fetch enclosing subgraphs of claims from Neo4j (see ``server.model.subgraph`` for the rules).

    Args:
        driver: a ``neo4j.Driver``.
        hops: radius around subject and object; use the model's ``config.hops``.
        fanout: edges kept per expanded node; use the model's ``config.fanout``.
        embedding_dimensions: width of ``Entity.embedding``; nodes without one (or with another
            width) are given zeros and marked as having no text.
        edge_filter: which edges count; ``None`` (production) counts every edge. For honest
            evaluation pass ``EdgeFilter(dataset=..., splits=("train",))``.
        database: the Neo4j database; ``None`` for the server's default.

    Node embeddings travel with each batch (only the distinct nodes of the batch, once each).
    NOTE: neighbourhoods are not cached between batches; every batch costs one full query.
    """

    def __init__(
        self,
        driver,
        hops: int = 2,
        fanout: int = 8,
        embedding_dimensions: int = 384,
        edge_filter: EdgeFilter | None = None,
        database: str | None = None,
    ):
        self.driver = driver
        self.hops = hops
        self.fanout = fanout
        self.embedding_dimensions = embedding_dimensions
        self.edge_filter = edge_filter or EdgeFilter()
        self.database = database
        self.query = build_retrieval_query(hops)

    @classmethod
    def for_scorer(cls, driver, scorer, **options) -> "Neo4jRetriever":
        """Create a retriever with the radius, fan-out and embedding width the scorer's model was trained with."""
        config = scorer.config
        return cls(driver, hops=config.hops, fanout=config.fanout,
                   embedding_dimensions=config.node_text_dimensions, **options)

    def graph_version(self) -> int:
        return int(self.driver.execute_query(GRAPH_VERSION_QUERY, database_=self.database).records[0]["version"])

    def fetch(self, claims: Sequence[ClaimInput]) -> tuple[list[ClaimSubgraph], int]:
        if not claims:
            return [], self.graph_version()
        started = time.perf_counter()
        seeds = sorted({claim.subject_id for claim in claims} | {claim.object_id for claim in claims})
        splits = list(self.edge_filter.splits) if self.edge_filter.splits is not None else None
        records = self.driver.execute_query(
            self.query,
            seeds=seeds,
            claims=[[claim.subject_id, claim.relation, claim.object_id] for claim in claims],
            limit=self.fanout + MASK_SLACK,
            dataset=self.edge_filter.dataset,
            splits=splits,
            database_=self.database,
            routing_="r",
        ).records
        record = records[0]

        adjacency: dict[str, list[tuple[str, str, bool]]] = {}
        for node_id, entries in record["expanded"]:
            adjacency[node_id] = [(neighbour, relation, bool(forward)) for neighbour, relation, forward in entries]
        names: dict[str, str] = {}
        rows: dict[str, int] = {}
        table = np.zeros((len(record["nodes"]) + 1, self.embedding_dimensions), dtype=np.float32)
        has = np.zeros(len(record["nodes"]) + 1, dtype=bool)
        for row, (node_id, name, embedding) in enumerate(record["nodes"]):
            names[node_id] = name or node_id
            rows[node_id] = row
            if embedding is not None and len(embedding) == self.embedding_dimensions:
                table[row] = np.asarray(embedding, dtype=np.float32)
                has[row] = True
        missing_row = len(record["nodes"])
        version = int(record["version"])

        subgraphs = [
            build_claim_subgraph(
                claim,
                adjacency=lambda node: adjacency.get(node, []),
                hops=self.hops,
                fanout=self.fanout,
                known=names.__contains__,
                names=lambda node: names.get(node, node),
                rows=lambda node: rows.get(node, missing_row),
                embedding_table=table,
                has_embedding=has,
                claim_asserted=bool(asserted),
                graph_version=version,
            )
            for claim, asserted in zip(claims, record["asserted"])
        ]
        logger.debug("retrieval took %.1f ms for %d claims (%d nodes expanded)",
                     1000 * (time.perf_counter() - started), len(claims), len(adjacency))
        return subgraphs, version
