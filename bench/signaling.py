"""Signalling benchmark: call set-ups per second and INVITE-to-200 latency.

Starts the real daemon (uvloop, logging at WARNING) and drives it from this process
with SIPREC INVITEs (two labelled streams + metadata) over UDP at increasing rates;
each call is ACKed, held ``--hold`` seconds and ended with BYE. Then it holds
``--concurrent`` sessions open at once and reports the daemon's RSS.

    .venv/bin/python bench/signaling.py [--rates 100,250,500,750] [--seconds 10]
        [--concurrent 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sipload import Call, Results, Uac, open_uac, percentile
from support.daemon import Daemon, start_daemon


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def place_call(uac: Uac, call_id: str, hold: float) -> None:
    call = uac.invite(call_id)
    assert call.done is not None
    try:
        await asyncio.wait_for(call.done, 5)
    except TimeoutError:
        uac.results.fail("no final response in 5 s")
        return
    if call.answered_at is None:
        return
    await asyncio.sleep(hold)
    await end_call(uac, call)


async def end_call(uac: Uac, call: Call) -> None:
    uac.bye(call)
    assert call.bye_ok is not None
    try:
        await asyncio.wait_for(call.bye_ok, 5)
    except TimeoutError:
        uac.results.fail("no 200 to BYE")


async def run_rate_quietly(
    daemon: Daemon, rate: int, seconds: float, hold: float, tag: str
) -> dict[str, float]:
    """The load generator must not add its own collector pauses to the latencies."""
    gc.collect()
    gc.disable()
    try:
        return await run_rate(daemon, rate, seconds, hold, tag)
    finally:
        gc.enable()


async def run_rate(
    daemon: Daemon, rate: int, seconds: float, hold: float, tag: str
) -> dict[str, float]:
    results = Results()
    uacs = [await open_uac(("127.0.0.1", daemon.sip_port), results) for _ in range(4)]
    total = int(rate * seconds)
    tasks: list[asyncio.Task[None]] = []
    cpu0, wall0 = cpu_seconds(daemon.process.pid), time.perf_counter()
    start = time.perf_counter()
    for n in range(total):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        uac = uacs[n % len(uacs)]
        tasks.append(asyncio.create_task(place_call(uac, f"{tag}-{n}", hold)))
    sent_for = time.perf_counter() - start
    await asyncio.gather(*tasks)
    cpu = cpu_seconds(daemon.process.pid) - cpu0
    wall = time.perf_counter() - wall0
    for uac in uacs:
        assert uac.transport is not None
        uac.transport.close()
    lat = results.latencies
    return {
        "offered_cps": rate,
        "achieved_cps": results.answered / sent_for,
        "calls": total,
        "answered": results.answered,
        "failures": sum(results.failures.values()),
        "p50_ms": percentile(lat, 0.50) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
        "max_ms": max(lat) * 1000 if lat else float("nan"),
        "daemon_cpu_pct": 100 * cpu / wall,
        "failure_kinds": str(results.failures or ""),  # type: ignore[dict-item]
    }


async def hold_concurrent(
    daemon: Daemon, count: int, rate: int, *, rtcp_mux: bool
) -> dict[str, float]:
    results = Results()
    target = ("127.0.0.1", daemon.sip_port)
    uacs = [await open_uac(target, results, rtcp_mux=rtcp_mux) for _ in range(8)]
    rss_before = rss_mb(daemon.process.pid)
    calls: list[Call] = []
    start = time.perf_counter()
    for n in range(count):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        calls.append(uacs[n % len(uacs)].invite(f"hold-{n}"))
    waits = [c.done for c in calls if c.done is not None]
    await asyncio.wait(waits, timeout=30)
    await asyncio.sleep(2)
    active = daemon.get("/api/health")["active_sessions"]
    rss = rss_mb(daemon.process.pid)
    fds = len(os.listdir(f"/proc/{daemon.process.pid}/fd"))
    byes = [end_call(uacs[n % len(uacs)], c) for n, c in enumerate(calls) if c.answered_at]
    for chunk in range(0, len(byes), 500):
        await asyncio.gather(*byes[chunk : chunk + 500])
    await asyncio.sleep(1)
    after = daemon.get("/api/health")["active_sessions"]
    return {
        "rtcp_mux": float(rtcp_mux),
        "requested": count,
        "answered": results.answered,
        "active_reported": float(active),  # type: ignore[arg-type]
        "rss_before_mb": rss_before,
        "rss_held_mb": rss,
        "open_fds": fds,
        "active_after_bye": float(after),  # type: ignore[arg-type]
        "failures": sum(results.failures.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="100,250,500,750")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--hold", type=float, default=1.0)
    parser.add_argument("--concurrent", type=int, default=10000)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:  # 10,000 sessions x 2 streams x (RTP + RTCP) sockets: lift the limit (root may)
        hard = max(hard, 100_000)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(
        f"# {platform.node()} {platform.processor() or platform.machine()} "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    print(f"# open-file limit {hard}")
    with tempfile.TemporaryDirectory() as tmp:
        daemon = start_daemon(
            Path(tmp),
            rtp_range=(20000, 60999),
            extra_env={"SIPREC_LOG_LEVEL": "WARNING", "SIPREC_MAX_SESSIONS": "20000"},
        )
        try:
            print("\n## set-up rate (each call: INVITE, 200, ACK, hold, BYE, 200)")
            for rate in [int(r) for r in args.rates.split(",")]:
                row = asyncio.run(
                    run_rate_quietly(daemon, rate, args.seconds, args.hold, f"r{rate}")
                )
                print(
                    " ".join(
                        f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()
                    )
                )
            for mux in (False, True) if args.concurrent else ():
                # RTP (+ RTCP without mux) sockets per stream, 2 streams; 512 fds reserved.
                fits = (hard - 512) // (2 if mux else 4)
                count = min(args.concurrent, fits)
                print(
                    f"\n## {count} concurrent two-stream sessions, rtcp-mux={mux} "
                    f"(the open-file limit {hard} fits {fits})"
                )
                row = asyncio.run(hold_concurrent(daemon, count, 500, rtcp_mux=mux))
                print(
                    " ".join(
                        f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()
                    )
                )
        finally:
            code = daemon.stop(60)
            print(f"\n# daemon exit code {code}")
            if code != 0:
                print(daemon.log()[-3000:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
