"""Load knowledge-graph data into Neo4j: readers, validation, batched writes, text embeddings."""
