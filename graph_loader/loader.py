"""Batched, idempotent writes of entities, relations and triples into Neo4j.

A load runs in four steps, each as batched ``UNWIND`` writes in managed transactions (the driver
retries transient errors such as deadlocks):

1. constraints and indexes (:func:`graph_loader.schema.schema_statements`), all idempotent;
2. ``(:Relation)`` nodes, then the ``(:Entity)`` nodes that have a name or description, each
   ``MERGE``\\ d on its unique key, with the text embedding computed batch by batch just before
   the write;
3. edges: ``MERGE`` each endpoint of the batch once by id (creating the entities without text),
   then ``MERGE`` the edges with their dynamic relationship type and their ``dataset`` and
   ``split`` properties;
4. the graph version bump (rule in :meth:`GraphLoader.load`).

``MERGE`` makes every step idempotent: loading the same input twice leaves the same nodes and
edges, and rerunning a load that was killed midway completes it, because a killed load leaves
only whole committed batches.
"""
from __future__ import annotations

import logging
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from graph_loader import schema
from graph_loader.readers import (
    EntityText,
    InvalidInputError,
    LineProblem,
    RelationText,
    Triple,
    read_dataset,
    read_entity_file,
    read_relation_file,
    read_triples,
)

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 5000
# Dimensions of the vector indexes when no encoder is given: those of the default MiniLM encoder.
DEFAULT_EMBEDDING_DIMENSIONS = 384

MERGE_RELATIONS_QUERY = (
    f"UNWIND $rows AS row MERGE (r:{schema.RELATION_LABEL} {{type: row.type}}) SET r += row.properties"
)
MERGE_ENTITIES_QUERY = (
    f"UNWIND $rows AS row MERGE (e:{schema.ENTITY_LABEL} {{id: row.id}}) SET e += row.properties"
)
# $nodes lists each endpoint of the batch once, and rows are [head position, relation, tail
# position] in it. Every endpoint is MERGEd once per batch (creating the entities without text),
# and the edges take their endpoints from that list instead of looking each up again. The
# relation becomes the relationship type through Cypher's dynamic types, so it is a value and
# never part of the query text.
MERGE_EDGES_QUERY = (
    f"UNWIND range(0, size($nodes) - 1) AS i MERGE (n:{schema.ENTITY_LABEL} {{id: $nodes[i]}}) "
    "WITH i, n ORDER BY i WITH collect(n) AS nodes "
    "UNWIND $rows AS row WITH nodes[row[0]] AS h, row[1] AS type, nodes[row[2]] AS t "
    "MERGE (h)-[r:$(type) {dataset: $dataset, split: $split}]->(t)"
)
# The same write under another query text, so that it gets its own plan. Planned on a database
# without relationships, Neo4j 5.26 checks MERGE's pattern with a scan of all relationships
# instead of expanding from the bound head (measured: 5,000 WN18RR edges took 25 s instead of
# 0.3 s). A few edges written with this text first make MERGE_EDGES_QUERY plan against a store
# that has relationships.
FIRST_EDGES_QUERY = "WITH 0 AS first " + MERGE_EDGES_QUERY
FIRST_EDGE_ROWS = 100
RELATIONSHIP_COUNT_QUERY = "MATCH ()-[r]->() RETURN count(r) AS count"


@dataclass
class LoadSummary:
    """Counts and timings of one load.

    ``entities``, ``relations`` and ``triples`` count distinct items in the input; ``*_created``
    count what Neo4j created (zero when the same input is loaded again).
    """

    dataset: str
    entities: int = 0
    relations: int = 0
    triples: int = 0
    triples_per_split: dict[str, int] = field(default_factory=dict)
    nodes_created: int = 0
    relationships_created: int = 0
    properties_set: int = 0
    batches: int = 0
    rejected_lines: int = 0
    rejects_path: Path | None = None
    embedded_texts: int = 0
    graph_version: int = 0
    read_seconds: float = 0.0
    embedding_seconds: float = 0.0
    write_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def triples_per_second(self) -> float:
        """Triples of the input per second of graph writes (reading and embedding excluded)."""
        return self.triples / self.write_seconds if self.write_seconds > 0 else 0.0

    def describe(self) -> str:
        """Format the summary as a few lines for people."""
        splits = ", ".join(f"{split} {count}" for split, count in self.triples_per_split.items())
        lines = [
            f"data set {self.dataset}: {self.entities} entities, {self.relations} relations, "
            f"{self.triples} triples ({splits})",
            f"created {self.nodes_created} nodes and {self.relationships_created} relationships "
            f"in {self.batches} batches; graph version {self.graph_version}",
            f"rejected lines: {self.rejected_lines}"
            + (f" (written to {self.rejects_path})" if self.rejects_path else ""),
            f"seconds: read {self.read_seconds:.2f}, embeddings {self.embedding_seconds:.2f} "
            f"({self.embedded_texts} texts), writes {self.write_seconds:.2f}, total {self.total_seconds:.2f}",
            f"throughput: {self.triples_per_second:,.0f} triples/s of graph writes",
        ]
        return "\n".join(lines)


@dataclass
class GraphInput:
    """Validated input of one load: triples per split, and texts of entities and relations."""

    dataset: str
    triples: dict[str, list[Triple]]
    entities: Mapping[str, EntityText] = field(default_factory=dict)
    relations: Mapping[str, RelationText] = field(default_factory=dict)
    problems: list[LineProblem] = field(default_factory=list)


def entity_text(text: EntityText) -> str | None:
    """Return the text embedded for an entity: its name, then its description when it has one."""
    parts = [part for part in (text.name, text.description) if part]
    return ": ".join(parts) if parts else None


def relation_text(relation: str, text: RelationText | None) -> str:
    """Return the text embedded for a relation: its name (or its type), then its description."""
    name = (text.name if text else None) or relation.strip("_").replace("_", " ")
    if text and text.description:
        return f"{name}: {text.description}"
    return name


class GraphLoader:
    """Load knowledge graphs into Neo4j per :mod:`graph_loader.schema`.

    Args:
        driver: a ``neo4j`` driver.
        encoder: a :class:`graph_loader.text_encoder.TextEncoder`; ``None`` loads no embeddings.
        batch_size: rows per write transaction. Larger batches mean fewer round trips but more
            memory in Neo4j per transaction and more work lost when a load is killed.
        database: Neo4j database name; ``None`` uses the server's default.
        progress: show a tqdm progress bar; ``None`` shows one only when stderr is a terminal.

    Raises (from the load methods):
        InvalidInputError: a line of the input is malformed and ``skip_invalid`` is off; nothing
            of the input was written.
        neo4j.exceptions.Neo4jError: Neo4j rejected a write; batches committed before it stay.
    """

    def __init__(
        self,
        driver,
        encoder=None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        database: str | None = None,
        progress: bool | None = None,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.driver = driver
        self.encoder = encoder
        self.batch_size = batch_size
        self.database = database
        self.progress = sys.stderr.isatty() if progress is None else progress

    # Public entry points -------------------------------------------------------------------

    def load_dataset(
        self,
        folder: str | Path,
        dataset: str | None = None,
        splits: Sequence[str] | None = None,
        skip_invalid: bool = False,
        rejects_path: str | Path | None = None,
    ) -> LoadSummary:
        """Load a data-set folder (layout in :mod:`graph_loader.readers`); negatives are not loaded.

        Args:
            folder: the data-set folder.
            dataset: stored on each edge as ``dataset``; defaults to the folder name.
            splits: splits to load (``train``, ``valid``, ``test``); ``None`` loads all.
            skip_invalid: load the valid lines and write the rejected ones to ``rejects_path``
                instead of rejecting the whole input.
            rejects_path: where rejected lines go; default ``<dataset>.rejects.tsv`` in the
                current directory.
        """
        started = time.perf_counter()
        data = read_dataset(folder, name=dataset, splits=splits)
        graph = GraphInput(data.name, data.triples, data.entities, data.relations, data.problems)
        return self.load(graph, skip_invalid, rejects_path, read_seconds=time.perf_counter() - started)

    def load_triple_file(
        self,
        path: str | Path,
        dataset: str | None = None,
        split: str = schema.DEFAULT_SPLIT,
        delimiter: str | None = None,
        columns: Mapping[str, str] | None = None,
        entity_file: str | Path | None = None,
        relation_file: str | Path | None = None,
        skip_invalid: bool = False,
        rejects_path: str | Path | None = None,
    ) -> LoadSummary:
        """Load one triple file (TSV, or CSV with a header; see :func:`graph_loader.readers.read_triples`).

        Args:
            path: the triple file.
            dataset: stored on each edge; defaults to the file name without its suffix.
            split: stored on each edge (``train`` by default).
            delimiter, columns: as in :func:`graph_loader.readers.read_triples`.
            entity_file: optional ``id<TAB>name[<TAB>description]`` file.
            relation_file: optional ``relation<TAB>name[<TAB>description]`` file.
            skip_invalid, rejects_path: as in :meth:`load_dataset`.
        """
        started = time.perf_counter()
        path = Path(path)
        parsed = read_triples(path, delimiter=delimiter, columns=columns)
        problems = list(parsed.problems)
        entities: dict[str, EntityText] = {}
        relations: dict[str, RelationText] = {}
        if entity_file is not None:
            entities, entity_problems = read_entity_file(entity_file)
            problems.extend(entity_problems)
        if relation_file is not None:
            relations, relation_problems = read_relation_file(relation_file)
            problems.extend(relation_problems)
        graph = GraphInput(dataset or path.stem, {split: parsed.records}, entities, relations, problems)
        return self.load(graph, skip_invalid, rejects_path, read_seconds=time.perf_counter() - started)

    def load_triples(
        self,
        triples: Iterable[Triple | tuple[str, str, str]],
        dataset: str,
        split: str = schema.DEFAULT_SPLIT,
        entities: Mapping[str, EntityText] | None = None,
        relations: Mapping[str, RelationText] | None = None,
    ) -> LoadSummary:
        """Load triples held in memory (for example from the ``LoadTriples`` RPC).

        Raises:
            InvalidInputError: a triple has an empty head, relation or tail (``line`` is its
                1-based position in ``triples``); nothing was written.
        """
        rows: list[Triple] = []
        problems: list[LineProblem] = []
        source = Path(f"<{dataset} triples>")
        for number, item in enumerate(triples, start=1):
            triple = item if isinstance(item, Triple) else Triple(*item)
            empty = [name for name, value in zip(("head", "relation", "tail"), (triple.head, triple.relation, triple.tail)) if not value or not value.strip()]
            if empty:
                problems.append(LineProblem(source, number, f"empty {', '.join(empty)}"))
            else:
                rows.append(Triple(triple.head.strip(), triple.relation.strip(), triple.tail.strip()))
        graph = GraphInput(dataset, {split: rows}, entities or {}, relations or {}, problems)
        return self.load(graph)

    # The load itself ---------------------------------------------------------------------

    def load(
        self,
        graph: GraphInput,
        skip_invalid: bool = False,
        rejects_path: str | Path | None = None,
        read_seconds: float = 0.0,
    ) -> LoadSummary:
        """Write a validated input; the other load methods read their input and call this.

        Graph version rule: when at least one batch of this call committed a change (a node or
        relationship created, or a property set), the version on ``(:KGMeta {key: 'graph'})`` is
        incremented exactly once, in its own transaction after the last batch. A call that
        writes nothing (empty input) leaves it as it is. Loading the same input again sets the
        same properties again, so it bumps the version too.

        NOTE: a load killed midway leaves its committed batches without a version bump, so
        caches keyed by the version can miss them until a rerun of the load bumps it.
        """
        started = time.perf_counter() - read_seconds
        summary = LoadSummary(dataset=graph.dataset, read_seconds=read_seconds)

        if graph.problems:
            if not skip_invalid:
                raise InvalidInputError(graph.problems)
            summary.rejected_lines = len(graph.problems)
            summary.rejects_path = write_rejects(graph.problems, rejects_path or Path(f"{graph.dataset}.rejects.tsv"))
            logger.warning("skipped %d invalid lines of %s; listed in %s", len(graph.problems), graph.dataset, summary.rejects_path)

        triples = {split: _distinct(rows) for split, rows in graph.triples.items()}
        entity_ids = _entity_ids(triples, graph.entities)
        # Entities listed with text go first; the other triple endpoints are MERGEd with the edges.
        listed_entities = sorted(graph.entities)
        relation_types = sorted({t.relation for rows in triples.values() for t in rows} | set(graph.relations))
        summary.entities = len(entity_ids)
        summary.relations = len(relation_types)
        summary.triples_per_split = {split: len(rows) for split, rows in triples.items()}
        summary.triples = sum(summary.triples_per_split.values())

        total_rows = len(listed_entities) + summary.relations + summary.triples
        with self._progress_bar(total_rows, graph.dataset) as bar:
            self.ensure_schema()
            self._write_relations(relation_types, graph.relations, summary, bar)
            self._write_entities(listed_entities, graph.entities, summary, bar)
            first_split = next((split for split, rows in triples.items() if rows), None)
            if first_split is not None and self._relationship_count() == 0:
                first_rows = triples[first_split][:FIRST_EDGE_ROWS]
                self._write_edges(first_rows, graph.dataset, first_split, summary, bar, FIRST_EDGES_QUERY)
                triples[first_split] = triples[first_split][FIRST_EDGE_ROWS:]
            for split, rows in triples.items():
                self._write_edges(rows, graph.dataset, split, summary, bar)

        if summary.nodes_created or summary.relationships_created or summary.properties_set:
            summary.graph_version = self._bump_graph_version()
        else:
            summary.graph_version = self.graph_version()
        summary.total_seconds = time.perf_counter() - started
        logger.info(
            "loaded %s: %d entities, %d triples, %d nodes and %d relationships created in %.2f s "
            "(writes %.2f s, embeddings %.2f s), graph version %d",
            graph.dataset, summary.entities, summary.triples, summary.nodes_created,
            summary.relationships_created, summary.total_seconds, summary.write_seconds,
            summary.embedding_seconds, summary.graph_version,
        )
        return summary

    def ensure_schema(self) -> None:
        """Create the constraints and indexes of :mod:`graph_loader.schema` unless they exist."""
        dimensions = self.encoder.dimensions if self.encoder is not None else DEFAULT_EMBEDDING_DIMENSIONS
        for statement in schema.schema_statements(dimensions):
            self.driver.execute_query(statement, database_=self.database)
        # Index creation is asynchronous; writes are faster once the uniqueness index is online.
        self.driver.execute_query("CALL db.awaitIndexes(300)", database_=self.database)

    def graph_version(self) -> int:
        """Return the current graph version (0 before the first load)."""
        records = self.driver.execute_query(schema.GRAPH_VERSION_QUERY, database_=self.database).records
        return int(records[0]["version"])

    # Steps -------------------------------------------------------------------------------

    def _write_relations(self, relation_types: list[str], texts: Mapping[str, RelationText], summary: LoadSummary, bar) -> None:
        for start in range(0, len(relation_types), self.batch_size):
            batch = relation_types[start : start + self.batch_size]
            rows = []
            for relation in batch:
                text = texts.get(relation)
                properties = {"name": (text.name if text else None) or relation}
                if text and text.description:
                    properties["description"] = text.description
                rows.append({"type": relation, "properties": properties})
            self._embed(rows, [relation_text(relation, texts.get(relation)) for relation in batch], summary)
            self._write(MERGE_RELATIONS_QUERY, {"rows": rows}, summary)
            bar.update(len(batch))

    def _write_entities(self, entity_ids: list[str], texts: Mapping[str, EntityText], summary: LoadSummary, bar) -> None:
        for start in range(0, len(entity_ids), self.batch_size):
            batch = entity_ids[start : start + self.batch_size]
            rows = []
            embed_rows, embed_texts = [], []
            for entity in batch:
                text = texts.get(entity)
                properties = {}
                if text and text.name:
                    properties["name"] = text.name
                if text and text.description:
                    properties["description"] = text.description
                row = {"id": entity, "properties": properties}
                rows.append(row)
                joined = entity_text(text) if text else None
                if joined:
                    embed_rows.append(row)
                    embed_texts.append(joined)
            self._embed(embed_rows, embed_texts, summary)
            self._write(MERGE_ENTITIES_QUERY, {"rows": rows}, summary)
            bar.update(len(batch))

    def _write_edges(
        self, triples: list[Triple], dataset: str, split: str, summary: LoadSummary, bar, query: str = MERGE_EDGES_QUERY
    ) -> None:
        batches = [triples[start : start + self.batch_size] for start in range(0, len(triples), self.batch_size)]
        # The next batch is prepared in a thread while Neo4j writes the current one.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare-edges") as preparer:
            prepared = [preparer.submit(_indexed_rows, batches[0])] if batches else []
            for index, batch in enumerate(batches):
                if index + 1 < len(batches):
                    prepared.append(preparer.submit(_indexed_rows, batches[index + 1]))
                nodes, rows = prepared[index].result()
                prepared[index] = None
                self._write(query, {"nodes": nodes, "rows": rows, "dataset": dataset, "split": split}, summary)
                bar.update(len(batch))

    def _embed(self, rows: list[dict], texts: list[str], summary: LoadSummary) -> None:
        """Add ``embedding`` (a list of floats) to each row's properties."""
        if self.encoder is None or not texts:
            return
        started = time.perf_counter()
        vectors = self.encoder.encode(texts).tolist()
        for row, vector in zip(rows, vectors):
            row["properties"]["embedding"] = vector
        summary.embedding_seconds += time.perf_counter() - started
        summary.embedded_texts += len(texts)

    def _write(self, query: str, parameters: dict, summary: LoadSummary) -> None:
        started = time.perf_counter()
        with self.driver.session(database=self.database) as session:
            counters = session.execute_write(_run_write, query, parameters)
        summary.write_seconds += time.perf_counter() - started
        summary.batches += 1
        summary.nodes_created += counters.nodes_created
        summary.relationships_created += counters.relationships_created
        summary.properties_set += counters.properties_set

    def _relationship_count(self) -> int:
        records = self.driver.execute_query(RELATIONSHIP_COUNT_QUERY, database_=self.database).records
        return int(records[0]["count"])

    def _bump_graph_version(self) -> int:
        records = self.driver.execute_query(schema.BUMP_GRAPH_VERSION_QUERY, database_=self.database).records
        return int(records[0]["version"])

    def _progress_bar(self, total: int, dataset: str):
        if self.progress:
            from tqdm import tqdm

            return tqdm(total=total, desc=f"loading {dataset}", unit="row", file=sys.stderr)
        return _NoProgress()


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    def update(self, count: int) -> None:
        return None


def _run_write(tx, query: str, parameters: dict):
    return tx.run(query, parameters).consume().counters


def _indexed_rows(triples: Sequence[Triple]) -> tuple[list[str], list[list]]:
    """Return the distinct endpoints of `triples` and each triple as [head position, relation, tail position]."""
    positions: dict[str, int] = {}
    rows = []
    for head, relation, tail in triples:
        head_position = positions.setdefault(head, len(positions))
        tail_position = positions.setdefault(tail, len(positions))
        rows.append([head_position, relation, tail_position])
    return list(positions), rows


def _distinct(triples: list[Triple]) -> list[Triple]:
    """Return the distinct triples sorted by head; sorted, WN18RR's edges wrote in 5.8 s instead of 6.4 s."""
    return sorted(set(triples))


def _entity_ids(triples: Mapping[str, list[Triple]], entities: Mapping[str, EntityText]) -> list[str]:
    """Return every entity of the input (with text or a triple endpoint) once, sorted by id."""
    ids = set(entities)
    for rows in triples.values():
        for triple in rows:
            ids.add(triple.head)
            ids.add(triple.tail)
    return sorted(ids)


def write_rejects(problems: Sequence[LineProblem], path: str | Path) -> Path:
    """Write rejected lines as TSV (file, line, problem, text) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("file\tline\tproblem\ttext\n")
        for problem in problems:
            text = problem.text.replace("\t", "\\t")
            handle.write(f"{problem.path}\t{problem.line}\t{problem.message}\t{text}\n")
    return path.resolve()
