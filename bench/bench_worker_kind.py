"""Inference worker as a thread or as a process: which gives more throughput with retrieval overlapped.

    DGLBACKEND=pytorch NEO4J_URI=bolt://127.0.0.1:7687 NEO4J_PASSWORD=... \\
        python bench/bench_worker_kind.py --model-dir .kgreason/models/umls

Both variants run the serving pattern: the main thread fetches batch i+1 from Neo4j while the
worker scores batch i. The thread variant hands subgraphs over by reference; the process
variant loads its own copy of the model and receives each batch pickled through a pipe.
Needs UMLS loaded in that Neo4j. Loopback only; bounded by --claims.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "protos"))


def claim_batches(count: int, batch_size: int, seed: int):
    from graph_loader.datasets import UMLS_PATH
    from graph_loader.readers import read_dataset
    from server.inference import ClaimInput

    triples = sorted({(t.head, t.relation, t.tail) for t in read_dataset(UMLS_PATH).triples["train"]})
    generator = random.Random(seed)
    claims = [ClaimInput(*generator.choice(triples)) for _ in range(count)]
    return [claims[start:start + batch_size] for start in range(0, count, batch_size)]


def process_worker(model_dir: str, device: str, evidence: int, connection) -> None:
    os.environ.setdefault("DGLBACKEND", "pytorch")
    sys.path.insert(0, str(REPO_ROOT))
    from server.model import load_scorer

    scorer = load_scorer(model_dir, device)
    connection.send("ready")
    # Scoring runs in a worker thread here too, so both variants use the same OpenMP setup.
    with ThreadPoolExecutor(max_workers=1) as executor:
        while True:
            job = connection.recv()
            if job is None:
                return
            claims, subgraphs = job
            results = executor.submit(scorer.score, claims, subgraphs, evidence).result()
            connection.send([result.probability for result in results])


def run_pipelined(retriever, batches, submit) -> float:
    """Fetch batch i+1 while batch i is scored; return claims per second."""
    started = time.perf_counter()
    pending = None
    for batch in batches:
        subgraphs, _ = retriever.fetch(batch)
        if pending is not None:
            pending.result()
        pending = submit(batch, subgraphs)
    pending.result()
    return sum(len(batch) for batch in batches) / (time.perf_counter() - started)


class PipeFuture:
    def __init__(self, connection):
        self.connection = connection

    def result(self):
        return self.connection.recv()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--claims", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--evidence", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each variant")
    parser.add_argument("--neo4j-uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"))
    parser.add_argument("--neo4j-user", default=os.environ.get("NEO4J_USER", "neo4j"))
    parser.add_argument("--neo4j-password", default=os.environ.get("NEO4J_PASSWORD", ""))
    args = parser.parse_args()
    os.environ.setdefault("DGLBACKEND", "pytorch")

    from neo4j import GraphDatabase

    from server.model import Neo4jRetriever, load_scorer

    batches = claim_batches(args.claims, args.batch_size, seed=0)
    scorer = load_scorer(args.model_dir, args.device)
    with GraphDatabase.driver(args.neo4j_uri, auth=(args.neo4j_user, args.neo4j_password)) as driver:
        retriever = Neo4jRetriever.for_scorer(driver, scorer)
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        worker = context.Process(target=process_worker, args=(args.model_dir, args.device, args.evidence, child))
        worker.start()
        assert parent.recv() == "ready"

        def submit_to_process(claims, subgraphs):
            parent.send((claims, subgraphs))
            return PipeFuture(parent)

        # Alternating rounds, each variant warmed up first, so neither gains from running later.
        threaded: list[float] = []
        separate: list[float] = []
        with ThreadPoolExecutor(max_workers=1) as executor:
            def submit_to_thread(claims, subgraphs):
                return executor.submit(scorer.score, claims, subgraphs, args.evidence)

            submit_to_thread(batches[0], retriever.fetch(batches[0])[0]).result()
            submit_to_process(batches[0], retriever.fetch(batches[0])[0]).result()
            for _ in range(args.rounds):
                threaded.append(run_pipelined(retriever, batches, submit_to_thread))
                separate.append(run_pipelined(retriever, batches, submit_to_process))
        parent.send(None)
        worker.join(timeout=60)

    print(f"{args.claims} claims, batches of {args.batch_size}, {args.evidence} evidence paths, device {args.device}")
    print("thread worker:  " + ", ".join(f"{rate:.1f}" for rate in threaded) + " claims/s")
    print("process worker: " + ", ".join(f"{rate:.1f}" for rate in separate) + " claims/s")
    print(f"process/thread = {sum(separate) / sum(threaded):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
