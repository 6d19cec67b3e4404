"""Subgraph retrieval from Neo4j against the in-memory extraction, on UMLS loaded by the loader."""
from __future__ import annotations

import random

import numpy as np
import pytest

from graph_loader import GraphLoader
from server.inference import ClaimInput
from server.model.graph import EdgeFilter, export_from_neo4j
from server.model.retrieval import Neo4jRetriever
from server.model.subgraph import InMemoryRetriever
from server.training import data

pytestmark = pytest.mark.neo4j

DIMENSIONS = 384
HONEST = EdgeFilter(dataset="umls", splits=("train",))


@pytest.fixture(scope="module")
def umls_in_neo4j(neo4j_driver):
    from graph_loader.text_encoder import TextEncoder

    dataset = data.load_benchmark("umls")
    GraphLoader(neo4j_driver, TextEncoder(), progress=False).load_dataset(dataset.folder, dataset="umls")
    return dataset


@pytest.fixture(scope="module")
def claims(umls_in_neo4j):
    dataset = umls_in_neo4j
    rng = random.Random(7)
    test = rng.sample(dataset.triples["test"], 30)
    train = rng.sample(dataset.triples["train"], 30)
    entities = data.graph_entities(dataset)
    corrupted = [ClaimInput(t.head, t.relation, rng.choice(entities)) for t in test[:20]]
    return ([ClaimInput(t.head, t.relation, t.tail) for t in test + train]
            + corrupted + [ClaimInput(test[0].head, test[0].relation, "not_an_entity")])


def assert_same_subgraphs(from_memory, from_neo4j):
    assert len(from_memory) == len(from_neo4j)
    for left, right in zip(from_memory, from_neo4j):
        assert left.claim == right.claim
        assert left.node_ids == right.node_ids
        assert left.node_names == right.node_names
        assert left.edge_triples() == right.edge_triples()
        assert left.distance_to_subject.tolist() == right.distance_to_subject.tolist()
        assert left.distance_to_object.tolist() == right.distance_to_object.tolist()
        assert (left.subject_known, left.object_known, left.connected) == (right.subject_known, right.object_known, right.connected)
        assert left.claim_asserted == right.claim_asserted
        np.testing.assert_allclose(left.embedding_table[left.node_rows], right.embedding_table[right.node_rows], atol=1e-6)
        assert left.has_embedding[left.node_rows].tolist() == right.has_embedding[right.node_rows].tolist()


def test_export_holds_the_train_edges(neo4j_driver, umls_in_neo4j):
    graph = export_from_neo4j(neo4j_driver, DIMENSIONS, HONEST)
    expected = {(t.head, t.relation, t.tail) for t in umls_in_neo4j.triples["train"]}
    assert graph.num_edges == len(expected)
    assert all(graph.has_edge(*triple) for triple in expected)


@pytest.mark.parametrize("hops, fanout", [(2, 8), (1, 3), (3, 2)])
def test_neo4j_matches_in_memory_extraction(neo4j_driver, umls_in_neo4j, claims, hops, fanout):
    graph = export_from_neo4j(neo4j_driver, DIMENSIONS, HONEST)
    from_memory, _ = InMemoryRetriever(graph, hops, fanout).fetch(claims)
    from_neo4j, version = Neo4jRetriever(neo4j_driver, hops, fanout, DIMENSIONS, HONEST).fetch(claims)
    assert version >= 1
    assert_same_subgraphs(from_memory, from_neo4j)


def test_neo4j_matches_graph_built_from_files(neo4j_driver, umls_in_neo4j, claims):
    exported = export_from_neo4j(neo4j_driver, DIMENSIONS, HONEST)
    embeddings = {entity: exported.embedding_table()[0][row] for entity, row in exported.entity_index.items()}
    graph = data.build_graph(umls_in_neo4j, embeddings, DIMENSIONS)
    from_files, _ = InMemoryRetriever(graph, 2, 8).fetch(claims)
    from_neo4j, _ = Neo4jRetriever(neo4j_driver, 2, 8, DIMENSIONS, HONEST).fetch(claims)
    assert_same_subgraphs(from_files, from_neo4j)


def test_honest_filter_hides_test_edges(neo4j_driver, umls_in_neo4j):
    triple = umls_in_neo4j.triples["test"][0]
    claim = ClaimInput(triple.head, triple.relation, triple.tail)
    [honest], _ = Neo4jRetriever(neo4j_driver, edge_filter=HONEST).fetch([claim])
    [production], _ = Neo4jRetriever(neo4j_driver).fetch([claim])
    assert not honest.claim_asserted
    assert production.claim_asserted
    assert (triple.head, triple.relation, triple.tail) not in production.edge_triples()


def test_unknown_entity_is_not_known(neo4j_driver, umls_in_neo4j):
    [subgraph], _ = Neo4jRetriever(neo4j_driver).fetch([ClaimInput("virus", "causes", "not_an_entity")])
    assert subgraph.subject_known
    assert not subgraph.object_known
    assert not subgraph.connected
