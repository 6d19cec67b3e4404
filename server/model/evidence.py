"""Evidence paths: paths of at most three edges between subject and object, scored by occlusion.

A path's score is how far the model's logit drops when the path's edges are removed from the
subgraph (positive: the path supports the claim; negative: it argues against it). Occlusion needs
one extra forward pass per candidate path; the candidates of a batch run as one batched pass.
"""
from __future__ import annotations

from server.inference import EvidencePath, PathStep
from server.model.subgraph import ClaimSubgraph

MAX_PATH_EDGES = 3
# Candidate paths scored per claim: the shortest first, ties broken by edge order.
MAX_CANDIDATE_PATHS = 24

# A path as a tuple of (edge index, forward) steps from the subject to the object.
PathEdges = tuple[tuple[int, bool], ...]


def find_paths(subgraph: ClaimSubgraph, max_edges: int = MAX_PATH_EDGES, limit: int = MAX_CANDIDATE_PATHS) -> list[PathEdges]:
    """Simple paths (no repeated node) from the subject to the object, walking edges either way."""
    start, goal = 0, subgraph.object_position
    if start == goal:
        return []
    neighbours: dict[int, list[tuple[int, int, bool]]] = {}
    for index, (head, tail) in enumerate(zip(subgraph.edge_heads.tolist(), subgraph.edge_tails.tolist())):
        neighbours.setdefault(head, []).append((tail, index, True))
        if head != tail:
            neighbours.setdefault(tail, []).append((head, index, False))

    paths: list[PathEdges] = []

    def walk(node: int, visited: set[int], steps: list[tuple[int, bool]]) -> None:
        for neighbour, index, forward in neighbours.get(node, []):
            if neighbour in visited:
                continue
            steps.append((index, forward))
            if neighbour == goal:
                paths.append(tuple(steps))
            elif len(steps) < max_edges:
                visited.add(neighbour)
                walk(neighbour, visited, steps)
                visited.discard(neighbour)
            steps.pop()

    walk(start, {start}, [])
    paths.sort(key=lambda path: (len(path), [index for index, _ in path]))
    return paths[:limit]


def describe_path(subgraph: ClaimSubgraph, path: PathEdges, score: float) -> EvidencePath:
    """Name every step of a path, in walking order from the subject."""
    steps = []
    for index, forward in path:
        head, tail = int(subgraph.edge_heads[index]), int(subgraph.edge_tails[index])
        source, target = (head, tail) if forward else (tail, head)
        steps.append(PathStep(
            source_id=subgraph.node_ids[source],
            source_name=subgraph.node_names[source],
            relation=subgraph.edge_relations[index],
            target_id=subgraph.node_ids[target],
            target_name=subgraph.node_names[target],
            forward=forward,
        ))
    return EvidencePath(steps=tuple(steps), score=float(score))
