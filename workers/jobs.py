"""How each job type becomes a process: the argv, the environment, and reading its outputs back.

Params reach a job two ways: as environment variables, and substituted for ``${name}`` in a command, as a reference
to a variable holding the value, so no value ever becomes code (workers/shell_params.py).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from engine.domain.commands import DispatchJob
from engine.domain.properties import Properties, PropertyError, builtins, command_names
from workers.jobtypes import ArgvPlugin, JobTypes
from workers.shell_params import ParamSubstitutionError, substitute

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
    cwd: Path | None = None  # None: the attempt's working directory


def job_properties(dispatch: DispatchJob) -> Properties:
    """The job's Azkaban properties: built-ins < parent outputs < config < runtime params."""
    outputs: dict[str, str] = {}
    for key, text in dispatch.inputs.items():
        value = json.loads(text)
        outputs[key.split(":", 1)[-1]] = value if isinstance(value, str) else json.dumps(value)
    builtin = builtins(dispatch.execution_id, dispatch.flow_name or "", dispatch.job, dispatch.attempt,
                       dispatch.flow_started_at or 0, dispatch.project) if dispatch.flow_name else {}
    return Properties.of(dispatch.config, dispatch.params, outputs, builtin)


def _working_dir(properties: Properties, workdir: Path) -> Path | None:
    """Azkaban's working.dir, which must stay inside the attempt's working directory."""
    if "working.dir" not in properties.config:
        return None
    wanted = (workdir / properties.value("working.dir")).resolve()
    if not wanted.is_relative_to(workdir.resolve()):
        raise JobSetupError(f"working.dir {properties.config['working.dir']!r} is outside the job's working "
                            f"directory")
    wanted.mkdir(parents=True, exist_ok=True)
    return wanted


def command_launch(dispatch: DispatchJob, env: dict[str, str], workdir: Path) -> Launch:
    """``command``, ``command.1``, ... each in its own subshell, in order, stopping at the first failure (as
    Azkaban runs them, one process each); ``env.NAME`` properties exported; data substituted safely."""
    properties = job_properties(dispatch)
    try:
        names = command_names(properties.config)
        if not names:
            raise JobSetupError("command job without config.command")
        lines = [properties.command(name) for name in names]
        exported = {name[4:]: properties.value(name) for name in sorted(properties.config)
                    if name.startswith("env.") and len(name) > 4}
        cwd = _working_dir(properties, workdir)
        script = lines[0] if len(lines) == 1 else " && ".join(f"(\n{line}\n)" for line in lines)
        substituted = substitute(script, properties.data)
    except (PropertyError, ParamSubstitutionError) as exc:
        raise JobSetupError(str(exc)) from exc
    env = {**env, **{k: v for k, v in exported.items() if not k.startswith("KAFKABAN_")}, **substituted.env}
    return Launch(["/bin/sh", "-c", substituted.command], env, cwd or workdir)


# Variables that shells, the dynamic loader and language runtimes read as code or as where to find code: a param
# never sets them (it is still in KAFKABAN_PARAMS and substitutable as ${name}).
INTERPRETED_VARIABLES = frozenset({
    "PATH", "IFS", "ENV", "BASH_ENV", "CDPATH", "SHELLOPTS", "BASHOPTS", "GLOBIGNORE", "PS1", "PS2", "PS3", "PS4",
    "PROMPT_COMMAND", "HOME", "SHELL", "TMPDIR", "JOB_OUTPUT_PROP_FILE", "NODE_OPTIONS", "NODE_PATH",
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH", "PERL5OPT", "PERL5LIB", "PERLLIB",
    "RUBYOPT", "RUBYLIB", "GCONV_PATH", "HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS", "NLSPATH", "GLIBC_TUNABLES",
    "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
})
INTERPRETED_PREFIXES = ("LD_", "DYLD_", "PYTHON", "KAFKABAN_", "BASH_FUNC_", "GIT_", "MALLOC_")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def exported_as_variable(name: str) -> bool:
    """Whether a param also becomes an environment variable of its own name."""
    return (_IDENTIFIER.fullmatch(name) is not None and name not in INTERPRETED_VARIABLES
            and not name.startswith(INTERPRETED_PREFIXES))


def job_env(dispatch: DispatchJob, output_file: Path, base: Mapping[str, str]) -> dict[str, str]:
    env = dict(base)
    env.update({name: value for name, value in dispatch.params.items() if exported_as_variable(name)})
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


def launch(dispatch: DispatchJob, output_file: Path, base_env: Mapping[str, str],
           jobtypes: JobTypes | None = None, project_root: Path | None = None) -> Launch:
    """How to run ``dispatch``: in ``project_root`` (its project's files) when it has one, else beside its output
    file."""
    # the log and the views carry NUL; a process's environment and arguments cannot
    held = sorted(name for name, value in dispatch.params.items() if "\x00" in name or "\x00" in value)
    if held or "\x00" in dispatch.execution_id:
        what = f"param {held[0]!r}" if held else "the execution id"
        raise JobSetupError(f"{what} holds a NUL character, which a process cannot receive in its environment "
                            f"or arguments")
    env = job_env(dispatch, output_file, base_env)
    workdir = project_root or output_file.parent
    if dispatch.type == "noop":
        return Launch(None, env)
    if dispatch.type == "command":
        return command_launch(dispatch, env, workdir)
    if dispatch.type == "python":
        function = dispatch.config.get("function", "")
        if ":" not in function:
            raise JobSetupError("python job needs config.function as 'module:function'")
        return Launch([sys.executable, "-c", _PYTHON_RUNNER, function], env, project_root)
    plugins = jobtypes or JobTypes()
    if dispatch.type in plugins.templates:  # the plugin's properties fill in what the job's config leaves out
        merged = replace(dispatch, config={**plugins.templates[dispatch.type], **dispatch.config})
        return command_launch(merged, env, workdir)
    if dispatch.type in plugins.callables:
        return plugin_launch(dispatch, plugins.callables[dispatch.type], env, project_root)
    raise JobSetupError(f"unknown job type {dispatch.type!r}: no plugin for it on this worker of pool "
                        f"{dispatch.pool} (it runs {', '.join(plugins.names)})")


def plugin_launch(dispatch: DispatchJob, plugin: ArgvPlugin, env: dict[str, str], cwd: Path | None) -> Launch:
    """A Python plugin turns the job's resolved properties into an argv, run without a shell."""
    properties = job_properties(dispatch)
    try:
        resolved = {name: properties.value(name) for name in {*properties.config, *properties.data}}
        argv = plugin(resolved)
    except PropertyError as exc:
        raise JobSetupError(str(exc)) from exc
    except Exception as exc:  # the plugin's own error: the job fails with it, the worker goes on
        raise JobSetupError(f"job type plugin {dispatch.type!r} failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(argv, list) or not argv or not all(isinstance(part, str) for part in argv):
        raise JobSetupError(f"job type plugin {dispatch.type!r} must return a non-empty list of strings")
    return Launch(argv, env, cwd)


class OutputError(ValueError):
    pass


def read_outputs(output_file: Path, owner: int | None = None) -> dict[str, str]:
    """The JSON object a job wrote, each value re-encoded as JSON text (as the event schema carries it).

    Only a regular file is read, never through a symlink (a FIFO would hang the worker, a link could point the
    worker at a file the job cannot read itself); with ``owner``, only a file that uid owns."""
    try:
        handle = os.open(output_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        what = "is a symlink" if exc.errno == errno.ELOOP else f"cannot be read: {exc.strerror}"
        raise OutputError(f"the output file {what}") from exc
    with os.fdopen(handle, "rb") as stream:
        status = os.fstat(stream.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise OutputError("the output file is not a regular file")
        if owner is not None and status.st_uid != owner:
            raise OutputError("the output file is not the job's own (another user owns it)")
        raw = stream.read()
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise OutputError(f"the output file is not UTF-8 text: {exc}") from exc
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise OutputError(f"the output file is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise OutputError("the output file must hold a JSON object")
    return {str(key): json.dumps(value) for key, value in data.items()}
