"""A least-recently-used cache of claim subgraphs, valid for one graph version at a time."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Hashable, Sequence

from server.inference import ClaimInput, Retriever, Subgraph


def subgraph_key(claim: ClaimInput) -> Hashable:
    """The subgraph depends on the two entities and the claimed relation (its edge is masked)."""
    return (claim.subject_id, claim.relation, claim.object_id)


class SubgraphCache:
    """Subgraphs keyed by (subject, relation, object) for the graph version they were read at.

    A load into Neo4j bumps the graph version. The first lookup at a new version empties the
    cache, so no subgraph outlives the graph it came from.

    Args:
        capacity: the maximum number of subgraphs kept.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.version: int | None = None
        self._entries: OrderedDict[Hashable, Subgraph] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, claims: Sequence[ClaimInput], version: int) -> list[Subgraph | None]:
        """Return the cached subgraph of each claim at `version`, None where there is none."""
        with self._lock:
            if version != self.version:
                self._entries.clear()
                self.version = version
            found: list[Subgraph | None] = []
            for claim in claims:
                key = subgraph_key(claim)
                subgraph = self._entries.get(key)
                if subgraph is not None:
                    self._entries.move_to_end(key)
                found.append(subgraph)
            return found

    def store(self, claims: Sequence[ClaimInput], subgraphs: Sequence[Subgraph], version: int) -> None:
        with self._lock:
            if version != self.version:
                self._entries.clear()
                self.version = version
            for claim, subgraph in zip(claims, subgraphs):
                self._entries[subgraph_key(claim)] = subgraph
                self._entries.move_to_end(subgraph_key(claim))
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def fetch_with_cache(
    retriever: Retriever, cache: SubgraphCache, claims: Sequence[ClaimInput], version: int
) -> tuple[list[Subgraph], int, int]:
    """Return the subgraph of every claim, the graph version and the number of cache hits.

    Misses go to Neo4j in one ``retriever.fetch`` round trip. When the graph moved on between
    the version read and the fetch, the fetched subgraphs are stored under the newer version.
    """
    cached = cache.lookup(claims, version)
    missing = [claim for claim, subgraph in zip(claims, cached) if subgraph is None]
    hits = len(claims) - len(missing)
    if not missing:
        return list(cached), version, hits  # type: ignore[arg-type]

    fetched, fetched_version = retriever.fetch(missing)
    cache.store(missing, fetched, fetched_version)
    by_key = {subgraph_key(claim): subgraph for claim, subgraph in zip(missing, fetched)}
    subgraphs = [subgraph if subgraph is not None else by_key[subgraph_key(claim)] for claim, subgraph in zip(claims, cached)]
    return subgraphs, max(version, fetched_version), hits
