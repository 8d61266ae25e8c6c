"""A param substituted into a command reaches the job as exactly its text, in every shell context, and never runs.

Each case runs the substituted command in a real shell (/bin/sh, and bash when present) with the variables the
substitution exports, and compares what the command printed with what the value should give there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.shell_contexts import CONTEXTS, hostile_values
from workers.jobs import exported_as_variable
from workers.shell_params import ParamSubstitutionError, substitute

SHELLS = [shell for shell in ("/bin/sh", shutil.which("bash")) if shell]


def run(command: str, params: dict[str, str], shell: str) -> str:
    substituted = substitute(command, params)
    done = subprocess.run([shell, "-c", substituted.command], env={**os.environ, **substituted.env},
                          capture_output=True, timeout=10)
    assert done.returncode == 0, (substituted.command, done.stderr)
    return done.stdout.decode()


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("context", "template", "expected"), CONTEXTS, ids=[c[0] for c in CONTEXTS])
def test_a_hostile_value_arrives_as_its_text_and_never_runs(shell: str, context: str, template: str,
                                                            expected: Callable[[str], str], tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    for value in hostile_values(canary):
        seen = run(template, {"v": value, "w": "w-value"}, shell)
        assert seen == expected(value), (context, value, seen)
    assert not canary.exists()


def test_harmless_values_give_what_azkaban_textual_substitution_gives() -> None:
    # Azkaban's PropsUtils replaces ${name} by the text; for a value without shell syntax the shell sees the same
    params = {"who": "world", "day": "2026-11-29", "region": "eu-west-1"}
    for template, textual in [("echo hello ${who}", "echo hello world"),
                              ('echo "extracting ${region} for ${day}"', 'echo "extracting eu-west-1 for 2026-11-29"'),
                              ("echo 'it is ${day}'", "echo 'it is 2026-11-29'")]:
        for shell in SHELLS:
            plain = subprocess.run([shell, "-c", textual], capture_output=True, text=True).stdout
            assert run(template, params, shell) == plain


def test_unknown_names_and_shell_variables_are_left_to_the_shell() -> None:
    substituted = substitute("echo ${HOME} ${v} $v ${not.a.param}", {"v": "x"})
    assert substituted.command == 'echo ${HOME} "${KAFKABAN_PARAM_0}" $v ${not.a.param}'
    assert substituted.env == {"KAFKABAN_PARAM_0": "x"}


def test_dotted_param_names_are_substituted() -> None:
    assert run("printf '%s' ${param.inData}", {"param.inData": "$(x)"}, "/bin/sh") == "$(x)"


def test_arithmetic_takes_integers_and_refuses_anything_else(tmp_path: Path) -> None:
    assert run("printf '%s' $(( ${n} + 1 ))", {"n": "41"}, "/bin/sh") == "42"
    canary = tmp_path / "pwned"
    for value in ["a[$(touch " + str(canary) + ")]", "1+1", "x", ""]:
        with pytest.raises(ParamSubstitutionError, match="arithmetic"):
            substitute("echo $(( ${n} + 1 ))", {"n": value})
    assert not canary.exists()


def test_a_quoted_heredoc_takes_plain_text_and_refuses_shell_syntax_or_newlines() -> None:
    assert run("cat <<'EOF'\nday=${d} $HOME\nEOF", {"d": "2026-11-29"}, "/bin/sh") == "day=2026-11-29 $HOME\n"
    for value in ["x\nEOF\ntouch pwned", "$(touch pwned)", "a'b"]:
        with pytest.raises(ParamSubstitutionError, match="quoted heredoc"):
            substitute("cat <<'EOF'\n${d}\nEOF\n", {"d": value})


METACHARACTERS = st.lists(st.sampled_from([*list("$`'\"\\(){}[]*?~!#;&|<>=%\n\t ab1-"), "${v}", "EOF", "$("]),
                          max_size=30).map("".join)


@settings(max_examples=150, deadline=None)
@given(value=METACHARACTERS, context=st.sampled_from(CONTEXTS))
def test_any_string_of_shell_metacharacters_arrives_as_itself(value: str, context: tuple[str, str, Callable[[str], str]]
                                                               ) -> None:
    _, template, expected = context
    assert run(template, {"v": value, "w": "w-value"}, "/bin/sh") == expected(value)


@pytest.mark.parametrize("name", ["PATH", "LD_PRELOAD", "BASH_ENV", "ENV", "IFS", "PYTHONPATH", "NODE_OPTIONS",
                                  "JAVA_TOOL_OPTIONS", "BASH_FUNC_echo%%", "KAFKABAN_OUTPUT_FILE", "a b", "1x",
                                  "http_proxy"])
def test_a_param_never_sets_a_variable_that_programs_read_as_code(name: str) -> None:
    assert not exported_as_variable(name)


def test_ordinary_param_names_are_exported() -> None:
    assert all(exported_as_variable(name) for name in ["day", "DAY", "region_1", "_x"])
