"""Serving throughput and latency: the model's own limit against the served path, in one run.

    DGLBACKEND=pytorch NEO4J_URI=bolt://127.0.0.1:7687 NEO4J_PASSWORD=... \\
        python bench/bench_serving.py --model-dir .kgreason/models/umls

Needs UMLS loaded in that Neo4j (``kgreason-load graph_loader/datasets/umls``). Measures:

(a) model limit: batched ``score`` calls in this process over subgraphs fetched beforehand;
(b) served: the same claims through a real server process, over ``--streams`` concurrent
    VerifyStream calls of the asyncio client, with dynamic batching (``--max-batch``);
(c) the same with batching off (``max_batch=1``);
then p50 and p99 latency of unary calls sent open-loop at half of (b)'s throughput.
Each of (a), (b) and (c) makes two passes over the same claims: the first encodes the claim
texts with BERT and fills the server's subgraph cache, the second is the figure compared; both
are printed. Every phase is bounded by ``--claims`` and ``--phase-timeout``; only loopback is used.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "protos"))

LISTENING = re.compile(r"serving Reasoner on (\S+):(\d+)")


def umls_claims(count: int, seed: int) -> list[tuple[str, str, str]]:
    from graph_loader.datasets import UMLS_PATH
    from graph_loader.readers import read_dataset

    dataset = read_dataset(UMLS_PATH)
    triples = sorted({(t.head, t.relation, t.tail) for t in dataset.triples["train"]})
    generator = random.Random(seed)
    return [generator.choice(triples) for _ in range(count)]


def model_limit(args, claims) -> tuple[float, float]:
    """(a) Claims per second of batched scoring over pre-fetched subgraphs, in this process.

    Returns the first pass (claim texts not yet encoded) and the second (encodings cached),
    which match the served phases' cold and warm passes.
    """
    from neo4j import GraphDatabase

    from server.inference import ClaimInput
    from server.model import Neo4jRetriever, load_scorer
    from server.workers import InferenceWorker

    scorer = load_scorer(args.model_dir, args.device)
    inputs = [ClaimInput(s, p, o) for s, p, o in claims]
    with GraphDatabase.driver(args.neo4j_uri, auth=(args.neo4j_user, args.neo4j_password)) as driver:
        retriever = Neo4jRetriever.for_scorer(driver, scorer)
        batches = []
        for start in range(0, len(inputs), args.max_batch):
            chunk = inputs[start:start + args.max_batch]
            batches.append((chunk, retriever.fetch(chunk)[0]))
    def timed_pass() -> float:
        started = time.perf_counter()
        for chunk, subgraphs in batches:
            scorer.score(chunk, subgraphs, args.evidence)
        return len(inputs) / (time.perf_counter() - started)

    # Scoring runs in an InferenceWorker thread, as in the server. On a busy 2-core machine the
    # main thread's OpenMP team was about 10 times slower than a worker thread's (see
    # docs/architecture.md), which would understate the model's limit.
    worker = InferenceWorker(scorer)
    try:
        first = worker.executor.submit(timed_pass).result()
        second = worker.executor.submit(timed_pass).result()
    finally:
        worker.close()
    return first, second


class Server:
    """A ``python -m server`` process on a free loopback port."""

    def __init__(self, args, max_batch: int):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bench-server-", suffix=".log", delete=False)
        command = [
            sys.executable, "-m", "server", "--listen", "127.0.0.1:0", "--model-dir", str(args.model_dir),
            "--devices", args.device, "--max-batch", str(max_batch), "--max-wait-ms", str(args.max_wait_ms),
            "--queue-capacity", str(max(1024, 4 * args.streams * args.max_batch)),
            "--neo4j-uri", args.neo4j_uri, "--neo4j-user", args.neo4j_user,
            "--neo4j-password", args.neo4j_password, "--metrics-port", "0",
        ]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("KGREASON_")}
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=environment)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            match = LISTENING.search(Path(self.log.name).read_text(errors="replace"))
            if match:
                self.address = f"{match.group(1)}:{match.group(2)}"
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.process.kill()
        raise RuntimeError(f"server did not start; log:\n{Path(self.log.name).read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)
        os.unlink(self.log.name)


async def served_throughput(address: str, claims, streams: int, timeout: float) -> tuple[float, int]:
    """Claims per second over `streams` concurrent VerifyStream calls, and the failures seen."""
    from client import AsyncReasonerClient

    shares = [claims[index::streams] for index in range(streams)]
    failures = 0

    async with AsyncReasonerClient(address, timeout=timeout) as client:
        async def one_stream(share):
            nonlocal failures
            async for response in client.verify_stream(
                {"subject": s, "predicate": p, "object": o} for s, p, o in share
            ):
                failures += response.HasField("error")

        started = time.perf_counter()
        await asyncio.gather(*(one_stream(share) for share in shares if share))
        elapsed = time.perf_counter() - started
    return len(claims) / elapsed, failures


async def latency_at_rate(address: str, claims, rate: float, timeout: float) -> tuple[float, float, int]:
    """p50 and p99 latency (ms) of unary calls sent open-loop at `rate` per second."""
    from client import AsyncReasonerClient

    latencies: list[float] = []
    failures = 0
    async with AsyncReasonerClient(address, timeout=timeout) as client:
        async def one_call(claim):
            nonlocal failures
            started = time.perf_counter()
            try:
                await client.verify(*claim)
                latencies.append((time.perf_counter() - started) * 1000)
            except Exception:  # counted and reported; a failed call has no meaningful latency
                failures += 1

        tasks = []
        begin = time.perf_counter()
        for index, claim in enumerate(claims):
            delay = begin + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one_call(claim)))
        await asyncio.gather(*tasks)
    latencies.sort()
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan")
    return p50, p99, failures


def serve_and_measure(args, claims, max_batch: int, latency: bool):
    server = Server(args, max_batch)
    try:
        # First pass fills the subgraph cache and the text-encoding cache; the second is timed.
        cold, _ = asyncio.run(served_throughput(server.address, claims, args.streams, args.phase_timeout))
        warm, failures = asyncio.run(served_throughput(server.address, claims, args.streams, args.phase_timeout))
        p50 = p99 = float("nan")
        if latency:
            count = min(len(claims), max(50, int(warm * 0.5 * 10)))  # about ten seconds of load
            p50, p99, _ = asyncio.run(latency_at_rate(server.address, claims[:count], warm * 0.5, args.phase_timeout))
        return cold, warm, failures, p50, p99
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="model folder to serve")
    parser.add_argument("--device", default="cpu", help="cpu or cuda:N (default: cpu)")
    parser.add_argument("--claims", type=int, default=1024, help="claims per phase (default: 1024)")
    parser.add_argument("--streams", type=int, default=64, help="concurrent streams in (b) and (c) (default: 64)")
    parser.add_argument("--max-batch", type=int, default=32, help="max_batch of (a) and (b) (default: 32)")
    parser.add_argument("--max-wait-ms", type=int, default=5, help="max_wait_ms of the servers (default: 5)")
    parser.add_argument("--evidence", type=int, default=3, help="evidence paths scored per claim; the server default is 3")
    parser.add_argument("--phase-timeout", type=float, default=600, help="deadline of each phase in seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--neo4j-uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"))
    parser.add_argument("--neo4j-user", default=os.environ.get("NEO4J_USER", "neo4j"))
    parser.add_argument("--neo4j-password", default=os.environ.get("NEO4J_PASSWORD", ""))
    args = parser.parse_args()
    os.environ.setdefault("DGLBACKEND", "pytorch")

    claims = umls_claims(args.claims, args.seed)
    cold_a, limit = model_limit(args, claims)
    print(f"(a) model limit, batches of {args.max_batch}, in-process: {limit:8.1f} claims/s "
          f"(first pass {cold_a:.1f})", flush=True)
    cold, batched, failures_b, p50, p99 = serve_and_measure(args, claims, args.max_batch, latency=True)
    print(f"(b) served, {args.streams} streams, max_batch={args.max_batch}: {batched:8.1f} claims/s "
          f"(first pass {cold:.1f}, failed claims {failures_b})", flush=True)
    cold_c, unbatched, failures_c, _, _ = serve_and_measure(args, claims, 1, latency=False)
    print(f"(c) served, {args.streams} streams, max_batch=1:  {unbatched:8.1f} claims/s "
          f"(first pass {cold_c:.1f}, failed claims {failures_c})", flush=True)
    print(f"(b)/(a) = {batched / limit:.2f} (target >= 0.7)")
    print(f"(b)/(c) = {batched / unbatched:.2f}")
    print(f"latency at half of (b)'s throughput ({batched / 2:.1f} claims/s, unary): p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
