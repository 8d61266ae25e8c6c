"""A real browser for the UI tests: Playwright driving the system's Chromium (Playwright's own browser download is
not needed). Where no Chromium is installed the tests are skipped with what to install, unless
KAFKABAN_REQUIRE_BROWSER=1 (CI sets it), where that is a failure: the browser tests never skip there."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"  # git-ignored: each page as the tests saw it
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL = "install Debian's chromium (apt-get install chromium) and the test extra (pip install '.[test]')"


def chromium_path() -> str | None:
    given = os.environ.get("KAFKABAN_CHROMIUM")
    if given:
        return given
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def unavailable(reason: str) -> None:
    if os.environ.get("KAFKABAN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser tests must run here: {reason}; {INSTALL}")
    pytest.skip(f"{reason}; {INSTALL}")


@dataclass
class Console:
    """What a page said on its console: the tests hold every page to saying no error."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def take(self) -> list[str]:
        taken, self.errors = self.errors, []
        return taken


@contextmanager
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed")
    executable = chromium_path()
    if executable is None:
        unavailable("no Chromium on PATH")
    with sync_playwright() as playwright:
        # root (as in CI containers) cannot use Chromium's sandbox
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        try:
            yield browser
        finally:
            browser.close()


def shoot(page: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
