"""Entity resolution: claim subjects and objects to entity ids, with the graph version, in one query.

An exact ``Entity.id`` match wins. Otherwise the text is searched as a phrase in the full-text
index on ``Entity.name``: one entity whose name equals the text (ignoring case) resolves it;
several such entities, or several near matches and no equal one, make the name ambiguous;
no hit means the entity is unknown.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import grpc

from graph_loader.schema import ENTITY_LABEL, ENTITY_NAME_FULLTEXT_INDEX, META_KEY, META_LABEL
from server.admission import ClaimFailure

# Candidates listed in an ambiguity error, and fetched per name from the full-text index.
MAX_CANDIDATES = 5

RESOLVE_QUERY = f"""
OPTIONAL MATCH (meta:{META_LABEL} {{key: '{META_KEY}'}})
WITH coalesce(meta.version, 0) AS version
UNWIND $texts AS item
OPTIONAL MATCH (exact:{ENTITY_LABEL} {{id: item.text}})
CALL (item, exact) {{
  WITH item, exact WHERE exact IS NULL
  CALL db.index.fulltext.queryNodes('{ENTITY_NAME_FULLTEXT_INDEX}', item.phrase, {{limit: $limit}})
    YIELD node, score
  RETURN collect({{id: node.id, name: node.name}}) AS candidates
}}
RETURN version, item.text AS text, exact.id AS exact_id, exact.name AS exact_name, candidates
"""

# Characters with a meaning in Lucene query syntax; escaped so a name is searched literally.
_LUCENE_SPECIAL = re.compile(r'([+\-!(){}\[\]^"~*?:\\/]|&&|\|\|)')


def lucene_phrase(text: str) -> str:
    """Quote `text` as a Lucene phrase query, escaping every special character."""
    return '"' + _LUCENE_SPECIAL.sub(r"\\\1", text) + '"'


@dataclass(frozen=True)
class ResolvedEntity:
    id: str
    name: str


def choose(text: str, exact_id: str | None, exact_name: str | None, candidates: list[dict]) -> ResolvedEntity | ClaimFailure:
    """Pick the entity `text` denotes, or the NOT_FOUND or FAILED_PRECONDITION failure to send."""
    if exact_id is not None:
        return ResolvedEntity(exact_id, exact_name or exact_id)
    same_name = [c for c in candidates if (c.get("name") or "").casefold() == text.casefold()]
    if len(same_name) == 1:
        return ResolvedEntity(same_name[0]["id"], same_name[0]["name"])
    if len(candidates) == 1 and not same_name:
        return ResolvedEntity(candidates[0]["id"], candidates[0]["name"])
    if not candidates:
        return ClaimFailure(
            grpc.StatusCode.NOT_FOUND,
            f"entity {text!r} not found: no entity has this id, and no entity name matches it",
        )
    listed = same_name or candidates
    names = "; ".join(f"{c['id']} ({c['name']})" for c in listed[:MAX_CANDIDATES])
    return ClaimFailure(
        grpc.StatusCode.FAILED_PRECONDITION,
        f"entity name {text!r} is ambiguous; pass one of these ids instead: {names}",
    )


class EntityResolver:
    """Resolves entity texts through a neo4j AsyncDriver; one round trip per call.

    Args:
        driver: a ``neo4j.AsyncDriver``.
        database: the Neo4j database, or None for the server's default.
    """

    def __init__(self, driver, database: str | None = None):
        self.driver = driver
        self.database = database

    async def resolve(self, texts: Iterable[str]) -> tuple[dict[str, ResolvedEntity | ClaimFailure], int]:
        """Resolve every distinct text; return {text: entity or failure} and the graph version."""
        unique = sorted(set(texts))
        records, _, _ = await self.driver.execute_query(
            RESOLVE_QUERY,
            texts=[{"text": text, "phrase": lucene_phrase(text)} for text in unique],
            limit=MAX_CANDIDATES,
            database_=self.database,
            routing_="r",
        )
        if not records:
            return {}, await self.graph_version()
        version = int(records[0]["version"])
        outcome = {
            record["text"]: choose(record["text"], record["exact_id"], record["exact_name"], record["candidates"])
            for record in records
        }
        return outcome, version

    async def graph_version(self) -> int:
        records, _, _ = await self.driver.execute_query(
            f"OPTIONAL MATCH (m:{META_LABEL} {{key: '{META_KEY}'}}) RETURN coalesce(m.version, 0) AS version",
            database_=self.database,
            routing_="r",
        )
        return int(records[0]["version"])
