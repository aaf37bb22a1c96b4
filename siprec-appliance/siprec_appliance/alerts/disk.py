"""The disk guard: free space of the data directory against two thresholds.

Each level (``low`` from the ``disk.warning_*`` keys, ``critical`` from
``disk.critical_*``) applies when free space is below its percentage of the disk *or*
below its byte count (0 disables that half). Getting worse is immediate; getting
better needs ``disk.hysteresis_percent`` of the disk more than the limit, so a disk
hovering at a threshold does not flap. Each change of state emits
:class:`~siprec_appliance.alerts.events.DiskLow`,
:class:`~siprec_appliance.alerts.events.DiskCritical` or
:class:`~siprec_appliance.alerts.events.DiskRecovered` (``disk_ok``).

While ``critical``, :attr:`DiskGuard.refusing` is true: the SIP core answers new
sessions ``503 Service Unavailable`` with ``Retry-After: disk.retry_after``
(RFC 3261 §21.5.4); running recordings continue.

:meth:`DiskGuard.check` probes and decides in one call (clock passed in);
:meth:`DiskGuard.update` decides on a reading (pure); :meth:`DiskGuard.run` probes in
a thread every ``disk.check_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from siprec_appliance.alerts.events import AlertEvent, DiskCritical, DiskLow, DiskRecovered
from siprec_appliance.alerts.settings import DiskConfig

__all__ = ["DiskGuard", "DiskReading", "DiskState", "Probe", "disk_usage_probe"]

log = logging.getLogger("siprec.disk")

Probe = Callable[[], tuple[int, int]]


class DiskState(StrEnum):
    OK = "ok"
    LOW = "low"
    CRITICAL = "critical"


def disk_usage_probe(path: Path) -> Probe:
    """``(free_bytes, total_bytes)`` of the file system holding ``path``
    (``shutil.disk_usage``: free is what an unprivileged process may use)."""

    def probe() -> tuple[int, int]:
        usage = shutil.disk_usage(path)
        return usage.free, usage.total

    return probe


@dataclass(frozen=True, slots=True)
class DiskReading:
    free_bytes: int
    total_bytes: int
    at: float

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free_bytes / self.total_bytes if self.total_bytes > 0 else 0.0


class DiskGuard:
    """Watches free space of ``path``; ``emit`` receives the state-change events."""

    def __init__(
        self,
        config: DiskConfig,
        path: Path,
        *,
        probe: Probe | None = None,
        emit: Callable[[AlertEvent], None] | None = None,
    ) -> None:
        self.config = config
        self.path = path
        self._probe = probe or disk_usage_probe(path)
        self._emit = emit or (lambda event: None)
        self.state = DiskState.OK
        self.reading: DiskReading | None = None
        self.changed_at: float | None = None
        self._probe_failed = False

    @property
    def refusing(self) -> bool:
        """True while new sessions must be refused (state ``critical``)."""
        return self.state is DiskState.CRITICAL

    @property
    def retry_after(self) -> int:
        """Seconds for the Retry-After of the 503 sent while :attr:`refusing`."""
        return self.config.retry_after

    def limits(self, total: int) -> tuple[float, float]:
        """(warning, critical) free-byte limits for a disk of ``total`` bytes."""
        c = self.config
        warning = max(total * c.warning_free_percent / 100.0, float(c.warning_free_bytes))
        critical = max(total * c.critical_free_percent / 100.0, float(c.critical_free_bytes))
        return warning, critical

    def classify(self, free: int, total: int) -> DiskState:
        """The state for a reading, given the current state (hysteresis)."""
        warning, critical = self.limits(total)
        margin = total * self.config.hysteresis_percent / 100.0
        if free < critical or (self.state is DiskState.CRITICAL and free < critical + margin):
            return DiskState.CRITICAL
        if free < warning or (self.state is not DiskState.OK and free < warning + margin):
            return DiskState.LOW
        return DiskState.OK

    def update(self, free: int, total: int, now: float) -> DiskState:
        """Take a reading made at ``now``; emit an event if the state changed."""
        self.reading = DiskReading(free, total, now)
        new = self.classify(free, total)
        if new is not self.state:
            old, self.state, self.changed_at = self.state, new, now
            level = logging.INFO if new is DiskState.OK else logging.WARNING
            log.log(level, "disk %s: %s -> %s (%.1f%% free)", self.path, old, new,
                    self.reading.free_percent)  # fmt: skip
            self._emit(self._event(new, free, total))
        return self.state

    def _event(self, state: DiskState, free: int, total: int) -> AlertEvent:
        path = str(self.path)
        if state is DiskState.CRITICAL:
            return DiskCritical(
                path=path, free_bytes=free, total_bytes=total, retry_after=self.config.retry_after
            )
        if state is DiskState.LOW:
            return DiskLow(path=path, free_bytes=free, total_bytes=total)
        return DiskRecovered(path=path, free_bytes=free, total_bytes=total)

    def _read(self) -> tuple[int, int] | None:
        """The probe's answer; None (logged once per outage) when it fails."""
        try:
            free, total = self._probe()
        except OSError as exc:
            if not self._probe_failed:
                log.error("disk %s: cannot read free space: %s", self.path, exc)
            self._probe_failed = True
            return None
        self._probe_failed = False
        return free, total

    def check(self, now: float) -> DiskState:
        """Probe now (blocking: a ``statvfs``) and :meth:`update`; a failed probe keeps
        the state."""
        reading = self._read()
        return self.state if reading is None else self.update(*reading, now)

    async def run(self, clock: Callable[[], float] = time.time) -> None:
        """Check every ``check_interval`` seconds until cancelled.

        The probe runs in a thread (``statvfs`` can block on a network file system);
        the decision and ``emit`` run on the event loop.
        """
        while True:
            reading = await asyncio.to_thread(self._read)
            if reading is not None:
                self.update(*reading, clock())
            await asyncio.sleep(self.config.check_interval)

    def to_dict(self) -> dict[str, Any]:
        """For health pages and the API."""
        reading = self.reading
        return {
            "path": str(self.path),
            "state": str(self.state),
            "refusing": self.refusing,
            "retry_after": self.retry_after,
            "free_bytes": reading.free_bytes if reading else None,
            "total_bytes": reading.total_bytes if reading else None,
            "free_percent": round(reading.free_percent, 2) if reading else None,
            "changed_at": self.changed_at,
        }
