"""The reasoning model: subgraph extraction, the R-GCN + BERT network, scoring and evidence paths."""
from server.model.graph import EdgeFilter, KnowledgeGraph, export_from_neo4j
from server.model.retrieval import Neo4jRetriever
from server.model.scorer import GraphClaimScorer, load_model, load_scorer, save_model
from server.model.subgraph import ClaimSubgraph, InMemoryRetriever

__all__ = [
    "ClaimSubgraph",
    "EdgeFilter",
    "GraphClaimScorer",
    "InMemoryRetriever",
    "KnowledgeGraph",
    "Neo4jRetriever",
    "export_from_neo4j",
    "load_model",
    "load_scorer",
    "save_model",
]
