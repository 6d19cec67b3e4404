"""Subgraph extraction rules on hand-made graphs: masking, fan-out, determinism, connectivity."""
from __future__ import annotations

import numpy as np

from server.inference import ClaimInput
from server.model.graph import KnowledgeGraph
from server.model.subgraph import InMemoryRetriever

DIMENSIONS = 4


def star_graph(insertion_order=None) -> KnowledgeGraph:
    """Hub `h` linked to leaves l0..l9; `a -r-> h`; a separate pair `x -r-> y`."""
    edges = [("h", "links", f"l{index}") for index in range(10)] + [("a", "r", "h"), ("x", "r", "y")]
    if insertion_order is not None:
        edges = [edges[index] for index in insertion_order]
    graph = KnowledgeGraph(DIMENSIONS)
    for entity in sorted({entity for head, _, tail in edges for entity in (head, tail)}):
        graph.add_entity(entity, f"name of {entity}", np.full(DIMENSIONS, len(entity), dtype=np.float32))
    graph.add_edges(edges)
    return graph


def test_claimed_edge_is_masked():
    retriever = InMemoryRetriever(star_graph(), hops=2, fanout=20)
    [subgraph], _ = retriever.fetch([ClaimInput("a", "r", "h")])
    assert ("a", "r", "h") not in subgraph.edge_triples()
    assert subgraph.claim_asserted


def test_other_relation_between_claim_entities_is_kept():
    graph = star_graph()
    graph.add_edge("a", "other", "h")
    [subgraph], _ = InMemoryRetriever(graph, hops=1, fanout=20).fetch([ClaimInput("a", "r", "h")])
    assert ("a", "other", "h") in subgraph.edge_triples()
    assert ("a", "r", "h") not in subgraph.edge_triples()


def test_masking_happens_before_fanout_cut():
    # The hub's adjacency in fan-out order starts with `a` (incoming r), then l0, l1, ...
    retriever = InMemoryRetriever(star_graph(), hops=1, fanout=3)
    [masked], _ = retriever.fetch([ClaimInput("a", "r", "h")])
    [unmasked], _ = retriever.fetch([ClaimInput("l5", "r", "h")])
    hub_edges_masked = [edge for edge in masked.edge_triples() if "h" in (edge[0], edge[2])]
    hub_edges_unmasked = [edge for edge in unmasked.edge_triples() if edge[0] == "h" or edge[2] == "h"]
    assert len(hub_edges_masked) == 3
    assert hub_edges_masked == [("h", "links", "l0"), ("h", "links", "l1"), ("h", "links", "l2")]
    assert ("a", "r", "h") in hub_edges_unmasked


def test_fanout_caps_edges_per_node():
    [subgraph], _ = InMemoryRetriever(star_graph(), hops=1, fanout=4).fetch([ClaimInput("h", "r", "x")])
    assert len([edge for edge in subgraph.edge_triples() if "h" in (edge[0], edge[2])]) == 4


def test_extraction_is_deterministic():
    claims = [ClaimInput("a", "r", "l3"), ClaimInput("l1", "links", "l7"), ClaimInput("a", "r", "h")]
    first, _ = InMemoryRetriever(star_graph(), hops=2, fanout=3).fetch(claims)
    shuffled = star_graph(insertion_order=[11, 3, 0, 10, 7, 1, 9, 2, 8, 4, 6, 5])
    second, _ = InMemoryRetriever(shuffled, hops=2, fanout=3).fetch(claims)
    for left, right in zip(first, second):
        assert left.node_ids == right.node_ids
        assert left.edge_triples() == right.edge_triples()
        assert left.distance_to_subject.tolist() == right.distance_to_subject.tolist()
        assert left.distance_to_object.tolist() == right.distance_to_object.tolist()


def test_distance_labels():
    [subgraph], _ = InMemoryRetriever(star_graph(), hops=2, fanout=20).fetch([ClaimInput("a", "r", "l3")])
    distance = dict(zip(subgraph.node_ids, subgraph.distance_to_subject.tolist()))
    assert distance["a"] == 0
    assert distance["h"] == 1
    assert distance["l3"] == 2
    to_object = dict(zip(subgraph.node_ids, subgraph.distance_to_object.tolist()))
    assert to_object["a"] == 2
    assert subgraph.node_ids[:2] == ["a", "l3"]


def test_unconnected_entities_are_not_connected():
    [subgraph], _ = InMemoryRetriever(star_graph(), hops=2, fanout=20).fetch([ClaimInput("a", "r", "y")])
    assert subgraph.subject_known and subgraph.object_known
    assert not subgraph.connected
    # Nodes beyond the radius of one side carry the label hops + 1.
    to_object = dict(zip(subgraph.node_ids, subgraph.distance_to_object.tolist()))
    assert to_object["a"] == 3


def test_unknown_entity_is_reported():
    [subgraph], _ = InMemoryRetriever(star_graph(), hops=2, fanout=20).fetch([ClaimInput("a", "r", "nobody")])
    assert subgraph.subject_known
    assert not subgraph.object_known
    assert not subgraph.connected
    assert not subgraph.has_embedding[subgraph.node_rows[1]]


def test_node_embeddings_follow_node_ids():
    [subgraph], _ = InMemoryRetriever(star_graph(), hops=1, fanout=20).fetch([ClaimInput("a", "r", "h")])
    for node, row in zip(subgraph.node_ids, subgraph.node_rows.tolist()):
        assert subgraph.embedding_table[row].tolist() == [float(len(node))] * DIMENSIONS
