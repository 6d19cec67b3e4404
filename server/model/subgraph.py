"""The enclosing subgraph of a claim: the extraction rules shared by training and serving.

Rules, applied by :func:`extract_subgraph` whatever the source of the adjacency:

- Nodes within ``hops`` hops of the subject and within ``hops`` hops of the object (the union of
  the two neighbourhoods), found by breadth-first search that walks edges in both directions.
- Fan-out: each expanded node contributes at most ``fanout`` edges, the first ones in the order
  (neighbour id, relation, outgoing before incoming) after masking.
- Masking: the claimed edge (subject -[relation]-> object) is removed before the fan-out cut, so
  its presence never shows in the model input, not even as one neighbour fewer.
- Distance labels: each node's hop distance to the subject and to the object; ``hops + 1`` means
  "not within the radius".

Sources: :class:`InMemoryRetriever` reads a :class:`~server.model.graph.KnowledgeGraph`; the Neo4j
retriever prefetches the same sorted adjacency lists in one Cypher round trip per batch. Masking
removes at most two entries from a list (one per direction, two for a self-loop), so both
sources supply the first ``fanout + MASK_SLACK`` entries of each list and the rules cut from there.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from server.inference import ClaimInput
from server.model.graph import Adjacent, EdgeFilter, KnowledgeGraph

# Extra adjacency entries a source must supply per node so the cut after masking is exact.
MASK_SLACK = 2


@dataclass
class ClaimSubgraph:
    """The model input for one claim.

    Node 0 is the subject and node 1 the object (the same node when they are equal). Node text
    embeddings are rows ``node_rows`` of ``embedding_table``, a table shared by many subgraphs.
    """

    claim: ClaimInput
    node_ids: list[str]
    node_names: list[str]
    node_rows: np.ndarray  # (N,) int64 rows of embedding_table
    embedding_table: np.ndarray  # (M, D) float32
    has_embedding: np.ndarray  # (M,) bool
    edge_heads: np.ndarray  # (E,) int64 node positions
    edge_tails: np.ndarray  # (E,) int64 node positions
    edge_relations: list[str]
    distance_to_subject: np.ndarray  # (N,) int64 in [0, hops + 1]
    distance_to_object: np.ndarray  # (N,) int64 in [0, hops + 1]
    subject_known: bool
    object_known: bool
    # Whether some node lies within the radius of both the subject and the object.
    connected: bool
    # Whether the claimed edge is among the edges retrieval could see (it is masked either way).
    claim_asserted: bool
    graph_version: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def object_position(self) -> int:
        return 0 if self.claim.subject_id == self.claim.object_id else 1

    @property
    def num_nodes(self) -> int:
        return len(self.node_ids)

    def edge_triples(self) -> list[tuple[str, str, str]]:
        return [
            (self.node_ids[head], relation, self.node_ids[tail])
            for head, tail, relation in zip(self.edge_heads.tolist(), self.edge_tails.tolist(), self.edge_relations)
        ]


def _masked(entries: Sequence[Adjacent], node: str, claim: ClaimInput) -> list[Adjacent]:
    kept = []
    for neighbour, relation, forward in entries:
        head, tail = (node, neighbour) if forward else (neighbour, node)
        if relation == claim.relation and head == claim.subject_id and tail == claim.object_id:
            continue
        kept.append((neighbour, relation, forward))
    return kept


def extract_subgraph(
    claim: ClaimInput,
    adjacency: Callable[[str], Sequence[Adjacent]],
    hops: int,
    fanout: int,
) -> tuple[list[str], list[tuple[str, str, str]], dict[str, int], dict[str, int]]:
    """Apply the extraction rules (module docstring) to one claim.

    Args:
        claim: the claim; its edge is masked.
        adjacency: node id -> its adjacency in fan-out order, at least the first
            ``fanout + MASK_SLACK`` entries (all of them when the node has fewer).
        hops: radius around the subject and the object.
        fanout: edges kept per expanded node.

    Returns:
        Node ids (subject first, then object, then in discovery order), edges as
        (head, relation, tail), and the hop distance of each reached node to the subject and to
        the object.
    """
    nodes: list[str] = []
    seen: set[str] = set()
    edges: list[tuple[str, str, str]] = []
    edge_set: set[tuple[str, str, str]] = set()
    expanded: set[str] = set()

    def add_node(node: str) -> None:
        if node not in seen:
            seen.add(node)
            nodes.append(node)

    add_node(claim.subject_id)
    add_node(claim.object_id)
    distances: list[dict[str, int]] = []
    for seed in (claim.subject_id, claim.object_id):
        distance = {seed: 0}
        frontier = [seed]
        for depth in range(1, hops + 1):
            next_frontier = []
            for node in frontier:
                selected = _masked(adjacency(node), node, claim)[:fanout]
                for neighbour, relation, forward in selected:
                    if node not in expanded:
                        edge = (node, relation, neighbour) if forward else (neighbour, relation, node)
                        if edge not in edge_set:
                            edge_set.add(edge)
                            edges.append(edge)
                    if neighbour not in distance:
                        distance[neighbour] = depth
                        next_frontier.append(neighbour)
                        add_node(neighbour)
                expanded.add(node)
            frontier = next_frontier
        distances.append(distance)
    return nodes, edges, distances[0], distances[1]


def build_claim_subgraph(
    claim: ClaimInput,
    adjacency: Callable[[str], Sequence[Adjacent]],
    hops: int,
    fanout: int,
    known: Callable[[str], bool],
    names: Callable[[str], str],
    rows: Callable[[str], int],
    embedding_table: np.ndarray,
    has_embedding: np.ndarray,
    claim_asserted: bool,
    graph_version: int = 0,
) -> ClaimSubgraph:
    """Extract one claim's subgraph and lay it out as model input."""
    subject_known = known(claim.subject_id)
    object_known = known(claim.object_id)
    nodes, edges, to_subject, to_object = extract_subgraph(claim, adjacency, hops, fanout)
    position = {node: index for index, node in enumerate(nodes)}
    beyond = hops + 1
    connected = subject_known and object_known and any(node in to_object for node in to_subject)
    return ClaimSubgraph(
        claim=claim,
        node_ids=nodes,
        node_names=[names(node) for node in nodes],
        node_rows=np.array([rows(node) for node in nodes], dtype=np.int64),
        embedding_table=embedding_table,
        has_embedding=has_embedding,
        edge_heads=np.array([position[head] for head, _, _ in edges], dtype=np.int64),
        edge_tails=np.array([position[tail] for _, _, tail in edges], dtype=np.int64),
        edge_relations=[relation for _, relation, _ in edges],
        distance_to_subject=np.array([to_subject.get(node, beyond) for node in nodes], dtype=np.int64),
        distance_to_object=np.array([to_object.get(node, beyond) for node in nodes], dtype=np.int64),
        subject_known=subject_known,
        object_known=object_known,
        connected=connected,
        claim_asserted=claim_asserted,
        graph_version=graph_version,
    )


class InMemoryRetriever:
    """Retriever over an in-memory :class:`KnowledgeGraph` (training, offline evaluation, tests).

    The graph must contain only the edges retrieval may see, because there is no per-query
    filter here. For honest evaluation, build it from the train split.
    """

    def __init__(self, graph: KnowledgeGraph, hops: int = 2, fanout: int = 8, graph_version: int = 0):
        self.graph = graph
        self.hops = hops
        self.fanout = fanout
        self.graph_version = graph_version

    def fetch(self, claims: Sequence[ClaimInput]) -> tuple[list[ClaimSubgraph], int]:
        table, has = self.graph.embedding_table()
        # Entities absent from the graph get a zero row appended after the table's last row.
        missing_row = len(table)
        table = np.concatenate([table, np.zeros((1, table.shape[1]), dtype=np.float32)])
        has = np.concatenate([has, np.zeros(1, dtype=bool)])
        limit = self.fanout + MASK_SLACK
        subgraphs = [
            build_claim_subgraph(
                claim,
                adjacency=lambda node: self.graph.adjacency(node, limit),
                hops=self.hops,
                fanout=self.fanout,
                known=self.graph.__contains__,
                names=self.graph.name,
                rows=lambda node: self.graph.entity_index.get(node, missing_row),
                embedding_table=table,
                has_embedding=has,
                claim_asserted=self.graph.has_edge(claim.subject_id, claim.relation, claim.object_id),
                graph_version=self.graph_version,
            )
            for claim in claims
        ]
        return subgraphs, self.graph_version
