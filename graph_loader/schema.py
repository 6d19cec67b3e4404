"""The Neo4j schema kgreason reads and writes.

- ``(:Entity {id, name, description, embedding})``: unique ``id``; full-text index on ``name``;
  vector index on ``embedding`` (one float per text-encoder dimension, cosine similarity).
- One relationship type per KG relation, named exactly as the relation id in the data
  (``(:Entity)-[:treats]->(:Entity)``). Types are written with Cypher's dynamic types
  (``$(...)``), never spliced into query text, so any relation id is safe. Each edge stores the
  ``dataset`` and ``split`` it was loaded from, which lets training and evaluation hold out dev
  and test edges.
- ``(:Relation {type, name, description, embedding})`` describes each relationship type.
- ``(:KGMeta {key: 'graph', version})``: the graph version, incremented by every committed load;
  caches keyed by it never serve stale neighbourhoods.
"""
from __future__ import annotations

ENTITY_LABEL = "Entity"
RELATION_LABEL = "Relation"
META_LABEL = "KGMeta"
META_KEY = "graph"

ENTITY_ID_CONSTRAINT = "entity_id_unique"
RELATION_TYPE_CONSTRAINT = "relation_type_unique"
ENTITY_NAME_FULLTEXT_INDEX = "entity_name_fulltext"
ENTITY_EMBEDDING_VECTOR_INDEX = "entity_embedding_vector"
RELATION_EMBEDDING_VECTOR_INDEX = "relation_embedding_vector"
META_KEY_CONSTRAINT = "kgmeta_key_unique"

# Split stored on edges loaded outside a benchmark data set (online loads, plain triple files).
DEFAULT_SPLIT = "train"
SPLITS = ("train", "valid", "test")


def schema_statements(embedding_dimensions: int) -> list[str]:
    """Cypher statements that create the constraints and indexes; each is idempotent."""
    return [
        f"CREATE CONSTRAINT {ENTITY_ID_CONSTRAINT} IF NOT EXISTS "
        f"FOR (e:{ENTITY_LABEL}) REQUIRE e.id IS UNIQUE",
        f"CREATE CONSTRAINT {RELATION_TYPE_CONSTRAINT} IF NOT EXISTS "
        f"FOR (r:{RELATION_LABEL}) REQUIRE r.type IS UNIQUE",
        f"CREATE CONSTRAINT {META_KEY_CONSTRAINT} IF NOT EXISTS "
        f"FOR (m:{META_LABEL}) REQUIRE m.key IS UNIQUE",
        f"CREATE FULLTEXT INDEX {ENTITY_NAME_FULLTEXT_INDEX} IF NOT EXISTS "
        f"FOR (e:{ENTITY_LABEL}) ON EACH [e.name]",
        f"CREATE VECTOR INDEX {ENTITY_EMBEDDING_VECTOR_INDEX} IF NOT EXISTS "
        f"FOR (e:{ENTITY_LABEL}) ON e.embedding OPTIONS {{indexConfig: {{"
        f"`vector.dimensions`: {int(embedding_dimensions)}, `vector.similarity_function`: 'cosine'}}}}",
        f"CREATE VECTOR INDEX {RELATION_EMBEDDING_VECTOR_INDEX} IF NOT EXISTS "
        f"FOR (r:{RELATION_LABEL}) ON r.embedding OPTIONS {{indexConfig: {{"
        f"`vector.dimensions`: {int(embedding_dimensions)}, `vector.similarity_function`: 'cosine'}}}}",
    ]


GRAPH_VERSION_QUERY = f"OPTIONAL MATCH (m:{META_LABEL} {{key: '{META_KEY}'}}) RETURN coalesce(m.version, 0) AS version"

BUMP_GRAPH_VERSION_QUERY = (
    f"MERGE (m:{META_LABEL} {{key: '{META_KEY}'}}) "
    "SET m.version = coalesce(m.version, 0) + 1 RETURN m.version AS version"
)
