"""The admission queue and the dynamic batcher."""
import asyncio
import time

import pytest

from server.admission import AdmissionQueue, ClaimRequest, PendingClaim, QueueFullError
from server.batcher import DynamicBatcher

CLAIM = ClaimRequest("C0001", "treats", "C0002")


def pending(request_id: str, deadline: float | None = None) -> PendingClaim:
    return PendingClaim(request_id, CLAIM, 3, deadline, asyncio.get_running_loop().create_future())


def run(coroutine):
    return asyncio.run(coroutine)


def test_queue_rejects_beyond_capacity():
    async def scenario():
        queue = AdmissionQueue(capacity=2)
        queue.admit(pending("a"))
        queue.admit(pending("b"))
        with pytest.raises(QueueFullError, match="full"):
            queue.admit(pending("c"))
        return len(queue)

    assert run(scenario()) == 2


def test_queue_admits_again_after_get():
    async def scenario():
        queue = AdmissionQueue(capacity=1)
        queue.admit(pending("a"))
        first = await queue.get()
        queue.admit(pending("b"))
        second = queue.get_nowait()
        return first.request_id, second.request_id, queue.get_nowait()

    assert run(scenario()) == ("a", "b", None)


def test_queue_rejects_zero_capacity():
    with pytest.raises(ValueError, match="capacity"):
        AdmissionQueue(capacity=0)


def test_batcher_closes_at_max_batch_in_order():
    async def scenario():
        queue = AdmissionQueue(capacity=10)
        for index in range(7):
            queue.admit(pending(str(index)))
        # A long wait: the batches can only close because they are full.
        batcher = DynamicBatcher(queue, max_batch=3, max_wait_ms=60_000)
        first = await batcher.next_batch()
        second = await batcher.next_batch()
        return [c.request_id for c in first], [c.request_id for c in second], len(queue)

    first, second, left = run(scenario())
    assert first == ["0", "1", "2"]
    assert second == ["3", "4", "5"]
    assert left == 1


def test_batcher_closes_after_max_wait():
    async def scenario():
        queue = AdmissionQueue(capacity=10)
        queue.admit(pending("only"))
        batcher = DynamicBatcher(queue, max_batch=8, max_wait_ms=20)
        started = time.monotonic()
        batch = await batcher.next_batch()
        return [c.request_id for c in batch], time.monotonic() - started

    ids, waited = run(scenario())
    assert ids == ["only"]
    assert waited >= 0.019


def test_batcher_takes_claims_arriving_while_open():
    async def scenario():
        queue = AdmissionQueue(capacity=10)
        queue.admit(pending("early"))
        batcher = DynamicBatcher(queue, max_batch=2, max_wait_ms=60_000)

        async def admit_later():
            await asyncio.sleep(0.01)
            queue.admit(pending("late"))

        late = asyncio.create_task(admit_later())
        batch = await batcher.next_batch()
        await late
        return [c.request_id for c in batch]

    assert run(scenario()) == ["early", "late"]


def test_batcher_skips_cancelled_claims():
    async def scenario():
        queue = AdmissionQueue(capacity=10)
        claims = [pending(str(index)) for index in range(4)]
        for claim in claims:
            queue.admit(claim)
        claims[0].future.cancel()
        claims[2].future.cancel()
        skipped = []
        batcher = DynamicBatcher(queue, max_batch=4, max_wait_ms=0, on_skip=lambda claim: skipped.append(claim.request_id))
        return [c.request_id for c in await batcher.next_batch()], skipped

    batch, skipped = run(scenario())
    assert batch == ["1", "3"]
    assert skipped == ["0", "2"]


def test_batcher_of_one_disables_batching():
    async def scenario():
        queue = AdmissionQueue(capacity=10)
        for index in range(3):
            queue.admit(pending(str(index)))
        batcher = DynamicBatcher(queue, max_batch=1, max_wait_ms=1000)
        return [len(await batcher.next_batch()) for _ in range(3)]

    assert run(scenario()) == [1, 1, 1]


def test_pending_claim_expiry():
    async def scenario():
        now = time.monotonic()
        return pending("past", deadline=now - 1).expired(), pending("future", deadline=now + 60).expired(), pending("none").expired()

    assert run(scenario()) == (True, False, False)
