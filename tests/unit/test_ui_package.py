"""The web UI works without a network and without a build step: every page asset ships in the package, and none
of them loads anything from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

from engine.ui.pages import STATIC, TEMPLATES
from tests.support.built import build_package

UI = Path(str(TEMPLATES)).parent


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_a_built_distribution_carries_every_asset_and_template(tmp_path: Path):
    built = build_package(tmp_path) / "engine" / "ui"
    wanted = {f for f in files_under(UI) if not f.endswith(".py")}
    assert wanted and wanted <= files_under(built), sorted(wanted - files_under(built))


def test_no_asset_or_template_names_another_origin():
    for path in [*STATIC.rglob("*.*"), *Path(str(TEMPLATES)).glob("*.html")]:
        text = path.read_text(encoding="utf-8")
        # an XML namespace is a name, not a request
        found = [u for u in re.findall(r"https?://[^\s\"'`)]+", text) if not u.startswith("http://www.w3.org/")]
        assert not found, f"{path.name}: {found}"


def test_every_module_a_script_imports_is_there():
    for script in STATIC.rglob("*.js"):
        for target in re.findall(r'from "(\.[^"]+)"', script.read_text(encoding="utf-8")):
            assert (script.parent / target).resolve().is_file(), f"{script.name} imports {target}"
