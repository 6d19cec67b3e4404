"""Negative sampling, thresholds and calibration figures used by training and evaluation."""
from __future__ import annotations

import numpy as np

from graph_loader.readers import Triple
from server.training.data import NegativeSampler
from server.training.metrics import (best_threshold, expected_calibration_error, fit_temperature, fit_thresholds,
                                     relation_prior_accuracy, thresholded_accuracy)

TRAIN = [Triple("aspirin", "treats", "headache"), Triple("ibuprofen", "treats", "fever"),
         Triple("virus", "causes", "fever"), Triple("bacterium", "causes", "infection")]
ENTITIES = ["aspirin", "bacterium", "fever", "headache", "ibuprofen", "infection", "virus"]
TRUE = {(t.head, t.relation, t.tail) for t in TRAIN}


def test_corruptions_are_filtered():
    sampler = NegativeSampler(ENTITIES, TRUE, TRAIN, seed=1)
    negatives = sampler.negatives(TRAIN, per_positive=20, hard_fraction=0.5)
    assert negatives
    for negative in negatives:
        assert (negative.head, negative.relation, negative.tail) not in TRUE


def test_corruption_changes_one_side():
    sampler = NegativeSampler(ENTITIES, TRUE, TRAIN, seed=2)
    for positive in TRAIN:
        negative = sampler.corrupt(positive, hard_fraction=0.0)
        assert negative.relation == positive.relation
        assert (negative.head == positive.head) != (negative.tail == positive.tail)


def test_hard_corruption_uses_typed_entities():
    sampler = NegativeSampler(ENTITIES, TRUE, TRAIN, seed=3)
    for _ in range(30):
        negative = sampler.corrupt(TRAIN[0], hard_fraction=1.0)
        if negative.head != TRAIN[0].head:
            assert negative.head in {"aspirin", "ibuprofen"}
        else:
            assert negative.tail in {"headache", "fever"}


def test_sampling_is_seeded():
    first = NegativeSampler(ENTITIES, TRUE, TRAIN, seed=4).negatives(TRAIN, 3, 0.5)
    second = NegativeSampler(ENTITIES, TRUE, TRAIN, seed=4).negatives(TRAIN, 3, 0.5)
    assert first == second


def test_best_threshold_separates_classes():
    probabilities = np.array([0.1, 0.2, 0.35, 0.6, 0.7, 0.9])
    labels = np.array([0, 0, 0, 1, 1, 1], dtype=np.float32)
    threshold = best_threshold(probabilities, labels)
    assert 0.35 < threshold <= 0.6
    assert ((probabilities >= threshold) == labels).all()


def test_rare_relation_uses_global_threshold():
    rng = np.random.default_rng(0)
    labels = np.tile([0.0, 1.0], 10)
    probabilities = np.clip(labels * 0.5 + rng.uniform(0, 0.5, size=20), 0, 1)
    relations = ["frequent"] * 16 + ["rare"] * 4
    global_threshold, thresholds = fit_thresholds(probabilities, labels, relations)
    assert "frequent" in thresholds
    assert "rare" not in thresholds
    assert 0 < global_threshold < 1


def test_thresholds_fitted_per_relation():
    # "low" separates at 0.25 and "high" at 0.75: no single threshold gets both right.
    probabilities = np.tile([0.2, 0.3, 0.7, 0.8], 6)
    labels = np.tile([0.0, 1.0, 0.0, 1.0], 6)
    relations = np.tile(["low", "low", "high", "high"], 6).tolist()

    assert thresholded_accuracy(probabilities, labels, relations) == 1.0
    assert thresholded_accuracy(probabilities, labels, ["one"] * 24) == 0.75


def test_relation_prior_predicts_dev_majority():
    dev_labels = np.array([1, 1, 0, 0, 0, 1], dtype=np.float32)
    dev_relations = ["mostly_true", "mostly_true", "mostly_true", "mostly_false", "mostly_false", "mostly_false"]
    labels = np.array([1, 0, 0, 1, 1], dtype=np.float32)
    relations = ["mostly_true", "mostly_true", "mostly_false", "mostly_false", "unseen"]
    # Right on the first, third and fifth claims. "unseen" gets the overall dev majority, a tie, so true.

    assert relation_prior_accuracy(dev_labels, dev_relations, labels, relations) == 3 / 5


def test_temperature_softens_overconfident_logits():
    labels = np.tile([0.0, 1.0, 1.0, 0.0], 50)
    # Right 75% of the time with confidence sigmoid(8) ~ 0.9997: far too sure.
    logits = np.where(np.arange(200) % 4 == 3, 8.0, np.where(labels == 1, 8.0, -8.0))
    temperature = fit_temperature(logits, labels)
    assert temperature > 2
    before = expected_calibration_error(1 / (1 + np.exp(-logits)), labels)
    after = expected_calibration_error(1 / (1 + np.exp(-logits / temperature)), labels)
    assert after < before
