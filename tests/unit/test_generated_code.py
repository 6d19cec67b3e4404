"""The committed gRPC code matches what protos/generate.py makes from the .proto files."""
import importlib.util
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_generator():
    spec = importlib.util.spec_from_file_location("protos_generate", REPO_ROOT / "protos" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_current(tmp_path):
    generator = _load_generator()

    fresh = generator.generate(tmp_path)

    assert fresh, "protoc produced no files"
    stale = []
    for path in fresh:
        committed = REPO_ROOT / "protos" / path.relative_to(tmp_path)
        if not committed.exists() or committed.read_bytes() != path.read_bytes():
            stale.append(str(committed.relative_to(REPO_ROOT)))
    assert not stale, f"generated code is stale, run `make proto`: {stale}"


def test_generated_code_imports():
    from kgreason.v1 import graph_admin_pb2_grpc, reasoner_pb2, reasoner_pb2_grpc

    assert hasattr(reasoner_pb2_grpc, "ReasonerStub")
    assert hasattr(graph_admin_pb2_grpc, "GraphAdminStub")
    assert reasoner_pb2.Verdict.Name(reasoner_pb2.SUPPORTED) == "SUPPORTED"
