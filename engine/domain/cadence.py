"""When a schedule fires: a cron expression or a fixed interval, in a time zone, as instants in UTC milliseconds.

Forms accepted (``parse``):
- Unix cron, 5 fields (minute hour day-of-month month day-of-week), as Vixie cron reads them;
- Quartz cron, 6 or 7 fields with seconds first and an optional year, as Azkaban writes schedules
  (``0 0 2 ? * *``; ``?``, ``L``, ``L-n``, ``nW``, ``LW``, ``nL``, ``n#k``; days of week 1-7 from Sunday);
- macros ``@yearly @annually @monthly @weekly @daily @midnight @hourly``;
- ``every <duration>`` (``every 15m``, ``every 90s``), a fixed interval anchored at the schedule's start.

Cron fields are matched by croniter on local wall-clock times; what croniter does not know of Quartz (``L-n``,
``W``, the year field) is a filter on its candidates here. Local times become instants by one rule for daylight
saving: a local time that does not exist (clocks jump forward over it) fires once, at the instant the jump
happens (Azkaban's Quartz skips that day instead); a local time that happens twice (clocks go back) fires once,
at its second occurrence, after the clocks went back, as Azkaban's Quartz does (BasicTimeCheckerTest
.testPDTtoPSTdst1 and 3). Pure: no clock.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from engine.clock import utc_from_ms
from engine.domain import quartz
from engine.domain.units import duration_ms

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
          "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
MIN_INTERVAL_MS = 1000
MAX_CANDIDATES = 100_000  # croniter candidates looked at for one fire time before giving up (a filter never met)
_EVERY = re.compile(r"^every\s+(\S+)$", re.IGNORECASE)
_QUARTZ_DAY_OF_WEEK_NUMBER = re.compile(r"\d+")


class CadenceError(ValueError):
    """Not a schedule expression or time zone; the message says what is wrong."""


@dataclass(frozen=True)
class Cadence:
    text: str  # as written
    kind: str  # "cron" (Unix, 5 fields), "quartz" (6-7 fields) or "interval"
    croniter_expr: str = ""  # what croniter matches (for quartz: seconds first)
    interval_ms: int = 0
    day_of_month: str = ""  # a Quartz day-of-month croniter cannot match (L-n, nW, LW), filtered here
    years: frozenset[int] = frozenset()  # the years a Quartz year field allows; empty: any year

    @property
    def seconds_first(self) -> bool:
        return self.kind == "quartz"


@cache
def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or CadenceError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CadenceError(f"unknown time zone {name!r} (use an IANA name such as UTC or Europe/Berlin)") from exc


@cache
def parse(text: str) -> Cadence:
    """The cadence ``text`` says, or CadenceError naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise CadenceError("the schedule expression is empty")
    text = text.strip()
    if match := _EVERY.match(text):
        try:
            interval = duration_ms(match[1])
        except ValueError as exc:
            raise CadenceError(f"{text!r}: {exc}") from exc
        if interval < MIN_INTERVAL_MS:
            raise CadenceError(f"{text!r}: the interval must be at least 1s")
        return Cadence(text, "interval", interval_ms=interval)
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise CadenceError(f"unknown macro {text!r} (one of {', '.join(MACROS)})")
        return _unix(text, MACROS[text.lower()])
    fields = text.split()
    if len(fields) == 5:
        return _unix(text, text)
    if len(fields) in (6, 7):
        return _quartz(text)
    raise CadenceError(f"{text!r} has {len(fields)} fields: write Unix cron (5 fields: minute hour day-of-month "
                       f"month day-of-week), Quartz cron (6 or 7, seconds first), a macro such as @daily, or "
                       f"'every 15m'")


def _unix(text: str, expr: str) -> Cadence:
    if "?" in expr or not croniter.is_valid(expr):
        raise CadenceError(f"{text!r} is not a valid Unix cron expression")
    return Cadence(text, "cron", croniter_expr=expr)


def _quartz(text: str) -> Cadence:
    try:
        parsed = quartz.parse(text)
    except quartz.CronError as exc:
        raise CadenceError(f"{text!r} is not a valid Quartz cron expression: {exc}") from exc
    seconds, minutes, hours, day_of_month, month, day_of_week = parsed.fields[:6]
    filtered_dom = ""
    if day_of_month == "?":
        day_of_month = "*"
    elif day_of_month.startswith("L-") or day_of_month.endswith("W"):
        filtered_dom, day_of_month = day_of_month, "*"
    expr = " ".join((seconds, minutes, hours, day_of_month, month, _croniter_day_of_week(day_of_week)))
    if not croniter.is_valid(expr, second_at_beginning=True):
        raise CadenceError(f"{text!r} is not a valid Quartz cron expression")
    year_field = parsed.fields[6] if len(parsed.fields) == 7 else "*"
    years = _year_values(year_field) if year_field != "*" else frozenset()
    return Cadence(text, "quartz", croniter_expr=expr, day_of_month=filtered_dom, years=years)


def _croniter_day_of_week(field: str) -> str:
    """Quartz counts days of week 1-7 from Sunday, croniter 0-6; ``nL`` (last such day) is croniter's ``Ln``."""
    if field == "?":
        return "*"
    if field.endswith("L") and len(field) > 1:
        return "L" + _shift_days(field[:-1])
    return _shift_days(field)


def _shift_days(field: str) -> str:
    def shift(match: re.Match[str]) -> str:
        return str(int(match[0]) - 1)
    if "#" in field:
        day, nth = field.split("#", 1)
        return _QUARTZ_DAY_OF_WEEK_NUMBER.sub(shift, day) + "#" + nth
    # only day numbers move, not a step: "2/3" is Monday and every third day after it
    parts = []
    for part in field.split(","):
        base, slash, step = part.partition("/")
        parts.append(_QUARTZ_DAY_OF_WEEK_NUMBER.sub(shift, base) + slash + step)
    return ",".join(parts)


# -- fire times ---------------------------------------------------------------------------------------------------

def next_fire(cadence: Cadence, timezone: str, after_ms: int, anchor_ms: int = 0) -> int | None:
    """The first fire time strictly after ``after_ms``, or None when there is none (a year field that has passed,
    a date that never comes). ``anchor_ms`` is where an interval counts from."""
    if cadence.kind == "interval":
        if after_ms < anchor_ms:
            return anchor_ms
        return anchor_ms + ((after_ms - anchor_ms) // cadence.interval_ms + 1) * cadence.interval_ms
    return _next_cron_fire(cadence, timezone, after_ms)


@lru_cache(maxsize=65_536)
def _next_cron_fire(cadence: Cadence, timezone: str, after_ms: int) -> int | None:
    """Cached: schedules with one expression tick together, so thousands of them ask for the same next time (and
    croniter parses its expression anew for every question)."""
    tz = zone(timezone)
    local = local_time(after_ms, tz)
    candidates = croniter(cadence.croniter_expr, local, second_at_beginning=cadence.seconds_first or None)
    accept = _filter(cadence)
    for _ in range(MAX_CANDIDATES):
        try:
            candidate: dt.datetime = candidates.get_next(dt.datetime)
        except CroniterBadDateError:  # no date matches any more (croniter gives up after some years)
            return None
        if cadence.years and candidate.year > max(cadence.years):
            return None
        if not accept(candidate):
            continue
        instant = instant_of(candidate, tz)
        if instant > after_ms:
            return instant
    return None


def previous_fire(cadence: Cadence, timezone: str, before_ms: int, anchor_ms: int = 0) -> int | None:
    """The last fire time strictly before ``before_ms`` and not before ``anchor_ms``, or None."""
    if before_ms <= anchor_ms:
        return None
    if cadence.kind == "interval":
        return anchor_ms + (before_ms - anchor_ms - 1) // cadence.interval_ms * cadence.interval_ms
    tz = zone(timezone)
    candidates = croniter(cadence.croniter_expr, local_time(before_ms, tz),
                          second_at_beginning=cadence.seconds_first or None)
    accept = _filter(cadence)
    for _ in range(MAX_CANDIDATES):
        try:
            candidate: dt.datetime = candidates.get_prev(dt.datetime)
        except CroniterBadDateError:
            return None
        if cadence.years and candidate.year < min(cadence.years):
            return None
        if not accept(candidate):
            continue
        instant = instant_of(candidate, tz)
        if instant < before_ms:
            return instant if instant >= anchor_ms else None
    return None


def fire_times(cadence: Cadence, timezone: str, after_ms: int, count: int, anchor_ms: int = 0,
               until_ms: int | None = None) -> list[int]:
    """Up to ``count`` fire times after ``after_ms`` (and not after ``until_ms``)."""
    out: list[int] = []
    at = after_ms
    while len(out) < count:
        found = next_fire(cadence, timezone, at, anchor_ms)
        if found is None or (until_ms is not None and found > until_ms):
            break
        out.append(found)
        at = found
    return out


def local_time(ms: int, tz: ZoneInfo) -> dt.datetime:
    """The wall-clock time at instant ``ms`` in ``tz``, naive."""
    return utc_from_ms(ms).astimezone(tz).replace(tzinfo=None)


def instant_of(local: dt.datetime, tz: ZoneInfo) -> int:
    """The instant a naive wall-clock time names in ``tz``: its second occurrence when it happens twice (as
    Quartz reads it), the end of the jump when it does not exist."""
    first = _ms(local.replace(tzinfo=tz, fold=0))
    if local_time(first, tz) == local:
        second = _ms(local.replace(tzinfo=tz, fold=1))  # the same instant unless the time happens twice
        return second if local_time(second, tz) == local else first
    # skipped by a jump forward: fold=1 reads it with the offset after the jump (an earlier instant), fold=0 with
    # the one before (a later one); the jump lies between, where the wall clock first reaches ``local``
    low, high = _ms(local.replace(tzinfo=tz, fold=1)), first
    low, high = min(low, high), max(low, high)
    while high - low > 1:
        middle = (low + high) // 2
        if local_time(middle, tz) >= local:
            high = middle
        else:
            low = middle
    return high


def _ms(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)


def _filter(cadence: Cadence) -> Callable[[dt.datetime], bool]:
    checks: list[Callable[[dt.datetime], bool]] = []
    if cadence.day_of_month:
        checks.append(_day_of_month_check(cadence.day_of_month))
    if cadence.years:
        checks.append(lambda moment: moment.year in cadence.years)
    return lambda moment: all(check(moment) for check in checks)


def _year_values(field: str) -> frozenset[int]:
    out: set[int] = set()
    for part in field.split(","):
        base, _, step = part.partition("/")
        low, _, high = base.partition("-")
        first = 1970 if low == "*" else int(low)
        last = 2099 if low == "*" or (step and not high) else int(high or low)
        out.update(range(first, last + 1, int(step) if step else 1))
    return frozenset(out)


def _day_of_month_check(field: str) -> Callable[[dt.datetime], bool]:
    def last_day(moment: dt.datetime) -> int:
        return calendar.monthrange(moment.year, moment.month)[1]

    if field.startswith("L-"):
        offset = int(field[2:])
        return lambda moment: moment.day == max(last_day(moment) - offset, 1)
    if field == "LW":
        return lambda moment: moment.day == _nearest_weekday(moment, last_day(moment))
    wanted = int(field[:-1])
    return lambda moment: moment.day == _nearest_weekday(moment, min(wanted, last_day(moment)))


def _nearest_weekday(moment: dt.datetime, day: int) -> int:
    """Quartz's ``nW``: the weekday nearest day ``day`` of the month, never crossing into another month."""
    weekday = dt.date(moment.year, moment.month, day).weekday()  # Monday 0
    last = calendar.monthrange(moment.year, moment.month)[1]
    if weekday == 5:  # Saturday: the Friday before, or the Monday after when the 1st is a Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before when it is the month's last day
        return day + 1 if day < last else day - 2
    return day
