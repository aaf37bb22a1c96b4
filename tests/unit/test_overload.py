"""Overload protection: new sessions get 503 while every media loop runs late or the
disk is critical; calls in progress are never touched."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from siprec_appliance.appliance.server import OVERLOAD_LAG_MS, Appliance
from siprec_appliance.config import load_config


def _appliance(lags: list[list[float]], *, disk_refusing: bool = False) -> tuple[Appliance, list]:
    appliance = Appliance(load_config(None, {}))
    emitted: list[Any] = []
    appliance.alerts = SimpleNamespace(emit=emitted.append)  # type: ignore[assignment]
    appliance.disk = SimpleNamespace(refusing=disk_refusing, retry_after=300)  # type: ignore[assignment]
    appliance.core = SimpleNamespace(refusal=None)  # type: ignore[assignment]
    reports = iter(lags)

    def load() -> dict[str, Any]:
        return {"mode": "workers", "workers": [{"tick_lag_ms": lag} for lag in next(reports)]}

    appliance.media_load = load  # type: ignore[method-assign]
    return appliance, emitted


def test_every_worker_late_twice_in_a_row_refuses_then_recovers() -> None:
    late = OVERLOAD_LAG_MS + 100.0
    appliance, emitted = _appliance([[late, late], [late, late], [late, late], [3.0, late]])
    appliance._set_refusal()
    assert appliance.core.refusal is None, "one late report is not overload"
    appliance._set_refusal()
    assert appliance.core.refusal == ("Media capacity reached", 30)
    appliance._set_refusal()
    assert [type(e).__name__ for e in emitted] == ["CapacityNearLimit"], "one alert"
    appliance._set_refusal()  # one worker keeps up again: take calls there
    assert appliance.core.refusal is None


def test_one_late_worker_is_not_overload_and_disk_comes_first() -> None:
    late = OVERLOAD_LAG_MS + 100.0
    appliance, _ = _appliance([[late, 1.0], [late, 1.0]])
    appliance._set_refusal()
    appliance._set_refusal()
    assert appliance.core.refusal is None
    critical, _ = _appliance([[0.0]], disk_refusing=True)
    critical._set_refusal()
    assert critical.core.refusal == ("Disk space critical", 300)
