"""Benchmark data for training and evaluation: data sets, the training graph, labelled claims.

Data sets are read with ``graph_loader.readers`` and entity texts are embedded with the text the
loader stores in Neo4j (``graph_loader.loader.entity_text``), so a model trained from files gets
the same node features as one served from a loaded graph.
"""
from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from graph_loader.loader import entity_text
from graph_loader.readers import Dataset, Triple, read_dataset
from server.inference import ClaimInput
from server.model.graph import KnowledgeGraph

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
# Benchmark copies sit beside the repository (../shared/data) in development and in CI.
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@dataclass
class LabelledClaims:
    claims: list[ClaimInput]
    labels: np.ndarray  # (n,) float32, 1 for true triples


def resolve_dataset(name_or_path: str) -> Path:
    """Find a data-set folder: a path, or a benchmark name beside the repository or packaged (UMLS)."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    for candidate in (SHARED_DATA / name_or_path, REPO_ROOT / "graph_loader" / "datasets" / name_or_path):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"data set {name_or_path!r} is neither a folder nor a benchmark in {SHARED_DATA}; "
        "pass a data-set folder (train.tsv, dev.tsv or valid.tsv, test.tsv)"
    )


def load_benchmark(name_or_path: str) -> Dataset:
    folder = resolve_dataset(name_or_path)
    dataset = read_dataset(folder)
    if dataset.problems:
        raise ValueError(f"{len(dataset.problems)} invalid lines in {folder}, first: {dataset.problems[0]}")
    return dataset


def relation_texts(dataset: Dataset) -> dict[str, str]:
    """Map each relation to its words in verbalised claims: its name, else its id without underscores."""
    relations = {triple.relation for triples in dataset.triples.values() for triple in triples}
    texts = {}
    for relation in sorted(relations):
        text = dataset.relations.get(relation)
        texts[relation] = (text.name if text else None) or relation.strip("_").replace("_", " ")
    return texts


def entity_embeddings(dataset: Dataset, encoder, cache_dir: Path | None) -> dict[str, np.ndarray]:
    """BERT embedding of every entity that has text, cached on disk per (texts, encoder)."""
    texts = {entity: entity_text(text) for entity, text in sorted(dataset.entities.items())}
    texts = {entity: text for entity, text in texts.items() if text}
    if not texts:
        return {}
    digest = hashlib.sha256(("\n".join(f"{key}\t{value}" for key, value in texts.items()) + encoder.name).encode()).hexdigest()[:16]
    cache = cache_dir / f"entities-{dataset.name}-{digest}.safetensors" if cache_dir else None
    if cache is not None and cache.exists():
        vectors = load_file(str(cache))["embeddings"]
    else:
        logger.info("embedding %d entity texts of %s", len(texts), dataset.name)
        vectors = encoder.encode(list(texts.values()))
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            save_file({"embeddings": vectors.contiguous()}, str(cache))
    return dict(zip(texts, vectors.numpy()))


def build_graph(dataset: Dataset, embeddings: dict[str, np.ndarray], dimensions: int, splits: Sequence[str] = ("train",)) -> KnowledgeGraph:
    """Build the graph that retrieval reads: every entity, and the edges of ``splits`` only."""
    graph = KnowledgeGraph(dimensions)
    entities = set(dataset.entities) | {
        entity for triples in dataset.triples.values() for triple in triples for entity in (triple.head, triple.tail)
    }
    for entity in sorted(entities):
        text = dataset.entities.get(entity)
        graph.add_entity(entity, text.name if text and text.name else None, embeddings.get(entity))
    for split in splits:
        graph.add_edges((triple.head, triple.relation, triple.tail) for triple in dataset.triples.get(split, []))
    return graph


def known_true(dataset: Dataset) -> set[tuple[str, str, str]]:
    return {(t.head, t.relation, t.tail) for triples in dataset.triples.values() for t in triples}


class NegativeSampler:
    """Filtered corruption of the subject or the object of true triples.

    A corruption is rejected when it is a known true triple. With probability ``hard_fraction``
    the replacement is drawn from entities seen with the relation in that position, which keeps
    it type consistent and so harder to tell apart. Otherwise it is drawn from all entities.
    """

    def __init__(self, entities: Sequence[str], true_triples: set[tuple[str, str, str]], train: Sequence[Triple], seed: int):
        self.entities = sorted(entities)
        self.true_triples = true_triples
        self.random = random.Random(seed)
        heads: dict[str, set[str]] = {}
        tails: dict[str, set[str]] = {}
        for triple in train:
            heads.setdefault(triple.relation, set()).add(triple.head)
            tails.setdefault(triple.relation, set()).add(triple.tail)
        self.heads = {relation: sorted(values) for relation, values in heads.items()}
        self.tails = {relation: sorted(values) for relation, values in tails.items()}

    def corrupt(self, triple: Triple, hard_fraction: float, attempts: int = 50) -> Triple | None:
        for _ in range(attempts):
            replace_head = self.random.random() < 0.5
            pool = self.entities
            if self.random.random() < hard_fraction:
                typed = (self.heads if replace_head else self.tails).get(triple.relation)
                if typed and len(typed) > 1:
                    pool = typed
            entity = pool[self.random.randrange(len(pool))]
            candidate = Triple(entity, triple.relation, triple.tail) if replace_head else Triple(triple.head, triple.relation, entity)
            if (candidate.head, candidate.relation, candidate.tail) not in self.true_triples:
                return candidate
        return None

    def negatives(self, positives: Sequence[Triple], per_positive: int, hard_fraction: float) -> list[Triple]:
        result = []
        for triple in positives:
            for _ in range(per_positive):
                negative = self.corrupt(triple, hard_fraction)
                if negative is not None:
                    result.append(negative)
        return result


def labelled(positives: Sequence[Triple], negatives: Sequence[Triple]) -> LabelledClaims:
    claims = [ClaimInput(t.head, t.relation, t.tail) for t in positives] + [ClaimInput(t.head, t.relation, t.tail) for t in negatives]
    labels = np.concatenate([np.ones(len(positives), dtype=np.float32), np.zeros(len(negatives), dtype=np.float32)])
    return LabelledClaims(claims, labels)


def evaluation_claims(dataset: Dataset, split: str, seed: int, limit: int | None = None) -> tuple[LabelledClaims, str]:
    """Positives of ``split`` with their negatives, and the protocol in words.

    The data set's own negatives file is used when it has one for the split (CoDEx); otherwise
    one seeded, filtered corruption (subject or object, uniformly) per positive. ``limit`` keeps
    the first ``limit`` positives (and negatives) of the files.
    """
    positives = dataset.triples[split][:limit]
    if split in dataset.negative_files:
        negatives = dataset.negatives(split)[:limit]
        return labelled(positives, negatives), f"positives {split}, negatives from {dataset.negative_files[split].name}"
    sampler = NegativeSampler(graph_entities(dataset), known_true(dataset), dataset.triples["train"], seed)
    negatives = sampler.negatives(positives, 1, hard_fraction=0.0)
    return labelled(positives, negatives), f"positives {split}, one seeded filtered corruption per positive (seed {seed})"


def graph_entities(dataset: Dataset) -> list[str]:
    return sorted(set(dataset.entities) | {e for triples in dataset.triples.values() for t in triples for e in (t.head, t.tail)})


def encode_claim_texts(texts: Sequence[str], encoder, dimensions: int, cache_dir: Path | None = None) -> torch.Tensor:
    """Encode claim texts once each, cached on disk per (texts, encoder); (len(texts), dimensions).

    Zeros when there is no encoder (models without text features).
    """
    if encoder is None:
        return torch.zeros(len(texts), dimensions)
    unique = sorted(set(texts))
    digest = hashlib.sha256(("\n".join(unique) + encoder.name).encode()).hexdigest()[:16]
    cache = cache_dir / f"claims-{digest}.safetensors" if cache_dir else None
    if cache is not None and cache.exists():
        vectors = load_file(str(cache))["embeddings"]
    else:
        logger.info("encoding %d distinct claim texts", len(unique))
        vectors = encoder.encode(unique)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            save_file({"embeddings": vectors.contiguous()}, str(cache))
    position = {text: index for index, text in enumerate(unique)}
    return vectors[[position[text] for text in texts]]
