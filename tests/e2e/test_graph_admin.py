"""GraphAdmin over gRPC: triples loaded into a running server count in the next verdict."""
from __future__ import annotations

import grpc
import pytest

from client import ReasonerClient
from kgreason.v1 import graph_admin_pb2 as admin_pb2
from kgreason.v1 import graph_admin_pb2_grpc as admin_grpc
from tests.conftest import Neo4jServer

pytestmark = [pytest.mark.e2e, pytest.mark.neo4j, pytest.mark.slow]

NEW_ID = "kgreason_e2e_agent"
NEW_NAME = "Zetamab 試験薬"


@pytest.fixture()
def admin_server(server_factory, umls_graph, neo4j_server: Neo4jServer):
    """A server with GraphAdmin on; the entity the tests add is deleted afterwards."""
    from neo4j import GraphDatabase

    server = server_factory(graph_admin="true")
    yield server
    with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver:
        driver.execute_query("MATCH (e:Entity {id: $id}) DETACH DELETE e", id=NEW_ID)
    assert server.stop() == 0


def batch(*triples, entities=(), options=None) -> admin_pb2.LoadTriplesRequest:
    message = admin_pb2.LoadTriplesRequest(
        triples=[admin_pb2.Triple(head=h, relation=r, tail=t) for h, r, t in triples], entities=list(entities)
    )
    if options is not None:
        message.options.CopyFrom(options)
    return message


def test_loaded_triples_count_in_next_verdict(admin_server):
    admin = admin_grpc.GraphAdminStub(admin_server.channel())
    before = admin.GetGraphInfo(admin_pb2.GetGraphInfoRequest(), timeout=30)
    with ReasonerClient(admin_server.address, timeout=120) as client:
        with pytest.raises(grpc.RpcError) as unknown:
            client.verify(NEW_NAME, "treats", "sign_or_symptom")

        loaded = admin.LoadTriples(iter([
            batch(
                (NEW_ID, "isa", "pharmacologic_substance"),
                options=admin_pb2.LoadOptions(dataset="e2e-online"),
                entities=[admin_pb2.EntityText(id=NEW_ID, name=NEW_NAME, description="an antibody")],
            ),
            batch((NEW_ID, "treats", "sign_or_symptom")),
        ]), timeout=300)
        after = admin.GetGraphInfo(admin_pb2.GetGraphInfoRequest(), timeout=30)
        verdict = client.verify(NEW_NAME, "treats", "sign_or_symptom")

    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert loaded.triples_written == 2
    assert loaded.entities_created == 1
    assert loaded.graph_version > before.graph_version
    assert after.entities == before.entities + 1
    assert after.relationships == before.relationships + 2
    assert after.graph_version == loaded.graph_version
    assert verdict.subject.id == NEW_ID
    assert verdict.subject.name == NEW_NAME
    assert verdict.claim_asserted_in_graph
    assert verdict.graph_version == loaded.graph_version


def test_invalid_batch_names_field_and_keeps_earlier(admin_server):
    admin = admin_grpc.GraphAdminStub(admin_server.channel())
    before = admin.GetGraphInfo(admin_pb2.GetGraphInfoRequest(), timeout=30)
    with pytest.raises(grpc.RpcError) as rejected:
        admin.LoadTriples(iter([
            batch((NEW_ID, "isa", "pharmacologic_substance")),
            batch((NEW_ID, "treats", "sign_or_symptom"), (NEW_ID, "  ", "virus")),
        ]), timeout=300)
    after = admin.GetGraphInfo(admin_pb2.GetGraphInfoRequest(), timeout=30)

    assert rejected.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "batch 2: triples[1].relation: is required" in rejected.value.details()
    assert "batches before it (1) are committed" in rejected.value.details()
    assert after.entities == before.entities + 1
    assert after.relationships == before.relationships + 1


def test_invalid_split_is_rejected(admin_server):
    admin = admin_grpc.GraphAdminStub(admin_server.channel())
    with pytest.raises(grpc.RpcError) as rejected:
        admin.LoadTriples(iter([batch((NEW_ID, "isa", "virus"), options=admin_pb2.LoadOptions(split="holdout"))]),
                          timeout=60)

    assert rejected.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "options.split: invalid split 'holdout'" in rejected.value.details()


def test_graph_admin_needs_bearer_token(server_factory):
    server = server_factory(graph_admin="true", bearer_token="e2e-admin-token")
    admin = admin_grpc.GraphAdminStub(server.channel())
    with pytest.raises(grpc.RpcError) as rejected:
        admin.LoadTriples(iter([batch((NEW_ID, "isa", "virus"))]), timeout=60)
    info = admin.GetGraphInfo(
        admin_pb2.GetGraphInfoRequest(), timeout=30, metadata=(("authorization", "Bearer e2e-admin-token"),)
    )

    assert rejected.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert info.entities > 0
    assert server.stop() == 0


def test_graph_admin_is_off_by_default(reasoner_server):
    admin = admin_grpc.GraphAdminStub(reasoner_server.channel())
    with pytest.raises(grpc.RpcError) as rejected:
        admin.GetGraphInfo(admin_pb2.GetGraphInfoRequest(), timeout=30)

    assert rejected.value.code() == grpc.StatusCode.UNIMPLEMENTED
