"""What a built distribution holds: setuptools' build_py run on a copy of the tree (offline, no wheel package)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_package(tmp_path: Path) -> Path:
    """The directory build_py filled: the packages as a wheel would hold them."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("engine", "workers", "projections", "schemas"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    built = tmp_path / "built"
    subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "-q", "build_py", "--build-lib",
                    str(built)], cwd=source, check=True, capture_output=True)
    return built
