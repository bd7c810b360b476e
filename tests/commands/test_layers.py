"""atu's layers (pyproject.toml's import-linter contracts): the source keeps them, and a new upward
import breaks them, naming it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(source_root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=source_root,
        env={**os.environ, "PYTHONPATH": str(source_root)},
    )


def test_the_source_keeps_its_layers():
    run = _lint(ROOT / "python")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Contracts: 2 kept, 0 broken." in run.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    shutil.copytree(ROOT / "python" / "atu", tmp_path / "atu", ignore=shutil.ignore_patterns("__pycache__", "assets"))
    (tmp_path / "atu" / "assets").mkdir()
    shutil.copy(ROOT / "python" / "atu" / "assets" / "__init__.py", tmp_path / "atu" / "assets")
    errors = tmp_path / "atu" / "util" / "errors.py"
    errors.write_text(errors.read_text() + "\nfrom ..stages import adapt  # noqa: E402\n")
    run = _lint(tmp_path)
    assert run.returncode != 0
    assert "atu.util is not allowed to import atu.stages" in run.stdout
    assert "atu.util.errors -> atu.stages.adapt" in run.stdout
