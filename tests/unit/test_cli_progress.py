"""Progress of the log-reading commands: the total is an estimate made before reading, and the log grows."""

from __future__ import annotations

import io
from contextlib import redirect_stderr

from engine.cli.main import _progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def shown(out: io.StringIO) -> list[float]:
    """The percentages printed, in order."""
    parts = out.getvalue().replace("\r", "\n").splitlines()
    return [float(part.split("%")[0].split()[-1]) for part in parts if "%" in part]


def test_progress_never_passes_100_percent_on_a_terminal_or_in_a_log() -> None:
    for out in (Terminal(), io.StringIO()):
        with redirect_stderr(out):
            show = _progress("rebuilding")
            for done in (0, 50, 100, 130):  # the log grew while it was read: 130 of an estimated 100
                show(done, 100, 1.0)
        assert shown(out)[-1] == 100.0 and max(shown(out)) == 100.0, out.getvalue()
        if isinstance(out, Terminal):
            assert out.getvalue().endswith("130/130 events 130 events/s")


def test_progress_in_a_log_is_a_line_per_tenth_without_carriage_returns() -> None:
    out = io.StringIO()
    with redirect_stderr(out):
        show = _progress("verifying")
        for done in range(0, 1001):
            show(done, 1000, 1.0)
    assert "\r" not in out.getvalue()
    assert shown(out) == [float(10 * n) for n in range(11)]
