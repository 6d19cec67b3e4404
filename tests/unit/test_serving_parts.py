"""Request validation, entity choice, the subgraph cache and verdict rendering."""
import grpc
import pytest

from client.cli import ClaimFileError, parse_claims
from client.render import to_dict, to_mermaid, to_table
from kgreason.v1 import reasoner_pb2
from server.admission import ClaimFailure
from server.cache import SubgraphCache, fetch_with_cache
from server.inference import ClaimInput
from server.resolution import ResolvedEntity, choose, lucene_phrase
from server.validation import validate_request

RELATIONS = ["isa", "causes"]


def verify_request(subject="virus", predicate="isa", obj="organism", context="", request_id="r1", evidence=0):
    return reasoner_pb2.VerifyRequest(
        request_id=request_id,
        claim=reasoner_pb2.Claim(subject=subject, predicate=predicate, object=obj, context_text=context),
        max_evidence_paths=evidence,
    )


def test_valid_request_gets_default_evidence():
    claim, evidence = validate_request(verify_request(), RELATIONS, require_request_id=True)
    assert (claim.subject, claim.predicate, claim.object) == ("virus", "isa", "organism")
    assert evidence == 3


@pytest.mark.parametrize(
    ("request_message", "field"),
    [
        (verify_request(subject="  "), "claim.subject"),
        (verify_request(obj="é" * 257), "claim.object"),
        (verify_request(context="c" * 4097), "claim.context_text"),
        (verify_request(predicate="cures"), "claim.predicate"),
        (verify_request(evidence=21), "max_evidence_paths"),
        (verify_request(request_id=""), "request_id"),
        (verify_request(request_id="i" * 129), "request_id"),
        (reasoner_pb2.VerifyRequest(request_id="r1"), "claim"),
    ],
)
def test_invalid_request_names_field(request_message, field):
    with pytest.raises(ClaimFailure) as caught:
        validate_request(request_message, RELATIONS, require_request_id=True)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.field == field
    assert caught.value.message.startswith(field)


def test_unknown_relation_lists_known():
    with pytest.raises(ClaimFailure, match="known relations: isa, causes"):
        validate_request(verify_request(predicate="cures"), RELATIONS, require_request_id=False)


def test_lucene_phrase_escapes_syntax():
    assert lucene_phrase('a "b" (c)') == r'"a \"b\" \(c\)"'
    assert lucene_phrase("x && y || z:w") == r'"x \&& y \|| z\:w"'


def test_choose_prefers_exact_id():
    assert choose("virus", "virus", "Virus", []) == ResolvedEntity("virus", "Virus")


def test_choose_single_equal_name_among_near_matches():
    candidates = [{"id": "c1", "name": "spatial concept"}, {"id": "c2", "name": "concept"}]
    assert choose("Concept", None, None, candidates) == ResolvedEntity("c2", "concept")


def test_choose_ambiguous_lists_candidates():
    candidates = [{"id": "c1", "name": "spatial concept"}, {"id": "c2", "name": "temporal concept"}]
    outcome = choose("concept", None, None, candidates)
    assert isinstance(outcome, ClaimFailure)
    assert outcome.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "c1 (spatial concept)" in outcome.message
    assert "c2 (temporal concept)" in outcome.message


def test_choose_without_candidates_is_not_found():
    outcome = choose("unicorn", None, None, [])
    assert isinstance(outcome, ClaimFailure)
    assert outcome.code == grpc.StatusCode.NOT_FOUND


class CountingRetriever:
    """Returns a string per claim and records each fetch; replaces Neo4j in cache tests."""

    def __init__(self, version: int):
        self.version = version
        self.fetched: list[list[str]] = []

    def fetch(self, claims):
        self.fetched.append([claim.subject_id for claim in claims])
        return [f"subgraph-{claim.subject_id}-v{self.version}" for claim in claims], self.version


def test_cache_fetches_only_misses():
    retriever = CountingRetriever(version=1)
    cache = SubgraphCache(capacity=10)
    first = [ClaimInput("a", "isa", "x"), ClaimInput("b", "isa", "x")]
    second = [ClaimInput("b", "isa", "x"), ClaimInput("c", "isa", "x")]

    _, _, hits_first = fetch_with_cache(retriever, cache, first, 1)
    subgraphs, version, hits_second = fetch_with_cache(retriever, cache, second, 1)

    assert hits_first == 0
    assert hits_second == 1
    assert retriever.fetched == [["a", "b"], ["c"]]
    assert subgraphs == ["subgraph-b-v1", "subgraph-c-v1"]
    assert version == 1


def test_cache_empties_on_new_graph_version():
    retriever = CountingRetriever(version=1)
    cache = SubgraphCache(capacity=10)
    claims = [ClaimInput("a", "isa", "x")]
    fetch_with_cache(retriever, cache, claims, 1)
    retriever.version = 2

    subgraphs, version, hits = fetch_with_cache(retriever, cache, claims, 2)

    assert hits == 0
    assert subgraphs == ["subgraph-a-v2"]
    assert version == 2


def test_cache_evicts_least_recently_used():
    cache = SubgraphCache(capacity=2)
    claims = [ClaimInput(name, "isa", "x") for name in "abc"]
    cache.store(claims[:2], ["A", "B"], 1)
    cache.lookup(claims[:1], 1)  # touch "a"
    cache.store(claims[2:], ["C"], 1)
    assert cache.lookup(claims, 1) == ["A", None, "C"]


def sample_response() -> reasoner_pb2.VerifyResponse:
    virus = reasoner_pb2.Entity(id="virus", name="virus")
    disease = reasoner_pb2.Entity(id="disease_or_syndrome", name="disease or syndrome")
    organism = reasoner_pb2.Entity(id="organism", name="organism")
    response = reasoner_pb2.VerifyResponse(
        request_id="1", verdict=reasoner_pb2.SUPPORTED, probability=0.9, threshold=0.5,
        subject=virus, object=disease, predicate="causes", graph_version=3,
    )
    path = response.evidence.add(score=1.25)
    path.steps.add(source=virus, relation="isa", target=organism, forward=True)
    path.steps.add(source=organism, relation="causes", target=disease, forward=False)
    return response


def test_table_shows_verdict_and_path():
    text = to_table(sample_response())
    assert "SUPPORTED" in text
    assert "virus -isa-> organism <-causes- disease or syndrome" in text


def test_mermaid_keeps_stored_direction():
    text = to_mermaid(sample_response())
    assert text.splitlines()[0] == "flowchart LR"
    assert 'e_virus -- "isa" --> e_organism' in text
    assert 'e_disease_or_syndrome -- "causes" --> e_organism' in text


def test_claim_file_errors_carry_line_numbers():
    lines = ['{"subject": "a", "predicate": "isa", "object": "b"}', "", "{oops", '{"subject": "a"}']
    with pytest.raises(ClaimFileError) as caught:
        parse_claims(lines, "claims.jsonl")
    assert "claims.jsonl:3: invalid JSON" in str(caught.value)
    assert "claims.jsonl:4: missing predicate, object" in str(caught.value)


def test_claim_file_request_id_defaults_to_line():
    claims = parse_claims(['{"subject": "a", "predicate": "isa", "object": "b"}', "",
                           '{"subject": "c", "predicate": "isa", "object": "d", "request_id": "x"}'], "f")
    assert [claim["request_id"] for claim in claims] == ["1", "x"]


def test_claim_file_rejects_unknown_keys_and_types():
    lines = [
        '{"subject": "a", "predicate": "isa", "object": "b", "confidnce": 0.5}',
        '{"subject": "a", "predicate": "isa", "object": "b", "timeout_ms": "soon"}',
        '{"subject": "a", "predicate": "isa", "object": 7}',
        '{"subject": "a", "predicate": "isa", "object": "b", "timeout_ms": 250, "max_evidence_paths": 2}',
    ]
    with pytest.raises(ClaimFileError) as caught:
        parse_claims(lines, "claims.jsonl")
    message = str(caught.value)
    assert "claims.jsonl:1: unknown keys confidnce" in message
    assert "claims.jsonl:2: timeout_ms must be an integer of 0 or more" in message
    assert "claims.jsonl:3: object must be a string" in message
    assert "claims.jsonl:4" not in message


def test_json_error_names_status():
    response = reasoner_pb2.VerifyResponse(
        request_id="r1", error=reasoner_pb2.ClaimError(code=grpc.StatusCode.DEADLINE_EXCEEDED.value[0], message="late")
    )
    assert to_dict(response)["error"]["status"] == "DEADLINE_EXCEEDED"
    assert to_dict(response)["error"]["code"] == 4
