"""Training of a claim scorer on a benchmark data set, from files, on CPU or ``cuda:N``.

Protocol: retrieval reads a graph of the train edges only; each train positive is paired
with filtered corruptions (some type consistent); the claimed edge is masked from its own
subgraph. Training stops early on dev loss or dev accuracy. Temperature scaling and per-relation
thresholds are then fitted on dev, and the test figures use the data set's own negatives or one
seeded corruption per positive.
"""
from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from server.model.network import ClaimNetwork, ModelConfig
from server.model.scorer import Calibration, GraphClaimScorer, ModelFolder, save_model
from server.model.subgraph import ClaimSubgraph, InMemoryRetriever
from server.training import data, metrics, plots

logger = logging.getLogger(__name__)

MODES = ("both", "text", "graph")
SELECTIONS = ("loss", "accuracy")


@dataclass
class TrainingConfig:
    dataset: str = "umls"  # benchmark name under ../shared/data, or a data-set folder
    out: Path = Path(".kgreason/models/umls")
    device: str = "cpu"
    seed: int = 0
    mode: str = "both"  # both, text (BERT claim text only) or graph (structure, no BERT)
    epochs: int = 20
    patience: int = 3  # epochs without a better dev figure (see select_by) before stopping
    select_by: str = "loss"  # dev figure that picks the kept epoch: loss, or accuracy after dev thresholds
    time_limit_minutes: float | None = None  # no new epoch starts after this much training time
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    negatives: int = 2  # corruptions per train positive
    hard_fraction: float = 0.5  # share of corruptions drawn from entities seen in that position
    max_train_positives: int | None = None  # cap on train positives (seeded sample), for big graphs
    max_evaluation_positives: int | None = None  # cap on dev and test positives (the first ones)
    hops: int = 2
    fanout: int = 8
    hidden_dimensions: int = 64
    layers: int = 2
    bases: int = 8
    dropout: float = 0.1
    pair_score: str = "distmult"  # pairwise entity term: distmult or complex
    text_encoder: str | None = None  # local BERT folder; None for the packaged MiniLM
    cache_dir: Path = Path(".kgreason/cache")
    plots: bool = True


@dataclass
class PreparedSplit:
    claims: data.LabelledClaims
    subgraphs: list[ClaimSubgraph]
    claim_text: torch.Tensor  # (n, claim_text_dimensions)
    protocol: str = ""
    relations: list[str] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    import dgl

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    dgl.seed(seed)


def predict_logits(scorer: GraphClaimScorer, split: PreparedSplit, batch_size: int = 256) -> np.ndarray:
    scorer.network.eval()
    chunks = []
    for start in range(0, len(split.subgraphs), batch_size):
        chunks.append(scorer.logits(split.subgraphs[start:start + batch_size], split.claim_text[start:start + batch_size]))
    return torch.cat(chunks).numpy() if chunks else np.zeros(0, dtype=np.float32)


def _prepare(claims: data.LabelledClaims, retriever: InMemoryRetriever, scorer: GraphClaimScorer, encoder,
             cache_dir: Path | None, protocol: str = "") -> PreparedSplit:
    subgraphs, _ = retriever.fetch(claims.claims)
    for subgraph in subgraphs:
        subgraph.extra["edge_types"] = np.array(
            [scorer.relation_index[relation] for relation in subgraph.edge_relations], dtype=np.int64)
        subgraph.extra["entity_ids"] = np.array(
            [scorer.entity_index.get(node, 0) for node in subgraph.node_ids], dtype=np.int64)
    texts = scorer.claim_texts(subgraphs)
    claim_text = data.encode_claim_texts(texts, encoder, scorer.config.claim_text_dimensions, cache_dir)
    return PreparedSplit(claims, subgraphs, claim_text, protocol, [claim.relation for claim in claims.claims])


def train(config: TrainingConfig) -> dict:
    """Train, calibrate, evaluate on test and write the model folder; return the metrics."""
    if config.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {config.mode!r}")
    if config.select_by not in SELECTIONS:
        raise ValueError(f"select_by must be one of {SELECTIONS}, got {config.select_by!r}")
    started = time.perf_counter()
    seed_everything(config.seed)
    use_text = config.mode in ("both", "text")
    use_graph = config.mode in ("both", "graph")

    dataset = data.load_benchmark(config.dataset)
    encoder = None
    dimensions = 384
    if use_text:
        from graph_loader.text_encoder import TextEncoder

        encoder = TextEncoder(config.text_encoder, device=config.device)
        dimensions = encoder.dimensions
    embeddings = data.entity_embeddings(dataset, encoder, config.cache_dir) if use_text else {}
    graph = data.build_graph(dataset, embeddings, dimensions)
    relation_texts = data.relation_texts(dataset)
    train_positives = list(dataset.triples["train"])
    train_entities = sorted({entity for t in train_positives for entity in (t.head, t.tail)})
    if config.max_train_positives and len(train_positives) > config.max_train_positives:
        train_positives = random.Random(config.seed).sample(train_positives, config.max_train_positives)

    model_config = ModelConfig(
        relations=sorted(relation_texts), entities=train_entities, hops=config.hops, fanout=config.fanout,
        hidden_dimensions=config.hidden_dimensions, layers=config.layers, bases=config.bases,
        node_text_dimensions=dimensions, claim_text_dimensions=dimensions, dropout=config.dropout,
        use_graph=use_graph, use_text=use_text, use_entity_embeddings=use_graph, pair_score=config.pair_score,
    )
    network = ClaimNetwork(model_config).to(config.device)
    description = ModelFolder(model_config, relation_texts, Calibration(), config.text_encoder, dataset.name)
    scorer = GraphClaimScorer(network, description, config.device, text_encoder=encoder)

    # Claims and their subgraphs, built once; the negatives stay fixed across epochs.
    sampler = data.NegativeSampler(data.graph_entities(dataset), data.known_true(dataset), dataset.triples["train"], config.seed)
    train_negatives = sampler.negatives(train_positives, config.negatives, config.hard_fraction)
    retriever = InMemoryRetriever(graph, config.hops, config.fanout)
    prepare_started = time.perf_counter()
    train_split = _prepare(data.labelled(train_positives, train_negatives), retriever, scorer, encoder, config.cache_dir)
    dev_claims, dev_protocol = data.evaluation_claims(dataset, "valid", config.seed, config.max_evaluation_positives)
    dev_split = _prepare(dev_claims, retriever, scorer, encoder, config.cache_dir, dev_protocol)
    test_claims, test_protocol = data.evaluation_claims(dataset, "test", config.seed, config.max_evaluation_positives)
    test_split = _prepare(test_claims, retriever, scorer, encoder, config.cache_dir, test_protocol)
    logger.info("prepared %d train, %d dev and %d test claims in %.1f s", len(train_split.subgraphs),
                len(dev_split.subgraphs), len(test_split.subgraphs), time.perf_counter() - prepare_started)

    history = _fit(config, scorer, train_split, dev_split)

    # Calibration on dev: temperature first, then thresholds on the calibrated probabilities.
    dev_logits = predict_logits(scorer, dev_split)
    dev_labels = dev_split.claims.labels
    temperature = metrics.fit_temperature(dev_logits, dev_labels)
    dev_probabilities = metrics.sigmoid(dev_logits / temperature)
    global_threshold, thresholds = metrics.fit_thresholds(dev_probabilities, dev_labels, dev_split.relations)
    scorer.calibration = description.calibration = Calibration(temperature, global_threshold, thresholds)

    test_logits = predict_logits(scorer, test_split)
    test_probabilities = metrics.sigmoid(test_logits / temperature)
    test_thresholds = np.array([scorer.calibration.threshold(relation) for relation in test_split.relations])
    test_report = metrics.classification_report(test_probabilities, test_split.claims.labels, test_thresholds, test_split.relations)
    dev_thresholds = np.array([scorer.calibration.threshold(relation) for relation in dev_split.relations])
    dev_report = metrics.classification_report(dev_probabilities, dev_labels, dev_thresholds, dev_split.relations)
    test_report["relation_prior_accuracy"] = metrics.relation_prior_accuracy(
        dev_labels, dev_split.relations, test_split.claims.labels, test_split.relations)
    seconds = time.perf_counter() - started

    summary = {
        "dataset": dataset.name,
        "mode": config.mode,
        "seed": config.seed,
        "training_seconds": round(seconds, 1),
        "epochs_run": len(history["train_loss"]),
        "best_epoch": history["best_epoch"],
        "selected_by": config.select_by,
        "temperature": temperature,
        "test_protocol": test_protocol + "; retrieval reads train edges only; per-relation thresholds from dev",
        "test": {key: value for key, value in test_report.items() if key != "per_relation"},
        "dev": {key: value for key, value in dev_report.items() if key != "per_relation"},
    }
    description.metrics = summary
    out = Path(config.out)
    save_model(out, scorer.network, description)
    full = {**summary, "history": history, "test_per_relation": test_report["per_relation"],
            "training_config": {key: str(value) if isinstance(value, Path) else value for key, value in asdict(config).items()}}
    (out / "metrics.json").write_text(json.dumps(full, indent=2) + "\n")
    if config.plots:
        plots.plot_loss(out / "loss.png", history["train_loss"], history["dev_loss"])
        plots.plot_reliability(out / "reliability.png", metrics.reliability(test_probabilities, test_split.claims.labels),
                               test_report["ece"], f"{dataset.name} test, calibrated")
    logger.info("model written to %s: test accuracy %.4f, ROC-AUC %s, %.0f s", out, test_report["accuracy"],
                test_report["roc_auc"], seconds)
    return summary


def _fit(config: TrainingConfig, scorer: GraphClaimScorer, train_split: PreparedSplit, dev_split: PreparedSplit) -> dict:
    """Train with Adam on binary cross-entropy and keep the weights of the best epoch on dev.

    With ``select_by="loss"`` the best epoch has the lowest dev loss. With ``"accuracy"`` it has the
    highest dev accuracy after fitting per-relation thresholds on dev, as calibration does after
    training. Ties go to the earlier epoch.
    """
    network = scorer.network
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    labels = torch.from_numpy(train_split.claims.labels)
    dev_labels = torch.from_numpy(dev_split.claims.labels)
    generator = np.random.default_rng(config.seed)
    history = {"train_loss": [], "dev_loss": [], "dev_accuracy": [], "dev_thresholded_accuracy": [], "best_epoch": 0,
               "epoch_seconds": []}
    best_score, best_state, stale = float("-inf"), None, 0
    fit_started = time.perf_counter()

    for epoch in range(1, config.epochs + 1):
        epoch_started = time.perf_counter()
        network.train()
        order = generator.permutation(len(train_split.subgraphs))
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            chosen = order[start:start + config.batch_size]
            from server.model.network import collate

            batch = collate([train_split.subgraphs[i] for i in chosen], train_split.claim_text[chosen],
                            scorer.relation_index, scorer.entity_index, config.hops, config.device)
            logits = network(batch)
            loss = F.binary_cross_entropy_with_logits(logits, labels[chosen].to(config.device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss) * len(chosen)

        dev_logits = torch.from_numpy(predict_logits(scorer, dev_split))
        dev_loss = float(F.binary_cross_entropy_with_logits(dev_logits, dev_labels))
        dev_accuracy = float(((dev_logits > 0).float() == dev_labels).float().mean())
        dev_thresholded = metrics.thresholded_accuracy(
            metrics.sigmoid(dev_logits.numpy()), dev_split.claims.labels, dev_split.relations)
        history["train_loss"].append(total / len(order))
        history["dev_loss"].append(dev_loss)
        history["dev_accuracy"].append(dev_accuracy)
        history["dev_thresholded_accuracy"].append(dev_thresholded)
        history["epoch_seconds"].append(round(time.perf_counter() - epoch_started, 1))
        logger.info("epoch %d: train loss %.4f, dev loss %.4f, dev accuracy %.4f at 0.5 and %.4f with dev thresholds, %.1f s",
                    epoch, history["train_loss"][-1], dev_loss, dev_accuracy, dev_thresholded, history["epoch_seconds"][-1])
        # Higher is better for both figures. The loss must drop by a margin to count as lower.
        score = -dev_loss if config.select_by == "loss" else dev_thresholded
        margin = 1e-4 if config.select_by == "loss" else 1e-9
        if score > best_score + margin:
            best_score, stale, history["best_epoch"] = score, 0, epoch
            best_state = {name: tensor.detach().clone() for name, tensor in network.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
        elapsed_minutes = (time.perf_counter() - fit_started) / 60
        if config.time_limit_minutes is not None and elapsed_minutes >= config.time_limit_minutes:
            logger.info("stopping after epoch %d: the time limit of %.1f minutes is reached", epoch, config.time_limit_minutes)
            break
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return history
