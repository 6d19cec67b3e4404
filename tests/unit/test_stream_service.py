"""VerifyStream bookkeeping, run in-process with each claim settled by the test."""
import asyncio
import time

import grpc

from kgreason.v1 import reasoner_pb2
from server.admission import AdmissionQueue, ClaimFailure
from server.metrics import ServingMetrics
from server.service import ADMITTED_TRAILER, ReasonerService


class StreamContext:
    """The parts of grpc.aio.ServicerContext that VerifyStream uses."""

    def __init__(self):
        self.trailers = ()

    def time_remaining(self):
        return None

    def set_trailing_metadata(self, trailers):
        self.trailers = trailers


def claim_request(request_id):
    return reasoner_pb2.VerifyRequest(
        request_id=request_id,
        claim=reasoner_pb2.Claim(subject="virus", predicate="isa", object="organism"),
    )


async def requests(*request_ids):
    for request_id in request_ids:
        yield claim_request(request_id)


def make_service(queue):
    return ReasonerService(queue, ["isa"], None, reasoner_pb2.ServerInfo(), stream_window=8, metrics=ServingMetrics())


async def collect(stream):
    return [response async for response in stream]


async def wait_for_admission(queue, count):
    while len(queue) < count:
        await asyncio.sleep(0.01)


def test_idle_stream_does_not_spin():
    # The caller has sent everything and the verdicts are not ready: the stream must sleep until
    # one is, not poll. A polling loop would hold a CPU core and starve the model.
    async def scenario():
        queue = AdmissionQueue(16)
        context = StreamContext()
        responses = asyncio.create_task(collect(make_service(queue).VerifyStream(requests("a", "b"), context)))
        await wait_for_admission(queue, 2)
        await asyncio.sleep(0.05)  # reading ends; only the two claims are outstanding

        cpu_before, wall_before = time.process_time(), time.perf_counter()
        await asyncio.sleep(0.5)
        cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before

        for pending in (queue.get_nowait(), queue.get_nowait()):
            pending.fail(ClaimFailure(grpc.StatusCode.NOT_FOUND, f"no entity for {pending.request_id}"))
        return cpu, wall, await responses, context

    cpu, wall, responses, context = asyncio.run(scenario())
    assert cpu < 0.2 * wall, f"the idle stream used {cpu:.3f} s of CPU in {wall:.3f} s"
    assert [r.request_id for r in responses] == ["a", "b"]
    assert all(r.error.code == grpc.StatusCode.NOT_FOUND.value[0] for r in responses)
    assert dict(context.trailers)[ADMITTED_TRAILER] == "2"


def test_stream_ends_after_out_of_order_verdicts():
    async def scenario():
        queue = AdmissionQueue(16)
        context = StreamContext()
        responses = asyncio.create_task(collect(make_service(queue).VerifyStream(requests("a", "b", "c"), context)))
        await wait_for_admission(queue, 3)
        first, second, third = queue.get_nowait(), queue.get_nowait(), queue.get_nowait()
        for pending in (third, first):
            pending.fail(ClaimFailure(grpc.StatusCode.NOT_FOUND, "gone"))
        await asyncio.sleep(0.05)
        assert not responses.done()  # "b" is still outstanding
        second.fail(ClaimFailure(grpc.StatusCode.NOT_FOUND, "gone"))
        return await responses

    responses = asyncio.run(scenario())
    assert [r.request_id for r in responses] == ["c", "a", "b"]


def test_empty_stream_ends_at_once():
    context = StreamContext()
    responses = asyncio.run(collect(make_service(AdmissionQueue(4)).VerifyStream(requests(), context)))
    assert responses == []
    assert dict(context.trailers)[ADMITTED_TRAILER] == "0"


def test_claim_timeout_sets_claim_deadline():
    async def scenario():
        queue = AdmissionQueue(4)
        hurried = claim_request("a")
        hurried.timeout_ms = 250

        async def one_request():
            yield hurried

        responses = asyncio.create_task(collect(make_service(queue).VerifyStream(one_request(), StreamContext())))
        await wait_for_admission(queue, 1)
        pending = queue.get_nowait()
        pending.fail(ClaimFailure(grpc.StatusCode.NOT_FOUND, "gone"))
        await responses
        return pending

    pending = asyncio.run(scenario())
    assert pending.deadline is not None
    assert 0 < pending.deadline - pending.admitted_at <= 0.25
