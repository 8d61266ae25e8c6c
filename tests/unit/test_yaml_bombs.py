"""YAML alias bombs: a flow is refused by the size its YAML expands to (engine/domain/loader.py), counted on the
composed graph without expanding it, so a few hundred bytes cannot stand for a billion nodes or a million jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.domain.loader import MAX_EXPANDED_NODES, check_flow, expanded_nodes

EXPANDED = f"expands to more than {MAX_EXPANDED_NODES:,} YAML nodes (through aliases)"
HELLO = Path(__file__).resolve().parents[2] / "engine" / "examples" / "hello.yaml"

# the classic billion laughs: 9 levels of 10 aliases each under 10 "lol"s, 10^9 scalars in 453 bytes
BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def job_bomb(levels: int = 5) -> str:
    """A flow whose node lists are anchored where first used and aliased by 9 siblings: 10 embedded flows of 10
    embedded flows ... of 10 noop jobs, 10^(levels+1) jobs. Each list is anchored inside its first sibling, so a
    shared list is reached through a later sibling before its first one."""

    def nodes(level: int) -> str:
        if level == 0:
            return "&l0 [" + ", ".join(f"{{name: {n}, type: noop}}" for n in "abcdefghij") + "]"
        first = f"{{name: a, type: flow, nodes: {nodes(level - 1)}}}"
        rest = [f"{{name: {n}, type: flow, nodes: *l{level - 1}}}" for n in "bcdefghij"]
        return f"&l{level} [" + ", ".join([first, *rest]) + "]"

    return f"name: bomb\nnodes: {nodes(levels)}\n"


def jobs_in(nodes: list[Any], seen: dict[int, int] | None = None) -> int:
    """The jobs a loaded node list stands for, memoized on the shared lists that aliases load as (an oracle
    independent of expanded_nodes, cheap because it never expands)."""
    seen = {} if seen is None else seen
    if id(nodes) not in seen:
        seen[id(nodes)] = sum(jobs_in(n["nodes"], seen) if n.get("type") == "flow" else 1 for n in nodes)
    return seen[id(nodes)]


def tree_size(value: Any) -> int:
    """Nodes of a small loaded document as a tree, aliases expanded: the oracle for expanded_nodes."""
    if isinstance(value, dict):
        return 1 + sum(tree_size(k) + tree_size(v) for k, v in value.items())
    if isinstance(value, list):
        return 1 + sum(tree_size(v) for v in value)
    return 1


def test_the_billion_laughs_is_refused_by_its_expanded_size():
    assert len(BILLION_LAUGHS.encode()) < 460
    spec, problems = check_flow(BILLION_LAUGHS)
    assert spec is None
    assert len(problems) == 1 and EXPANDED in problems[0].message


def test_the_job_bomb_is_2_kb_standing_for_a_million_jobs():
    # the premise of the tests below: the file is small and really is a bomb
    text = job_bomb()
    assert len(text.encode()) < 2100
    assert jobs_in(yaml.safe_load(text)["nodes"]) == 1_000_000


# A first version summed children in reversed DFS pre-order, which is not a topological order of a DAG: a shared
# list first reached through a later sibling was still unsized, the job bomb counted as small, and check_flow then
# expanded a million jobs (about a minute) before refusing it by its job count. The guards below fail fast instead.


def test_the_job_bomb_counts_past_the_limit():
    size = expanded_nodes(yaml.compose(job_bomb()))  # a name, so a failure does not print the node graph
    assert size > MAX_EXPANDED_NODES


def test_the_job_bomb_is_refused_by_its_expanded_size():
    text = job_bomb()
    # guard: were the count wrong, check_flow would expand the million jobs; fail here rather than wait
    size = expanded_nodes(yaml.compose(text))
    assert size > MAX_EXPANDED_NODES
    spec, problems = check_flow(text)
    assert spec is None
    assert len(problems) == 1 and EXPANDED in problems[0].message


@pytest.mark.parametrize("text", [
    "a",
    "[1, 2, 3]",
    "{a: 1, b: [2, 3]}",
    "a: &x [1, 2]\nb: *x\nc: *x\n",
    "[&x [1, 2], *x]",
    "[&x {k: v}, [*x, *x], {y: *x}]",
    "[[&x [1, 2]], *x]",
    "[{n: &x [1, 2, 3]}, {n: *x}, {n: *x}]",
], ids=repr)
def test_expanded_nodes_is_the_size_of_the_document_with_aliases_expanded(text):
    size = expanded_nodes(yaml.compose(text))
    assert size == tree_size(yaml.safe_load(text))


def test_an_empty_document_has_no_nodes():
    assert expanded_nodes(yaml.compose("")) == 0


@pytest.mark.parametrize(("tail", "refused"), [(99, False), (100, True)])
def test_the_limit_is_exactly_max_expanded_nodes(tail, refused):
    # 1 root + 1999 aliases of one 100-node list + the tail: MAX_EXPANDED_NODES with a tail of 99
    text = "[&a [" + ", ".join(["0"] * 99) + "]" + ", *a" * 1998 + ", 0" * tail + "]"
    size = expanded_nodes(yaml.compose(text))
    assert (size > MAX_EXPANDED_NODES) is refused
    assert 1 + 1999 * 100 + 99 == MAX_EXPANDED_NODES
    spec, problems = check_flow(text)
    messages = [p.message for p in problems]
    assert spec is None
    # under the limit the file is read, and refused for what it is: not a mapping
    assert messages == [problems[0].message] and (EXPANDED in messages[0]) is refused


def test_a_flow_using_anchors_and_aliases_a_few_times_is_accepted():
    text = """\
name: anchored
nodes:
  - name: fetch
    type: command
    config: &shell {command: echo step, user.to.proxy: nobody}
  - name: parse
    type: command
    dependsOn: &after_fetch [fetch]
    config: *shell
  - name: load
    type: command
    dependsOn: *after_fetch
    config: *shell
  - name: report
    type: noop
    dependsOn: [parse, load]
"""
    spec, problems = check_flow(text)
    assert problems == []
    assert spec is not None
    assert [job.name for job in spec.jobs] == ["fetch", "parse", "load", "report"]
    assert all(job.config["command"] == "echo step" for job in spec.jobs[:3])
    assert spec.jobs[2].depends_on == ("fetch",)


def test_the_example_flow_is_accepted():
    spec, problems = check_flow(HELLO.read_text())
    assert problems == []
    assert spec is not None and spec.name == "hello"


# An anchor may be aliased inside itself (PyYAML composes a cycle): 10 embedded flows each naming the very list
# they are in stand for 10^8 jobs down to the nesting limit, in about 200 bytes. A cycle expands without end, so
# it must count as past the limit (the first version counted it as small, and check_flow then ran for minutes).
RECURSIVE = "name: loop\nnodes: &n [" + ", ".join(f"{{name: {c}, type: flow, nodes: *n}}" for c in "abcdefghij") + "]\n"


def test_a_self_referencing_node_list_counts_past_the_limit():
    size = expanded_nodes(yaml.compose(RECURSIVE))
    assert size > MAX_EXPANDED_NODES


def test_a_self_referencing_node_list_is_refused_by_its_expanded_size():
    # guard, as for the job bomb: fail here rather than let check_flow expand 10^8 jobs
    size = expanded_nodes(yaml.compose(RECURSIVE))
    assert size > MAX_EXPANDED_NODES
    spec, problems = check_flow(RECURSIVE)
    assert spec is None
    assert len(problems) == 1 and EXPANDED in problems[0].message
