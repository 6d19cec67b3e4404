"""The ``kgreason`` command: verify one claim, or stream a JSONL file of claims.

    kgreason verify aspirin treats headache --context "..." [--format table|json|mermaid]
    kgreason stream claims.jsonl > verdicts.jsonl
    kgreason info

Each line of a claims file is a JSON object with ``subject``, ``predicate``, ``object`` and
optionally ``context_text``, ``request_id`` (default: the line number), ``max_evidence_paths``
and ``timeout_ms``. Other keys are errors.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Iterable

import grpc
from google.protobuf import json_format

from client.client import ReasonerClient, TlsOptions
from client.render import to_json, to_mermaid, to_table

EXIT_RPC_ERROR = 1
EXIT_USAGE = 2
# Bad lines of a claims file listed in one error message.
MAX_REPORTED_PROBLEMS = 20


TEXT_KEYS = ("subject", "predicate", "object", "context_text", "request_id")
COUNT_KEYS = ("max_evidence_paths", "timeout_ms")
CLAIM_KEYS = frozenset(TEXT_KEYS + COUNT_KEYS)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class ClaimFileError(ValueError):
    """A malformed line in a claims file; the message carries file:line."""


def parse_claims(lines: Iterable[str], source: str) -> list[dict]:
    """Parse JSONL claims, request_id defaulting to the line number; blank lines are skipped.

    Every line is checked before any claim is sent, so a bad line stops the run with nothing
    half-done. Raises ClaimFileError listing each bad line as ``source:line: problem``.
    """
    claims: list[dict] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            claim = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"{source}:{number}: invalid JSON: {error.msg}")
            continue
        if not isinstance(claim, dict):
            problems.append(f"{source}:{number}: expected a JSON object, got {type(claim).__name__}")
            continue
        missing = [key for key in ("subject", "predicate", "object") if not claim.get(key)]
        if missing:
            problems.append(f"{source}:{number}: missing {', '.join(missing)}")
            continue
        unknown = sorted(set(claim) - CLAIM_KEYS)
        if unknown:
            problems.append(f"{source}:{number}: unknown keys {', '.join(unknown)}; known: {', '.join(sorted(CLAIM_KEYS))}")
            continue
        not_text = [key for key in TEXT_KEYS if key in claim and not isinstance(claim[key], str)]
        not_count = [key for key in COUNT_KEYS if key in claim and not _is_count(claim[key])]
        if not_text or not_count:
            problems.append(f"{source}:{number}: " + "; ".join(
                [f"{key} must be a string" for key in not_text] + [f"{key} must be an integer of 0 or more" for key in not_count]
            ))
            continue
        claim.setdefault("request_id", str(number))
        claims.append(claim)
    if problems:
        reported = problems[:MAX_REPORTED_PROBLEMS]
        more = len(problems) - len(reported)
        raise ClaimFileError("\n".join(reported + ([f"... and {more} more bad lines"] if more else [])))
    return claims


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kgreason", description="Verify claims with a kgreason server.")
    parser.add_argument("--target", default=os.environ.get("KGREASON_TARGET", "127.0.0.1:50051"),
                        help="server host:port (default: $KGREASON_TARGET or 127.0.0.1:50051)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="deadline per call in seconds; a whole stream is one call (default: 30)")
    parser.add_argument("--token", default=os.environ.get("KGREASON_TOKEN"),
                        help="bearer token (default: $KGREASON_TOKEN)")
    parser.add_argument("--tls", action="store_true", help="use TLS (implied by --ca, --cert, --key)")
    parser.add_argument("--ca", help="PEM file of the CA that signed the server certificate")
    parser.add_argument("--cert", help="PEM file of the client certificate, for mutual TLS")
    parser.add_argument("--key", help="PEM file of the client key, for mutual TLS")
    parser.add_argument("--server-name", help="name to check in the server certificate")
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser("verify", help="verify one claim")
    verify.add_argument("subject", help="entity id or name")
    verify.add_argument("predicate", help="relation type, for example treats")
    verify.add_argument("object", help="entity id or name")
    verify.add_argument("--context", default="", help="free text sent with the claim")
    verify.add_argument("--evidence", type=int, default=0, help="evidence paths to return (default: server's, max 20)")
    verify.add_argument("--format", choices=("table", "json", "mermaid"), default="table",
                        help="output: a text table, JSON, or a Mermaid graph of the evidence")

    stream = commands.add_parser("stream", help="verify every claim of a JSONL file; JSONL out")
    stream.add_argument("claims", type=Path, help="JSONL file of claims, '-' for standard input")
    stream.add_argument("--timeout-stream", type=float, default=None,
                        help="deadline of the whole stream in seconds (default: none)")

    commands.add_parser("info", help="describe the server's model and limits")
    return parser


def _client(args: argparse.Namespace, timeout: float | None) -> ReasonerClient:
    tls = None
    if args.tls or args.ca or args.cert or args.key:
        tls = TlsOptions.from_files(args.ca, args.cert, args.key, args.server_name)
    return ReasonerClient(args.target, timeout=timeout, tls=tls, token=args.token)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "verify":
            with _client(args, args.timeout) as client:
                response = client.verify(
                    args.subject, args.predicate, args.object, args.context, max_evidence_paths=args.evidence
                )
            render = {"table": to_table, "json": lambda r: to_json(r, indent=2), "mermaid": to_mermaid}[args.format]
            print(render(response))
        elif args.command == "stream":
            if str(args.claims) != "-" and not args.claims.is_file():
                print(f"kgreason: claims file not found: {args.claims}", file=sys.stderr)
                return EXIT_USAGE
            failed = 0
            if str(args.claims) == "-":
                claims = parse_claims(sys.stdin, "<stdin>")
            else:
                with args.claims.open(encoding="utf-8") as lines:
                    claims = parse_claims(lines, str(args.claims))
            with _client(args, args.timeout_stream) as client:
                for response in client.verify_stream(claims):
                    failed += response.HasField("error")
                    print(to_json(response), flush=True)
            if failed:
                print(f"kgreason: {failed} claims failed; see their 'error' field", file=sys.stderr)
        else:
            with _client(args, args.timeout) as client:
                info = json_format.MessageToDict(client.server_info(), preserving_proto_field_name=True)
                print(json.dumps(info, indent=2))
    except ClaimFileError as error:
        print(f"kgreason: {error}", file=sys.stderr)
        return EXIT_USAGE
    except grpc.RpcError as error:
        print(f"kgreason: {error.code().name}: {error.details()}", file=sys.stderr)
        return EXIT_RPC_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
