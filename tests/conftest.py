"""Shared fixtures: a real Neo4j for every test that needs one.

Neo4j is found in this order:
1. ``NEO4J_URI`` (with ``NEO4J_USER`` and ``NEO4J_PASSWORD``) when set;
2. a ``neo4j:5.26-community`` container through testcontainers when a Docker engine responds;
3. the embedded launcher in deploy/neo4j-embedded, on ``KGREASON_TEST_NEO4J_PORT`` (default 7688)
   with its data under ``KGREASON_TEST_NEO4J_HOME`` (default .kgreason/neo4j-test), stopped again
   when the session ends.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
NEO4JCTL = REPO_ROOT / "deploy" / "neo4j-embedded" / "neo4jctl.py"
TEST_NEO4J_HOME = Path(os.environ.get("KGREASON_TEST_NEO4J_HOME", REPO_ROOT / ".kgreason" / "neo4j-test"))
DEFAULT_TEST_PASSWORD = "kgreason-test-password"


@dataclass(frozen=True)
class Neo4jServer:
    uri: str
    user: str
    password: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    def environment(self) -> dict[str, str]:
        """Environment variables that point kgreason's programs at this server."""
        return {"NEO4J_URI": self.uri, "NEO4J_USER": self.user, "NEO4J_PASSWORD": self.password}


def _docker_engine_responds() -> bool:
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:  # docker raises several unrelated types when no engine runs
        return False


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Neo4jServer]:
    if os.environ.get("NEO4J_URI"):
        yield Neo4jServer(
            uri=os.environ["NEO4J_URI"],
            user=os.environ.get("NEO4J_USER", "neo4j"),
            password=os.environ.get("NEO4J_PASSWORD", ""),
        )
        return

    if _docker_engine_responds():
        from testcontainers.neo4j import Neo4jContainer

        with Neo4jContainer("neo4j:5.26-community", password=DEFAULT_TEST_PASSWORD) as container:
            yield Neo4jServer(container.get_connection_url(), "neo4j", DEFAULT_TEST_PASSWORD)
        return

    password = os.environ.get("NEO4J_PASSWORD") or DEFAULT_TEST_PASSWORD
    port = os.environ.get("KGREASON_TEST_NEO4J_PORT", "7688")
    env = {**os.environ, "NEO4J_PASSWORD": password}
    command = [sys.executable, str(NEO4JCTL), "start", "--home", str(TEST_NEO4J_HOME), "--port", port]
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.exit(f"could not start the embedded Neo4j for tests:\n{result.stderr}", returncode=3)
    try:
        yield Neo4jServer(result.stdout.strip(), "neo4j", password)
    finally:
        subprocess.run([sys.executable, str(NEO4JCTL), "stop", "--home", str(TEST_NEO4J_HOME)], env=env)


def clear_database(driver) -> None:
    """Delete every node, relationship, index and constraint of the default database."""
    # CALL ... IN TRANSACTIONS runs only in an auto-commit transaction, hence session.run.
    with driver.session() as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
    for record in driver.execute_query("SHOW CONSTRAINTS YIELD name").records:
        driver.execute_query(f"DROP CONSTRAINT `{record['name']}` IF EXISTS")
    for record in driver.execute_query("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP'").records:
        driver.execute_query(f"DROP INDEX `{record['name']}` IF EXISTS")


@pytest.fixture(scope="module")
def neo4j_driver(neo4j_server: Neo4jServer):
    """A driver on an empty database; every test module starts from an empty graph."""
    from neo4j import GraphDatabase

    driver = GraphDatabase.driver(neo4j_server.uri, auth=neo4j_server.auth)
    driver.verify_connectivity()
    clear_database(driver)
    try:
        yield driver
    finally:
        driver.close()


@pytest.fixture(scope="session")
def trained_umls_model(tmp_path_factory) -> Path:
    """A small UMLS model folder, trained once per session on a sample of the data.

    Its accuracy is modest; tests use it for behaviour (files, devices, evidence), never for figures.
    """
    from server.training.trainer import TrainingConfig, train

    folder = tmp_path_factory.mktemp("umls-model")
    train(TrainingConfig(
        dataset="umls", out=folder, epochs=3, select_by="accuracy", max_train_positives=300, max_evaluation_positives=60,
        negatives=1, hidden_dimensions=16, bases=4, fanout=4, cache_dir=folder / "cache",
    ))
    return folder
