"""Load knowledge-graph data into Neo4j: readers, validation, batched writes, text embeddings.

Library use::

    from neo4j import GraphDatabase
    from graph_loader import GraphLoader, UMLS_PATH
    from graph_loader.text_encoder import TextEncoder

    with GraphDatabase.driver(uri, auth=(user, password)) as driver:
        loader = GraphLoader(driver, TextEncoder(device="cpu"), batch_size=5000)
        summary = loader.load_dataset(UMLS_PATH)          # every split, dataset name "umls"
        print(summary.describe())

- ``GraphLoader(driver, encoder=None, batch_size=5000, database=None, progress=None)``; with
  ``encoder=None`` nothing is embedded.
- ``load_dataset(folder, dataset=None, splits=None, skip_invalid=False, rejects_path=None)``
  loads a data-set folder (train/dev|valid/test triples, entity and relation texts; layout in
  :mod:`graph_loader.readers`). ``dev.tsv`` is stored as split ``valid``.
- ``load_triple_file(path, dataset=None, split="train", delimiter=None, columns=None,
  entity_file=None, relation_file=None, ...)`` loads one TSV or CSV triple file.
- ``load_triples(triples, dataset, split="train", entities=None, relations=None)`` loads triples
  held in memory.
- Each returns a :class:`LoadSummary` (input counts, nodes and relationships created, rejected
  lines, graph version, seconds for reading, embeddings and writes, triples/s).
- Malformed input raises :class:`InvalidInputError` listing every ``file:line: problem`` before
  anything is written, unless ``skip_invalid=True``.
- ``read_dataset``, ``read_triples`` and ``read_negative_triples`` read files without Neo4j,
  e.g. the ``*negatives*`` files of evaluation (``Dataset.negatives("test")``).

What lands in Neo4j is described in :mod:`graph_loader.schema`: ``(:Entity {id, name,
description, embedding})``, one relationship type per relation with ``dataset`` and ``split``
properties, ``(:Relation {type, name, description, embedding})``, and the graph version on
``(:KGMeta)``, bumped once per load call that wrote something.

Command line: ``kgreason-load SOURCE`` or ``python -m graph_loader SOURCE`` (``--help`` lists the
options; connection from ``--uri/--user/--password`` or ``NEO4J_URI``/``NEO4J_USER``/``NEO4J_PASSWORD``).
"""
from graph_loader.datasets import UMLS_PATH
from graph_loader.loader import GraphLoader, LoadSummary
from graph_loader.readers import (
    Dataset,
    EntityText,
    InvalidInputError,
    LineProblem,
    RelationText,
    Triple,
    read_dataset,
    read_negative_triples,
    read_triples,
)

__all__ = [
    "UMLS_PATH",
    "Dataset",
    "EntityText",
    "GraphLoader",
    "InvalidInputError",
    "LineProblem",
    "LoadSummary",
    "RelationText",
    "Triple",
    "read_dataset",
    "read_negative_triples",
    "read_triples",
]
