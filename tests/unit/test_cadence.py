"""Schedule expressions and fire times: Unix and Quartz cron, macros, intervals, time zones and daylight saving."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from engine.domain.cadence import CadenceError, fire_times, instant_of, next_fire, parse, previous_fire, zone


def ms(text: str) -> int:
    return round(dt.datetime.fromisoformat(text).timestamp() * 1000)


def iso(instant: int, tz: str = "UTC") -> str:
    return dt.datetime.fromtimestamp(instant / 1000, tz=dt.UTC).astimezone(zone(tz)).isoformat()


def local_fires(expr: str, tz: str, start: str, count: int) -> list[str]:
    after = instant_of(dt.datetime.fromisoformat(start), zone(tz)) - 1
    return [iso(t, tz) for t in fire_times(parse(expr), tz, after, count)]


# -- daylight saving: 02:30 daily on the transition days of real years ------------------------------------------

@pytest.mark.parametrize(("tz", "day", "expected"), [
    # clocks jump 02:00 -> 03:00: 02:30 does not exist and fires once, when the jump happens
    ("Europe/Berlin", "2027-03-28", "2027-03-28T03:00:00+02:00"),
    ("America/New_York", "2027-03-14", "2027-03-14T03:00:00-04:00"),
    ("Europe/Berlin", "2026-03-29", "2026-03-29T03:00:00+02:00"),
    # clocks go back 03:00 -> 02:00 (Berlin): 02:30 happens twice and fires once, at the second (as Quartz does)
    ("Europe/Berlin", "2027-10-31", "2027-10-31T02:30:00+01:00"),
    # New York goes back 02:00 -> 01:00: 02:30 happens once
    ("America/New_York", "2027-11-07", "2027-11-07T02:30:00-05:00"),
])
@pytest.mark.parametrize("expr", ["30 2 * * *", "0 30 2 * * ?", "0 30 2 ? * *"])
def test_a_daily_0230_fires_exactly_once_on_each_transition_day(tz: str, day: str, expected: str, expr: str) -> None:
    fires = local_fires(expr, tz, f"{day}T00:00:00", 3)
    on_the_day = [f for f in fires if f.startswith(day)]
    assert on_the_day == [expected]
    # and the day after is back to 02:30 local
    following = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    assert [f for f in fires if f.startswith(following)] == [f"{following}T02:30:00{fires[1][-6:]}"]


def test_an_hourly_schedule_on_the_days_clocks_change() -> None:
    spring = local_fires("0 * * * *", "Europe/Berlin", "2027-03-28T00:00:00", 4)
    assert spring == ["2027-03-28T00:00:00+01:00", "2027-03-28T01:00:00+01:00", "2027-03-28T03:00:00+02:00",
                      "2027-03-28T04:00:00+02:00"]
    autumn = local_fires("0 * * * *", "Europe/Berlin", "2027-10-31T01:00:00", 4)
    # the hour 02:00-03:00 happens twice; its 02:00 fires once, in the second pass
    assert autumn == ["2027-10-31T01:00:00+02:00", "2027-10-31T02:00:00+01:00", "2027-10-31T03:00:00+01:00",
                      "2027-10-31T04:00:00+01:00"]


def test_every_fifteen_minutes_in_the_gap_collapses_to_one_fire() -> None:
    fires = local_fires("*/15 * * * *", "America/New_York", "2027-03-14T01:30:00", 5)
    assert fires == ["2027-03-14T01:30:00-05:00", "2027-03-14T01:45:00-05:00", "2027-03-14T03:00:00-04:00",
                     "2027-03-14T03:15:00-04:00", "2027-03-14T03:30:00-04:00"]


# -- Quartz, as Azkaban writes schedules --------------------------------------------------------------------------

@pytest.mark.parametrize(("expr", "start", "expected"), [
    ("0 0 2 ? * *", "2027-01-01T00:00:00", ["2027-01-01T02:00:00+00:00", "2027-01-02T02:00:00+00:00"]),
    ("0 0 2 L * ?", "2027-01-01T00:00:00", ["2027-01-31T02:00:00+00:00", "2027-02-28T02:00:00+00:00"]),
    ("0 0 2 L-2 * ?", "2027-01-01T00:00:00", ["2027-01-29T02:00:00+00:00", "2027-02-26T02:00:00+00:00"]),
    # 15W: the weekday nearest the 15th (2027-05-15 is a Saturday -> Friday 14th; 2027-08-15 a Sunday -> 16th)
    ("0 0 2 15W * ?", "2027-05-01T00:00:00", ["2027-05-14T02:00:00+00:00", "2027-06-15T02:00:00+00:00",
                                              "2027-07-15T02:00:00+00:00", "2027-08-16T02:00:00+00:00"]),
    # 1W never crosses into the month before: 2027-05-01 is a Saturday -> Monday 3rd
    ("0 0 2 1W * ?", "2027-05-01T00:00:00", ["2027-05-03T02:00:00+00:00"]),
    # LW: the last weekday (2027-01-31 is a Sunday -> Friday 29th)
    ("0 0 2 LW * ?", "2027-01-01T00:00:00", ["2027-01-29T02:00:00+00:00", "2027-02-26T02:00:00+00:00"]),
    # 6L: the last Friday (Quartz counts Sunday as 1)
    ("0 0 2 ? * 6L", "2027-01-01T00:00:00", ["2027-01-29T02:00:00+00:00", "2027-02-26T02:00:00+00:00"]),
    # 2#1: the first Monday
    ("0 0 2 ? * 2#1", "2027-01-01T00:00:00", ["2027-01-04T02:00:00+00:00", "2027-02-01T02:00:00+00:00"]),
    ("0 0 2 ? * MON-FRI", "2027-01-01T00:00:00", ["2027-01-01T02:00:00+00:00", "2027-01-04T02:00:00+00:00"]),
    ("0 0 2 ? * 2-6", "2027-01-01T00:00:00", ["2027-01-01T02:00:00+00:00", "2027-01-04T02:00:00+00:00"]),
    ("0 0 2 ? * 1", "2027-01-01T00:00:00", ["2027-01-03T02:00:00+00:00"]),  # 1 is Sunday
    ("15,45 * * * * ?", "2027-01-01T00:00:00", ["2027-01-01T00:00:15+00:00", "2027-01-01T00:00:45+00:00"]),
    ("0 0 12 1 1 ? 2028", "2027-01-01T00:00:00", ["2028-01-01T12:00:00+00:00"]),
])
def test_quartz_expressions(expr: str, start: str, expected: list[str]) -> None:
    assert local_fires(expr, "UTC", start, len(expected)) == expected


def test_a_year_field_that_has_passed_fires_no_more() -> None:
    assert next_fire(parse("0 0 12 1 1 ? 2027"), "UTC", ms("2027-06-01T00:00:00+00:00")) is None


def test_a_date_that_never_comes_fires_never() -> None:
    assert next_fire(parse("0 2 30 2 *"), "UTC", ms("2027-01-01T00:00:00+00:00")) is None


# -- Azkaban's BasicTimeCheckerTest: Quartz expressions in a time zone across its clock changes -------------------

def test_quartz_in_utc_across_the_spring_change_of_los_angeles() -> None:  # testPSTtoPDTunderUTC
    fires = local_fires("0 30 10 8 3 ? 2020", "UTC", "2020-01-01T00:00:00", 1)
    assert fires == ["2020-03-08T10:30:00+00:00"]
    assert ms(fires[0]) == ms("2020-03-08T03:30:00-07:00")


def test_a_time_that_happens_twice_fires_at_its_second_occurrence() -> None:
    # testPDTtoPSTdst1 and testPDTtoPSTdst3: 01:00 and 01:30 on 2029-11-04 in Los Angeles fire at 09:00 and 09:30
    # UTC (PST), not at their PDT occurrence an hour earlier
    assert local_fires("0 0 1 4,5 11 ? 2029", "America/Los_Angeles", "2020-01-01T00:00:00", 1) == [
        "2029-11-04T01:00:00-08:00"]
    assert ms(local_fires("0 30 1 4,5 11 ? 2029", "America/Los_Angeles", "2020-01-01T00:00:00", 1)[0]) == ms(
        "2029-11-04T09:30:00+00:00")
    # testPDTtoPSTdst2: 00:59 happens once, at 07:59 UTC
    assert local_fires("0 59 0 4,5 11 ? 2029", "America/Los_Angeles", "2020-01-01T00:00:00", 1) == [
        "2029-11-04T00:59:00-07:00"]


def test_a_time_that_does_not_exist_fires_at_the_jump_where_quartz_skips_the_day() -> None:
    # testPSTtoPDTdst2: Azkaban's next fire of "0 30 2 8,9 3 ? 2020" in Los Angeles is 2020-03-09 02:30; the
    # schedules issue asks for the nonexistent 02:30 of March 8 to fire once, at the instant of the jump
    fires = local_fires("0 30 2 8,9 3 ? 2020", "America/Los_Angeles", "2020-01-01T00:00:00", 2)
    assert fires == ["2020-03-08T03:00:00-07:00", "2020-03-09T02:30:00-07:00"]


# -- Unix cron, macros and intervals ------------------------------------------------------------------------------

@pytest.mark.parametrize(("expr", "expected"), [
    ("@hourly", ["2027-01-01T01:00:00+00:00", "2027-01-01T02:00:00+00:00"]),
    ("@daily", ["2027-01-02T00:00:00+00:00", "2027-01-03T00:00:00+00:00"]),
    ("@weekly", ["2027-01-03T00:00:00+00:00", "2027-01-10T00:00:00+00:00"]),  # Sundays
    ("@monthly", ["2027-02-01T00:00:00+00:00", "2027-03-01T00:00:00+00:00"]),
    ("@yearly", ["2028-01-01T00:00:00+00:00", "2029-01-01T00:00:00+00:00"]),
    # Vixie cron: day of month and day of week both restricted means either
    ("0 0 13 * 5", ["2027-01-08T00:00:00+00:00", "2027-01-13T00:00:00+00:00"]),
])
def test_unix_cron_and_macros(expr: str, expected: list[str]) -> None:
    assert local_fires(expr, "UTC", "2027-01-01T00:00:01", 2) == expected


def test_an_interval_counts_from_its_anchor_whatever_the_time_zone() -> None:
    anchor = ms("2027-03-28T00:10:00+01:00")
    cadence = parse("every 15m")
    assert next_fire(cadence, "Europe/Berlin", anchor - 5, anchor) == anchor
    fires = fire_times(cadence, "Europe/Berlin", anchor, 3, anchor)
    assert [f - anchor for f in fires] == [900_000, 1_800_000, 2_700_000]
    # across the jump forward the interval is still 15 minutes of real time
    later = fire_times(cadence, "Europe/Berlin", ms("2027-03-28T01:50:00+01:00"), 2, anchor)
    assert later[1] - later[0] == 900_000


@pytest.mark.parametrize(("expr", "says"), [
    ("", "empty"),
    ("* * *", "3 fields"),
    ("61 * * * *", "not a valid Unix cron"),
    ("0 0 2 * * *", "exactly one of day of month and day of week must be '?'"),
    ("0 0 25 ? * *", "hours: 25 is outside 0-23"),
    ("@fortnightly", "unknown macro"),
    ("every 0s", "at least 1s"),
    ("every soon", "not a duration"),
    ("* * ? * *", "not a valid Unix cron"),  # '?' is Quartz only
])
def test_bad_expressions_say_what_is_wrong(expr: str, says: str) -> None:
    with pytest.raises(CadenceError, match=says):
        parse(expr)


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(CadenceError, match="unknown time zone 'Mars/Olympus'"):
        next_fire(parse("@daily"), "Mars/Olympus", 0)


@pytest.mark.parametrize(("expr", "tz", "start"), [
    ("0 30 2 * * ?", "Europe/Berlin", "2027-03-26T00:00:00"),
    ("0 30 2 * * ?", "Europe/Berlin", "2027-10-29T00:00:00"),
    ("0 * * * *", "America/New_York", "2027-11-06T22:00:00"),
    ("*/15 * * * *", "America/New_York", "2027-03-14T00:00:00"),
    ("0 0 2 LW * ?", "UTC", "2027-01-01T00:00:00"),
    ("0 0 2 ? * 6L", "UTC", "2027-01-01T00:00:00"),
])
def test_previous_fire_walks_back_over_the_same_fire_times(expr: str, tz: str, start: str) -> None:
    cadence = parse(expr)
    after = instant_of(dt.datetime.fromisoformat(start), zone(tz))
    forward = fire_times(cadence, tz, after, 12)
    for earlier, later in itertools.pairwise(forward):
        assert previous_fire(cadence, tz, later) == earlier
        assert previous_fire(cadence, tz, later + 1) == later


def test_previous_fire_of_an_interval_and_the_anchor() -> None:
    cadence = parse("every 10s")
    assert previous_fire(cadence, "UTC", 35_000, 5_000) == 25_000
    assert previous_fire(cadence, "UTC", 25_000, 5_000) == 15_000
    assert previous_fire(cadence, "UTC", 5_000, 5_000) is None
    assert previous_fire(parse("@hourly"), "UTC", ms("2027-01-01T05:30:00+00:00"),
                         ms("2027-01-01T05:10:00+00:00")) is None
