"""Rendering of verdicts for people and programs: a text table, JSON, or a Mermaid graph."""
from __future__ import annotations

import json
import re
from typing import Any

import grpc
from google.protobuf import json_format

from kgreason.v1 import reasoner_pb2


def status_name(code: int) -> str:
    """Return the gRPC status name of a numeric code (4 is ``DEADLINE_EXCEEDED``)."""
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return status.name
    return str(code)


def to_dict(response: reasoner_pb2.VerifyResponse) -> dict[str, Any]:
    """Return the response as a JSON-ready dict with proto field names and every field present.

    A failed claim's ``error`` also gets ``status``, the name of its numeric ``code``.
    """
    values = json_format.MessageToDict(
        response, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    if response.HasField("error"):
        values["error"]["status"] = status_name(response.error.code)
    return values


def to_json(response: reasoner_pb2.VerifyResponse, indent: int | None = None) -> str:
    return json.dumps(to_dict(response), indent=indent, ensure_ascii=False)


def _entity(entity: reasoner_pb2.Entity) -> str:
    return f"{entity.name} ({entity.id})" if entity.name and entity.name != entity.id else entity.id


def to_table(response: reasoner_pb2.VerifyResponse) -> str:
    """Render the verdict and its evidence paths as aligned text."""
    if response.HasField("error"):
        return f"error {status_name(response.error.code)} on {response.error.field or 'claim'}: {response.error.message}"
    verdict = reasoner_pb2.Verdict.Name(response.verdict)
    lines = [
        f"claim       {_entity(response.subject)} --{response.predicate}--> {_entity(response.object)}",
        f"verdict     {verdict}  probability {response.probability:.3f}  threshold {response.threshold:.3f}",
        f"in graph    {'yes' if response.claim_asserted_in_graph else 'no'} (graph version {response.graph_version})",
        f"latency     {response.latency_ms:.1f} ms",
    ]
    if not response.evidence:
        lines.append("evidence    none")
        return "\n".join(lines)
    lines.append("")
    lines.append(f"{'score':>8}  path")
    for path in response.evidence:
        lines.append(f"{path.score:>8.3f}  {path_text(path)}")
    return "\n".join(lines)


def path_text(path: reasoner_pb2.EvidencePath) -> str:
    """Render a path as `a -relation-> b <-relation- c`, arrows in the stored edge direction."""
    if not path.steps:
        return ""
    parts = [path.steps[0].source.name or path.steps[0].source.id]
    for step in path.steps:
        arrow = f"-{step.relation}->" if step.forward else f"<-{step.relation}-"
        parts.append(arrow)
        parts.append(step.target.name or step.target.id)
    return " ".join(parts)


_UNSAFE_NODE_ID = re.compile(r"[^A-Za-z0-9_]")


def _node_id(entity_id: str) -> str:
    return "e_" + _UNSAFE_NODE_ID.sub("_", entity_id)


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def to_mermaid(response: reasoner_pb2.VerifyResponse) -> str:
    """Render the claim (dashed) and the edges of its evidence paths as a Mermaid flowchart.

    Edges keep their stored direction, so a path that walks an edge backwards shows it pointing
    back. Each edge appears once even when several paths share it.
    """
    lines = ["flowchart LR"]
    nodes: dict[str, str] = {}
    edges: list[str] = []
    seen: set[tuple[str, str, str]] = set()

    def node(entity: reasoner_pb2.Entity) -> str:
        key = _node_id(entity.id)
        nodes.setdefault(key, f'    {key}["{_label(entity.name or entity.id)}"]')
        return key

    subject, obj = node(response.subject), node(response.object)
    verdict = reasoner_pb2.Verdict.Name(response.verdict)
    edges.append(f'    {subject} -. "{_label(response.predicate)}? {verdict} p={response.probability:.2f}" .-> {obj}')
    for path in response.evidence:
        for step in path.steps:
            source, target = node(step.source), node(step.target)
            if not step.forward:
                source, target = target, source
            if (source, step.relation, target) in seen:
                continue
            seen.add((source, step.relation, target))
            edges.append(f'    {source} -- "{_label(step.relation)}" --> {target}')
    return "\n".join(lines + list(nodes.values()) + edges)
