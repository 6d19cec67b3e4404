"""The claim scorer used by the server: network + text encoder + calibration + evidence paths.

A model folder contains ``config.json`` (architecture, relation vocabulary and texts, entity
vocabulary, thresholds, temperature, text encoder, data set, metrics) and ``model.safetensors``.
Nothing is ever unpickled.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from safetensors.torch import load_file, save_file

from server.inference import NOT_ENOUGH_INFO, REFUTED, SUPPORTED, ClaimInput, VerdictResult
from server.model.evidence import MAX_CANDIDATE_PATHS, describe_path, find_paths
from server.model.network import ClaimNetwork, ModelConfig, collate
from server.model.subgraph import ClaimSubgraph

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT_VERSION = 1
# Claim texts whose encodings are kept between batches.
TEXT_CACHE_SIZE = 50_000
# Forward passes (subgraphs) per batch when scoring candidate evidence paths.
OCCLUSION_BATCH = 256


def verbalise(subject_name: str, relation_text: str, object_name: str, context_text: str = "") -> str:
    """Write the claim as a sentence for the text encoder: "<subject> <relation text> <object>[. context]"."""
    sentence = f"{subject_name} {relation_text} {object_name}"
    return f"{sentence}. {context_text.strip()}" if context_text and context_text.strip() else sentence


@dataclass
class Calibration:
    """Temperature scaling and decision thresholds on calibrated probabilities."""

    temperature: float = 1.0
    global_threshold: float = 0.5
    thresholds: dict[str, float] = field(default_factory=dict)  # per relation, where dev had enough claims

    def probability(self, logit: float) -> float:
        return 1.0 / (1.0 + math.exp(-max(min(logit / self.temperature, 60.0), -60.0)))

    def threshold(self, relation: str) -> float:
        return self.thresholds.get(relation, self.global_threshold)


@dataclass
class ModelFolder:
    """Everything in config.json besides the weights."""

    model: ModelConfig
    relation_texts: dict[str, str]
    calibration: Calibration
    text_encoder: str | None = None  # local BERT folder; None for the packaged MiniLM
    dataset: str = ""
    metrics: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "architecture": "rgcn-bert-fusion",
            "model": self.model.to_dict(),
            "relation_texts": self.relation_texts,
            "temperature": self.calibration.temperature,
            "global_threshold": self.calibration.global_threshold,
            "thresholds": self.calibration.thresholds,
            "text_encoder": self.text_encoder,
            "dataset": self.dataset,
            "metrics": self.metrics,
        }

    @classmethod
    def from_json(cls, document: dict, path: Path) -> "ModelFolder":
        try:
            if document.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format_version {document.get('format_version')!r}, expected {FORMAT_VERSION}")
            return cls(
                model=ModelConfig.from_dict(document["model"]),
                relation_texts=dict(document["relation_texts"]),
                calibration=Calibration(float(document["temperature"]), float(document["global_threshold"]),
                                        {key: float(value) for key, value in document["thresholds"].items()}),
                text_encoder=document.get("text_encoder"),
                dataset=document.get("dataset", ""),
                metrics=document.get("metrics", {}),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: invalid model config ({error!r}); retrain or fix the file") from error


def save_model(folder: str | Path, network: ClaimNetwork, description: ModelFolder) -> Path:
    """Write config.json and model.safetensors into ``folder`` (created if missing)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in network.state_dict().items()}
    save_file(tensors, str(folder / WEIGHTS_FILE))
    (folder / CONFIG_FILE).write_text(json.dumps(description.to_json(), indent=2, sort_keys=True) + "\n")
    return folder


def load_model(folder: str | Path, device: str = "cpu") -> tuple[ClaimNetwork, ModelFolder]:
    """Read a model folder; the network is in eval mode on ``device``.

    Raises:
        FileNotFoundError: config.json or model.safetensors is missing.
        ValueError: config.json is not a model config of this format.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder {folder} not found; train one with kgreason-train")
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"model folder {folder} has no {name}; train one with kgreason-train")
    try:
        document = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{folder / CONFIG_FILE}:{error.lineno}: invalid JSON: {error.msg}") from error
    description = ModelFolder.from_json(document, folder / CONFIG_FILE)
    network = ClaimNetwork(description.model)
    network.load_state_dict(load_file(str(folder / WEIGHTS_FILE), device="cpu"))
    return network.to(device).eval(), description


class GraphClaimScorer:
    """Scores claims with their subgraphs (the ``ClaimScorer`` protocol of ``server.inference``).

    Args:
        network: the trained network.
        description: the model folder's settings (calibration, vocabularies, text encoder).
        device: ``"cpu"`` or ``"cuda:N"``.
        text_encoder: a ``graph_loader.text_encoder.TextEncoder``; built from the model folder's
            setting when omitted.
        candidate_paths: evidence paths scored by occlusion per claim, the shortest first. Each
            costs one forward pass over the claim's subgraph, so this bounds the evidence cost.

    NOTE: not thread-safe (the claim-text cache is a plain dict); use one scorer per worker.
    """

    def __init__(self, network: ClaimNetwork, description: ModelFolder, device: str = "cpu", text_encoder=None,
                 candidate_paths: int = MAX_CANDIDATE_PATHS):
        self.candidate_paths = candidate_paths
        self.device = str(device)
        self.network = network.to(self.device).eval()
        self.description = description
        self.config = description.model
        self.calibration = description.calibration
        self.relations = list(self.config.relations)
        self.relation_index = {relation: index for index, relation in enumerate(self.relations)}
        self.entity_index = {entity: index + 1 for index, entity in enumerate(self.config.entities)}
        if text_encoder is None and self.config.use_text:
            from graph_loader.text_encoder import TextEncoder

            text_encoder = TextEncoder(description.text_encoder, device=self.device)
        self.text_encoder = text_encoder
        self._text_cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    def claim_texts(self, subgraphs: Sequence[ClaimSubgraph]) -> list[str]:
        texts = []
        for subgraph in subgraphs:
            claim = subgraph.claim
            relation_text = self.description.relation_texts.get(claim.relation, claim.relation)
            texts.append(verbalise(subgraph.node_names[0], relation_text,
                                   subgraph.node_names[subgraph.object_position], claim.context_text))
        return texts

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Encode claim texts, reusing cached encodings; (len(texts), claim_text_dimensions)."""
        if not self.config.use_text or self.text_encoder is None:
            return torch.zeros(len(texts), self.config.claim_text_dimensions)
        missing = sorted({text for text in texts if text not in self._text_cache})
        if missing:
            for text, vector in zip(missing, self.text_encoder.encode(missing)):
                self._text_cache[text] = vector
            while len(self._text_cache) > TEXT_CACHE_SIZE:
                self._text_cache.popitem(last=False)
        return torch.stack([self._text_cache[text] for text in texts])

    @torch.inference_mode()
    def logits(self, subgraphs: Sequence[ClaimSubgraph], claim_text: torch.Tensor, removed_edges=None) -> torch.Tensor:
        batch = collate(subgraphs, claim_text, self.relation_index, self.entity_index, self.config.hops,
                        self.device, removed_edges)
        return self.network(batch).float().cpu()

    def check_relations(self, claims: Sequence[ClaimInput]) -> None:
        unknown = sorted({claim.relation for claim in claims} - set(self.relation_index))
        if unknown:
            raise ValueError(f"unknown relation(s) {unknown}; the model knows {len(self.relations)} relations")

    def score(self, claims: Sequence[ClaimInput], subgraphs: Sequence[ClaimSubgraph], max_evidence_paths: int = 0) -> list[VerdictResult]:
        if len(claims) != len(subgraphs):
            raise ValueError(f"got {len(claims)} claims but {len(subgraphs)} subgraphs")
        if not claims:
            return []
        self.check_relations(claims)
        subgraphs = [self.without_unknown_relations(subgraph) for subgraph in subgraphs]
        claim_text = self.encode_texts(self.claim_texts(subgraphs))
        logits = self.logits(subgraphs, claim_text).tolist()

        results = []
        for subgraph, logit in zip(subgraphs, logits):
            relation = subgraph.claim.relation
            probability = self.calibration.probability(logit)
            threshold = self.calibration.threshold(relation)
            if not (subgraph.subject_known and subgraph.object_known and subgraph.connected):
                verdict = NOT_ENOUGH_INFO
            else:
                verdict = SUPPORTED if probability >= threshold else REFUTED
            results.append(VerdictResult(
                verdict=verdict, probability=probability, threshold=threshold, logit=logit,
                subject_name=subgraph.node_names[0], object_name=subgraph.node_names[subgraph.object_position],
                claim_asserted_in_graph=subgraph.claim_asserted,
            ))
        if max_evidence_paths > 0:
            self._add_evidence(subgraphs, claim_text, logits, results, max_evidence_paths)
        return results

    def without_unknown_relations(self, subgraph: ClaimSubgraph) -> ClaimSubgraph:
        """Drop edges whose relation is outside the model's vocabulary (loaded after training)."""
        keep = [index for index, relation in enumerate(subgraph.edge_relations) if relation in self.relation_index]
        if len(keep) == len(subgraph.edge_relations):
            return subgraph
        return dataclasses.replace(subgraph, edge_heads=subgraph.edge_heads[keep], edge_tails=subgraph.edge_tails[keep],
                       edge_relations=[subgraph.edge_relations[index] for index in keep], extra={})

    def occlusion_scores(self, subgraphs: Sequence[ClaimSubgraph], claim_text: torch.Tensor,
                         logits: Sequence[float], paths_per_claim: Sequence[list]) -> list[list[float]]:
        """Logit drop for each candidate path of each claim when the path's edges are removed."""
        jobs = [(position, path) for position, paths in enumerate(paths_per_claim) for path in paths]
        drops: list[list[float]] = [[] for _ in subgraphs]
        for start in range(0, len(jobs), OCCLUSION_BATCH):
            chunk = jobs[start:start + OCCLUSION_BATCH]
            occluded = self.logits(
                [subgraphs[position] for position, _ in chunk],
                claim_text[[position for position, _ in chunk]],
                [{index for index, _ in path} for _, path in chunk],
            ).tolist()
            for (position, _), value in zip(chunk, occluded):
                drops[position].append(logits[position] - value)
        return drops

    def _add_evidence(self, subgraphs, claim_text, logits, results, max_evidence_paths) -> None:
        paths_per_claim = [find_paths(subgraph, limit=self.candidate_paths) if subgraph.connected else []
                           for subgraph in subgraphs]
        drops = self.occlusion_scores(subgraphs, claim_text, logits, paths_per_claim)
        for subgraph, paths, scores, result in zip(subgraphs, paths_per_claim, drops, results):
            ranked = sorted(zip(scores, range(len(paths))), key=lambda item: (-item[0], item[1]))
            result.evidence = [describe_path(subgraph, paths[index], score)
                               for score, index in ranked[:max_evidence_paths]]


def load_scorer(model_dir: str | Path, device: str = "cpu", text_encoder=None,
                candidate_paths: int = MAX_CANDIDATE_PATHS) -> GraphClaimScorer:
    """Load a model folder as a ready scorer on ``device`` (``"cpu"`` or ``"cuda:N"``)."""
    network, description = load_model(model_dir, device)
    logger.info("loaded model %s (data set %s, %d relations) on %s",
                model_dir, description.dataset or "unknown", len(description.model.relations), device)
    return GraphClaimScorer(network, description, device, text_encoder, candidate_paths)
