"""The contract between the serving layer and the model: what goes in, what comes out.

The serving layer resolves entity names to ids and validates relations, then hands batches of
``ClaimInput`` to a ``Retriever`` (graph I/O) and the results to a ``ClaimScorer`` (compute).
Keeping the two apart lets retrieval of one batch overlap inference of the previous one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

SUPPORTED = "SUPPORTED"
REFUTED = "REFUTED"
NOT_ENOUGH_INFO = "NOT_ENOUGH_INFO"


@dataclass(frozen=True)
class ClaimInput:
    """A validated claim: entity ids (already resolved) and a known relation type."""

    subject_id: str
    relation: str
    object_id: str
    context_text: str = ""


@dataclass(frozen=True)
class PathStep:
    source_id: str
    source_name: str
    relation: str
    target_id: str
    target_name: str
    # True when the stored edge points source -> target; False when the path walks it backwards.
    forward: bool


@dataclass(frozen=True)
class EvidencePath:
    steps: tuple[PathStep, ...]
    # Drop of the logit when this path's edges are removed from the subgraph.
    score: float


@dataclass
class VerdictResult:
    verdict: str  # SUPPORTED, REFUTED or NOT_ENOUGH_INFO
    probability: float  # calibrated, in [0, 1]
    threshold: float  # the relation's decision threshold
    logit: float
    subject_name: str
    object_name: str
    claim_asserted_in_graph: bool
    evidence: list[EvidencePath] = field(default_factory=list)


class Subgraph(Protocol):
    """The enclosing subgraph of one claim, as produced by a Retriever; opaque to the server."""


class Retriever(Protocol):
    def fetch(self, claims: Sequence[ClaimInput]) -> tuple[list[Subgraph], int]:
        """Fetch the enclosing subgraph of every claim in one round trip; return them and the
        graph version they were read at."""


class ClaimScorer(Protocol):
    relations: list[str]
    device: str

    def score(
        self, claims: Sequence[ClaimInput], subgraphs: Sequence[Subgraph], max_evidence_paths: int
    ) -> list[VerdictResult]:
        """Score a batch of claims with their subgraphs; one result per claim, in order."""
