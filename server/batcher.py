"""Dynamic batching: gather admitted claims into batches of up to max_batch, waiting at most max_wait_ms."""
from __future__ import annotations

import asyncio
import time
from typing import Callable

from server.admission import AdmissionQueue, PendingClaim


class DynamicBatcher:
    """Forms batches from an AdmissionQueue.

    A batch opens when its first claim arrives and closes when it contains ``max_batch`` claims or
    ``max_wait_ms`` after it opened, whichever comes first. Under load the queue already contains a
    full batch and nothing waits; at low load a lone claim waits at most ``max_wait_ms``.
    ``max_batch=1`` turns batching off.

    Args:
        queue: where admitted claims wait.
        max_batch: the maximum number of claims in one batch.
        max_wait_ms: how long an open batch waits for more claims, in milliseconds.
        on_skip: called with each claim skipped because its caller cancelled it.
    """

    def __init__(
        self,
        queue: AdmissionQueue,
        max_batch: int,
        max_wait_ms: float,
        on_skip: Callable[[PendingClaim], None] | None = None,
    ):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be 0 or more, got {max_wait_ms}")
        self.queue = queue
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.on_skip = on_skip

    async def next_batch(self) -> list[PendingClaim]:
        """Wait for the first claim, then collect more until the batch is full or its time is up.

        Claims already settled (cancelled by their caller) are skipped and do not count.
        """
        first = await self.queue.get()
        while first.settled():
            self._skip(first)
            first = await self.queue.get()
        batch = [first]
        closes_at = time.monotonic() + self.max_wait_s

        while len(batch) < self.max_batch:
            claim = self.queue.get_nowait()
            if claim is None:
                remaining = closes_at - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    claim = await asyncio.wait_for(self.queue.get(), remaining)
                except TimeoutError:
                    break
            if claim.settled():
                self._skip(claim)
            else:
                batch.append(claim)
        return batch

    def _skip(self, claim: PendingClaim) -> None:
        if self.on_skip is not None:
            self.on_skip(claim)
