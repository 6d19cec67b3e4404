"""Validation of VerifyRequest messages, before admission; errors name the offending field."""
from __future__ import annotations

from typing import Sequence

import grpc

from server.admission import ClaimFailure, ClaimRequest

MAX_REQUEST_ID_BYTES = 128
MAX_ENTITY_BYTES = 512
MAX_CONTEXT_BYTES = 4096
DEFAULT_EVIDENCE_PATHS = 3
MAX_EVIDENCE_PATHS = 20


def _invalid(field: str, message: str) -> ClaimFailure:
    return ClaimFailure(grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {message}", field)


def _check_text(field: str, value: str, limit: int, required: bool) -> None:
    if required and not value.strip():
        raise _invalid(field, "is required and must not be blank")
    size = len(value.encode("utf-8"))
    if size > limit:
        raise _invalid(field, f"is {size} bytes; the maximum is {limit} UTF-8 bytes")


def validate_request(request, relations: Sequence[str], require_request_id: bool) -> tuple[ClaimRequest, int]:
    """Check a VerifyRequest; return its claim and the number of evidence paths to send.

    Raises:
        ClaimFailure: INVALID_ARGUMENT naming the field; an unknown relation lists the known ones.
    """
    _check_text("request_id", request.request_id, MAX_REQUEST_ID_BYTES, required=require_request_id)
    if not request.HasField("claim"):
        raise _invalid("claim", "is required")
    claim = request.claim
    _check_text("claim.subject", claim.subject, MAX_ENTITY_BYTES, required=True)
    _check_text("claim.predicate", claim.predicate, MAX_ENTITY_BYTES, required=True)
    _check_text("claim.object", claim.object, MAX_ENTITY_BYTES, required=True)
    _check_text("claim.context_text", claim.context_text, MAX_CONTEXT_BYTES, required=False)
    if claim.predicate not in relations:
        raise _invalid(
            "claim.predicate",
            f"unknown relation {claim.predicate!r}; known relations: {', '.join(relations)}",
        )
    if request.max_evidence_paths > MAX_EVIDENCE_PATHS:
        raise _invalid(
            "max_evidence_paths", f"is {request.max_evidence_paths}; the maximum is {MAX_EVIDENCE_PATHS}"
        )
    evidence_paths = request.max_evidence_paths or DEFAULT_EVIDENCE_PATHS
    return ClaimRequest(claim.subject, claim.predicate, claim.object, claim.context_text), evidence_paths
