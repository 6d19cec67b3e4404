"""The client installs and imports in an environment without torch, DGL and transformers."""
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY_MODULES = ("torch", "dgl", "transformers")

CHECK_IMPORTS = """
import importlib.util, sys
import client
from kgreason.v1 import reasoner_pb2
missing = [name for name in {heavy!r} if importlib.util.find_spec(name) is None]
loaded = [name for name in {heavy!r} if name in sys.modules]
print("missing:", ",".join(missing))
print("loaded:", ",".join(loaded))
"""


@pytest.mark.slow
def test_client_imports_without_ml_stack(tmp_path):
    env_dir = tmp_path / "client-env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"

    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(REPO_ROOT)],
        capture_output=True, text=True,
    )
    assert install.returncode == 0, install.stderr

    result = subprocess.run(
        [str(python), "-c", CHECK_IMPORTS.format(heavy=HEAVY_MODULES)],
        capture_output=True, text=True, cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.strip().splitlines())
    assert lines["missing"].strip() == ",".join(HEAVY_MODULES)
    assert lines["loaded"].strip() == ""
