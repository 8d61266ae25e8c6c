"""The pure core: flow definitions, validation, execution state, evolve and react. No I/O, clock or randomness."""

from engine.domain.events import Event
from engine.domain.evolve import evolve, fold
from engine.domain.loader import check_flow, load_flow
from engine.domain.problems import FlowInvalid, Problem
from engine.domain.process import Step, process, recovery_commands, timer_event
from engine.domain.react import react
from engine.domain.spec import FailurePolicy, FlowSpec, JobSpec, RetryPolicy
from engine.domain.state import ExecutionState, ExecutionStatus, JobState, JobStatus

__all__ = [
    "Event", "ExecutionState", "ExecutionStatus", "FailurePolicy", "FlowInvalid", "FlowSpec", "JobSpec", "JobState",
    "JobStatus", "Problem", "RetryPolicy", "Step", "check_flow", "evolve", "fold", "load_flow", "process", "react",
    "recovery_commands", "timer_event",
]
