"""The trained scorer: model files, devices, verdicts and evidence paths, on a small UMLS model."""
from __future__ import annotations

import json

import pytest
import torch

from server.inference import NOT_ENOUGH_INFO, ClaimInput
from server.model.scorer import load_scorer, save_model
from server.model.subgraph import InMemoryRetriever
from server.training import data


@pytest.fixture(scope="module")
def scorer(trained_umls_model):
    return load_scorer(trained_umls_model, "cpu")


@pytest.fixture(scope="module")
def umls_graph(scorer):
    dataset = data.load_benchmark("umls")
    embeddings = data.entity_embeddings(dataset, scorer.text_encoder, None)
    return dataset, data.build_graph(dataset, embeddings, scorer.config.node_text_dimensions)


@pytest.fixture(scope="module")
def test_claims(umls_graph):
    dataset, _ = umls_graph
    claims, _ = data.evaluation_claims(dataset, "test", seed=0, limit=12)
    return claims.claims


def retriever_for(scorer, graph):
    return InMemoryRetriever(graph, scorer.config.hops, scorer.config.fanout)


def test_model_folder_holds_no_pickles(trained_umls_model):
    names = {path.name for path in trained_umls_model.iterdir() if path.is_file()}
    assert {"config.json", "model.safetensors", "metrics.json", "loss.png", "reliability.png"} <= names
    assert not [name for name in names if name.endswith((".pt", ".pth", ".pkl", ".bin"))]
    config = json.loads((trained_umls_model / "config.json").read_text())
    assert config["dataset"] == "umls"
    assert len(config["model"]["relations"]) == 46
    assert config["temperature"] > 0


def test_kept_epoch_has_best_accuracy(trained_umls_model):
    figures = json.loads((trained_umls_model / "metrics.json").read_text())
    assert figures["selected_by"] == "accuracy"
    by_epoch = figures["history"]["dev_thresholded_accuracy"]
    assert len(by_epoch) == figures["epochs_run"] == 3
    best = max(by_epoch)
    assert figures["best_epoch"] == by_epoch.index(best) + 1
    # The written weights are that epoch's: calibrated dev accuracy matches its figure.
    assert figures["dev"]["accuracy"] == pytest.approx(best)


def test_missing_model_folder_is_named(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match=f"model folder {missing} not found"):
        load_scorer(missing, "cpu")


def test_safetensors_round_trip(scorer, umls_graph, test_claims, tmp_path):
    _, graph = umls_graph
    subgraphs, _ = retriever_for(scorer, graph).fetch(test_claims)
    save_model(tmp_path / "copy", scorer.network, scorer.description)
    reloaded = load_scorer(tmp_path / "copy", "cpu", text_encoder=scorer.text_encoder)
    first = scorer.score(test_claims, subgraphs)
    second = reloaded.score(test_claims, subgraphs)
    assert [result.logit for result in first] == [result.logit for result in second]
    assert [result.verdict for result in first] == [result.verdict for result in second]


def test_scoring_is_deterministic(scorer, umls_graph, test_claims):
    _, graph = umls_graph
    first = scorer.score(test_claims, retriever_for(scorer, graph).fetch(test_claims)[0], max_evidence_paths=3)
    second = scorer.score(test_claims, retriever_for(scorer, graph).fetch(test_claims)[0], max_evidence_paths=3)
    assert first == second


def test_cpu_device(scorer, trained_umls_model):
    assert scorer.device == "cpu"
    assert {parameter.device.type for parameter in scorer.network.parameters()} == {"cpu"}
    explicit = load_scorer(trained_umls_model, device=torch.device("cpu").type, text_encoder=scorer.text_encoder)
    assert explicit.device == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_device_matches_cpu(scorer, trained_umls_model, umls_graph, test_claims):
    _, graph = umls_graph
    subgraphs, _ = retriever_for(scorer, graph).fetch(test_claims)
    on_gpu = load_scorer(trained_umls_model, "cuda:0")
    cpu_logits = [result.logit for result in scorer.score(test_claims, subgraphs)]
    gpu_logits = [result.logit for result in on_gpu.score(test_claims, subgraphs)]
    assert cpu_logits == pytest.approx(gpu_logits, abs=1e-3)


def test_evidence_paths_are_real_edges(scorer, umls_graph, test_claims):
    _, graph = umls_graph
    subgraphs, _ = retriever_for(scorer, graph).fetch(test_claims)
    results = scorer.score(test_claims, subgraphs, max_evidence_paths=5)
    assert any(result.evidence for result in results)
    for claim, result in zip(test_claims, results):
        assert len(result.evidence) <= 5
        scores = [path.score for path in result.evidence]
        assert scores == sorted(scores, reverse=True)
        for path in result.evidence:
            assert 1 <= len(path.steps) <= 3
            assert path.steps[0].source_id == claim.subject_id
            assert path.steps[-1].target_id == claim.object_id
            for step, following in zip(path.steps, path.steps[1:]):
                assert step.target_id == following.source_id
            for step in path.steps:
                head, tail = (step.source_id, step.target_id) if step.forward else (step.target_id, step.source_id)
                assert graph.has_edge(head, step.relation, tail)
                assert (head, step.relation, tail) != (claim.subject_id, claim.relation, claim.object_id)
                assert step.source_name == graph.name(step.source_id)


def test_unconnected_entities_get_not_enough_info(scorer, umls_graph):
    _, graph = umls_graph
    graph.add_entity("isolated_concept", "isolated concept")
    claims = [ClaimInput("virus", "causes", "isolated_concept"), ClaimInput("virus", "causes", "unknown_entity")]
    subgraphs, _ = retriever_for(scorer, graph).fetch(claims)
    results = scorer.score(claims, subgraphs, max_evidence_paths=3)
    assert [result.verdict for result in results] == [NOT_ENOUGH_INFO, NOT_ENOUGH_INFO]
    assert all(not result.evidence for result in results)
    assert 0.0 <= results[0].probability <= 1.0


def test_unknown_relation_is_rejected(scorer, umls_graph):
    _, graph = umls_graph
    claims = [ClaimInput("virus", "not_a_relation", "bacterium")]
    subgraphs, _ = retriever_for(scorer, graph).fetch(claims)
    with pytest.raises(ValueError, match="not_a_relation"):
        scorer.score(claims, subgraphs)


def test_candidate_paths_bound_evidence(scorer, trained_umls_model, umls_graph, test_claims):
    _, graph = umls_graph
    subgraphs, _ = retriever_for(scorer, graph).fetch(test_claims)
    narrow = load_scorer(trained_umls_model, "cpu", text_encoder=scorer.text_encoder, candidate_paths=1)
    results = narrow.score(test_claims, subgraphs, max_evidence_paths=5)
    assert any(result.evidence for result in results)
    assert all(len(result.evidence) <= 1 for result in results)


def test_complex_pair_score_is_ordered():
    from server.model.network import pair_score

    generator = torch.Generator().manual_seed(0)
    subject, relation, object_ = (torch.randn(4, 8, generator=generator) for _ in range(3))
    real_only = [torch.cat([part[:, :4], torch.zeros(4, 4)], dim=-1) for part in (subject, relation, object_)]

    forward = pair_score("complex", subject, relation, object_)
    backward = pair_score("complex", object_, relation, subject)

    assert not torch.allclose(forward, backward)
    assert torch.allclose(pair_score("complex", *real_only), pair_score("distmult", *(p[:, :4] for p in real_only)))
    assert torch.allclose(pair_score("distmult", subject, relation, object_), pair_score("distmult", object_, relation, subject))
