"""The ``kafkaban`` command line: the parser and each command (``main``), schedules (``schedules``), users,
groups and tokens (``access``), and what they share (``common``)."""

from engine.cli.main import main

__all__ = ["main"]
