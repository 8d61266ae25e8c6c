"""poll_until: the first value that is not None, None at the deadline, and a check's exception stops it."""

from __future__ import annotations

import pytest

from engine.polling import poll_until


def test_the_first_value_that_is_not_none_is_returned():
    answers = iter([None, None, 0, 5])
    assert poll_until(lambda: next(answers), 5, every=0.001) == 0  # a falsy value that is not None counts


def test_none_at_the_deadline_after_one_last_check():
    calls = []
    assert poll_until(lambda: calls.append(1), 0.05, every=0.01) is None
    assert len(calls) >= 2


def test_a_check_that_raises_stops_the_wait():
    def exited() -> None:
        raise RuntimeError("the part exited")

    with pytest.raises(RuntimeError, match="exited"):
        poll_until(exited, 10)
