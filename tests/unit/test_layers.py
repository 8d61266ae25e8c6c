"""The DAG layout the web UI draws: layers by deepest dependency, rows by where the dependencies sit, embedded
flows as groups, each edge carrying the condition of the job it leads into."""

from engine.domain.layers import group_of, layer_of, layout
from engine.domain.loader import check_flow

DIAMOND = """
nodes:
  - name: end
    type: noop
    dependsOn: [left, right]
    condition: one_success
  - name: left
    type: noop
    dependsOn: [start]
  - name: right
    type: noop
    dependsOn: [start]
  - name: start
    type: noop
"""

EMBEDDED = """
nodes:
  - name: first
    type: noop
  - name: inner
    type: flow
    dependsOn: [first]
    nodes:
      - name: a
        type: noop
      - name: b
        type: noop
        dependsOn: [a]
  - name: last
    type: noop
    dependsOn: [inner]
"""


def spec_of(text: str, name: str = "f"):
    spec, problems = check_flow(text, name)
    assert not problems, problems
    return spec


def test_layers_follow_the_deepest_dependency_whatever_the_declaration_order():
    assert layer_of(spec_of(DIAMOND)) == {"start": 0, "left": 1, "right": 1, "end": 2}


def test_rows_within_a_layer_are_distinct_and_edges_carry_the_conditions_of_the_jobs_they_enter():
    drawn = layout(spec_of(DIAMOND))
    rows = {n["name"]: (n["layer"], n["row"]) for n in drawn["nodes"]}
    assert {rows["left"], rows["right"]} == {(1, 0), (1, 1)}
    assert drawn["layers"] == 3
    assert drawn["order"][0] == "start" and drawn["order"][-1] == "end"
    assert sorted((e["from"], e["to"], e["condition"]) for e in drawn["edges"]) == [
        ("left", "end", "one_success"), ("right", "end", "one_success"), ("start", "left", None),
        ("start", "right", None)]


def test_embedded_flows_are_groups_of_their_jobs():
    drawn = layout(spec_of(EMBEDDED))
    assert drawn["groups"] == ["inner"]
    groups = {n["name"]: n["group"] for n in drawn["nodes"]}
    assert groups == {"first": None, "inner/a": "inner", "inner/b": "inner", "last": None}
    assert group_of("a/b/c") == "a/b" and group_of("top") is None
    layers = {n["name"]: n["layer"] for n in drawn["nodes"]}
    assert layers == {"first": 0, "inner/a": 1, "inner/b": 2, "last": 3}


def test_a_thousand_job_chain_lays_out_without_recursion():
    text = "nodes:\n" + "".join(
        f"  - name: j{i}\n    type: noop\n" + (f"    dependsOn: [j{i - 1}]\n" if i else "") for i in range(1000))
    drawn = layout(spec_of(text))
    assert drawn["layers"] == 1000
    assert {n["row"] for n in drawn["nodes"]} == {0}


def test_params_say_which_are_required():
    text = "params:\n  who: null\n  greeting: hello\nnodes:\n  - name: a\n    type: noop\n"
    assert layout(spec_of(text))["params"] == [{"name": "greeting", "default": "hello", "required": False},
                                                {"name": "who", "default": None, "required": True}]
