"""The claim-scoring network: an R-GCN over the claim's subgraph fused with BERT claim features.

Node input (per subgraph node):
    projected BERT embedding of the entity text (a learned "no text" vector when there is none)
    + embedding of its hop distance to the subject and to the object
    + a learned per-entity embedding for entities seen in training (zeros for the others).
Message passing: ``dgl.nn.RelGraphConv`` with basis decomposition (Schlichtkrull et al., 2018,
"Modeling Relational Data with Graph Convolutional Networks") over every edge in both directions,
the reverse direction typed as its own inverse relation.
Head: an MLP over [mean readout, subject node, object node, relation embedding, claim text],
plus a DistMult term <e_s, w_r, e_o> (Yang et al., 2015) over the per-entity embeddings, which
is zero for entities unseen in training, so those are scored from text and structure alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Sequence

import dgl
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from server.model.subgraph import ClaimSubgraph


@dataclass
class ModelConfig:
    relations: list[str]  # relation vocabulary; inverse relation i is i + len(relations)
    entities: list[str] = field(default_factory=list)  # entities with a learned embedding (index + 1)
    hops: int = 2  # retrieval radius the model was trained with
    fanout: int = 8  # edges kept per expanded node during retrieval
    hidden_dimensions: int = 64
    layers: int = 2  # RelGraphConv layers
    bases: int = 8  # basis matrices shared by all (relation, direction) types
    node_text_dimensions: int = 384  # width of Entity.embedding
    claim_text_dimensions: int = 384  # width of the claim text encoding
    dropout: float = 0.1
    use_graph: bool = True  # message passing, readout, subject/object nodes, DistMult term
    use_text: bool = True  # BERT features: node text and claim text
    use_entity_embeddings: bool = True  # learned per-entity embeddings (transductive)
    # Pairwise term on the entity embeddings: "distmult" (symmetric) or "complex" (ComplEx: the
    # embeddings read as complex vectors of hidden_dimensions / 2, so order matters).
    pair_score: str = "distmult"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model config field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**values)


PAIR_SCORES = ("distmult", "complex")


def pair_score(kind: str, subject: torch.Tensor, relation: torch.Tensor, object_: torch.Tensor) -> torch.Tensor:
    """Score (B, H) subject, relation and object embeddings with DistMult or ComplEx; returns (B,)."""
    if kind == "distmult":
        return (subject * relation * object_).sum(-1)
    if kind == "complex":
        subject_re, subject_im = subject.chunk(2, dim=-1)
        relation_re, relation_im = relation.chunk(2, dim=-1)
        object_re, object_im = object_.chunk(2, dim=-1)
        # Re(<subject, relation, conjugate(object)>)
        return (
            subject_re * relation_re * object_re
            + subject_im * relation_re * object_im
            + subject_re * relation_im * object_im
            - subject_im * relation_im * object_re
        ).sum(-1)
    raise ValueError(f"invalid pair_score {kind!r}; use one of {', '.join(PAIR_SCORES)}")


@dataclass
class ClaimBatch:
    """A batch of subgraphs ready for the network, on one device."""

    graph: dgl.DGLGraph  # batched, with ndata and edata below
    subject_nodes: torch.Tensor  # (B,) global node index of each subject
    object_nodes: torch.Tensor  # (B,) global node index of each object
    relations: torch.Tensor  # (B,) relation index
    claim_text: torch.Tensor  # (B, claim_text_dimensions)


def collate(
    subgraphs: Sequence[ClaimSubgraph],
    claim_text: torch.Tensor,
    relation_index: dict[str, int],
    entity_index: dict[str, int],
    hops: int,
    device: torch.device | str,
    removed_edges: Sequence[set[int]] | None = None,
) -> ClaimBatch:
    """Batch subgraphs into one graph; ``removed_edges[i]`` drops edges of subgraph i (occlusion).

    ``subgraph.extra`` may carry precomputed ``edge_types`` and ``entity_ids`` arrays (training
    reuses each subgraph every epoch); they must have been made with the same vocabularies.

    Raises:
        KeyError: a subgraph edge or claim has a relation outside the model's vocabulary.
    """
    num_relations = len(relation_index)
    heads, tails, types, node_counts, edge_counts = [], [], [], [], []
    features, has_text, to_subject, to_object, entity_ids = [], [], [], [], []
    subject_nodes, object_nodes = [], []
    offset = 0
    for position, subgraph in enumerate(subgraphs):
        keep = np.ones(len(subgraph.edge_relations), dtype=bool)
        if removed_edges is not None and removed_edges[position]:
            keep[list(removed_edges[position])] = False
        edge_types = subgraph.extra.get("edge_types")
        if edge_types is None:
            edge_types = np.array([relation_index[relation] for relation in subgraph.edge_relations], dtype=np.int64)
        edge_types = edge_types[keep]
        head = subgraph.edge_heads[keep] + offset
        tail = subgraph.edge_tails[keep] + offset
        # Both directions: the reverse edge carries the inverse relation type.
        heads.append(np.concatenate([head, tail]))
        tails.append(np.concatenate([tail, head]))
        types.append(np.concatenate([edge_types, edge_types + num_relations]))
        node_counts.append(subgraph.num_nodes)
        edge_counts.append(2 * int(keep.sum()))

        features.append(subgraph.embedding_table[subgraph.node_rows])
        has_text.append(subgraph.has_embedding[subgraph.node_rows])
        to_subject.append(np.minimum(subgraph.distance_to_subject, hops + 1))
        to_object.append(np.minimum(subgraph.distance_to_object, hops + 1))
        entities = subgraph.extra.get("entity_ids")
        if entities is None:
            entities = np.array([entity_index.get(node, 0) for node in subgraph.node_ids], dtype=np.int64)
        entity_ids.append(entities)
        subject_nodes.append(offset)
        object_nodes.append(offset + subgraph.object_position)
        offset += subgraph.num_nodes

    graph = dgl.graph(
        (torch.from_numpy(np.concatenate(heads)), torch.from_numpy(np.concatenate(tails))), num_nodes=offset
    )
    graph.set_batch_num_nodes(torch.tensor(node_counts, dtype=torch.int64))
    graph.set_batch_num_edges(torch.tensor(edge_counts, dtype=torch.int64))
    graph.ndata["text"] = torch.from_numpy(np.concatenate(features))
    graph.ndata["has_text"] = torch.from_numpy(np.concatenate(has_text))
    graph.ndata["to_subject"] = torch.from_numpy(np.concatenate(to_subject))
    graph.ndata["to_object"] = torch.from_numpy(np.concatenate(to_object))
    graph.ndata["entity"] = torch.from_numpy(np.concatenate(entity_ids))
    graph.edata["type"] = torch.from_numpy(np.concatenate(types))
    relations = torch.tensor([relation_index[subgraph.claim.relation] for subgraph in subgraphs], dtype=torch.int64)
    return ClaimBatch(
        graph=graph.to(device),
        subject_nodes=torch.tensor(subject_nodes, dtype=torch.int64, device=device),
        object_nodes=torch.tensor(object_nodes, dtype=torch.int64, device=device),
        relations=relations.to(device),
        claim_text=claim_text.to(device),
    )


class ClaimNetwork(nn.Module):
    """Scores a claim from its subgraph and its text; returns one logit per claim."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        from dgl.nn import RelGraphConv

        self.config = config
        hidden = config.hidden_dimensions
        if config.pair_score not in PAIR_SCORES:
            raise ValueError(f"invalid pair_score {config.pair_score!r}; use one of {', '.join(PAIR_SCORES)}")
        if config.pair_score == "complex" and hidden % 2:
            raise ValueError(f"pair_score 'complex' needs an even hidden width, got {hidden}")
        num_relations = len(config.relations)
        distance_labels = config.hops + 2  # 0..hops, and hops + 1 for "beyond the radius"

        self.node_text = nn.Linear(config.node_text_dimensions, hidden)
        self.no_text = nn.Parameter(torch.zeros(hidden))
        self.distance_to_subject = nn.Embedding(distance_labels, hidden)
        self.distance_to_object = nn.Embedding(distance_labels, hidden)
        # Row 0 is every entity unseen in training; it stays zero (padding_idx).
        self.entity = nn.Embedding(len(config.entities) + 1, hidden, padding_idx=0)
        self.convolutions = nn.ModuleList(
            RelGraphConv(hidden, hidden, 2 * num_relations, regularizer="basis",
                         num_bases=min(config.bases, 2 * num_relations), activation=F.relu,
                         self_loop=True, dropout=config.dropout)
            for _ in range(config.layers)
        )
        self.relation = nn.Embedding(num_relations, hidden)
        self.distmult_relation = nn.Embedding(num_relations, hidden)
        self.claim_text = nn.Linear(config.claim_text_dimensions, hidden)
        self.head = nn.Sequential(
            nn.Linear(5 * hidden, 2 * hidden), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(2 * hidden, 1)
        )
        nn.init.normal_(self.entity.weight, std=0.1)
        with torch.no_grad():
            self.entity.weight[0].zero_()

    def forward(self, batch: ClaimBatch) -> torch.Tensor:
        config = self.config
        graph = batch.graph
        hidden = config.hidden_dimensions
        batch_size = batch.relations.shape[0]
        zeros = torch.zeros(batch_size, hidden, device=batch.relations.device)

        # Node input: text (or the "no text" vector) + distance labels + entity embedding.  (N, H)
        if config.use_text:
            has_text = graph.ndata["has_text"].unsqueeze(-1)  # (N, 1)
            nodes = torch.where(has_text, self.node_text(graph.ndata["text"]), self.no_text)
        else:
            nodes = self.no_text.expand(graph.num_nodes(), hidden)
        nodes = nodes + self.distance_to_subject(graph.ndata["to_subject"])
        nodes = nodes + self.distance_to_object(graph.ndata["to_object"])
        entity_ids = graph.ndata["entity"]
        if config.use_entity_embeddings:
            nodes = nodes + self.entity(entity_ids)

        # Message passing over both edge directions.  (N, H)
        if config.use_graph:
            for convolution in self.convolutions:
                nodes = convolution(graph, nodes, graph.edata["type"]) + nodes
            graph.ndata["hidden"] = nodes
            readout = dgl.mean_nodes(graph, "hidden")  # (B, H)
            subject, object_ = nodes[batch.subject_nodes], nodes[batch.object_nodes]  # (B, H)
        else:
            readout, subject, object_ = zeros, zeros, zeros

        text = self.claim_text(batch.claim_text) if config.use_text else zeros  # (B, H)
        fused = torch.cat([readout, subject, object_, self.relation(batch.relations), text], dim=-1)  # (B, 5H)
        logit = self.head(fused).squeeze(-1)  # (B,)

        if config.use_graph and config.use_entity_embeddings:
            subject_entity = self.entity(entity_ids[batch.subject_nodes])  # (B, H)
            object_entity = self.entity(entity_ids[batch.object_nodes])
            relation = self.distmult_relation(batch.relations)
            logit = logit + pair_score(config.pair_score, subject_entity, relation, object_entity)
        return logit
