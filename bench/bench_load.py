"""Benchmark: load WN18RR's train split with graph_loader and with Neo4j's LOAD CSV, side by side.

Every run starts from an empty database with graph_loader's constraints and indexes in place.
Each method writes the same graph: it MERGEs each entity by id and each edge with its dynamic
relationship type and ``dataset``/``split`` properties. The run then checks the node and edge
counts against the file. Runs
of the three methods are interleaved so that load from other programs hits them alike, and each
run starts with another method, so that each takes its turn on a JVM that is still warming up.
The report gives every run and the medians.

- ``graph_loader``: ``GraphLoader.load_triple_file`` without embeddings. It reads and
  validates the file in Python, then sends batches over Bolt that MERGE each endpoint of the
  batch once and then the edges.
- ``LOAD CSV, one pass``: ``MERGE`` head, tail and edge per row, ``CALL { ... } IN TRANSACTIONS``.
- ``LOAD CSV, two passes``: all entities first, then edges between matched endpoints.

Both LOAD CSV variants first write 100 rows under another query text, as graph_loader does.
Their main statement is then not planned on a store without relationships. Planned there,
Neo4j 5.26 checks each MERGE with a scan of all relationships: one pass over WN18RR had written
50,000 of the 86,835 edges after 12 minutes. LOAD CSV reads the file on the server, and the
embedded launcher lets it read only below ``HOME/import``, so the file is copied there and named
``file:///wn18rr-train.tsv``.

Text embeddings are timed apart from the graph writes, on a sample of entity texts.

    NEO4J_PASSWORD=... python bench/bench_load.py --home .kgreason/bench-load --port 7689
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from graph_loader import GraphLoader, schema  # noqa: E402
from graph_loader.readers import read_text_table, read_triples  # noqa: E402

NEO4JCTL = REPO_ROOT / "deploy" / "neo4j-embedded" / "neo4jctl.py"
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "wn18rr"
WARMUP_ROWS = 100

ENTITY_PASS = (
    "LOAD CSV FROM $url AS row FIELDTERMINATOR '\\t' "
    "CALL (row) { MERGE (:Entity {id: row[0]}) MERGE (:Entity {id: row[2]}) } IN TRANSACTIONS OF $batch ROWS"
)
EDGE_BODY = "MERGE (h)-[r:$(row[1]) {dataset: $dataset, split: $split}]->(t)"
EDGE_PASS = (
    "LOAD CSV FROM $url AS row FIELDTERMINATOR '\\t' "
    "CALL (row) { MATCH (h:Entity {id: row[0]}) MATCH (t:Entity {id: row[2]}) "
    + EDGE_BODY + " } IN TRANSACTIONS OF $batch ROWS"
)
ONE_PASS = (
    "LOAD CSV FROM $url AS row FIELDTERMINATOR '\\t' "
    "CALL (row) { MERGE (h:Entity {id: row[0]}) MERGE (t:Entity {id: row[2]}) "
    + EDGE_BODY + " } IN TRANSACTIONS OF $batch ROWS"
)
WARMUP = (
    "LOAD CSV FROM $url AS row FIELDTERMINATOR '\\t' WITH row LIMIT $limit "
    "MERGE (h:Entity {id: row[0]}) MERGE (t:Entity {id: row[2]}) " + EDGE_BODY
)


def start_neo4j(home: Path, port: int) -> str:
    result = subprocess.run(
        [sys.executable, str(NEO4JCTL), "start", "--home", str(home), "--port", str(port)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"could not start Neo4j in {home}:\n{result.stderr}")
    return result.stdout.strip()


def clear_graph(driver) -> None:
    """Delete all nodes; the loader's constraints and indexes stay, as in a database in use."""
    with driver.session() as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
    for statement in schema.schema_statements(384):
        driver.execute_query(statement)
    driver.execute_query("CALL db.awaitIndexes(300)")


def graph_counts(driver) -> tuple[int, int]:
    entities = driver.execute_query("MATCH (e:Entity) RETURN count(e) AS n").records[0]["n"]
    edges = driver.execute_query("MATCH (:Entity)-[r]->(:Entity) RETURN count(r) AS n").records[0]["n"]
    return entities, edges


def run_graph_loader(driver, path: Path, batch_size: int) -> float:
    started = time.perf_counter()
    GraphLoader(driver, None, batch_size=batch_size, progress=False).load_triple_file(path, dataset="wn18rr")
    return time.perf_counter() - started


def run_load_csv(driver, url: str, batch_size: int, statements: list[str]) -> float:
    parameters = {"url": url, "batch": batch_size, "dataset": "wn18rr", "split": "train", "limit": WARMUP_ROWS}
    started = time.perf_counter()
    driver.execute_query(WARMUP, parameters)
    for statement in statements:
        # CALL { ... } IN TRANSACTIONS runs only in an auto-commit transaction.
        with driver.session() as session:
            session.run(statement, parameters).consume()
    return time.perf_counter() - started


def time_embeddings(data: Path, sample: int, device: str) -> str:
    from graph_loader.text_encoder import TextEncoder

    texts = [values[1] for values in read_text_table(data / "entity2text.tsv").records]
    encoder = TextEncoder(device=device)
    sample_texts = texts[:sample]
    encoder.encode(sample_texts[: encoder.batch_size])
    started = time.perf_counter()
    encoder.encode(sample_texts)
    seconds = time.perf_counter() - started
    rate = len(sample_texts) / seconds
    return (
        f"embeddings ({encoder.name}, {device}, batch {encoder.batch_size}): {len(sample_texts)} entity texts "
        f"in {seconds:.1f} s = {rate:,.0f} texts/s; all {len(texts):,} entities: about {len(texts) / rate:,.0f} s (estimate)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="WN18RR folder (default: ../shared/data/wn18rr)")
    parser.add_argument("--home", type=Path, default=REPO_ROOT / ".kgreason" / "bench-load",
                        help="embedded Neo4j home, started (or reused) for the benchmark")
    parser.add_argument("--port", type=int, default=7689, help="Bolt port of that Neo4j (default: 7689)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each method (default: 3)")
    parser.add_argument("--batch-size", type=int, default=5000, help="rows per transaction for every method (default: 5000)")
    parser.add_argument("--embedding-sample", type=int, default=2000,
                        help="entity texts encoded for the embedding figure; 0 skips it (default: 2000)")
    parser.add_argument("--device", default="cpu", help="text encoder device: cpu or cuda:N (default: cpu)")
    parser.add_argument("--skip-one-pass", action="store_true", help="skip the one-pass LOAD CSV method")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from neo4j import GraphDatabase

    train = args.data / "train.tsv"
    parsed = read_triples(train)
    entities = len({t.head for t in parsed.records} | {t.tail for t in parsed.records})
    triples = len(set(parsed.records))
    uri = start_neo4j(args.home, args.port)
    import_dir = args.home.resolve() / "import"
    import_dir.mkdir(parents=True, exist_ok=True)
    server_copy = import_dir / "wn18rr-train.tsv"
    shutil.copyfile(train, server_copy)
    url = "file:///" + server_copy.name

    methods = {
        "graph_loader": lambda driver: run_graph_loader(driver, train, args.batch_size),
        "LOAD CSV, two passes": lambda driver: run_load_csv(driver, url, args.batch_size, [ENTITY_PASS, EDGE_PASS]),
    }
    if not args.skip_one_pass:
        methods["LOAD CSV, one pass"] = lambda driver: run_load_csv(driver, url, args.batch_size, [ONE_PASS])

    print(f"WN18RR train: {triples:,} triples, {entities:,} entities; batch {args.batch_size} rows; "
          f"Neo4j {uri}; {os.cpu_count()} CPUs")
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    with GraphDatabase.driver(uri, auth=("neo4j", os.environ.get("NEO4J_PASSWORD", ""))) as driver:
        names = list(methods)
        for run in range(1, args.runs + 1):
            # Each run starts with another method. Right after Neo4j started, the first load of
            # the 86,835 triples took about twice as long as later ones, whichever method ran it.
            shift = (run - 1) % len(names)
            for name in names[shift:] + names[:shift]:
                method = methods[name]
                clear_graph(driver)
                elapsed = method(driver)
                counts = graph_counts(driver)
                if counts != (entities, triples):
                    raise SystemExit(f"{name} wrote {counts} (entities, edges), expected {(entities, triples)}")
                seconds[name].append(elapsed)
                print(f"run {run}  {name:22s} {elapsed:7.2f} s  {triples / elapsed:9,.0f} triples/s", flush=True)
        clear_graph(driver)

    print("\nmedians")
    loader_median = statistics.median(seconds["graph_loader"])
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"  {name:22s} {median:7.2f} s  {triples / median:9,.0f} triples/s  "
              f"graph_loader / this = {median / loader_median:.2f}x")
    if args.embedding_sample:
        print(time_embeddings(args.data, args.embedding_sample, args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
