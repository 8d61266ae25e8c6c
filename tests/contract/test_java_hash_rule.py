"""The definition hash as the Java producer of the tests computes it from the README's words
(tests/java/example/billing/CanonicalJson.java) writes the same JSON as the engine's FlowSpec.canonical_json for
the values where languages differ: doubles, escapes, characters past U+FFFF and the order of keys."""

from __future__ import annotations

import json
import math
import random
import struct
import subprocess

import pytest

from tests.support.java import JavaUnavailable, producer_program


def _python(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)  # as FlowSpec does


def _doubles() -> list[float]:
    rng = random.Random(20261201)
    edge = [0.0, -0.0, 0.5, 0.1, 1.0, 1e-4, 9.999e-5, 1e-05, 1e15, 9999999999999998.0, 1e16, 1.5e16, 1e22, 1e300,
            5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 123456789.125, 2.0**53 + 2, -3.25, 0.3,
            1 / 3, 2 / 3, 100.0, 1234.5e-10, math.pi, math.e]
    bits = [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(3000)]
    plain = [rng.uniform(0, 16) for _ in range(1000)] + [round(rng.uniform(0, 4), 2) for _ in range(500)]
    return [d for d in edge + bits + plain if math.isfinite(d)]


STRINGS = ["plain", "caf\u00e9", 'say "hi"', "back\\slash", "tab\tnew\nline\rcr", "\b\f", "\x00\x01\x1f\x7f",
           "\u2028\u2029", "\ufffd\ud7ff\ue000", "\U0001f680 rocket", "\U0010ffff", "", "/"]
KEYS = ["b", "a", "B", "\ufffd", "\U0001f680", "\ue000", "a\x00", "aa", "\u00e9", "z"]


def test_java_writes_doubles_strings_and_key_order_as_the_engine_hashes_them():
    try:
        program = producer_program()
    except JavaUnavailable as exc:
        pytest.skip(str(exc))
    doubles = _doubles()
    lines = [f"d {d!r}" for d in doubles] + [f"s {s.encode().hex()}" for s in STRINGS]
    lines.append("m " + ",".join(k.encode().hex() for k in KEYS))
    done = subprocess.run(program.command("example.billing.CanonicalJson"), input="\n".join(lines) + "\n",
                          capture_output=True, text=True, encoding="utf-8", check=True)
    expected = [_python(d) for d in doubles] + [_python(s) for s in STRINGS] + [_python(dict.fromkeys(KEYS))]
    got = done.stdout.split("\n")[:-1]  # not splitlines: U+2028 is a line break to it, and JSON keeps it
    wrong = [(want, have) for want, have in zip(expected, got, strict=True) if want != have]
    assert wrong == [], f"{len(wrong)} of {len(expected)} differ, e.g. {wrong[:5]}"
