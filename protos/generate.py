"""Generate the Python gRPC code for every .proto under protos/, next to its source.

    python protos/generate.py            # rewrite protos/kgreason/v1/*_pb2*.py
    python protos/generate.py --out DIR  # write to DIR instead (used to check for stale code)

Generated files are never edited by hand; the test suite fails when they differ from what this
script produces from the committed .proto files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Run protoc (from grpcio-tools) on every .proto; return the files written to out_dir."""
    from grpc_tools import protoc  # only the dev extra installs grpcio-tools

    out_dir.mkdir(parents=True, exist_ok=True)
    sources = [str(path.relative_to(PROTO_ROOT)) for path in proto_files()]
    arguments = [
        "grpc_tools.protoc",
        f"--proto_path={PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(arguments) != 0:
        raise RuntimeError(f"protoc failed on {', '.join(sources)}")
    return sorted(path for path in out_dir.rglob("*_pb2*.py*"))


def main() -> int:
    parser = argparse.ArgumentParser(description="Generate Python gRPC code from protos/.")
    parser.add_argument("--out", type=Path, default=PROTO_ROOT, help="output folder (default: protos/)")
    args = parser.parse_args()
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
