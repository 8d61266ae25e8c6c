"""Azkaban conditions: parsing, macros, and expressions over upstream outputs."""

from __future__ import annotations

import re

import pytest

from engine.domain.conditions import ConditionError, ParentView, holds, macros, parse, refs
from engine.domain.loader import check_flow


def view(*statuses: str, **outputs: dict[str, str]) -> ParentView:
    return ParentView(tuple(statuses), outputs)


@pytest.mark.parametrize(("macro", "statuses", "expected"), [
    ("all_success", ("SUCCEEDED", "SUCCEEDED"), True),
    ("all_success", ("SUCCEEDED", "SKIPPED"), False),
    ("all_done", ("FAILED", "CANCELLED"), True),
    ("all_failed", ("FAILED", "FAILED"), True),
    ("all_failed", ("FAILED", "SUCCEEDED"), False),
    ("one_success", ("FAILED", "SUCCEEDED"), True),
    ("one_success", ("FAILED", "SKIPPED"), False),
    ("one_failed", ("SUCCEEDED", "FAILED"), True),
    ("one_failed", ("SUCCEEDED", "SUCCEEDED"), False),
    # a skipped or cancelled parent counts as failed, as Azkaban's cancelled and killed ones do
    # (ConditionalWorkflowUtils.checkConditionOnJobStatus with Status.isStatusFailed)
    ("one_failed", ("SUCCEEDED", "SKIPPED"), True),
    ("all_failed", ("FAILED", "SKIPPED"), True),
    ("all_failed", ("CANCELLED", "SKIPPED"), True),
])
def test_macros(macro, statuses, expected):
    assert holds(macro, view(*statuses)) is expected


def test_no_condition_means_all_success():
    assert holds(None, view("SUCCEEDED"))
    assert not holds(None, view("SUCCEEDED", "FAILED"))


def test_an_expression_without_a_macro_also_needs_all_success():
    outputs = {"a": {"x": "1"}}
    assert holds("${a:x} == 1", view("SUCCEEDED", **outputs))
    assert not holds("${a:x} == 1", view("FAILED", **outputs))
    assert holds("${a:x} == 1 && one_failed", view("FAILED", "SUCCEEDED", **outputs))


@pytest.mark.parametrize(("text", "expected"), [
    ("${a:n} > 5", True), ("${a:n} >= 7", True), ("${a:n} < 7", False), ("${a:n} <= 7", True),
    ("${a:n} != 7", False), ("${a:s} == 'ok'", True), ('${a:s} == "ok"', True), ("${a:s} == 'no'", False),
    ("${a:flag}", True), ("!${a:flag}", False), ("${a:missing} == 1", False), ("${a:missing} != 1", True),
    ("(${a:n} > 100 || ${a:s} == 'ok') && ${a:flag} == true", True), ("${a:text_number} == 3", True),
    ("${a:n} > 'abc'", False),
])
def test_expressions_over_outputs(text, expected):
    outputs = {"a": {"n": "7", "s": '"ok"', "flag": "true", "text_number": '"3"'}}
    assert holds(text, view("SUCCEEDED", **outputs)) is expected


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty condition"), ("all_success &&", "ends too early"), ("(all_done", "missing ')'"),
    ("${a:x} ==", "ends too early"), ("succeeded", "unknown word 'succeeded'"), ("${a:x} = 1", "unexpected"),
    ("all_done all_done", "unexpected"),
])
def test_bad_syntax_names_the_problem(text, reason):
    with pytest.raises(ConditionError, match=re.escape(reason)):
        parse(text)


def test_refs_and_macros_are_listed():
    tree = parse("${a:x} > 1 || (${b:y} == 'z' && one_success)")
    assert [(r.job, r.param) for r in refs(tree)] == [("a", "x"), ("b", "y")]
    assert macros(tree) == ["one_success"]


# Hostile conditions are refused by validation with a reason, never by a RecursionError (parsing and evaluating
# a condition are recursive), and the message does not echo the whole input back.
@pytest.mark.parametrize(("condition", "reason"), [
    ("(" * 3000 + "${a:x} == 1" + ")" * 3000, "too long"),
    ("(" * 40 + "${a:x} == 1" + ")" * 40, "nested more than 32 deep"),
    ("!" * 3000 + "all_done", "too long"),
    ("!" * 33 + "all_done", "nested more than 32 deep"),
    (" && ".join(["${a:x} == 1"] * 3000), "too long"),
])
def test_deep_or_huge_conditions_are_refused_with_a_reason(condition: str, reason: str):
    source = ("name: f\nnodes:\n  - {name: a, type: noop}\n"
              f"  - {{name: b, type: noop, dependsOn: [a], condition: \"{condition}\"}}\n")
    _spec, problems = check_flow(source)
    assert len(problems) == 1 and reason in str(problems[0])
    assert len(str(problems[0])) < 300


def test_conditions_within_the_bounds_still_parse():
    assert parse("(" * 32 + "${a:x} == 1" + ")" * 32) == parse("${a:x} == 1")
    assert parse("!" * 32 + "all_done") is not None
