"""Flow 2.0 ``trigger:`` blocks load and fail as in Azkaban: each test mirrors a NodeBeanLoaderTest method on the
same files (tests/azkaban/flowtriggeryamltest, copied from Azkaban's test data)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.domain import quartz
from engine.domain.loader import check_flow
from engine.domain.triggers import MAX_WAIT_MINS, TriggerDependency, parse_trigger

TRIGGERS = Path(__file__).resolve().parents[1] / "azkaban" / "flowtriggeryamltest"


def problems_of(name: str) -> list[str]:
    _spec, problems = check_flow((TRIGGERS / name).read_text(), name.removesuffix(".flow"))
    return [problem.message for problem in problems]


def trigger_of(name: str):
    trigger, problems = parse_trigger(yaml.safe_load((TRIGGERS / name).read_text())["trigger"])
    assert problems == [], problems
    return trigger


def test_load_node_bean_for_flow_trigger():  # NodeBeanLoaderTest.testLoadNodeBeanForFlowTrigger, testToFlowTrigger
    assert problems_of("flow_trigger.flow") == []
    trigger = trigger_of("flow_trigger.flow")
    assert trigger.max_wait_mins == 5 and trigger.cron.text == "0 0 1 ? * *"
    assert trigger.dependencies == (
        TriggerDependency("search-impression", "dali-dataset", {
            "view": "search_mp_versioned.search_impression_event_0_0_47", "delay": "1", "window": "1",
            "unit": "daily", "filter": "is_guest=0"}),
        TriggerDependency("other-name", "dali-dataset", {"view": "another dataset", "delay": "1", "window": "7"}))


def test_flow_trigger_max_wait_min_validation():  # NodeBeanLoaderTest.testFlowTriggerMaxWaitMinValidation
    assert "trigger: max wait min cannot be null unless no dependency is defined" in problems_of(
        "flow_trigger_no_max_wait_min.flow")
    assert "trigger: max wait min must be at least 1 min(s)" in problems_of("flow_trigger_zero_max_wait_min.flow")
    assert trigger_of("flow_trigger_large_max_wait_min.flow").max_wait_mins == MAX_WAIT_MINS  # capped, as there
    assert trigger_of("flow_trigger_no_max_wait_min_zero_dep.flow").max_wait_mins is None
    assert problems_of("flow_trigger_max_wait_min_zero_dep.flow") == []


def test_flow_trigger_dep_duplication_validation():  # NodeBeanLoaderTest.testFlowTriggerDepDuplicationValidation
    assert problems_of("flow_trigger_duplicate_dep_props.flow") == [
        "trigger: duplicate dependency config search-impression found, dependency config should be unique"]


def test_duplicate_dependency_names():  # FlowTriggerTest.testDuplicateDependencies
    raw = {"schedule": {"type": "cron", "value": "0 0 1 ? * *"}, "maxWaitMins": 5,
           "triggerDependencies": [{"name": "a", "type": "t", "params": {"x": 1}},
                                   {"name": "a", "type": "t", "params": {"x": 2}}]}
    assert parse_trigger(raw)[1] == ["duplicate dependency.name a found, dependency.name should be unique"]


def test_flow_trigger_require_dep_name_and_type():  # NodeBeanLoaderTest.testFlowTriggerRequireDepNameAndType
    assert "trigger: dependency name is required" in problems_of("flow_trigger_without_dep_name.flow")
    assert "trigger: dependency type is required for other-name" in problems_of(
        "flow_trigger_without_dep_type.flow")


@pytest.mark.parametrize(("name", "message"), [
    ("flow_trigger_invalid_cron_expression.flow", "must be a valid cron expression: 8 fields"),
    ("flow_trigger_second_level_cron_expression1.flow", "has to be larger than 1 min"),
    ("flow_trigger_second_level_cron_expression2.flow", "has to be larger than 1 min"),
    ("flow_trigger_no_schedule.flow", "flow trigger schedule must not be null"),
])
def test_flow_trigger_schedule_validation(name: str, message: str):  # NodeBeanLoaderTest.testFlowTriggerSchedule...
    found = problems_of(name)
    assert any(message in problem for problem in found), found
    assert not any("unknown" in problem for problem in found), found


def test_schedule_type_and_only_type_and_value():  # NodeBeanLoader.validateSchedule's other two rules
    assert parse_trigger({"schedule": {"type": "rate", "value": "0 0 1 ? * *"}})[1] == [
        "flow trigger schedule type must be cron"]
    assert parse_trigger({"schedule": {"type": "cron", "value": "0 0 1 ? * *", "tz": "UTC"}})[1] == [
        "flow trigger schedule must contain type and value only"]


def test_a_root_level_type_key_is_accepted():  # NodeBean has a type field; NodeBeanLoader.load sets it to flow
    assert check_flow("type: flow\nnodes: [{name: a, type: noop}]")[1] == []


@pytest.mark.parametrize("expression", ["0 0 1 ? * *", "0 0/15 * * * ?", "0 30 10-13 ? * WED,FRI", "0 0 12 L * ?",
                                        "0 0 12 15W * ?", "0 0 12 ? * 6#3", "0 0 12 ? * 6L", "0 0 0 1 JAN ? 2030",
                                        "0 */5 * ? * MON-FRI", "0 0 12 LW * ?", "0 0 12 L-3 * ?"])
def test_quartz_expressions_quartz_accepts(expression: str):
    assert quartz.parse(expression).fields[0] == "0"


@pytest.mark.parametrize(("expression", "why"), [
    ("0 0 1 * * *", "exactly one of day of month and day of week"),
    ("0 0 1 ? * ?", "exactly one of day of month and day of week"),
    ("0 0 24 ? * *", "hours: 24 is outside 0-23"),
    ("0 60 1 ? * *", "minutes: 60 is outside 0-59"),
    ("0 0 1 ? 13 *", "month: 13 is outside 1-12"),
    ("0 0 1 ? FOO *", "month: 'FOO' is not a number"),
    ("0 0 1 ? * 8", "day of week: 8 is outside 1-7"),
    ("0 0 1 ? * * 1969", "year: 1969 is outside 1970-2099"),
    ("0 0/0 1 ? * *", "the step in '0/0' must be a positive number"),
    ("* * * *", "4 fields"),
    ("", "empty"),
    ("0 0 ? 1 * ?", "'?' is allowed only in day of month or day of week"),
    ("0 0 1 32W * ?", "day of month: 32 is outside 1-31"),
])
def test_quartz_expressions_quartz_refuses(expression: str, why: str):
    with pytest.raises(quartz.CronError, match=why.replace("?", r"\?").replace("(", r"\(")):
        quartz.parse(expression)
