"""The .avsc files ship in the package, and `schemas.path` names them for programs in other languages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import schemas
from tests.support.built import build_package

ROOT = Path(__file__).resolve().parents[2]


def test_path_names_a_version_or_the_current_one():
    assert schemas.path("executions.v1").name == "executions.v1.avsc"
    assert schemas.path("executions.v1.avsc") == schemas.path("executions.v1")
    current = schemas.current_version("executions")
    assert schemas.path("executions") == schemas.path(f"executions.v{current}")
    assert schemas.path("executions").read_text(encoding="utf-8").startswith("{")
    for wrong in ("executions.v99", "executions.vx", "nosuchtopic"):
        with pytest.raises(LookupError):
            schemas.path(wrong)


def test_a_built_distribution_carries_every_schema(tmp_path: Path):
    """setuptools' build_py decides what a wheel holds; read the schemas from what it built, from outside the source
    tree."""
    built = build_package(tmp_path)
    assert sorted(p.name for p in (built / "schemas").glob("*.avsc")) == \
        sorted(p.name for p in (ROOT / "schemas").glob("*.avsc"))
    code = "import schemas; print(schemas.path('executions'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(built)},
                          capture_output=True, text=True, check=True)
    assert Path(done.stdout.strip()) == built / "schemas" / f"executions.v{schemas.current_version('executions')}.avsc"
