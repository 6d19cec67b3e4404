"""Classification figures, temperature scaling and decision thresholds."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from sklearn.metrics import f1_score, roc_auc_score

# Relations with fewer dev claims than this use the global threshold.
MIN_CLAIMS_PER_RELATION_THRESHOLD = 10
ECE_BINS = 10


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -60, 60)))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fit the temperature T minimising the negative log-likelihood of sigmoid(logit / T) on the labels."""
    logit_tensor = torch.tensor(logits, dtype=torch.float64)
    label_tensor = torch.tensor(labels, dtype=torch.float64)
    log_temperature = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_temperature], lr=0.1, max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit_tensor / log_temperature.exp(), label_tensor)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_temperature.exp().clamp(0.05, 20.0))


def best_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Find the threshold with the highest accuracy, placed midway between neighbouring probabilities."""
    order = np.argsort(probabilities)
    values, sorted_labels = probabilities[order], labels[order]
    # Predicting positive for everything from position i on: correct = negatives before i + positives from i.
    negatives_before = np.concatenate([[0], np.cumsum(1 - sorted_labels)])
    positives_from = np.concatenate([np.cumsum(sorted_labels[::-1])[::-1], [0]])
    correct = negatives_before + positives_from
    # Only cut between distinct values.
    valid = np.concatenate([[True], values[1:] > values[:-1], [True]])
    correct = np.where(valid, correct, -1)
    best = int(np.argmax(correct))
    if best == 0:
        return float(values[0]) - 1e-6
    if best == len(values):
        return float(values[-1]) + 1e-6
    return float((values[best - 1] + values[best]) / 2)


def fit_thresholds(probabilities: np.ndarray, labels: np.ndarray, relations: Sequence[str]) -> tuple[float, dict[str, float]]:
    """Fit a global threshold and one per relation with enough dev claims of both labels."""
    global_threshold = best_threshold(probabilities, labels)
    relations = np.asarray(relations)
    thresholds = {}
    for relation in sorted(set(relations.tolist())):
        mask = relations == relation
        chosen = labels[mask]
        if mask.sum() >= MIN_CLAIMS_PER_RELATION_THRESHOLD and 0 < chosen.sum() < mask.sum():
            thresholds[relation] = best_threshold(probabilities[mask], chosen)
    return global_threshold, thresholds


def thresholded_accuracy(probabilities: np.ndarray, labels: np.ndarray, relations: Sequence[str]) -> float:
    """Compute accuracy on the same claims after fitting the global and per-relation thresholds to them."""
    global_threshold, thresholds = fit_thresholds(probabilities, labels, relations)
    cut = np.array([thresholds.get(relation, global_threshold) for relation in relations])
    return float(((probabilities >= cut).astype(labels.dtype) == labels).mean())


def relation_prior_accuracy(dev_labels: np.ndarray, dev_relations: Sequence[str], labels: np.ndarray,
                            relations: Sequence[str]) -> float:
    """Compute the accuracy of predicting each relation's majority label on dev, ignoring entities.

    A model must beat this figure. Where negatives are spread unevenly over relations, the relation
    alone predicts many labels. Relations missing from dev get the overall dev majority, and ties
    predict true.
    """
    overall = bool(dev_labels.mean() >= 0.5) if len(dev_labels) else True
    dev_relations = np.asarray(dev_relations)
    majority = {}
    for relation in set(dev_relations.tolist()):
        majority[relation] = bool(dev_labels[dev_relations == relation].mean() >= 0.5)
    predictions = np.array([majority.get(relation, overall) for relation in relations], dtype=labels.dtype)
    return float((predictions == labels).mean()) if len(labels) else 0.0


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE over equal-width probability bins: sum of |accuracy - confidence| weighted by bin size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        mask = (probabilities > low) & (probabilities <= high) if low > 0 else (probabilities >= low) & (probabilities <= high)
        if mask.any():
            total += mask.mean() * abs(labels[mask].mean() - probabilities[mask].mean())
    return float(total)


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[tuple[float, float, int]]:
    """(mean probability, fraction true, count) per non-empty bin, for the reliability diagram."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for index, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        mask = (probabilities >= low) & ((probabilities < high) if index < bins - 1 else (probabilities <= high))
        if mask.any():
            rows.append((float(probabilities[mask].mean()), float(labels[mask].mean()), int(mask.sum())))
    return rows


def classification_report(probabilities: np.ndarray, labels: np.ndarray, thresholds: np.ndarray, relations: Sequence[str]) -> dict:
    """Accuracy, F1, ROC-AUC and ECE overall, and accuracy and counts per relation."""
    predictions = (probabilities >= thresholds).astype(np.float32)
    correct = predictions == labels
    report = {
        "claims": int(len(labels)),
        "positives": int(labels.sum()),
        "accuracy": float(correct.mean()),
        "f1": float(f1_score(labels, predictions, zero_division=0)),
        "roc_auc": float(roc_auc_score(labels, probabilities)) if 0 < labels.sum() < len(labels) else None,
        "ece": expected_calibration_error(probabilities, labels),
    }
    relations = np.asarray(relations)
    per_relation = {}
    for relation in sorted(set(relations.tolist())):
        mask = relations == relation
        per_relation[relation] = {"claims": int(mask.sum()), "accuracy": float(correct[mask].mean())}
    report["per_relation"] = per_relation
    return report
