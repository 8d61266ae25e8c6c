"""Flow files -> FlowSpec: Azkaban Flow 2.0 unchanged, Kafkaban keys, and every problem reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.domain.loader import check_flow, flow_warnings, load_flow
from engine.domain.problems import FlowInvalid
from engine.domain.spec import FailurePolicy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def messages(text: str) -> list[str]:
    return [str(problem) for problem in check_flow(text)[1]]


def test_azkaban_flow_loads_unchanged_with_embedded_flow_expanded():
    spec = load_flow((EXAMPLES / "azkaban-basic.flow").read_text(), "basic")
    by_name = spec.by_name
    assert set(by_name) == {"jobA", "jobB", "jobC", "embedded_flow/jobD", "embedded_flow/jobE", "jobF"}
    assert by_name["jobC"].depends_on == ("jobA", "jobB")
    assert by_name["embedded_flow/jobD"].depends_on == ("jobC",)  # the embedded flow's dependencies move inside
    assert by_name["jobF"].depends_on == ("embedded_flow/jobE", "jobA")  # depending on it = on its last jobs
    assert by_name["embedded_flow/jobE"].config["prop"] == "value"  # embedded flow config is inherited
    assert by_name["jobA"].config["user.to.proxy"] == "azktest"  # flow config is inherited
    assert by_name["jobB"].retry.max_attempts == 3  # retries: 2
    assert by_name["jobB"].retry.backoff_base_ms == 5000  # retry.backoff in milliseconds
    assert by_name["jobF"].condition == "${jobA:param1} == 1 && all_done"
    assert spec.failure_policy is FailurePolicy.FINISH_CURRENT


def test_kafkaban_native_keys():
    spec = load_flow((EXAMPLES / "etl.yaml").read_text(), "etl")
    extract = spec.by_name["extract"]
    assert extract.retry.max_attempts == 4
    assert (extract.retry.backoff_base_ms, extract.retry.backoff_max_ms, extract.retry.jitter) == (5000, 60_000, 0.2)
    assert extract.timeout_ms == 30 * 60_000
    assert extract.pool == "etl" and extract.cpu == 2 and extract.memory_mb == 4096
    assert spec.failure_policy is FailurePolicy.FINISH_ALL_POSSIBLE
    assert spec.params == {"day": None, "region": "eu-west-1"}
    assert spec.by_name["publish"].condition == "${validate:rows} > 0"


def test_nested_condition_refs_are_namespaced():
    spec = load_flow("""
nodes:
  - name: outer
    type: flow
    nodes:
      - {name: a, type: noop}
      - {name: b, type: noop, dependsOn: [a], condition: "${a:ok} == true"}
""")
    assert spec.by_name["outer/b"].condition == "${outer/a:ok} == true"


def test_version_is_the_hash_of_the_canonical_form():
    one = load_flow("nodes:\n  - {name: a, type: noop}\n  - {name: b, type: noop, dependsOn: [a]}\n")
    two = load_flow("# same flow, other layout\nnodes:\n- name: a\n  type: noop\n"
                    "- dependsOn:\n  - a\n  type: noop\n  name: b\n")
    three = load_flow("nodes:\n  - {name: a, type: noop}\n  - {name: b, type: noop}\n")
    assert one.version_hash() == two.version_hash() != three.version_hash()
    assert one.version_hash().startswith("sha256:")


def test_every_problem_of_a_file_is_reported():
    found = messages("""
nodes:
  - name: a
    type: command
    dependsOn: [ghost]
  - name: b
    type: spark
    depends_on: [a]
  - name: a
    type: noop
  - name: c
    type: noop
    dependsOn: [d]
    condition: "all_success &&"
  - name: d
    type: noop
    dependsOn: [e]
  - name: e
    type: noop
    dependsOn: [c]
""")
    assert "node 'a': unknown dependency 'ghost'" in found
    assert "node 'a': a command job needs config.command" in found
    assert "node 'a': duplicate node name" in found
    assert not any("spark" in problem for problem in found)  # a job type is resolved when it runs, as in Azkaban
    assert "node 'b': unknown node key 'depends_on' (did you mean 'dependsOn'?)" in found
    assert "node 'c': bad condition 'all_success &&': expression ends too early" in found
    assert "node 'c': dependency cycle: c -> d -> e -> c" in found


@pytest.mark.parametrize(("text", "expected"), [
    ("nodes: [", "not valid YAML at line 1"),
    ("- just a list", "a flow file must be a mapping"),
    ("config: {}", "the flow has no 'nodes'"),
    ("nodes: []", "the flow has no jobs"),
    ("nodes: [{name: a, type: noop, timeout: soon}]", "node 'a': timeout: 'soon' is not a duration"),
    ("nodes: [{name: a, type: noop, resources: {memory: lots}}]", "node 'a': resources memory"),
    ("nodes: [{name: a, type: noop, retry: {max_attempts: 0}}]", "retry max_attempts must be at least 1"),
    ("nodes: [{name: a, type: noop, retry: {tries: 3}}]", "unknown retry key 'tries'"),
    ("nodes: [{name: 'a b', type: noop}]", "may hold only letters"),
    ("nodes: [{name: a, type: python, config: {function: nope}}]", "config.function"),
    ("failure_policy: stop\nnodes: [{name: a, type: noop}]", "failure_policy 'stop' is not one of"),
    ("nodes: [{name: a, type: noop}, {name: b, type: noop, dependsOn: [a], condition: '${x:y} == 1'}]",
     "condition refers to unknown job 'x'"),
    ("nodes: [{name: a, type: noop}, {name: b, type: noop, condition: '${a:y} == 1'}]",
     "condition refers to 'a', which is not upstream of this job"),
    ("nodes: [{name: a, type: noop, dependsOn: [b]}, {name: b, type: noop, dependsOn: [a]}]",
     "dependency cycle: a -> b -> a"),
    ("nodes: [{name: a, type: noop, dependsOn: [a]}]", "depends on itself"),
    ("nodes: [{name: a, type: noop, config: {x: [1, 2]}}]", "config 'x' must be a single value"),
    ("nodes: [{name: a, type: flow}]", "an embedded flow needs 'nodes'"),
    ("nodes: [{name: a, type: noop, lease: 10ms}]", "lease must be at least 1s"),
])
def test_bad_input_is_named(text, expected):
    assert any(expected in message for message in messages(text)), messages(text)


def test_limits_job_count_name_length_and_nesting():
    many = "nodes:\n" + "".join(f"  - {{name: j{i}, type: noop}}\n" for i in range(10_001))
    assert "the flow has 10001 jobs; at most 10000 are allowed" in messages(many)
    assert any("at most 100 are allowed" in m for m in messages(f"nodes: [{{name: {'x' * 101}, type: noop}}]"))
    nested = "nodes:\n"
    indent = "  "
    for depth in range(10):
        nested += f"{indent}- name: f{depth}\n{indent}  type: flow\n{indent}  nodes:\n"
        indent += "    "
    nested += f"{indent}- {{name: leaf, type: noop}}\n"
    assert any("nest deeper than 8 levels" in m for m in messages(nested))


def test_ten_thousand_jobs_load():
    lines = ["  - {name: j0, type: noop}\n"]
    lines += [f"  - {{name: j{i}, type: noop, dependsOn: [j{i - 1}]}}\n" for i in range(1, 10_000)]
    text = "nodes:\n" + "".join(lines)
    spec = load_flow(text)
    assert len(spec.jobs) == 10_000


def test_load_flow_raises_with_every_problem():
    with pytest.raises(FlowInvalid) as info:
        load_flow("nodes: [{name: a, type: command}, {name: b, type: command}]")
    assert [p.node for p in info.value.problems] == ["a", "b"]


def test_an_unknown_job_type_is_a_warning_not_an_error():
    # Azkaban resolves job types when a job runs (JobTypeManager), so a project using one this worker lacks loads
    spec = load_flow("nodes: [{name: a, type: spark}, {name: b, type: noop}]")
    assert [str(w) for w in flow_warnings(spec)] == [
        "node 'a': job type 'spark' is not built in (built in: command, noop, python, flow): it runs only on a "
        "worker with a plugin for it"]


# PyYAML builds documents recursively: a file nested thousands deep is refused by a bound, never a RecursionError
def test_yaml_nested_too_deep_is_refused_with_a_reason():
    flow_style = "name: x\nnodes: " + "[" * 5000 + "]" * 5000
    block_style = "name: x\nnodes:\n" + "".join("  " * i + "- \n" for i in range(1, 200))
    for text in (flow_style, block_style):
        spec, problems = check_flow(text)
        assert spec is None and len(problems) == 1
        assert "nested more than 64 levels deep" in problems[0].message
