"""``kgreason-load`` / ``python -m graph_loader``: load a data-set folder or a triple file into Neo4j."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from graph_loader.loader import DEFAULT_BATCH_SIZE, GraphLoader
from graph_loader.readers import InvalidInputError, parse_columns
from graph_loader.schema import SPLITS

EXIT_INVALID_INPUT = 2
EXIT_FAILED = 1

DESCRIPTION = """\
Load knowledge-graph data into Neo4j: entities, relations and typed edges, with text embeddings.

SOURCE is either a data-set folder (train.tsv, dev.tsv or valid.tsv, test.tsv, entity2text.tsv,
entity2textlong.tsv, relation2text.tsv; CoDEx's entity2types.tsv, types.en.tsv and
relations.en.json; *negatives* files are not loaded) or one triple file (TSV head<TAB>relation<TAB>tail
without header, or CSV with a header row). Every line is validated before anything is written;
loading the same input again adds no nodes or edges (MERGE), and rerunning a killed load
completes it.
"""

EPILOG = """\
exit codes: 0 loaded, 2 invalid input (every bad line is listed as file:line: problem), 1 other errors.
example: kgreason-load graph_loader/datasets/umls --uri bolt://127.0.0.1:7687
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kgreason-load", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", type=Path, help="data-set folder or triple file")
    parser.add_argument("--dataset", help="data-set name stored on every edge (default: folder or file name)")
    parser.add_argument(
        "--splits", help=f"comma-separated splits of a data-set folder to load, from {', '.join(SPLITS)} (default: all)"
    )
    parser.add_argument("--split", default="train", help="split stored on the edges of a triple file (default: train)")
    parser.add_argument(
        "--format", choices=["tsv", "csv"],
        help="triple file format (default: csv for a .csv file, tsv otherwise); CSV files start with a header row",
    )
    parser.add_argument(
        "--columns",
        help="header names of the triple columns, e.g. head=subject,relation=predicate,tail=object "
        "(the file must then start with a header row; default for CSV: head,relation,tail)",
    )
    parser.add_argument("--entities", type=Path, help="entity file for a triple file: id<TAB>name[<TAB>description]")
    parser.add_argument("--relations", type=Path, help="relation file for a triple file: relation<TAB>name[<TAB>description]")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
        help=f"rows (entities or triples) per write transaction (default: {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument("--no-embeddings", action="store_true", help="load without text embeddings (no BERT model needed)")
    parser.add_argument("--encoder-model", type=Path, help="local Hugging Face BERT folder (default: the packaged MiniLM-L6)")
    parser.add_argument("--device", default="cpu", help="device for the text encoder: cpu or cuda:N (default: cpu)")
    parser.add_argument(
        "--encoder-batch-size", type=int, default=64, help="texts per encoder forward pass (default: 64)"
    )
    parser.add_argument(
        "--skip-invalid", action="store_true",
        help="load the valid lines and write the invalid ones to the rejects file instead of loading nothing",
    )
    parser.add_argument("--rejects", type=Path, help="rejects file for --skip-invalid (default: ./DATASET.rejects.tsv)")
    parser.add_argument("--uri", default=os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687"),
                        help="Neo4j URI (default: $NEO4J_URI or bolt://127.0.0.1:7687)")
    parser.add_argument("--user", default=os.environ.get("NEO4J_USER", "neo4j"), help="Neo4j user (default: $NEO4J_USER or neo4j)")
    parser.add_argument("--password", default=None, help="Neo4j password (default: $NEO4J_PASSWORD)")
    parser.add_argument("--database", default=None, help="Neo4j database (default: the server's default database)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar (default: only when stderr is a terminal)")
    parser.add_argument("--log-level", default="INFO", help="logging level: DEBUG, INFO, WARNING, ERROR (default: INFO)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        columns = parse_columns(args.columns) if args.columns else None
    except ValueError as error:
        print(f"kgreason-load: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    if not args.source.exists():
        print(f"kgreason-load: {args.source} does not exist", file=sys.stderr)
        return EXIT_INVALID_INPUT
    password = args.password if args.password is not None else os.environ.get("NEO4J_PASSWORD", "")

    encoder = None
    if not args.no_embeddings:
        from graph_loader.text_encoder import TextEncoder

        encoder = TextEncoder(args.encoder_model, device=args.device, batch_size=args.encoder_batch_size)

    from neo4j import GraphDatabase
    from neo4j.exceptions import Neo4jError, ServiceUnavailable, AuthError

    try:
        # Schema statements use IF NOT EXISTS; Neo4j's INFO notices that an index already exists
        # would fill a rerun's output, so only warnings are reported.
        with GraphDatabase.driver(args.uri, auth=(args.user, password), notifications_min_severity="WARNING") as driver:
            loader = GraphLoader(driver, encoder, batch_size=args.batch_size, database=args.database, progress=args.progress)
            if args.source.is_dir():
                splits = [split.strip() for split in args.splits.split(",")] if args.splits else None
                summary = loader.load_dataset(args.source, args.dataset, splits, args.skip_invalid, args.rejects)
            else:
                delimiter = {"tsv": "\t", "csv": ","}.get(args.format) if args.format else None
                summary = loader.load_triple_file(
                    args.source, args.dataset, args.split, delimiter, columns, args.entities, args.relations,
                    args.skip_invalid, args.rejects,
                )
    except InvalidInputError as error:
        print(f"kgreason-load: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except (FileNotFoundError, ValueError) as error:
        print(f"kgreason-load: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except (ServiceUnavailable, AuthError) as error:
        print(f"kgreason-load: cannot use Neo4j at {args.uri}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except Neo4jError as error:
        print(f"kgreason-load: Neo4j rejected a write ({error.code}): {error.message}; "
              "batches committed before it stay, rerun the load to complete it", file=sys.stderr)
        return EXIT_FAILED

    print(summary.describe(), flush=True)
    if summary.rejects_path:
        print(f"rejected lines written to {summary.rejects_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
