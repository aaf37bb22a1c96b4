"""Time-of-week windows in a named time zone (IANA, through :mod:`zoneinfo`).

A window is ``days`` (Monday..Sunday, default every day) and local wall-clock
times ``from`` (inclusive, default 00:00) and ``to`` (exclusive, default 24:00).
When ``from`` is later than ``to`` the window runs over midnight and belongs to the
day it starts on: ``days: [fri], from: "22:00", to: "06:00"`` is Friday 22:00 to
Saturday 06:00. Comparing wall-clock times of ``now`` converted to the zone makes
the window follow daylight-saving changes: 09:00 local is 09:00 in summer and winter.
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from siprec_appliance.policy.conditions import Condition
from siprec_appliance.policy.context import At, CompileContext

__all__ = ["DAY_NAMES", "TimeWindow", "compile_time_window"]

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY = 24 * 60
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


class TimeWindow(Condition):
    """True when ``now``, in the window's zone, falls inside the window."""

    __slots__ = ("days", "end", "start", "zone", "zone_name")

    def __init__(
        self, zone_name: str, zone: datetime.tzinfo, days: frozenset[int], start: int, end: int
    ) -> None:
        self.zone_name = zone_name
        self.zone = zone
        self.days = days  # 0 = Monday (datetime.weekday())
        self.start = start  # minutes after local midnight
        self.end = end

    def matches(self, facts: Mapping[str, Any], now: datetime.datetime) -> bool:
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if self.start < self.end:
            return day in self.days and self.start <= minute < self.end
        # Over midnight: the evening part on a listed day, the morning part on the next.
        return (day in self.days and minute >= self.start) or (
            (day - 1) % 7 in self.days and minute < self.end
        )

    def explain(
        self, facts: Mapping[str, Any], now: datetime.datetime, prefix: str = ""
    ) -> list[str]:
        local = now.astimezone(self.zone)
        shown = f"{DAY_NAMES[local.weekday()]} {local:%H:%M}"
        return [f"local time {shown} ({self.zone_name}) within {self._window()}"]

    def describe(self) -> str:
        return f"time within {self._window()} ({self.zone_name})"

    def _window(self) -> str:
        days = (
            "every day"
            if len(self.days) == 7
            else ", ".join(DAY_NAMES[d] for d in sorted(self.days))
        )
        return f"{days} {_clock(self.start)}-{_clock(self.end)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def compile_time_window(node: Mapping[str, Any], at: At, ctx: CompileContext) -> TimeWindow | None:
    """Compile a ``time:`` mapping (schema-checked keys: timezone, days, from, to)."""
    zone_name = str(node["timezone"])
    zone = _zone(zone_name, at.child("timezone"), ctx)
    start = _minutes(node.get("from"), at.child("from"), ctx, default=0, allow_end=False)
    end = _minutes(node.get("to"), at.child("to"), ctx, default=_MINUTES_PER_DAY, allow_end=True)
    days = frozenset(DAY_NAMES.index(day) for day in node.get("days", DAY_NAMES))
    if zone is None or start is None or end is None:
        return None
    if start == end:
        ctx.report(
            at, "the window is empty (from equals to); leave out from and to for a whole day"
        )
        return None
    return TimeWindow(zone_name, zone, days, start, end)


def _zone(name: str, at: At, ctx: CompileContext) -> datetime.tzinfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        ctx.report(at, f"unknown time zone {name!r} (an IANA name such as Europe/Amsterdam or UTC)")
        return None


def _minutes(
    value: Any, at: At, ctx: CompileContext, *, default: int, allow_end: bool
) -> int | None:
    if value is None:
        return default
    match = _TIME.fullmatch(str(value).strip())
    if match:
        hours, minutes = int(match.group(1)), int(match.group(2))
        if hours < 24 and minutes < 60:
            return hours * 60 + minutes
        if allow_end and hours == 24 and minutes == 0:
            return _MINUTES_PER_DAY
    latest = "24:00" if allow_end else "23:59"
    ctx.report(at, f"{str(value)!r} is not a time of day (HH:MM, 00:00 to {latest})")
    return None
