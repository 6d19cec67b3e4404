"""Admission: a claim that passed validation waits here, with its deadline, until a batch takes it."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import grpc


class ClaimFailure(Exception):
    """A claim that cannot be answered, with the gRPC status it maps to.

    Args:
        code: the status code sent to the caller.
        message: what was wrong and what to do about it.
        field: the request field concerned (``claim.predicate``), or ``""`` when none is.
    """

    def __init__(self, code: grpc.StatusCode, message: str, field: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class ClaimRequest:
    """The claim as the caller sent it: subject and object are ids or names, not yet resolved."""

    subject: str
    predicate: str
    object: str
    context_text: str = ""


@dataclass(eq=False)
class PendingClaim:
    """An admitted claim. ``future`` receives a VerdictResult-based response or a ClaimFailure."""

    request_id: str
    claim: ClaimRequest
    max_evidence_paths: int
    # Absolute deadline on the time.monotonic() clock (the asyncio loop's clock); None for no deadline.
    deadline: float | None
    future: asyncio.Future
    admitted_at: float = field(default_factory=time.monotonic)
    # Filled in by the pipeline as the claim moves through it.
    resolved: Any = None

    def expired(self, now: float | None = None) -> bool:
        return self.deadline is not None and (now if now is not None else time.monotonic()) >= self.deadline

    def settled(self) -> bool:
        """True once answered, failed or cancelled by the caller."""
        return self.future.done()

    def fail(self, error: ClaimFailure) -> None:
        if not self.future.done():
            self.future.set_exception(error)

    def succeed(self, value: Any) -> None:
        if not self.future.done():
            self.future.set_result(value)


class QueueFullError(Exception):
    """The admission queue is at capacity."""


class AdmissionQueue:
    """A bounded FIFO of admitted claims, read by the batcher.

    ``admit`` never waits: at capacity it raises QueueFullError, which the service sends as
    RESOURCE_EXHAUSTED, so an overloaded server rejects work at once instead of queueing it
    past its deadline.

    Args:
        capacity: the maximum number of claims waiting for a batch.
    """

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._queue: asyncio.Queue[PendingClaim] = asyncio.Queue(maxsize=capacity)

    def admit(self, claim: PendingClaim) -> None:
        """Append `claim`; raise QueueFullError when the queue contains `capacity` claims."""
        try:
            self._queue.put_nowait(claim)
        except asyncio.QueueFull:
            raise QueueFullError(f"admission queue is full ({self.capacity} claims)") from None

    async def get(self) -> PendingClaim:
        return await self._queue.get()

    def get_nowait(self) -> PendingClaim | None:
        """Return the oldest claim, or None when the queue is empty."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def __len__(self) -> int:
        return self._queue.qsize()
