"""The Reasoner over gRPC: a real server process, the real UMLS model, a real Neo4j."""
from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from client import ReasonerClient
from kgreason.v1 import reasoner_pb2, reasoner_pb2_grpc
from tests.e2e.conftest import free_port, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.neo4j, pytest.mark.slow]


def request(subject: str, predicate: str, obj: str, request_id: str = "", context: str = "") -> reasoner_pb2.VerifyRequest:
    claim = reasoner_pb2.Claim(subject=subject, predicate=predicate, object=obj, context_text=context)
    return reasoner_pb2.VerifyRequest(request_id=request_id, claim=claim)


def false_claims(graph, count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """Corrupt the object of train triples until the triple is in no split of UMLS."""
    generator = random.Random(seed)
    claims = []
    while len(claims) < count:
        subject, relation, _ = generator.choice(graph.train)
        corrupted = (subject, relation, generator.choice(graph.entities))
        if corrupted not in graph.known:
            claims.append(corrupted)
    return claims


def abort_code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details()


def metric_value(port: int, name: str, labels: str = "") -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else 0.0


# Verdicts


def test_verify_true_and_false_claims(reasoner_server, umls_graph):
    true_claims = random.Random(1).sample(umls_graph.train, 40)
    wrong_claims = false_claims(umls_graph, 40)
    with ReasonerClient(reasoner_server.address, timeout=120) as client, ThreadPoolExecutor(max_workers=16) as pool:
        true_responses = list(pool.map(lambda claim: client.verify(*claim), true_claims))
        false_responses = list(pool.map(lambda claim: client.verify(*claim), wrong_claims))

    for claim, response in zip(true_claims, true_responses):
        assert response.subject.id == claim[0]
        assert response.object.id == claim[2]
        assert response.predicate == claim[1]
        assert response.claim_asserted_in_graph
        assert response.graph_version >= 1
        assert 0.0 <= response.probability <= 1.0
        assert response.request_id
    for response in false_responses:
        assert not response.claim_asserted_in_graph
    for response in true_responses + false_responses:
        if response.verdict != reasoner_pb2.NOT_ENOUGH_INFO:
            expected = reasoner_pb2.SUPPORTED if response.probability >= response.threshold else reasoner_pb2.REFUTED
            assert response.verdict == expected

    mean_true = sum(r.probability for r in true_responses) / len(true_responses)
    mean_false = sum(r.probability for r in false_responses) / len(false_responses)
    # The small test model is weak, but it ranks stored triples above random corruptions.
    assert mean_true > mean_false


def test_verify_resolves_names_and_returns_evidence(reasoner_server):
    stub = reasoner_pb2_grpc.ReasonerStub(reasoner_server.channel())
    response = stub.Verify(
        reasoner_pb2.VerifyRequest(
            request_id="by-name",
            claim=reasoner_pb2.Claim(subject="Virus", predicate="causes", object="disease or syndrome"),
            max_evidence_paths=5,
        ),
        timeout=60,
    )

    assert response.request_id == "by-name"
    assert response.subject.id == "virus"
    assert response.object.id == "disease_or_syndrome"
    assert len(response.evidence) <= 5
    for path in response.evidence:
        assert 1 <= len(path.steps) <= 3


def test_server_info_describes_model(reasoner_server, umls_graph):
    info = reasoner_pb2_grpc.ReasonerStub(reasoner_server.channel()).GetServerInfo(
        reasoner_pb2.GetServerInfoRequest(), timeout=30
    )
    assert sorted(info.relations) == umls_graph.relations
    assert list(info.devices) == ["cpu"]
    assert info.graph_version >= 1
    assert info.hops >= 1
    assert info.max_batch >= 1


# Errors of unary calls


@pytest.mark.parametrize(
    ("claim", "field"),
    [
        (("", "isa", "virus"), "claim.subject"),
        (("virus", "isa", ""), "claim.object"),
        (("virus", "", "entity"), "claim.predicate"),
        (("x" * 513, "isa", "entity"), "claim.subject"),
    ],
)
def test_invalid_claim_names_field(reasoner_server, claim, field):
    stub = reasoner_pb2_grpc.ReasonerStub(reasoner_server.channel())
    code, details = abort_code(lambda: stub.Verify(request(*claim), timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert field in details


def test_oversized_context_is_invalid(reasoner_server):
    stub = reasoner_pb2_grpc.ReasonerStub(reasoner_server.channel())
    code, details = abort_code(lambda: stub.Verify(request("virus", "isa", "entity", context="y" * 4097), timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "claim.context_text" in details


def test_unknown_relation_lists_known_ones(reasoner_server, umls_graph):
    stub = reasoner_pb2_grpc.ReasonerStub(reasoner_server.channel())
    code, details = abort_code(lambda: stub.Verify(request("virus", "cures", "entity"), timeout=30))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "claim.predicate" in details
    assert "'cures'" in details
    for relation in umls_graph.relations:
        assert relation in details


def test_unknown_entity_is_not_found(reasoner_server):
    stub = reasoner_pb2_grpc.ReasonerStub(reasoner_server.channel())
    code, details = abort_code(lambda: stub.Verify(request("virus", "isa", "unicorn horn"), timeout=30))
    assert code == grpc.StatusCode.NOT_FOUND
    assert "claim.object" in details
    assert "unicorn horn" in details


def test_ambiguous_name_lists_candidates(reasoner_server):
    stub = reasoner_pb2_grpc.ReasonerStub(reasoner_server.channel())
    code, details = abort_code(lambda: stub.Verify(request("concept", "isa", "entity"), timeout=30))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "claim.subject" in details
    assert "spatial_concept" in details
    assert "temporal_concept" in details


def test_neo4j_down_is_unavailable(server_factory):
    server = server_factory(neo4j_uri=f"bolt://127.0.0.1:{free_port()}")
    stub = reasoner_pb2_grpc.ReasonerStub(server.channel())
    code, details = abort_code(lambda: stub.Verify(request("virus", "isa", "entity"), timeout=60))
    assert code == grpc.StatusCode.UNAVAILABLE
    assert "Neo4j" in details
    assert server.stop() == 0


def test_full_queue_and_expired_deadline(server_factory, umls_graph):
    """A server with a queue of 16 and batches of 1: a burst overflows it, short deadlines expire.

    NOTE: assumes twelve claims with 20 evidence paths each take the single worker longer than
    150 ms, so the 50 ms deadlines and the cancellations happen while those claims still wait.
    """
    slow_count = 12
    server = server_factory(queue_capacity=16, max_batch=1, max_wait_ms=0, metrics_port=free_port())
    stub = reasoner_pb2_grpc.ReasonerStub(server.channel())
    claims = umls_graph.train[:64]

    def call(claim, timeout, evidence=0):
        try:
            message = request(*claim)
            message.max_evidence_paths = evidence
            stub.Verify(message, timeout=timeout)
            return grpc.StatusCode.OK
        except grpc.RpcError as error:
            return error.code()

    with ThreadPoolExecutor(max_workers=64) as pool:
        codes = list(pool.map(lambda claim: call(claim, 120), claims))
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert grpc.StatusCode.OK in codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert metric_value(server.metrics_port, "kgreason_claims_total", 'code="RESOURCE_EXHAUSTED"') == codes.count(
        grpc.StatusCode.RESOURCE_EXHAUSTED
    )

    # Claims with a long deadline keep the single worker busy; short ones queue behind them.
    with ThreadPoolExecutor(max_workers=slow_count + 2) as pool:
        slow = [pool.submit(call, claim, 120, 20) for claim in claims[:slow_count]]
        time.sleep(0.05)
        quick = [pool.submit(call, claim, 0.05) for claim in claims[slow_count:slow_count + 2]]
        quick_codes = [future.result() for future in quick]
        slow_codes = [future.result() for future in slow]
    assert quick_codes == [grpc.StatusCode.DEADLINE_EXCEEDED] * 2
    assert slow_codes == [grpc.StatusCode.OK] * slow_count

    # Cancelled calls queued behind slow ones free their place without reaching the model.
    with ThreadPoolExecutor(max_workers=slow_count) as pool:
        slow = [pool.submit(call, claim, 120, 20) for claim in claims[:slow_count]]
        time.sleep(0.05)
        waiting = claims[slow_count + 2:slow_count + 4]
        cancelled = [stub.Verify.future(request(*claim), timeout=120) for claim in waiting]
        time.sleep(0.1)  # long enough for the server to admit both, short of the slow claims' work
        for future in cancelled:
            future.cancel()
        assert [future.result() for future in slow] == [grpc.StatusCode.OK] * slow_count
    assert all(future.cancelled() for future in cancelled)

    # The server dropped the two claims past their deadline and the two cancelled ones before
    # inference, so every claim that reached the model returned OK. A claim whose deadline passes
    # is counted "expired" when the pipeline checks it first and "cancelled" when gRPC cancels its
    # call first. Which comes first depends on timing.
    port = server.metrics_port
    ok = metric_value(port, "kgreason_claims_total", 'code="OK"')
    dropped = {
        reason: metric_value(port, "kgreason_claims_dropped_total", f'reason="{reason}"')
        for reason in ("cancelled", "expired")
    }
    assert metric_value(port, "kgreason_claims_total", 'code="DEADLINE_EXCEEDED"') == 2
    assert metric_value(port, "kgreason_claims_total", 'code="CANCELLED"') == 2
    assert dropped["cancelled"] >= 2
    assert dropped["cancelled"] + dropped["expired"] == 4
    assert metric_value(port, "kgreason_batch_size_sum") == ok
    assert ok == codes.count(grpc.StatusCode.OK) + 2 * slow_count
    assert server.stop() == 0


def test_claim_timeout_expires_per_claim(reasoner_server):
    # A batch of fewer than max_batch claims waits max_wait_ms (5 ms by default) before it goes
    # on, so a claim with 1 ms expires before it reaches the model.
    stub = reasoner_pb2_grpc.ReasonerStub(reasoner_server.channel())
    hurried = request("virus", "isa", "organism", "hurried")
    hurried.timeout_ms = 1
    patient = request("virus", "isa", "organism", "patient")
    patient.timeout_ms = 60_000

    responses = {response.request_id: response for response in stub.VerifyStream(iter([hurried, patient]), timeout=60)}
    code, details = abort_code(lambda: stub.Verify(hurried, timeout=60))

    assert responses["hurried"].error.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
    assert not responses["patient"].HasField("error")
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "deadline passed" in details


# Streams


def test_stream_answers_each_request_once(reasoner_server, umls_graph):
    claims = umls_graph.train + false_claims(umls_graph, 2000)
    claims = claims[:2000]
    with ReasonerClient(reasoner_server.address, timeout=600) as client:
        responses = list(client.verify_stream(
            {"request_id": f"claim-{index}", "subject": s, "predicate": p, "object": o}
            for index, (s, p, o) in enumerate(claims)
        ))

    ids = [response.request_id for response in responses]
    assert len(ids) == 2000
    assert len(set(ids)) == 2000
    assert set(ids) == {f"claim-{index}" for index in range(2000)}
    assert [r.request_id for r in responses if r.HasField("error")] == []
    by_id = {response.request_id: response for response in responses}
    for index in (0, 999, 1999):
        subject, relation, obj = claims[index]
        assert by_id[f"claim-{index}"].subject.id == subject
        assert by_id[f"claim-{index}"].object.id == obj


def test_stream_reports_errors_per_claim(reasoner_server):
    stub = reasoner_pb2_grpc.ReasonerStub(reasoner_server.channel())
    requests = [
        request("virus", "isa", "organism", "good"),
        request("virus", "cures", "entity", "bad-relation"),
        request("virus", "isa", "unicorn horn", "unknown-entity"),
        request("virus", "isa", "organism", ""),
    ]
    responses = {response.request_id: response for response in stub.VerifyStream(iter(requests), timeout=60)}

    assert not responses["good"].HasField("error")
    assert responses["bad-relation"].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert responses["bad-relation"].error.field == "claim.predicate"
    assert responses["unknown-entity"].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert responses["unknown-entity"].error.field == "claim.object"
    assert responses[""].error.field == "request_id"


def test_sigterm_during_stream_answers_admitted(server_factory, umls_graph):
    server = server_factory(max_batch=8)
    stub = reasoner_pb2_grpc.ReasonerStub(server.channel())
    stop_sending = threading.Event()

    def requests():
        for index in range(5000):
            if stop_sending.is_set():
                return
            subject, relation, obj = umls_graph.train[index % len(umls_graph.train)]
            yield request(subject, relation, obj, f"claim-{index}")
            time.sleep(0.001)

    call = stub.VerifyStream(requests(), timeout=300)
    received = []
    with pytest.raises(grpc.RpcError) as ended:
        for response in call:
            received.append(response)
            if len(received) == 50:
                server.process.send_signal(15)
    stop_sending.set()

    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    trailers = dict(call.trailing_metadata())
    admitted = int(trailers["kgreason-admitted"])
    ids = [response.request_id for response in received]
    assert len(ids) == len(set(ids))
    assert len(ids) == admitted
    assert all(not response.HasField("error") for response in received)
    assert server.process.wait(timeout=120) == 0
    assert "shutdown complete" in server.log()


# Stock tools and metrics


def test_metrics_endpoint_exports_stages(reasoner_server, umls_graph):
    with ReasonerClient(reasoner_server.address, timeout=60) as client:
        for claim in umls_graph.train[:3]:
            client.verify(*claim)
    port = reasoner_server.metrics_port
    for stage in ("queue", "resolution", "retrieval", "inference", "total"):
        assert metric_value(port, "kgreason_stage_latency_seconds_count", f'stage="{stage}"') >= 1
    assert metric_value(port, "kgreason_batch_size_count") >= 1
    assert metric_value(port, "kgreason_claims_total", 'code="OK"') >= 3


def test_wrong_neo4j_password_stops_start(umls_model_dir, neo4j_server, tmp_path):
    log_path = tmp_path / "server.log"
    with pytest.raises(AssertionError, match="exited with 2") as caught:
        start_server(umls_model_dir, neo4j_server, log_path, neo4j_password="not-the-password")
    assert f"rejected user {neo4j_server.user!r}" in str(caught.value)
    assert "--neo4j-password" in str(caught.value)


def test_killed_worker_is_replaced(server_factory, umls_graph):
    server = server_factory()
    first_pid = int(re.search(r"process worker (\d+) serves cpu", server.log()).group(1))
    claims = umls_graph.train[:4]
    os.kill(first_pid, signal.SIGKILL)

    with ReasonerClient(server.address, timeout=300) as client:
        responses = [client.verify(*claim) for claim in claims]

    assert [(r.subject.id, r.predicate, r.object.id) for r in responses] == claims
    assert f"worker process {first_pid} exited with code -9" in server.log()
    worker_pids = [int(pid) for pid in re.findall(r"process worker (\d+) serves cpu", server.log())]
    assert len(worker_pids) == 2
    assert worker_pids[1] != first_pid
    assert server.stop() == 0
