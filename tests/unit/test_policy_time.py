"""Time windows: time zones, days, over midnight, daylight-saving changes."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siprec_appliance.policy import compile_rule_set
from siprec_appliance.policy.conditions import Condition

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "rules.schema.json").read_text())
UTC = datetime.UTC


def window(**time: Any) -> Condition:
    document = {
        "rules": [{"id": "r", "priority": 1, "when": {"time": time}, "then": [{"tag": "t"}]}]
    }
    return compile_rule_set([("t.yaml", json.dumps(document))], schema=SCHEMA).rules[0].when


def at(text: str) -> datetime.datetime:
    """An aware instant from ISO 8601 text with an offset."""
    value = datetime.datetime.fromisoformat(text)
    assert value.tzinfo is not None
    return value


OFFICE = {"timezone": "Europe/Amsterdam", "days": ["mon", "tue", "wed", "thu", "fri"]}


@pytest.mark.parametrize(
    ("instant", "inside"),
    [
        # Winter: Amsterdam is UTC+1. 2026-01-05 is a Monday.
        ("2026-01-05T07:29:59+00:00", True),  # 08:29:59 local
        ("2026-01-05T07:00:00+00:00", True),  # 08:00 local, from is inclusive
        ("2026-01-05T06:59:59+00:00", False),
        ("2026-01-05T16:59:59+00:00", True),  # 17:59:59 local
        ("2026-01-05T17:00:00+00:00", False),  # 18:00 local, to is exclusive
        # Summer: UTC+2. 2026-07-06 is a Monday; the same local window, other UTC times.
        ("2026-07-06T06:00:00+00:00", True),  # 08:00 local
        ("2026-07-06T05:59:00+00:00", False),
        ("2026-07-06T15:59:00+00:00", True),
        ("2026-07-06T16:00:00+00:00", False),  # 18:00 local
        # Saturday is not listed.
        ("2026-01-10T10:00:00+00:00", False),
        # The instant's own offset does not matter, only the instant.
        ("2026-01-05T18:00:00+09:00", True),  # 09:00 UTC = 10:00 Amsterdam
    ],
)
def test_office_hours_follow_local_time_in_winter_and_summer(instant: str, inside: bool) -> None:
    office = window(**OFFICE, **{"from": "08:00", "to": "18:00"})
    assert office.matches({}, at(instant)) is inside


@pytest.mark.parametrize(
    ("instant", "inside"),
    [
        ("2026-01-09T21:59:00+00:00", False),  # Friday 21:59
        ("2026-01-09T22:00:00+00:00", True),  # Friday 22:00
        ("2026-01-09T23:59:59+00:00", True),
        ("2026-01-10T00:00:00+00:00", True),  # Saturday morning belongs to Friday's window
        ("2026-01-10T05:59:59+00:00", True),
        ("2026-01-10T06:00:00+00:00", False),
        ("2026-01-10T23:00:00+00:00", False),  # Saturday evening: Saturday is not listed
        ("2026-01-09T03:00:00+00:00", False),  # Friday morning belongs to Thursday
        ("2026-01-08T23:00:00+00:00", False),  # Thursday evening
    ],
)
def test_a_window_over_midnight_belongs_to_the_day_it_starts(instant: str, inside: bool) -> None:
    night = window(timezone="UTC", days=["fri"], **{"from": "22:00", "to": "06:00"})
    assert night.matches({}, at(instant)) is inside


def test_over_midnight_on_sunday_continues_into_monday() -> None:
    night = window(timezone="UTC", days=["sun"], **{"from": "23:00", "to": "01:00"})
    assert night.matches({}, at("2026-01-11T23:30:00+00:00"))  # Sunday
    assert night.matches({}, at("2026-01-12T00:30:00+00:00"))  # Monday
    assert not night.matches({}, at("2026-01-12T23:30:00+00:00"))


def test_spring_forward_the_missing_hour_never_matches_and_neighbours_do() -> None:
    # Europe/Amsterdam, 2026-03-29: 02:00 local jumps to 03:00 (01:00 UTC).
    small_hours = window(timezone="Europe/Amsterdam", **{"from": "02:00", "to": "03:00"})
    around = [at(f"2026-03-29T{h:02d}:{m:02d}:00+00:00") for h in (0, 1) for m in (0, 30)]
    assert [small_hours.matches({}, instant) for instant in around] == [False] * 4
    morning = window(timezone="Europe/Amsterdam", **{"from": "01:30", "to": "03:30"})
    assert morning.matches({}, at("2026-03-29T00:30:00+00:00"))  # 01:30 CET
    assert morning.matches({}, at("2026-03-29T01:00:00+00:00"))  # 03:00 CEST
    assert not morning.matches({}, at("2026-03-29T01:30:00+00:00"))  # 03:30 CEST


def test_fall_back_the_repeated_hour_matches_twice() -> None:
    # Europe/Amsterdam, 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00 UTC).
    repeated = window(timezone="Europe/Amsterdam", **{"from": "02:00", "to": "03:00"})
    assert repeated.matches({}, at("2026-10-25T00:30:00+00:00"))  # 02:30 CEST
    assert repeated.matches({}, at("2026-10-25T01:30:00+00:00"))  # 02:30 CET
    assert not repeated.matches({}, at("2026-10-25T02:00:00+00:00"))  # 03:00 CET


def test_defaults_are_every_day_and_the_whole_day() -> None:
    weekend = window(timezone="UTC", days=["sat", "sun"])
    assert weekend.matches({}, at("2026-01-10T00:00:00+00:00"))
    assert weekend.matches({}, at("2026-01-11T23:59:59+00:00"))
    assert not weekend.matches({}, at("2026-01-12T00:00:00+00:00"))
    until_midnight = window(timezone="UTC", **{"from": "20:00", "to": "24:00"})
    assert until_midnight.matches({}, at("2026-01-12T23:59:59+00:00"))
    assert not until_midnight.matches({}, at("2026-01-12T19:59:59+00:00"))


def test_the_explanation_gives_the_local_time_and_the_window() -> None:
    night = window(
        timezone="America/New_York", days=["fri", "sat"], **{"from": "22:00", "to": "06:00"}
    )
    now = at("2026-01-10T04:30:00+00:00")  # Friday 23:30 in New York (UTC-5)
    assert night.explain({}, now) == [
        "local time fri 23:30 (America/New_York) within fri, sat 22:00-06:00"
    ]
    assert night.describe() == "time within fri, sat 22:00-06:00 (America/New_York)"
    assert window(timezone="UTC").describe() == "time within every day 00:00-24:00 (UTC)"


def test_now_must_be_aware() -> None:
    document = {"rules": [{"id": "r", "priority": 1, "when": "always", "then": [{"tag": "t"}]}]}
    rule_set = compile_rule_set([("t.yaml", json.dumps(document))], schema=SCHEMA)
    with pytest.raises(ValueError, match="timezone-aware"):
        rule_set.evaluate({}, datetime.datetime(2026, 1, 5, 12, 0))


MINUTES = st.integers(min_value=0, max_value=24 * 60 - 1)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@given(
    start=MINUTES,
    end=MINUTES,
    instant=st.datetimes(
        min_value=datetime.datetime(2020, 1, 1),
        max_value=datetime.datetime(2035, 1, 1),
        timezones=st.just(UTC),
    ),
)
def test_a_window_and_its_reverse_split_every_day(
    start: int, end: int, instant: datetime.datetime
) -> None:
    """Every day: ``from a to b`` and ``from b to a`` never overlap and cover everything."""
    if start == end:
        return
    forward = window(timezone="Europe/Berlin", **{"from": _clock(start), "to": _clock(end)})
    backward = window(timezone="Europe/Berlin", **{"from": _clock(end), "to": _clock(start)})
    assert forward.matches({}, instant) != backward.matches({}, instant)


@given(
    instant=st.datetimes(
        min_value=datetime.datetime(2020, 1, 1),
        max_value=datetime.datetime(2035, 1, 1),
        timezones=st.just(UTC),
    )
)
def test_a_window_matches_the_local_wall_clock(instant: datetime.datetime) -> None:
    local = instant.astimezone(ZoneInfo("Australia/Lord_Howe"))  # a 30-minute DST shift
    office = window(
        timezone="Australia/Lord_Howe", days=["mon", "wed"], **{"from": "09:15", "to": "17:45"}
    )
    expected = local.weekday() in (0, 2) and (9, 15) <= (local.hour, local.minute) < (17, 45)
    assert office.matches({}, instant) is expected
