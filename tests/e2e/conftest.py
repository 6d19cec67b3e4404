"""End-to-end fixtures: UMLS in a real Neo4j, a small real model, and real server processes.

The model is the session's small UMLS model (``trained_umls_model``, trained once per test
session), or the model folder in ``KGREASON_TEST_MODEL_DIR`` when that is set.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import grpc
import pytest

from graph_loader.datasets import UMLS_PATH
from graph_loader.readers import read_dataset
from tests.conftest import REPO_ROOT, Neo4jServer, clear_database

SERVER_START_TIMEOUT_S = 180
LISTENING = re.compile(r"serving Reasoner on (\S+):(\d+)")


@dataclass(frozen=True)
class UmlsGraph:
    """The UMLS triples as loaded, for picking true and false claims."""

    train: list[tuple[str, str, str]]
    entities: list[str]
    relations: list[str]
    known: frozenset[tuple[str, str, str]]


def _graph_matches(driver, entity_count: int, edge_count: int) -> bool:
    record = driver.execute_query(
        "MATCH (e:Entity) WITH count(e) AS entities "
        "OPTIONAL MATCH (:Entity)-[r]->(:Entity) RETURN entities, count(r) AS edges"
    ).records[0]
    return record["entities"] == entity_count and record["edges"] == edge_count


@pytest.fixture(scope="session")
def umls_graph(neo4j_server: Neo4jServer) -> UmlsGraph:
    """UMLS loaded into the test Neo4j once; reused when the database already contains exactly it."""
    from neo4j import GraphDatabase

    from graph_loader.loader import GraphLoader
    from graph_loader.text_encoder import TextEncoder

    dataset = read_dataset(UMLS_PATH)
    triples = [(t.head, t.relation, t.tail) for split in dataset.triples.values() for t in split]
    entities = sorted({t[0] for t in triples} | {t[2] for t in triples})
    with GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth) as driver:
        if not _graph_matches(driver, len(entities), len(set(triples))):
            clear_database(driver)
            GraphLoader(driver, TextEncoder(device="cpu"), progress=False).load_dataset(UMLS_PATH)
    train = sorted({(t.head, t.relation, t.tail) for t in dataset.triples["train"]})
    return UmlsGraph(train, entities, sorted({t[1] for t in triples}), frozenset(triples))


@pytest.fixture(scope="session")
def umls_model_dir(request) -> Path:
    """A real UMLS model folder: ``KGREASON_TEST_MODEL_DIR`` when set, else the session's small model."""
    if os.environ.get("KGREASON_TEST_MODEL_DIR"):
        return Path(os.environ["KGREASON_TEST_MODEL_DIR"])
    return request.getfixturevalue("trained_umls_model")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    process: subprocess.Popen
    address: str
    log_path: Path
    metrics_port: int = 0
    options: dict = field(default_factory=dict)

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.address)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)


def start_server(model_dir: Path, neo4j: Neo4jServer, log_path: Path, **options) -> ServerProcess:
    """Start ``python -m server`` on a free loopback port; return once it logs that it serves."""
    settings = {
        "listen": "127.0.0.1:0",
        "model_dir": str(model_dir),
        "neo4j_uri": neo4j.uri,
        "neo4j_user": neo4j.user,
        "neo4j_password": neo4j.password,
        "metrics_port": 0,
        **options,
    }
    command = [sys.executable, "-m", "server"]
    for name, value in settings.items():
        command += ["--" + name.replace("_", "-"), str(value)]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("KGREASON_")}
    environment["DGLBACKEND"] = "pytorch"
    log_file = log_path.open("w")
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT, env=environment)
    log_file.close()

    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        match = LISTENING.search(log_path.read_text(errors="replace"))
        if match:
            return ServerProcess(process, f"{match.group(1)}:{match.group(2)}", log_path,
                                 int(settings["metrics_port"]), settings)
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"server did not start in {SERVER_START_TIMEOUT_S} s:\n{log_path.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def server_factory(umls_graph, umls_model_dir, neo4j_server, tmp_path_factory) -> Iterator:
    """Start servers on the UMLS graph and model; every one still running is stopped at the end."""
    started: list[ServerProcess] = []

    def factory(**options) -> ServerProcess:
        log_path = tmp_path_factory.mktemp("server") / "server.log"
        server = start_server(umls_model_dir, neo4j_server, log_path, **options)
        started.append(server)
        return server

    yield factory
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="session")
def reasoner_server(server_factory) -> ServerProcess:
    """The default server, shared by the tests that do not need special limits."""
    return server_factory(metrics_port=free_port())
