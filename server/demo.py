"""The main job of ``make demo``: the whole product on the bundled UMLS graph, end to end.

Stages, each announced on stderr as it starts:

1. start the embedded Neo4j (``.kgreason/neo4j``, Bolt on 127.0.0.1:``NEO4J_PORT``, default 7687),
   or use ``NEO4J_URI`` when it is set;
2. load UMLS with graph_loader, text embeddings included, unless it is loaded already;
3. train a model on it, or reuse the one in ``.kgreason/models/umls-demo`` when it was trained
   from the same data, code and settings (a fingerprint of all three is stored beside it);
4. start the gRPC server as its own process and wait until health reports SERVING;
5. verify sample claims through the gRPC client: true claims from the test split, corrupted
   ones that no split contains, and one with context text. Print a table of verdicts,
   probabilities and each claim's top evidence path;
6. stop the server, then Neo4j if this run started it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = REPO_ROOT / ".kgreason"
NEO4JCTL = REPO_ROOT / "deploy" / "neo4j-embedded" / "neo4jctl.py"
DEFAULT_MODEL_DIR = STATE_DIR / "models" / "umls-demo"
DATASET = "umls"
# Files whose content decides whether a stored model can be reused.
FINGERPRINT_SOURCES = ("server/model", "server/training", "graph_loader/text_encoder.py")
# Training budget of the demo model; the full-length runs behind docs/results.md train longer.
DEMO_EPOCHS = 5
DEMO_TIME_LIMIT_MINUTES = 8

logger = logging.getLogger("kgreason.demo")


@dataclass(frozen=True)
class SampleClaim:
    subject: str
    predicate: str
    object: str
    expected: str  # "true" for a test-split triple, "false" for a corruption
    context_text: str = ""


def stage(number: int, text: str) -> None:
    print(f"\n[{number}/6] {text}", file=sys.stderr, flush=True)


def start_neo4j() -> tuple[str, bool]:
    """Return the Bolt URI and whether this run started the embedded Neo4j."""
    if os.environ.get("NEO4J_URI"):
        print(f"      using NEO4J_URI={os.environ['NEO4J_URI']}", file=sys.stderr)
        return os.environ["NEO4J_URI"], False
    port = os.environ.get("NEO4J_PORT", "7687")
    command = [sys.executable, str(NEO4JCTL), "start", "--home", str(STATE_DIR / "neo4j"), "--port", port]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"demo: could not start Neo4j:\n{result.stderr}")
    uri = result.stdout.strip()
    print(f"      Neo4j ready at {uri}", file=sys.stderr)
    return uri, True


def stop_neo4j() -> None:
    subprocess.run([sys.executable, str(NEO4JCTL), "stop", "--home", str(STATE_DIR / "neo4j")], check=False)


def load_umls(driver) -> None:
    """Load the bundled UMLS graph unless every one of its triples is stored already."""
    from graph_loader import UMLS_PATH, GraphLoader, read_dataset
    from graph_loader.text_encoder import TextEncoder

    dataset = read_dataset(UMLS_PATH)
    expected = sum(len(set(triples)) for triples in dataset.triples.values())
    stored = driver.execute_query(
        "MATCH ()-[r]->() WHERE r.dataset = $dataset RETURN count(r) AS n", dataset=DATASET
    ).records[0]["n"]
    if stored == expected:
        print(f"      UMLS already loaded ({stored} triples); skipping", file=sys.stderr)
        return
    summary = GraphLoader(driver, TextEncoder(device="cpu")).load_dataset(UMLS_PATH, dataset=DATASET)
    print("      " + summary.describe().replace("\n", "\n      "), file=sys.stderr)


def fingerprint(training_arguments: list[str]) -> str:
    """Hash the UMLS files, the model and training code, and the training arguments."""
    from graph_loader import UMLS_PATH

    digest = hashlib.sha256(json.dumps(training_arguments).encode())
    paths = sorted(Path(UMLS_PATH).glob("*.tsv"))
    for source in FINGERPRINT_SOURCES:
        root = REPO_ROOT / source
        paths += sorted(root.rglob("*.py")) if root.is_dir() else [root]
    for path in paths:
        digest.update(str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def train_or_reuse(model_dir: Path, neo4j_env: dict[str, str], retrain: bool) -> None:
    from graph_loader import UMLS_PATH

    settings = ["--device", "cpu", "--seed", "0", "--epochs", str(DEMO_EPOCHS), "--time-limit", str(DEMO_TIME_LIMIT_MINUTES)]
    arguments = ["train", "--dataset", str(UMLS_PATH), "--out", str(model_dir), *settings]
    expected_fingerprint = fingerprint(settings)
    stamp = model_dir / "demo-fingerprint.txt"
    if not retrain and stamp.exists() and stamp.read_text().strip() == expected_fingerprint and (model_dir / "config.json").exists():
        print(f"      reusing the model in {model_dir} (same data, code and settings)", file=sys.stderr)
        return
    print(f"      training into {model_dir}; this takes about 5 to 15 minutes on two CPU cores", file=sys.stderr)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "server.training.cli", *arguments], env=neo4j_env)
    if result.returncode != 0:
        raise SystemExit(f"demo: training failed with exit code {result.returncode}")
    stamp.write_text(expected_fingerprint + "\n")
    print(f"      trained in {time.monotonic() - started:.0f} s", file=sys.stderr)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model_dir: Path, uri: str, password: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    target = f"127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "server", "--listen", target, "--model-dir", str(model_dir),
        "--neo4j-uri", uri, "--metrics-port", str(free_port()),
    ]
    env = {**os.environ, "KGREASON_NEO4J_PASSWORD": password}
    log = open(log_path, "ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    log.close()
    wait_until_serving(process, target, log_path)
    print(f"      server ready at {target} (pid {process.pid}, log {log_path})", file=sys.stderr)
    return process, target


def wait_until_serving(process: subprocess.Popen, target: str, log_path: Path, timeout: float = 180.0) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"demo: the server exited with code {process.returncode}; see {log_path}")
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"demo: the server did not report SERVING within {timeout:.0f} s; see {log_path}")


def sample_claims(count: int = 4, seed: int = 7) -> list[SampleClaim]:
    """Pick true claims from the UMLS test split and corrupt their objects into false ones.

    A corruption is kept only when no split of UMLS contains it, so "false" means "not a known
    fact of the graph".
    """
    from graph_loader import UMLS_PATH, read_dataset

    dataset = read_dataset(UMLS_PATH)
    known = {(t.head, t.relation, t.tail) for triples in dataset.triples.values() for t in triples}
    entities = sorted({entity for head, _relation, tail in known for entity in (head, tail)})
    rng = random.Random(seed)
    test = sorted({(t.head, t.relation, t.tail) for t in dataset.triples["test"]})
    chosen = rng.sample(test, count)

    claims = [SampleClaim(head, relation, tail, "true") for head, relation, tail in chosen]
    for head, relation, _tail in chosen:
        while True:
            candidate = rng.choice(entities)
            if (head, relation, candidate) not in known:
                claims.append(SampleClaim(head, relation, candidate, "false"))
                break
    head, relation, tail = chosen[0]
    claims.append(SampleClaim(
        head, relation, tail, "true",
        context_text="Reported in a clinical review of the relation between these two concept types.",
    ))
    return claims


def path_text(path) -> str:
    from client.render import path_text as render_path

    return render_path(path)


def verify_and_print(target: str, claims: list[SampleClaim]) -> dict[str, int]:
    from client import ReasonerClient
    from kgreason.v1 import reasoner_pb2

    rows = []
    agreement = {"true_supported": 0, "true": 0, "false_refuted": 0, "false": 0}
    with ReasonerClient(target, timeout=60) as reasoner:
        for claim in claims:
            response = reasoner.verify(claim.subject, claim.predicate, claim.object, claim.context_text)
            verdict = reasoner_pb2.Verdict.Name(response.verdict)
            agreement[claim.expected] += 1
            if claim.expected == "true" and verdict == "SUPPORTED":
                agreement["true_supported"] += 1
            if claim.expected == "false" and verdict == "REFUTED":
                agreement["false_refuted"] += 1
            evidence = path_text(response.evidence[0]) if response.evidence else "(no path)"
            label = f"{claim.subject} {claim.predicate} {claim.object}"
            if claim.context_text:
                label += " [+context]"
            rows.append((label, claim.expected, verdict, f"{response.probability:.3f}", evidence))

    headers = ("claim", "known", "verdict", "p", "top evidence path")
    widths = [max(len(str(row[i])) for row in rows + [headers]) for i in range(4)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(headers[:4], widths)) + "  " + headers[4])
    print("  ".join("-" * w for w in widths) + "  " + "-" * len(headers[4]))
    for row in rows:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4])
    print()
    print(
        f"true claims SUPPORTED: {agreement['true_supported']}/{agreement['true']}; "
        f"corrupted claims REFUTED: {agreement['false_refuted']}/{agreement['false']}"
    )
    return agreement


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR, help="model folder (default: %(default)s)")
    parser.add_argument("--retrain", action="store_true", help="train even when a matching model exists")
    parser.add_argument("--keep-neo4j", action="store_true", help="leave the embedded Neo4j running at the end")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("DGLBACKEND", "pytorch")
    STATE_DIR.mkdir(exist_ok=True)
    started = time.monotonic()

    password = os.environ.get("NEO4J_PASSWORD", "")
    user = os.environ.get("NEO4J_USER", "neo4j")
    stage(1, "Starting Neo4j")
    uri, started_neo4j = start_neo4j()
    server = None
    try:
        from neo4j import GraphDatabase

        stage(2, "Loading the bundled UMLS graph with graph_loader")
        # notifications_min_severity="OFF": the first count query names a property that a fresh
        # database has never stored, which Neo4j reports as a warning.
        with GraphDatabase.driver(uri, auth=(user, password), notifications_min_severity="OFF") as driver:
            load_umls(driver)

        stage(3, "Training a model on UMLS, or reusing a matching one")
        neo4j_env = {**os.environ, "NEO4J_URI": uri, "NEO4J_USER": user, "NEO4J_PASSWORD": password}
        train_or_reuse(args.model_dir, neo4j_env, args.retrain)

        stage(4, "Starting the gRPC server")
        server, target = start_server(args.model_dir, uri, password, STATE_DIR / "demo-server.log")

        stage(5, "Verifying sample claims through the gRPC client")
        verify_and_print(target, sample_claims())
    finally:
        stage(6, "Stopping")
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        if started_neo4j and not args.keep_neo4j:
            stop_neo4j()
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
