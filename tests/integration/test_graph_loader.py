"""The graph loader against a real Neo4j: counts match the files, loads are idempotent and safe."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graph_loader import GraphLoader, InvalidInputError, read_dataset
from graph_loader.datasets import UMLS_PATH
from graph_loader.loader import FIRST_EDGE_ROWS
from graph_loader.readers import EntityText, Triple
from tests.conftest import REPO_ROOT, clear_database

pytestmark = pytest.mark.neo4j

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
INJECTION_RELATION = "x`]->() DETACH DELETE n //"


@pytest.fixture
def empty_graph(neo4j_driver):
    clear_database(neo4j_driver)
    return neo4j_driver


@pytest.fixture(scope="module")
def text_encoder():
    from graph_loader.text_encoder import TextEncoder

    return TextEncoder(device="cpu")


def scalar(driver, query: str, **parameters):
    return driver.execute_query(query, parameters).records[0][0]


def graph_counts(driver) -> dict:
    return {
        "entities": scalar(driver, "MATCH (e:Entity) RETURN count(e)"),
        "relations": scalar(driver, "MATCH (r:Relation) RETURN count(r)"),
        "edges": scalar(driver, "MATCH (:Entity)-[r]->(:Entity) RETURN count(r)"),
    }


def edges_per_split(driver, dataset: str) -> dict[str, int]:
    records = driver.execute_query(
        "MATCH ()-[r]->() WHERE r.dataset = $dataset RETURN r.split AS split, count(r) AS n", dataset=dataset
    ).records
    return {record["split"]: record["n"] for record in records}


def expected_counts(folder: Path) -> tuple[int, dict[str, int], int]:
    """Distinct entities, distinct triples per split and distinct relations, counted from the files."""
    dataset = read_dataset(folder)
    entities = set(dataset.entities)
    relations = set(dataset.relations)
    per_split = {}
    for split, triples in dataset.triples.items():
        per_split[split] = len(set(triples))
        for triple in triples:
            entities.update((triple.head, triple.tail))
            relations.add(triple.relation)
    return len(entities), per_split, len(relations)


def run_cli(server, *arguments: str, **popen_options):
    command = [sys.executable, "-m", "graph_loader", *arguments, "--log-level", "WARNING"]
    env = {**os.environ, **server.environment()}
    return subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO_ROOT, **popen_options)


def test_umls_counts_match_files(empty_graph, text_encoder):
    entities, per_split, relations = expected_counts(UMLS_PATH)

    summary = GraphLoader(empty_graph, text_encoder).load_dataset(UMLS_PATH)

    assert summary.entities == entities
    assert summary.triples_per_split == per_split
    assert graph_counts(empty_graph) == {"entities": entities, "relations": relations, "edges": sum(per_split.values())}
    assert edges_per_split(empty_graph, "umls") == per_split
    assert scalar(empty_graph, "MATCH (e:Entity) WHERE size(e.embedding) = 384 RETURN count(e)") == entities
    assert scalar(empty_graph, "MATCH (r:Relation) WHERE size(r.embedding) = 384 RETURN count(r)") == relations
    assert scalar(empty_graph, "MATCH (e:Entity {id: 'virus'}) RETURN e.name") == "virus"
    assert summary.graph_version == 1
    assert summary.embedding_seconds > 0


def test_umls_second_load_changes_no_counts(empty_graph):
    loader = GraphLoader(empty_graph, batch_size=1000)
    first = loader.load_dataset(UMLS_PATH)
    counts = graph_counts(empty_graph)

    second = loader.load_dataset(UMLS_PATH)

    assert graph_counts(empty_graph) == counts
    assert second.nodes_created == 0
    assert second.relationships_created == 0
    assert first.relationships_created == counts["edges"]
    assert second.graph_version == first.graph_version + 1


def test_empty_load_keeps_graph_version(empty_graph):
    loader = GraphLoader(empty_graph)
    loader.load_triples([("a", "r", "b")], dataset="tiny")

    summary = loader.load_triples([], dataset="tiny")

    assert summary.graph_version == 1
    assert loader.graph_version() == 1


@pytest.mark.skipif(not (SHARED_DATA / "codex-s").is_dir(), reason="the shared CoDEx-S copy is not present")
def test_codex_counts_match_files(empty_graph, neo4j_server):
    folder = SHARED_DATA / "codex-s"
    entities, per_split, relations = expected_counts(folder)

    result = run_cli(neo4j_server, str(folder), "--no-embeddings")

    assert result.returncode == 0, result.stderr
    assert graph_counts(empty_graph) == {"entities": entities, "relations": relations, "edges": sum(per_split.values())}
    assert edges_per_split(empty_graph, "codex-s") == per_split
    assert scalar(empty_graph, "MATCH (e:Entity {id: 'Q1001'}) RETURN e.name") == "human"
    assert "triples/s" in result.stdout


def test_relation_name_is_not_cypher(empty_graph):
    loader = GraphLoader(empty_graph)
    loader.load_dataset(UMLS_PATH)
    before = graph_counts(empty_graph)

    loader.load_triples([("virus", INJECTION_RELATION, "alga")], dataset="attack")

    after = graph_counts(empty_graph)
    assert after["entities"] == before["entities"]
    assert after["edges"] == before["edges"] + 1
    assert after["relations"] == before["relations"] + 1
    types = empty_graph.execute_query(
        "MATCH (:Entity {id: 'virus'})-[r]->(:Entity {id: 'alga'}) WHERE r.dataset = 'attack' RETURN type(r) AS type"
    ).records
    assert [record["type"] for record in types] == [INJECTION_RELATION]


def test_invalid_input_writes_nothing(empty_graph, tmp_path):
    path = tmp_path / "facts.tsv"
    path.write_bytes(b"a\tr\tb\nc\tr\n\tr\td\ne\tr\tf\xff\n")

    with pytest.raises(InvalidInputError) as raised:
        GraphLoader(empty_graph).load_triple_file(path)

    assert [problem.line for problem in raised.value.problems] == [2, 3, 4]
    assert graph_counts(empty_graph) == {"entities": 0, "relations": 0, "edges": 0}


def test_cli_invalid_lines_exit_code(empty_graph, neo4j_server, tmp_path):
    path = tmp_path / "facts.tsv"
    path.write_bytes(b"a\tr\tb\nc\tr\n\tr\td\ne\tr\tf\n")

    result = run_cli(neo4j_server, str(path), "--no-embeddings")

    assert result.returncode == 2
    assert f"{path}:2: expected 3 tab-separated columns (head, relation, tail), found 2" in result.stderr
    assert f"{path}:3: empty head" in result.stderr
    assert graph_counts(empty_graph)["edges"] == 0


def test_cli_skip_invalid_writes_rejects(empty_graph, neo4j_server, tmp_path):
    path = tmp_path / "facts.tsv"
    rejects = tmp_path / "rejects.tsv"
    path.write_bytes(b"a\tr\tb\nc\tr\n\tr\td\ne\tr\tf\n")

    result = run_cli(
        neo4j_server, str(path), "--no-embeddings", "--skip-invalid", "--rejects", str(rejects)
    )

    assert result.returncode == 0, result.stderr
    assert str(rejects) in result.stdout
    assert graph_counts(empty_graph)["edges"] == 2
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "file\tline\tproblem\ttext"
    assert lines[1].startswith(f"{path}\t2\texpected 3 tab-separated columns")
    assert lines[2].startswith(f"{path}\t3\tempty head")
    assert len(lines) == 3


def test_cli_csv_with_column_mapping(empty_graph, neo4j_server, tmp_path):
    path = tmp_path / "facts.csv"
    path.write_text("subject,predicate,object\naspirin,treats,headache\naspirin,\"may, cause\",nausea\n")

    result = run_cli(
        neo4j_server, str(path), "--no-embeddings", "--columns",
        "head=subject,relation=predicate,tail=object", "--dataset", "drugs",
    )

    assert result.returncode == 0, result.stderr
    records = empty_graph.execute_query(
        "MATCH (h:Entity)-[r]->(t:Entity) RETURN h.id AS head, type(r) AS relation, t.id AS tail, r.split AS split "
        "ORDER BY relation"
    ).records
    assert [(r["head"], r["relation"], r["tail"], r["split"]) for r in records] == [
        ("aspirin", "may, cause", "nausea", "train"),
        ("aspirin", "treats", "headache", "train"),
    ]


def test_utf8_names_round_trip(empty_graph, tmp_path):
    triples = tmp_path / "myth.tsv"
    entities = tmp_path / "entities.tsv"
    triples.write_text("ζεύς\tπατέρας_του\tαθηνά\n天照\t姉\t須佐之男\n", encoding="utf-8")
    entities.write_text("ζεύς\tΖεύς\tβασιλιάς των θεών\n天照\t天照大御神\t太陽の女神\n", encoding="utf-8")

    GraphLoader(empty_graph).load_triple_file(triples, dataset="myth", entity_file=entities)

    names = dict(empty_graph.execute_query("MATCH (e:Entity) WHERE e.name IS NOT NULL RETURN e.id, e.name").records)
    assert names == {"ζεύς": "Ζεύς", "天照": "天照大御神"}
    assert scalar(empty_graph, "MATCH (e:Entity {id: '天照'}) RETURN e.description") == "太陽の女神"
    relation_types = {record[0] for record in empty_graph.execute_query("MATCH ()-[r]->() RETURN type(r)").records}
    assert relation_types == {"πατέρας_του", "姉"}
    full_text = empty_graph.execute_query(
        "CALL db.index.fulltext.queryNodes('entity_name_fulltext', $query) YIELD node RETURN node.id AS id",
        query="Ζεύς",
    ).records
    assert [record["id"] for record in full_text] == ["ζεύς"]


def test_load_triples_rejects_empty_field(empty_graph):
    with pytest.raises(InvalidInputError) as raised:
        GraphLoader(empty_graph).load_triples([Triple("a", "r", "b"), ("a", " ", "b")], dataset="online")

    assert [problem.line for problem in raised.value.problems] == [2]
    assert "empty relation" in str(raised.value)
    assert graph_counts(empty_graph)["edges"] == 0


def test_entities_without_text_have_no_embedding(empty_graph, text_encoder):
    loader = GraphLoader(empty_graph, text_encoder)

    loader.load_triples(
        [("aspirin", "treats", "headache")], dataset="drugs", entities={"aspirin": EntityText("aspirin", None)}
    )

    embedded = dict(empty_graph.execute_query("MATCH (e:Entity) RETURN e.id, e.embedding IS NOT NULL").records)
    assert embedded == {"aspirin": True, "headache": False}


def test_killed_load_reruns_to_complete_graph(empty_graph, neo4j_server, tmp_path):
    batch_size = 200
    path = tmp_path / "generated.tsv"
    relations = [f"rel_{index}" for index in range(7)]
    lines = [f"e{index % 20000}\t{relations[index % 7]}\te{(index * 7919 + 1) % 20000}" for index in range(60000)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = {"entities": 20000, "relations": 7, "edges": len(set(lines))}
    command = [sys.executable, "-m", "graph_loader", str(path), "--no-embeddings", "--batch-size", str(batch_size),
               "--log-level", "WARNING"]
    env = {**os.environ, **neo4j_server.environment()}

    process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while graph_counts(empty_graph)["edges"] < FIRST_EDGE_ROWS + 3 * batch_size:
            assert process.poll() is None, "the load ended before it could be killed; generate a larger file"
            assert time.monotonic() < deadline, "no edge batch committed within 300 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()

    killed = graph_counts(empty_graph)
    assert 0 < killed["edges"] < expected["edges"]
    assert (killed["edges"] - FIRST_EDGE_ROWS) % batch_size == 0
    assert killed["entities"] <= expected["entities"]

    result = run_cli(neo4j_server, str(path), "--no-embeddings", "--batch-size", str(batch_size))

    assert result.returncode == 0, result.stderr
    assert graph_counts(empty_graph) == expected
