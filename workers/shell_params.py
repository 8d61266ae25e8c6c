"""Params in a shell command never become code.

A command job's ``${name}`` is replaced by a reference to an environment variable holding the param's value, written
for the quoting context the reference sits in, which a small POSIX shell lexer tracks:

- unquoted (also inside ``$(...)``, backticks and ``${VAR:-...}``): ``"${KAFKABAN_PARAM_n}"``
- inside double quotes, or an unquoted heredoc: ``${KAFKABAN_PARAM_n}``
- inside single quotes: ``'"${KAFKABAN_PARAM_n}"'`` (close the quote, insert, reopen)
- inside ``$((...))``: the value itself, which must be an integer
- inside a quoted heredoc (``<<'EOF'``), where nothing expands: the value itself, which must be plain text
- in a comment: left alone

A parameter expansion's result is never parsed again by the shell, so the job sees exactly the value whatever it
holds, and for a value without shell syntax it sees what Azkaban's textual substitution would have given. The two
places the value is written out literally accept only values that are harmless in any context, so even a
construct the lexer reads differently from the shell cannot turn a value into code. Only a command that itself
evaluates a value (``eval``, ``sh -c "$x"``) runs it: that is the flow author's code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

PARAM = re.compile(r"\$\{([A-Za-z0-9_][A-Za-z0-9_.\-]*)\}")
VARIABLE_PREFIX = "KAFKABAN_PARAM_"
_INTEGER = re.compile(r"[+-]?[0-9]+")
_PLAIN = re.compile(r"[A-Za-z0-9_.,:/@%+=\- ]*")  # no quoting, expansion, globbing, operators or newlines
_WORD_START = frozenset(" \t\n;&|()")


class ParamSubstitutionError(ValueError):
    """A param is used where its value cannot be placed safely."""


@dataclass(frozen=True)
class Substituted:
    command: str
    env: dict[str, str]  # the variables the command now references


@dataclass
class _Heredoc:
    delimiter: str
    quoted: bool
    strip_tabs: bool


@dataclass
class _Lexer:
    text: str
    params: Mapping[str, str]
    i: int = 0
    out: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)  # param name -> variable name
    pending: list[_Heredoc] = field(default_factory=list)

    # -- helpers ------------------------------------------------------------------------------------------------

    def at(self, token: str) -> bool:
        return self.text.startswith(token, self.i)

    def take(self, count: int = 1) -> str:
        taken = self.text[self.i:self.i + count]
        self.out.append(taken)
        self.i += count
        return taken

    def param_here(self) -> str | None:
        """The param whose ``${name}`` starts here (consumed), or None (a shell variable, left to the shell)."""
        match = PARAM.match(self.text, self.i)
        if match is None or match[1] not in self.params:
            return None
        self.i = match.end()
        return match[1]

    def variable(self, name: str) -> str:
        if name not in self.variables:
            self.variables[name] = f"{VARIABLE_PREFIX}{len(self.variables)}"
        return self.variables[name]

    def literal(self, name: str, rule: re.Pattern[str], where: str, needs: str) -> str:
        value = self.params[name]
        if rule.fullmatch(value) is None:
            raise ParamSubstitutionError(f"param {name!r} is used {where}, where only {needs} can be substituted "
                                         f"safely; its value {value[:40]!r} is not")
        return value

    def expansion(self, reference: str) -> bool:
        """A backtick or ``$(...)`` command, ``$((...))`` arithmetic, or a param (written as ``reference``
        formatted with its variable's name) starting here: consumed, and True; else False."""
        if self.at("`"):
            self.take()
            self.command("`")
        elif self.at("$(("):
            self.take(3)
            self.arithmetic()
        elif self.at("$("):
            self.take(2)
            self.command(")")
        elif (name := self.param_here()) is not None:
            self.out.append(reference.format(self.variable(name)))
        else:
            return False
        return True

    # -- contexts -----------------------------------------------------------------------------------------------

    def command(self, closer: str | None) -> None:
        """Unquoted text up to ``closer`` (``)`` of ``$(``, a backtick, ``}`` of ``${``; None: the end)."""
        depth = 0
        while self.i < len(self.text):
            c = self.text[self.i]
            if c == "\\":
                self.take(2)
            elif c == "'":
                self.take()
                self.single_quoted()
            elif c == '"':
                self.take()
                self.double_quoted('"')
            elif c == "`":
                self.take()
                if closer == "`":
                    return
                self.command("`")
            elif self.expansion('"${{{}}}"'):
                pass
            elif self.at("${"):
                self.take(2)
                self.command("}")
            elif c == "(":
                depth += 1
                self.take()
            elif c == ")" and closer == ")" and depth == 0:
                self.take()
                return
            elif c == ")":
                depth = max(depth - 1, 0)
                self.take()
            elif c == "}" and closer == "}":
                self.take()
                return
            elif c == "#" and (self.i == 0 or self.text[self.i - 1] in _WORD_START):
                end = self.text.find("\n", self.i)
                self.take((end if end >= 0 else len(self.text)) - self.i)
            elif self.at("<<<"):
                self.take(3)
            elif self.at("<<"):
                self.take(2)
                self.heredoc_operator()
            elif c == "\n":
                self.take()
                while self.pending:
                    self.heredoc_body(self.pending.pop(0))
            else:
                self.take()

    def single_quoted(self) -> None:
        while self.i < len(self.text):
            if self.text[self.i] == "'":
                self.take()
                return
            if (name := self.param_here()) is not None:
                self.out.append(f"'\"${{{self.variable(name)}}}\"'")
            else:
                self.take()

    def double_quoted(self, closer: str) -> None:
        """Inside ``"..."`` (closer ``"``), or a ``${...}`` within it (closer ``}``)."""
        while self.i < len(self.text):
            c = self.text[self.i]
            if c == "\\":
                self.take(2)
            elif c == closer:
                self.take()
                return
            elif c == '"':  # a quoted word inside ${VAR:-"..."}
                self.take()
                self.double_quoted('"')
            elif self.expansion("${{{}}}"):
                pass
            elif self.at("${"):
                self.take(2)
                self.double_quoted("}")
            else:
                self.take()

    def arithmetic(self) -> None:
        depth = 0
        while self.i < len(self.text):
            c = self.text[self.i]
            if self.at("))") and depth == 0:
                self.take(2)
                return
            if (name := self.param_here()) is not None:
                self.out.append(self.literal(name, _INTEGER, "in arithmetic $((...))", "an integer"))
            elif self.at("$("):
                self.take(2)
                self.command(")")
            else:
                depth += {"(": 1, ")": -1}.get(c, 0)
                self.take()

    # -- heredocs -----------------------------------------------------------------------------------------------

    def heredoc_operator(self) -> None:
        """After ``<<``: an optional ``-``, blanks, and the delimiter word, whose body starts at the next line."""
        strip_tabs = self.at("-")
        if strip_tabs:
            self.take()
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.take()
        start = self.i
        while self.i < len(self.text) and self.text[self.i] not in " \t\n;&|<>()":
            if self.text[self.i] in "'\"":
                end = self.text.find(self.text[self.i], self.i + 1)
                self.i = len(self.text) if end < 0 else end + 1
            else:
                self.i += 2 if self.text[self.i] == "\\" else 1
        word = self.text[start:self.i]
        self.out.append(word)
        quoted = any(q in word for q in "'\"\\")
        delimiter = re.sub(r"""\\(.)|['"]""", lambda m: m[1] or "", word)
        self.pending.append(_Heredoc(delimiter, quoted, strip_tabs))

    def heredoc_body(self, doc: _Heredoc) -> None:
        while self.i < len(self.text):
            end = self.text.find("\n", self.i)
            line = self.text[self.i:end if end >= 0 else len(self.text)]
            if (line.lstrip("\t") if doc.strip_tabs else line) == doc.delimiter:
                self.take(len(line) + (1 if end >= 0 else 0))
                return
            if doc.quoted:
                self.quoted_heredoc_line(end)
            else:
                self.unquoted_heredoc_line()

    def quoted_heredoc_line(self, end: int) -> None:
        """Nothing expands here: the value goes in as text, so it must be plain (it cannot end the heredoc)."""
        stop = end if end >= 0 else len(self.text)
        while self.i < stop:
            if (name := self.param_here()) is not None:
                self.out.append(self.literal(name, _PLAIN, "inside a quoted heredoc", "plain text"))
            else:
                self.take()
        if end >= 0:
            self.take()

    def unquoted_heredoc_line(self) -> None:
        """As inside double quotes, except that a double quote is just a character; the line's newline ends it
        (a ``$(...)`` may run over several lines)."""
        while self.i < len(self.text):
            c = self.text[self.i]
            if c == "\\":
                self.take(2)
            elif c == "\n":
                self.take()
                return
            elif not self.expansion("${{{}}}"):
                self.take()


def substitute(command: str, params: Mapping[str, str]) -> Substituted:
    """``command`` with each ``${name}`` of a param replaced so the shell sees the value as exactly that text; other
    ``${...}`` are left to the shell. Raises ParamSubstitutionError where a value cannot be placed safely."""
    lexer = _Lexer(command, params)
    lexer.command(None)
    return Substituted("".join(lexer.out), {variable: params[name] for name, variable in lexer.variables.items()})
