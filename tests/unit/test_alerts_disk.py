"""The disk guard: thresholds, hysteresis, events on transitions, refusing new sessions."""

from __future__ import annotations

from pathlib import Path

from siprec_appliance.alerts.disk import DiskGuard, DiskState, disk_usage_probe
from siprec_appliance.alerts.events import AlertEvent, DiskCritical, DiskLow, DiskRecovered
from siprec_appliance.alerts.settings import DiskConfig

GIB = 1024**3
TOTAL = 100 * GIB
CONFIG = DiskConfig(
    warning_free_percent=10.0,
    warning_free_bytes=0,
    critical_free_percent=2.0,
    critical_free_bytes=0,
    hysteresis_percent=1.0,
    retry_after=120,
)


class FakeDisk:
    def __init__(self, free: int) -> None:
        self.free = free
        self.fail = False

    def __call__(self) -> tuple[int, int]:
        if self.fail:
            raise OSError(5, "Input/output error")
        return self.free, TOTAL


def guard(disk: FakeDisk, config: DiskConfig = CONFIG) -> tuple[DiskGuard, list[AlertEvent]]:
    events: list[AlertEvent] = []
    return DiskGuard(config, Path("/var"), probe=disk, emit=events.append), events


def test_ok_low_critical_and_back_with_one_event_per_transition() -> None:
    disk = FakeDisk(50 * GIB)
    g, events = guard(disk)
    assert g.check(0.0) is DiskState.OK and events == []
    disk.free = 9 * GIB
    assert g.check(1.0) is DiskState.LOW
    assert g.check(2.0) is DiskState.LOW  # no repeat while the state holds
    assert not g.refusing
    disk.free = 1 * GIB
    assert g.check(3.0) is DiskState.CRITICAL
    assert g.refusing and g.retry_after == 120
    disk.free = 60 * GIB
    assert g.check(4.0) is DiskState.OK
    assert not g.refusing
    assert [type(event) for event in events] == [DiskLow, DiskCritical, DiskRecovered]
    critical = events[1]
    assert isinstance(critical, DiskCritical)
    assert (critical.free_bytes, critical.total_bytes, critical.retry_after) == (GIB, TOTAL, 120)
    assert critical.path == "/var"
    assert g.changed_at == 4.0


def test_hysteresis_prevents_flapping() -> None:
    disk = FakeDisk(int(1.5 * GIB))
    g, events = guard(disk)
    assert g.check(0.0) is DiskState.CRITICAL
    disk.free = int(2.5 * GIB)  # above 2 % but not by the 1 % margin
    assert g.check(1.0) is DiskState.CRITICAL
    disk.free = int(3.1 * GIB)
    assert g.check(2.0) is DiskState.LOW
    disk.free = int(10.5 * GIB)  # above 10 % but within the margin
    assert g.check(3.0) is DiskState.LOW
    disk.free = int(11.1 * GIB)
    assert g.check(4.0) is DiskState.OK
    assert [event.event_type for event in events] == ["disk_critical", "disk_low", "disk_ok"]


def test_byte_limits_apply_even_when_the_percentage_is_fine() -> None:
    config = DiskConfig(
        warning_free_percent=1.0,
        warning_free_bytes=20 * GIB,
        critical_free_percent=0.0,
        critical_free_bytes=5 * GIB,
    )
    disk = FakeDisk(15 * GIB)  # 15 % free, but under 20 GiB
    g, _ = guard(disk, config)
    assert g.check(0.0) is DiskState.LOW
    assert g.limits(TOTAL) == (20 * GIB, 5 * GIB)
    disk.free = 4 * GIB
    assert g.check(1.0) is DiskState.CRITICAL


def test_first_reading_already_critical_emits() -> None:
    g, events = guard(FakeDisk(GIB // 2))
    assert g.check(0.0) is DiskState.CRITICAL
    assert [event.event_type for event in events] == ["disk_critical"]


def test_a_failing_probe_keeps_the_state() -> None:
    disk = FakeDisk(GIB)
    g, events = guard(disk)
    g.check(0.0)
    disk.fail = True
    assert g.check(1.0) is DiskState.CRITICAL
    assert g.refusing
    assert len(events) == 1
    assert g.to_dict()["free_bytes"] == GIB


def test_to_dict_and_the_real_probe(tmp_path: Path) -> None:
    free, total = disk_usage_probe(tmp_path)()
    assert 0 <= free <= total
    g = DiskGuard(DiskConfig(), tmp_path)
    g.check(5.0)
    body = g.to_dict()
    assert body["path"] == str(tmp_path)
    assert body["total_bytes"] == total
    assert body["state"] in ("ok", "low", "critical")
    assert body["refusing"] is (body["state"] == "critical")


def test_run_probes_in_a_thread_and_emits_on_the_loop() -> None:
    import asyncio
    import threading

    threads: dict[str, int] = {}
    disk = FakeDisk(GIB)

    def probe() -> tuple[int, int]:
        threads["probe"] = threading.get_ident()
        return disk()

    def emit(event: AlertEvent) -> None:
        threads["emit"] = threading.get_ident()

    async def scenario() -> DiskState:
        g = DiskGuard(DiskConfig(check_interval=0.01), Path("/var"), probe=probe, emit=emit)
        task = asyncio.create_task(g.run(clock=lambda: 7.0))
        while "emit" not in threads:
            await asyncio.sleep(0.01)
        task.cancel()
        threads["loop"] = threading.get_ident()
        return g.state

    assert asyncio.run(asyncio.wait_for(scenario(), 5)) is DiskState.CRITICAL
    assert threads["probe"] != threads["loop"]  # statvfs may block: not on the loop
    assert threads["emit"] == threads["loop"]  # AlertService.emit is not thread-safe
