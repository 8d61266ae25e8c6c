"""`kafkaban flow validate FILE [--json]` on valid and invalid files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_valid_file_exits_0_with_a_summary(capsys):
    assert main(["flow", "validate", str(EXAMPLES / "etl.yaml")]) == 0
    out = capsys.readouterr().out
    assert "valid flow 'etl'" in out and "5 jobs" in out and "sha256:" in out


def test_valid_file_json(capsys):
    assert main(["flow", "validate", "--json", str(EXAMPLES / "azkaban-basic.flow")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True and report["errors"] == []
    assert report["flow"] == "azkaban-basic" and report["jobs"] == 6


def test_invalid_file_exits_1_with_every_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes:\n  - {name: a, type: command}\n  - {name: b, type: noop, dependsOn: [zz]}\n")
    assert main(["flow", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "2 problems" in err
    assert "node 'a': a command job needs config.command" in err
    assert "node 'b': unknown dependency 'zz'" in err
    assert main(["flow", "validate", "--json", str(bad)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert {"node": "b", "message": "unknown dependency 'zz'"} in report["errors"]


def test_unreadable_file_is_a_usage_error(tmp_path, capsys):
    assert main(["flow", "validate", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_installed_package_finds_its_schemas_and_runs_the_cli(tmp_path):
    """From outside the source tree: the installed distribution carries the .avsc files and the CLI."""
    code = ("import schemas, engine.codec.schema_set as s; "
            "print(len(s.schema_set('executions').versions), schemas.__file__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    versions, _location = done.stdout.split()
    assert int(versions) >= 1
    cli = subprocess.run([sys.executable, "-m", "engine.cli", "flow", "validate", str(EXAMPLES / "etl.yaml")],
                         cwd=tmp_path, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
