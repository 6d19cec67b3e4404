"""Stock gRPC tools (grpcurl, grpc_health_probe) and the kgreason CLI against the real server."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.neo4j, pytest.mark.slow]


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(REPO_ROOT / ".kgreason" / "bin"))
    if path is None:
        pytest.skip(f"{name} is not installed; `make tools` installs it into .kgreason/bin")
    return path


def run(*command: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, input=stdin)


def test_grpcurl_lists_services_by_reflection(reasoner_server):
    result = run(tool("grpcurl"), "-plaintext", reasoner_server.address, "list")
    assert result.returncode == 0, result.stderr
    services = result.stdout.split()
    assert "kgreason.v1.Reasoner" in services
    assert "grpc.health.v1.Health" in services


def test_grpcurl_calls_verify(reasoner_server):
    body = json.dumps({"request_id": "grpcurl-1", "claim": {"subject": "virus", "predicate": "isa", "object": "organism"}})
    result = run(tool("grpcurl"), "-plaintext", "-d", body, reasoner_server.address, "kgreason.v1.Reasoner/Verify")
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    # grpcurl prints proto field names (request_id), not JSON camelCase names.
    assert response.get("request_id", response.get("requestId")) == "grpcurl-1"
    assert response["subject"]["id"] == "virus"
    assert response["verdict"] in ("SUPPORTED", "REFUTED", "NOT_ENOUGH_INFO")


def test_health_probe_reports_serving(reasoner_server):
    result = run(tool("grpc_health_probe"), f"-addr={reasoner_server.address}")
    assert result.returncode == 0, result.stderr
    assert "SERVING" in result.stdout + result.stderr


def test_cli_verify_formats(reasoner_server):
    base = [sys.executable, "-m", "client.cli", "--target", reasoner_server.address]
    table = run(*base, "verify", "virus", "isa", "organism")
    as_json = run(*base, "verify", "virus", "isa", "organism", "--format", "json")
    mermaid = run(*base, "verify", "virus", "causes", "disease_or_syndrome", "--format", "mermaid", "--evidence", "3")

    assert table.returncode == 0, table.stderr
    assert "verdict" in table.stdout
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["subject"]["id"] == "virus"
    assert mermaid.returncode == 0, mermaid.stderr
    assert mermaid.stdout.startswith("flowchart LR")
    assert "e_virus" in mermaid.stdout


def test_cli_stream_writes_jsonl(reasoner_server, tmp_path):
    claims = tmp_path / "claims.jsonl"
    claims.write_text(
        '{"subject": "virus", "predicate": "isa", "object": "organism"}\n'
        "\n"
        '{"subject": "virus", "predicate": "cures", "object": "entity"}\n'
    )
    result = run(sys.executable, "-m", "client.cli", "--target", reasoner_server.address, "stream", str(claims))

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_id = {line["request_id"]: line for line in lines}
    assert sorted(by_id) == ["1", "3"]
    assert by_id["1"]["subject"]["id"] == "virus"
    assert by_id["3"]["error"]["field"] == "claim.predicate"
    assert "1 claims failed" in result.stderr


def test_cli_stream_bad_line_names_file_and_line(reasoner_server, tmp_path):
    claims = tmp_path / "claims.jsonl"
    claims.write_text('{"subject": "virus", "predicate": "isa", "object": "organism"}\n{"subject": "virus"\n')
    result = run(sys.executable, "-m", "client.cli", "--target", reasoner_server.address, "stream", str(claims))
    assert result.returncode == 2
    assert f"{claims}:2: invalid JSON" in result.stderr
