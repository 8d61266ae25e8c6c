"""The shell contexts a param can be substituted into, and hostile values, shared by the unit test (every shell)
and the worker test (a real worker)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def hostile_values(canary: Path) -> list[str]:
    return [f"$(touch {canary})", f"`touch {canary}`", f'"; touch {canary}; "', f"'; touch {canary}; '", "\\",
            "a\\", "line one\nline two", f"\n touch {canary}\n", "$HOME", "*", "~", "a b  c", "", "ünïcødé ☃ 雪",
            f"${{IFS}}touch${{IFS}}{canary}", f"') ; touch {canary} #", "EOF", f"x\nEOF\ntouch {canary}\ncat <<EOF",
            "-n", "%s %d", "!!", "$((1+1))", "${x}"]


def _strip_newlines(value: str) -> str:
    return value.rstrip("\n")  # command substitution drops trailing newlines: the shell's rule, not ours


# (name, template, what the command prints for value v)
CONTEXTS: list[tuple[str, str, Callable[[str], str]]] = [
    ("unquoted", "printf '%s' ${v}", lambda v: v),
    ("double quotes", 'printf \'%s\' "<${v}>"', lambda v: f"<{v}>"),
    ("single quotes", "printf '%s' '<${v}>'", lambda v: f"<{v}>"),
    ("mid-word", "printf '%s' pre${v}post", lambda v: f"pre{v}post"),
    ("next to another", "printf '%s' ${v}${w}\"${v}\"", lambda v: f"{v}w-value{v}"),
    ("inside $(...)", "printf '%s' \"$(printf '%s' ${v})\"", _strip_newlines),
    ("inside $(...) in quotes", "printf '%s' \"[$(printf '%s' \"${v}\")]\"", lambda v: f"[{_strip_newlines(v)}]"),
    ("backticks", "printf '%s' \"`printf '%s' ${v}`\"", _strip_newlines),
    ("default of a shell variable", "printf '%s' \"${UNSET_HERE:-${v}}\"", lambda v: v),
    ("unquoted default", "printf '%s' ${UNSET_HERE:-${v}}", lambda v: v),
    ("heredoc", "cat <<EOF\n<${v}>\nEOF", lambda v: f"<{v}>\n"),
    ("heredoc with tabs stripped", "cat <<-EOF\n\t<${v}>\n\tEOF", lambda v: f"<{v}>\n"),
    ("here-string-free pipe", "printf '%s' ${v} | cat", lambda v: v),
    ("after a comment", "# ${v} is ignored here\nprintf '%s' ${v}", lambda v: v),
]
