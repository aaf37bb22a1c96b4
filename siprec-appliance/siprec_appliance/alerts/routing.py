"""Which channels an event goes to (``alerts.routes``); pure.

A route matches an event when its ``events`` list is empty or names the event's type,
and the event's severity is at least ``min_severity``. The channels of every matching
route are used, each once, in configuration order. A rule's ``alert`` action that
names a channel goes there alone; an operator's test goes to the channel under test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from siprec_appliance.alerts.events import (
    AlertEvent,
    AlertsSuppressed,
    RuleAlert,
    Severity,
    TestAlert,
)
from siprec_appliance.alerts.settings import RouteConfig

__all__ = ["Route", "Router"]


@dataclass(frozen=True, slots=True)
class Route:
    """One ``alerts.routes`` entry."""

    events: frozenset[str]
    min_severity: Severity
    channels: tuple[str, ...]

    @classmethod
    def from_config(cls, config: RouteConfig) -> Route:
        return cls(frozenset(config.events), Severity(config.min_severity), config.channels)

    def matches(self, event: AlertEvent) -> bool:
        if self.events and event.event_type not in self.events:
            return False
        return Severity(event.severity).rank >= self.min_severity.rank


class Router:
    """Maps events to channel names."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)

    @classmethod
    def from_config(cls, routes: Iterable[RouteConfig]) -> Router:
        return cls(Route.from_config(route) for route in routes)

    def channels_for(self, event: AlertEvent) -> tuple[str, ...]:
        """The channels ``event`` goes to (possibly none)."""
        if isinstance(event, RuleAlert) and event.channel is not None:
            return (event.channel,)
        if isinstance(event, TestAlert | AlertsSuppressed):
            return (event.channel,)
        chosen: dict[str, None] = {}
        for route in self.routes:
            if route.matches(event):
                chosen.update(dict.fromkeys(route.channels))
        return tuple(chosen)
