"""/docs and /redoc load their scripts and styles from the package: every file the pages name is in it, and in
what a build of the package holds."""

from __future__ import annotations

import re
from pathlib import Path

from engine.api.docs import ASSETS, ASSETS_URL, redoc, swagger_ui
from tests.support.built import build_package


def named_assets() -> set[str]:
    pages = swagger_ui().body.decode() + redoc().body.decode()
    assert not re.search(r"https?://", pages), pages  # nothing from another origin
    return set(re.findall(rf'"{ASSETS_URL}/([^"]+)"', pages))


def test_every_asset_the_pages_name_is_in_the_package():
    named = named_assets()
    assert named == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "redoc.standalone.js"}
    assert all((ASSETS / name).is_file() for name in named)
    # each vendored file ships with its license
    assert {"swagger-ui-dist.LICENSE", "redoc.LICENSE", "README.md"} <= {p.name for p in ASSETS.iterdir()}


def test_a_built_distribution_carries_the_docs_assets(tmp_path: Path):
    built = build_package(tmp_path) / "engine" / "api" / "static" / "docs"
    assert {p.name for p in ASSETS.iterdir()} <= {p.name for p in built.iterdir()}
    for name in named_assets():
        assert (built / name).read_bytes() == (ASSETS / name).read_bytes()
