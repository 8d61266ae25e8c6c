"""The pure core stays pure: nothing under engine/domain imports Kafka, PostgreSQL, the network, randomness or a
clock, or calls one. Time enters as the ``now`` its callers pass; ids are derived, never drawn."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "engine" / "domain"
FORBIDDEN_MODULES = {"confluent_kafka", "faust", "aiokafka", "psycopg", "socket", "random", "secrets", "time",
                     "threading", "asyncio", "subprocess", "os", "requests", "httpx"}
FORBIDDEN_NAMES = {"now_ms", "uuid1", "uuid4", "now", "utcnow", "today", "time_ns", "monotonic", "urandom"}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names if a.name in FORBIDDEN_NAMES]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name in FORBIDDEN_NAMES:
                found.append(f"a call of {name} at line {node.lineno}")
    return found


@pytest.mark.parametrize("path", sorted(DOMAIN.rglob("*.py")), ids=lambda p: str(p.relative_to(DOMAIN)))
def test_nothing_in_the_domain_reaches_outside(path: Path):
    assert _violations(path) == []


def test_the_check_sees_a_clock_and_a_broker(tmp_path: Path):
    impure = tmp_path / "impure.py"
    impure.write_text("import time\nfrom confluent_kafka import Producer\nfrom engine.clock import now_ms\n"
                      "import datetime as dt\nx = dt.datetime.now()\n")
    assert len(_violations(impure)) == 4
