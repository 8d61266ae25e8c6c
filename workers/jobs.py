"""How each job type becomes a process: the argv, the environment, and reading its outputs back.

Params reach a job two ways: as environment variables, and substituted for ``${name}`` in a command, where each
value is shell-quoted first, so no value can inject shell syntax.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from engine.domain.commands import DispatchJob

_PARAM = re.compile(r"\$\{([A-Za-z0-9_][A-Za-z0-9_.\-]*)\}")

# Runs a python job's function in a fresh interpreter: called with the params, a dict it returns is its output.
_PYTHON_RUNNER = """
import importlib, json, os, sys
module_name, _, function_name = sys.argv[1].partition(":")
function = getattr(importlib.import_module(module_name), function_name)
result = function(json.loads(os.environ["KAFKABAN_PARAMS"]))
if isinstance(result, dict):
    with open(os.environ["KAFKABAN_OUTPUT_FILE"], "w") as out:
        json.dump(result, out)
"""


class JobSetupError(ValueError):
    """The dispatch cannot be turned into a process (unknown type, bad config)."""


@dataclass(frozen=True)
class Launch:
    argv: list[str] | None  # None: nothing to run (noop)
    env: dict[str, str]


def substitute(command: str, params: Mapping[str, str]) -> str:
    """Replace ${name} of known params by the shell-quoted value; other ${...} are left to the shell."""
    return _PARAM.sub(lambda m: shlex.quote(params[m[1]]) if m[1] in params else m[0], command)


def job_env(dispatch: DispatchJob, output_file: Path, base: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    for name, value in dispatch.params.items():
        env[name] = value
    env.update({
        "KAFKABAN_EXECUTION_ID": dispatch.execution_id,
        "KAFKABAN_JOB": dispatch.job,
        "KAFKABAN_ATTEMPT": str(dispatch.attempt),
        "KAFKABAN_OUTPUT_FILE": str(output_file),
        "JOB_OUTPUT_PROP_FILE": str(output_file),
        "KAFKABAN_PARAMS": json.dumps(dict(dispatch.params)),
        "KAFKABAN_INPUTS": json.dumps(dict(dispatch.inputs)),
    })
    return env


def launch(dispatch: DispatchJob, output_file: Path, base_env: Mapping[str, str]) -> Launch:
    # the log and the views carry NUL; a process's environment and arguments cannot
    held = sorted(name for name, value in dispatch.params.items() if "\x00" in name or "\x00" in value)
    if held or "\x00" in dispatch.execution_id:
        what = f"param {held[0]!r}" if held else "the execution id"
        raise JobSetupError(f"{what} holds a NUL character, which a process cannot receive in its environment "
                            f"or arguments")
    env = job_env(dispatch, output_file, base_env)
    if dispatch.type == "noop":
        return Launch(None, env)
    if dispatch.type == "command":
        command = dispatch.config.get("command", "")
        if not command.strip():
            raise JobSetupError("command job without config.command")
        return Launch(["/bin/sh", "-c", substitute(command, dispatch.params)], env)
    if dispatch.type == "python":
        function = dispatch.config.get("function", "")
        if ":" not in function:
            raise JobSetupError("python job needs config.function as 'module:function'")
        return Launch([sys.executable, "-c", _PYTHON_RUNNER, function], env)
    raise JobSetupError(f"unknown job type {dispatch.type!r}")


class OutputError(ValueError):
    pass


def read_outputs(output_file: Path) -> dict[str, str]:
    """The JSON object a job wrote, each value re-encoded as JSON text (as the event schema carries it)."""
    if not output_file.exists():
        return {}
    text = output_file.read_text(encoding="utf-8").strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OutputError(f"the output file is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise OutputError("the output file must hold a JSON object")
    return {str(key): json.dumps(value) for key, value in data.items()}
