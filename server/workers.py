"""Inference workers: one per device, as a thread of the server or as a process of its own.

The server's event loop calls ``score`` through each worker's one-thread executor, so a worker
scores one batch at a time. A process worker loads its own copy of the model and receives each
batch pickled through a pipe; it keeps the model's Python work (collation, DGL graph building,
evidence paths) off the server's GIL, which the retrieval of the next batch needs.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from server.inference import ClaimInput, ClaimScorer, Subgraph, VerdictResult

logger = logging.getLogger(__name__)

WORKER_KINDS = ("process", "thread")
# Seconds a process worker may take to load its model before the server gives up starting.
PROCESS_START_TIMEOUT_S = 300


def _serve_scorer(model_dir: str, device: str, connection) -> None:
    """Body of a process worker: load the model, then score each batch received on `connection`."""
    os.environ.setdefault("DGLBACKEND", "pytorch")
    # The server handles SIGINT and SIGTERM and then closes this worker through its pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from server.model import load_scorer

    try:
        scorer = load_scorer(model_dir, device)
    except Exception as error:  # sent to the parent, which reports it and stops starting
        connection.send(("error", f"loading {model_dir} on {device} failed: {error!r}"))
        return
    connection.send(("ready", (list(scorer.relations), scorer.config)))
    # torch's OpenMP team is used from a worker thread, as in the thread variant: on a busy
    # machine the main thread's team was measured about 10 times slower (docs/architecture.md).
    with ThreadPoolExecutor(max_workers=1) as executor:
        while True:
            job = connection.recv()
            if job is None:
                return
            claims, subgraphs, max_evidence_paths = job
            try:
                results = executor.submit(scorer.score, claims, subgraphs, max_evidence_paths).result()
            except Exception as error:  # sent to the parent, which fails the batch with INTERNAL
                connection.send(("error", repr(error)))
                continue
            connection.send(("ok", results))


class ProcessScorer:
    """A ClaimScorer that runs in a child process (spawned, so CUDA initialises cleanly there).

    A child that dies (killed, out of memory, a crash in native code) is replaced by a new one
    on the next batch, and that batch is sent again once.

    Args:
        model_dir: the model folder.
        device: ``"cpu"`` or ``"cuda:N"``; the child places the model there.

    Raises:
        RuntimeError: the child could not load the model, or did not start in time.
    """

    def __init__(self, model_dir: str, device: str):
        self.model_dir = model_dir
        self.device = device
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._process = None
        self._connection = None
        self._start()

    def _start(self) -> None:
        connection, child_connection = self._context.Pipe()
        process = self._context.Process(
            target=_serve_scorer, args=(self.model_dir, self.device, child_connection),
            name=f"scorer-{self.device}", daemon=True,
        )
        process.start()
        child_connection.close()
        try:
            if not connection.poll(PROCESS_START_TIMEOUT_S):
                process.kill()
                raise RuntimeError(f"the {self.device} worker did not load {self.model_dir} in {PROCESS_START_TIMEOUT_S} s")
            status, payload = connection.recv()
        except (EOFError, OSError):
            process.join(timeout=5)
            raise RuntimeError(
                f"the {self.device} worker exited with code {process.exitcode} while loading {self.model_dir}"
            ) from None
        if status != "ready":
            raise RuntimeError(payload)
        self._process, self._connection = process, connection
        self.relations, self.config = payload
        logger.info("process worker %d serves %s", process.pid, self.device)

    def _replace_dead_process(self, batch_size: int) -> None:
        old = self._process
        old.join(timeout=5)
        logger.error(
            "the %s worker process %d exited with code %s during a batch of %d claims; starting a new one",
            self.device, old.pid, old.exitcode, batch_size,
        )
        self._connection.close()
        self._start()

    def score(self, claims: Sequence[ClaimInput], subgraphs: Sequence[Subgraph], max_evidence_paths: int) -> list[VerdictResult]:
        job = (list(claims), list(subgraphs), max_evidence_paths)
        with self._lock:
            for attempt in (1, 2):
                try:
                    self._connection.send(job)
                    status, payload = self._connection.recv()
                    break
                except (EOFError, OSError) as error:
                    # Replaced before raising too, so that the batches after this one find a live worker.
                    self._replace_dead_process(len(job[0]))
                    if attempt == 2:
                        raise RuntimeError(
                            f"the {self.device} worker process died twice on the same batch of {len(job[0])} claims"
                        ) from error
        if status != "ok":
            raise RuntimeError(f"scoring on {self.device} failed in the worker process: {payload}")
        return payload

    def close(self) -> None:
        try:
            self._connection.send(None)
        except (OSError, ValueError):
            pass  # the child is already gone
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()


class InferenceWorker:
    """A ClaimScorer (in this process or a child) with the one thread that calls it."""

    def __init__(self, scorer: ClaimScorer):
        self.scorer = scorer
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"infer-{scorer.device}")

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        if isinstance(self.scorer, ProcessScorer):
            self.scorer.close()


def load_workers(model_dir: str, devices: Sequence[str], kind: str) -> list[InferenceWorker]:
    """Start one inference worker per device, of `kind` ``"process"`` or ``"thread"``."""
    if kind not in WORKER_KINDS:
        raise ValueError(f"invalid worker kind {kind!r}; use one of {', '.join(WORKER_KINDS)}")
    if kind == "process":
        return [InferenceWorker(ProcessScorer(model_dir, device)) for device in devices]
    from server.model import load_scorer

    return [InferenceWorker(load_scorer(model_dir, device)) for device in devices]
