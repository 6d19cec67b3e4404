"""The embedded Neo4j launcher survives what a killed test run leaves behind."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import NEO4JCTL

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

PASSWORD = "launcher-test-password"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _neo4jctl(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NEO4J_PASSWORD": PASSWORD}
    return subprocess.run([sys.executable, str(NEO4JCTL), *args], env=env, capture_output=True, text=True)


@pytest.fixture
def home(tmp_path: Path):
    home = tmp_path / "neo4j"
    yield home
    _neo4jctl("stop", "--home", str(home), "--timeout", "30")


def _process_gone(pid: int) -> bool:
    """True when pid has exited; a zombie waiting for its parent to reap it counts as exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _wait_gone(pid: int, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _process_gone(pid):
            return True
        time.sleep(0.1)
    return False


def _count_markers(uri: str) -> int:
    from neo4j import GraphDatabase

    with GraphDatabase.driver(uri, auth=("neo4j", PASSWORD)) as driver:
        return driver.execute_query("MATCH (m:Marker) RETURN count(m) AS n").records[0]["n"]


def test_start_after_sigkill_keeps_data(home):
    port = str(_free_port())
    started = _neo4jctl("start", "--home", str(home), "--port", port)
    assert started.returncode == 0, started.stderr
    uri = started.stdout.strip()
    from neo4j import GraphDatabase

    with GraphDatabase.driver(uri, auth=("neo4j", PASSWORD)) as driver:
        driver.execute_query("CREATE (:Marker {at: $at})", at=time.time())

    pid = int((home / "neo4j.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    assert _wait_gone(pid)

    restarted = _neo4jctl("start", "--home", str(home), "--port", port)

    assert restarted.returncode == 0, restarted.stderr
    assert "no longer running" in restarted.stderr
    assert _count_markers(restarted.stdout.strip()) == 1


def test_start_reuses_running_launcher(home):
    port = str(_free_port())
    first = _neo4jctl("start", "--home", str(home), "--port", port)
    assert first.returncode == 0, first.stderr
    pid = (home / "neo4j.pid").read_text()

    second = _neo4jctl("start", "--home", str(home), "--port", port)

    assert second.returncode == 0, second.stderr
    assert "reusing" in second.stderr
    assert (home / "neo4j.pid").read_text() == pid


def test_port_taken_by_other_program(home):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]

        result = _neo4jctl("start", "--home", str(home), "--port", str(port))

    assert result.returncode == 3
    assert f"port {port}" in result.stderr
    assert "another program" in result.stderr
    assert not (home / "neo4j.pid").exists()


def test_stop_sigterm_shuts_down_cleanly(home):
    started = _neo4jctl("start", "--home", str(home), "--port", str(_free_port()))
    assert started.returncode == 0, started.stderr
    pid = int((home / "neo4j.pid").read_text())

    stopped = _neo4jctl("stop", "--home", str(home))

    assert stopped.returncode == 0, stopped.stderr
    assert _process_gone(pid)
    log = (home / "neo4j.log").read_text()
    assert "STOPPED" in log


def test_load_csv_reads_only_import_folder(home, tmp_path):
    from neo4j import GraphDatabase
    from neo4j.exceptions import ClientError

    started = _neo4jctl("start", "--home", str(home), "--port", str(_free_port()))
    assert started.returncode == 0, started.stderr
    uri = started.stdout.strip()
    (home / "import" / "rows.csv").write_text("inside\n")
    outside = tmp_path / "outside.csv"
    outside.write_text("outside\n")

    with GraphDatabase.driver(uri, auth=("neo4j", PASSWORD)) as driver:
        rows = driver.execute_query("LOAD CSV FROM 'file:///rows.csv' AS row RETURN row[0] AS value").records
        assert [row["value"] for row in rows] == ["inside"]
        # An absolute path is read below the import folder, where this file does not exist.
        with pytest.raises(ClientError, match="outside.csv"):
            driver.execute_query(f"LOAD CSV FROM 'file://{outside}' AS row RETURN row[0] AS value")
