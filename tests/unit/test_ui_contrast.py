"""Readable contrast, in both themes: every text colour of the UI's stylesheet against the background it is drawn
on meets WCAG 2 AA (4.5:1 for text), computed from the stylesheet's own variables."""

from __future__ import annotations

import re

import pytest

from engine.ui.pages import STATIC

CSS = (STATIC / "app.css").read_text(encoding="utf-8")
# (text, background) pairs the stylesheet draws
PAIRS = [("--fg", "--bg"), ("--muted", "--bg"), ("--link", "--bg"), ("--fg", "--card"), ("--muted", "--card"),
         ("--link", "--card"), ("--error-fg", "--error-bg"), ("--ok-fg", "--ok-bg"), ("--s-warn", "--bg"),
         ("--bg", "--link"),  # a primary button and the current page's tab
         *[("--on-status", f"--s-{s}") for s in ("pending", "running", "succeeded", "failed", "cancelled")],
         *[("--on-light-status", f"--s-{s}") for s in ("queued", "skipped")]]


def theme(selector: str) -> dict[str, str]:
    block = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", CSS)
    assert block, selector
    return dict(re.findall(r"(--[a-z-]+):\s*(#[0-9a-fA-F]{6})", block.group(1)))


def luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_formula_matches_wcags_own_examples():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("selector", [":root", ":root.dark"])
def test_every_text_colour_meets_aa_on_its_background(selector: str):
    colours = {**theme(":root"), **theme(selector)}  # the dark theme overrides the light one's variables
    weak = [(text, ground, round(contrast(colours[text], colours[ground]), 2)) for text, ground in PAIRS
            if contrast(colours[text], colours[ground]) < 4.5]
    assert not weak, weak
