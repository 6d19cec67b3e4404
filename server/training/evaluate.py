"""``kgreason-eval``: evaluate a model folder on a data set's split and print one JSON object.

    python -m server.training.evaluate --model .kgreason/models/umls --dataset umls --split test

Retrieval reads only the data set's train edges (honest evaluation): from the files by default,
or from Neo4j with ``--neo4j`` (edges filtered on their ``dataset`` and ``split`` properties).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from server.model.evidence import find_paths
from server.model.graph import EdgeFilter
from server.model.scorer import GraphClaimScorer, load_scorer
from server.model.subgraph import ClaimSubgraph, InMemoryRetriever
from server.training import data, metrics

logger = logging.getLogger(__name__)


def score_claims(scorer: GraphClaimScorer, retriever, claims, batch_size: int) -> tuple[list[ClaimSubgraph], np.ndarray, torch.Tensor]:
    """Retrieve and score claims batch by batch; return subgraphs, logits and claim-text encodings."""
    subgraphs, logits, texts = [], [], []
    for start in range(0, len(claims), batch_size):
        chunk, _ = retriever.fetch(claims[start:start + batch_size])
        chunk = [scorer.without_unknown_relations(subgraph) for subgraph in chunk]
        claim_text = scorer.encode_texts(scorer.claim_texts(chunk))
        logits.append(scorer.logits(chunk, claim_text))
        subgraphs.extend(chunk)
        texts.append(claim_text)
    return subgraphs, torch.cat(logits).numpy(), torch.cat(texts)


def evidence_faithfulness(scorer: GraphClaimScorer, subgraphs, logits, claim_text, limit: int, seed: int) -> dict:
    """Share of claims (with at least two candidate paths) where occluding the top-ranked path
    lowers the logit more than occluding a randomly chosen other path."""
    rng = random.Random(seed)
    connected = [index for index, subgraph in enumerate(subgraphs) if subgraph.connected]
    # Every k-th claim, so that positives and negatives (listed after them) are both sampled.
    chosen = connected[::max(1, len(connected) // limit)][:limit]
    picked = [subgraphs[index] for index in chosen]
    paths = [find_paths(subgraph) for subgraph in picked]
    drops = scorer.occlusion_scores(picked, claim_text[chosen], [float(logits[index]) for index in chosen], paths)
    wins = compared = lowers = 0
    for scores in drops:
        if len(scores) < 2:
            continue
        top = max(range(len(scores)), key=lambda index: (scores[index], -index))
        other = rng.choice([index for index in range(len(scores)) if index != top])
        compared += 1
        wins += scores[top] > scores[other]
        lowers += scores[top] > 0
    # Paths are ranked by their own occlusion drop, so the top path can only lose to a random one
    # by a tie. The share of top paths whose removal lowers the logit at all is reported beside it.
    return {"claims_with_two_or_more_paths": compared, "top_path_drop_exceeds_random": wins,
            "share": wins / compared if compared else None,
            "share_top_path_lowers_logit": lowers / compared if compared else None}


def evaluate(model: Path, dataset_name: str, split: str, device: str, seed: int, batch_size: int,
             neo4j: bool = False, faithfulness: int = 0) -> dict:
    started = time.perf_counter()
    scorer = load_scorer(model, device)
    dataset = data.load_benchmark(dataset_name)
    if split not in dataset.triples:
        raise ValueError(f"data set {dataset.name} has no split {split!r}; it has {sorted(dataset.triples)}")
    claims, protocol = data.evaluation_claims(dataset, split, seed)
    config = scorer.config
    if neo4j:
        from neo4j import GraphDatabase

        from server.model.retrieval import Neo4jRetriever

        driver = GraphDatabase.driver(os.environ["NEO4J_URI"], auth=(os.environ.get("NEO4J_USER", "neo4j"), os.environ.get("NEO4J_PASSWORD", "")))
        retriever = Neo4jRetriever.for_scorer(driver, scorer, edge_filter=EdgeFilter(dataset=dataset.name, splits=("train",)))
        source = f"Neo4j at {os.environ['NEO4J_URI']}, edges of data set {dataset.name} with split train"
    else:
        encoder = scorer.text_encoder
        embeddings = data.entity_embeddings(dataset, encoder, Path(".kgreason/cache")) if config.use_text else {}
        graph = data.build_graph(dataset, embeddings, config.node_text_dimensions)
        retriever = InMemoryRetriever(graph, config.hops, config.fanout)
        source = "train edges of the data-set files"

    subgraphs, logits, claim_text = score_claims(scorer, retriever, claims.claims, batch_size)
    probabilities = metrics.sigmoid(logits / scorer.calibration.temperature)
    relations = [claim.relation for claim in claims.claims]
    thresholds = np.array([scorer.calibration.threshold(relation) for relation in relations])
    report = metrics.classification_report(probabilities, claims.labels, thresholds, relations)
    dev_claims, _ = data.evaluation_claims(dataset, "valid", seed)
    report["relation_prior_accuracy"] = metrics.relation_prior_accuracy(
        dev_claims.labels, [claim.relation for claim in dev_claims.claims], claims.labels, relations)
    unanswerable = sum(not (s.subject_known and s.object_known and s.connected) for s in subgraphs)
    result = {
        "model": str(model),
        "dataset": dataset.name,
        "split": split,
        "protocol": f"{protocol}; retrieval: {source}; thresholds from the model folder (dev)",
        **report,
        "not_enough_info_claims": unanswerable,
        "seconds": None,
    }
    if faithfulness:
        result["evidence_faithfulness"] = evidence_faithfulness(scorer, subgraphs, logits, claim_text, faithfulness, seed)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DGLBACKEND", "pytorch")
    parser = argparse.ArgumentParser(
        prog="kgreason-eval", description="Evaluate a model folder on a data set's split; prints one JSON object.",
        epilog="Output fields: accuracy, f1, roc_auc, ece (expected calibration error), per_relation, "
               "relation_prior_accuracy (accuracy of predicting each relation's majority label on valid, "
               "with no model), not_enough_info_claims (claims whose subject or object is unknown, or whose "
               "entities are not connected in the subgraph), seconds, and evidence_faithfulness with --faithfulness. "
               "The valid split is the one training calls dev.")
    parser.add_argument("--model", type=Path, required=True, help="model folder (config.json + model.safetensors)")
    parser.add_argument("--dataset", default="umls", help="benchmark name or data-set folder (default: umls)")
    parser.add_argument("--split", default="test", choices=("valid", "test"), help="split to evaluate (default: test)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda:N (default: cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the corrupted negatives, as used in training (default: 0)")
    parser.add_argument("--batch-size", type=int, default=256, help="claims per forward pass (default: %(default)s)")
    parser.add_argument("--neo4j", action="store_true", help="retrieve from Neo4j (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD) instead of the files")
    parser.add_argument("--faithfulness", type=int, default=0, metavar="N",
                        help="also check evidence faithfulness on N connected claims spread over the split (default: off)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    try:
        result = evaluate(args.model, args.dataset, args.split, args.device, args.seed, args.batch_size, args.neo4j, args.faithfulness)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"kgreason-eval: {error}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
