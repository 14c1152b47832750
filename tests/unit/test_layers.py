"""The layering contract of pyproject.toml ([tool.importlinter]) holds, and an upward import breaks it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.is_file(), reason="import-linter is in the dev extra")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    """A copy of the package with one upward import (metrics -> tasks) must fail, naming the chain;
    the unmodified copy passes, so the failure is the injected line and nothing else."""
    shutil.copytree(REPO / "inpaintbench", tmp_path / "inpaintbench", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    clean = lint_imports(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    functional = tmp_path / "inpaintbench" / "metrics" / "functional.py"
    functional.write_text(functional.read_text() + "\n\ndef _upward():\n    from inpaintbench import tasks  # noqa\n")
    broken = lint_imports(tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "inpaintbench.metrics is not allowed to import inpaintbench.tasks" in broken.stdout
    assert "inpaintbench.metrics.functional -> inpaintbench.tasks" in broken.stdout
