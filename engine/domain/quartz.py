"""Quartz cron expressions, as Azkaban's schedules and flow triggers write them (``org.quartz.CronExpression``).

Six or seven fields: seconds, minutes, hours, day of month, month, day of week, and an optional year. Each field
takes ``*``, a value, a range ``a-b``, a step ``a/n`` or ``a-b/n`` or ``*/n``, and comma-separated lists of
these; months and days of week also take names (JAN-DEC, SUN-SAT; Sunday is 1). Day of month takes ``?``,
``L``, ``L-n``, ``nW`` and ``LW``; day of week takes ``?``, ``nL`` and ``n#k``. Exactly one of day of month and day
of week is ``?``, as Quartz requires. Parsing only: nothing here reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MONTHS = {name: number for number, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
DAYS = {name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)}


class CronError(ValueError):
    """Not a Quartz cron expression; the message says which field and why."""


@dataclass(frozen=True)
class Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


FIELDS = (Field("seconds", 0, 59), Field("minutes", 0, 59), Field("hours", 0, 23), Field("day of month", 1, 31),
          Field("month", 1, 12, MONTHS), Field("day of week", 1, 7, DAYS), Field("year", 1970, 2099))

_DAY_OF_MONTH_SPECIAL = re.compile(r"L(-\d{1,2})?|LW|\d{1,2}W")
_DAY_OF_WEEK_SPECIAL = re.compile(r"([1-7]|[A-Z]{3})(L|#[1-5])")


@dataclass(frozen=True)
class CronExpression:
    text: str
    fields: tuple[str, ...]  # the 6 or 7 fields as written, upper-cased

    @property
    def seconds(self) -> str:
        return self.fields[0]


def _value(text: str, spec: Field) -> int:
    if spec.names and text in spec.names:
        return spec.names[text]
    if not text.isdigit():
        raise CronError(f"{spec.name}: {text!r} is not a number" + (
            f" or a name ({', '.join(spec.names)})" if spec.names else ""))
    number = int(text)
    if not spec.low <= number <= spec.high:
        raise CronError(f"{spec.name}: {number} is outside {spec.low}-{spec.high}")
    return number


def _check_part(part: str, spec: Field) -> None:
    base, slash, step = part.partition("/")
    if slash:
        if not step.isdigit() or int(step) < 1:
            raise CronError(f"{spec.name}: the step in {part!r} must be a positive number")
    if base == "*":
        return
    low, dash, high = base.partition("-")
    first = _value(low, spec)
    if dash:
        last = _value(high, spec)
        if spec.name == "year" and last < first:
            raise CronError(f"{spec.name}: the range {base!r} ends before it starts")
    elif not base:
        raise CronError(f"{spec.name}: {part!r} has no value before '/'")


def _check_field(text: str, spec: Field) -> None:
    if text == "?":
        if spec.name not in ("day of month", "day of week"):
            raise CronError(f"{spec.name}: '?' is allowed only in day of month or day of week")
        return
    if spec.name == "day of month" and _DAY_OF_MONTH_SPECIAL.fullmatch(text):
        if text.endswith("W") and text[:-1].isdigit():
            _value(text[:-1], spec)
        elif text.startswith("L-") and int(text[2:]) > 30:
            raise CronError(f"{spec.name}: the offset in {text!r} must be at most 30")
        return
    if spec.name == "day of week" and (match := _DAY_OF_WEEK_SPECIAL.fullmatch(text)):
        _value(match[1], spec)
        return
    for part in text.split(","):
        if not part:
            raise CronError(f"{spec.name}: an empty item in {text!r}")
        _check_part(part, spec)


def parse(text: str) -> CronExpression:
    """The expression, or CronError saying what is wrong (as Quartz's ``isValidExpression`` would refuse it)."""
    if not isinstance(text, str) or not text.strip():
        raise CronError("the expression is empty")
    fields = tuple(text.upper().split())
    if len(fields) not in (6, 7):
        raise CronError(f"{len(fields)} fields; a Quartz cron expression has 6 or 7 (seconds, minutes, hours, "
                        f"day of month, month, day of week, and optionally year)")
    for field_text, spec in zip(fields, FIELDS, strict=False):
        _check_field(field_text, spec)
    day_of_month, day_of_week = fields[3], fields[5]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise CronError("exactly one of day of month and day of week must be '?'")
    return CronExpression(text.strip(), fields)
