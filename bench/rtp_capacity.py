"""RTP capacity benchmark: N concurrent calls, two streams each at 50 packets/s.

For each N: start N SIPREC calls on the real daemon (UDP), send 20 ms packets to
every answered port from a separate sender process for ``--seconds``, end the calls,
then check every call's ``session.json``: packets received == sent, nothing lost,
no SRTP authentication failures, the WAV's sample rate and duration. Also reads the
kernel's UDP ``RcvbufErrors`` (drops the application never sees). While the RTP
flows it polls ``/api/health``: how many datagrams the media ticks have processed
against the sender's schedule (``behind_s``), and how late the ticks run. A level
is clean when nothing is lost or wrong and processing never falls more than 0.2 s
(two ticks) behind in the steady state; N is raised until a level is not clean.
Prints the largest clean N, CPU per process (SIP process, each media worker, the
sender), CPU per packet and RSS.

    .venv/bin/python bench/rtp_capacity.py [--calls 100,250,500,1000] [--seconds 10]
        [--workers auto] [--codec pcmu|g722] [--srtp] [--ceiling [--ceiling-only]]

``--codec g722``: G.722 offered as payload type 9 with an 8000 Hz RTP clock
(RFC 3551 §4.5.2), 160 bytes per 20 ms (PyAV's encoding of silence); the files must
come out at 16 kHz. ``--srtp``: every stream is offered as RTP/SAVP with its own
``a=crypto`` AES_CM_128_HMAC_SHA1_80 key, and the sender sends real SRTP protected
with that key: the packets are protected in advance (pylibsrtp, ≈5-7 µs a packet,
before the calls are set up) and the C sender replays them, so it costs what it
costs for plain RTP and does not take the appliance's core (``bench/rtpload.py``).

``--ceiling``: after each level, with the daemon's calls ended, the same sender
sends the same packets (same N, same two RTP ports per call with their RTCP
neighbours bound, same pacing) to ``bench/bare_receiver.py``: uvloop and one
``DatagramProtocol`` per socket that only counts datagrams, on its own ports just
above the daemon's range. It reports what it received, how far behind the
schedule it fell (same 0.2 s rule) and its CPU, so that the appliance's CPU per
packet can be set against the bare receiver's; once the appliance fails a level the
remaining levels run for the bare receiver alone. Note that a 1 MiB socket buffer
holds seconds of a 50 packets/s stream, so a saturated receiver shows as late long
before it loses anything; that is why lateness counts. ``--ceiling-processes K``
splits the sockets over K receiver processes (default 1: a one-core figure);
``--ceiling-only`` skips the daemon.

Other scripts reuse the machinery: what is sent and the sender in
``bench/rtpload.py``; here :func:`start_calls`, :func:`send_media` (with a
companion coroutine), :func:`end_calls`, :func:`check`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rtpload import SRTP_SUITE, MediaSpec, Sender, Traffic, build_blaster
from signaling import cpu_seconds, rss_mb
from sipload import Call, Results, Uac, open_uac
from support.daemon import Daemon, start_daemon

BARE_RECEIVER = Path(__file__).with_name("bare_receiver.py")
DEFAULT_RTP_RANGE = (20000, 40999)
T = TypeVar("T")


def rcvbuf_errors() -> int:
    lines = Path("/proc/net/snmp").read_text().splitlines()
    udp = [line.split() for line in lines if line.startswith("Udp:")]
    return int(udp[1][udp[0].index("RcvbufErrors")])


def answered_ports(answer: bytes) -> list[int]:
    return [int(p) for p in re.findall(rb"\r\nm=audio (\d+) ", answer)]


# ------------------------------------------------------------------ calls
@dataclass
class Level:
    """N calls set up on the daemon: call ``n`` has Call-ID ``{tag}-{n}``."""

    tag: str
    uacs: list[Uac]
    calls: list[tuple[Uac, Call]]
    ports: list[int]  # stream i of the traffic -> its answered port

    @property
    def targets(self) -> list[tuple[int, int]]:
        return [(port, 0x1000 + i) for i, port in enumerate(self.ports)]

    def close(self) -> None:
        for uac in self.uacs:
            if uac.transport is not None:
                uac.transport.close()


def level_tag(count: int) -> str:
    return f"cap-{count}"


async def start_calls(daemon: Daemon, traffic: Traffic, tag: str) -> Level:
    """Set up ``traffic.count`` calls, 200 at a time (as an SBC's burst would)."""
    results = Results()
    uacs = [await open_uac(("127.0.0.1", daemon.sip_port), results) for _ in range(8)]
    calls: list[tuple[Uac, Call]] = []
    answers: dict[str, bytes] = {}
    for n in range(traffic.count):
        uac = uacs[n % len(uacs)]
        calls.append((uac, uac.invite(f"{tag}-{n}", traffic.offer(n))))
        if n % 200 == 199:
            await asyncio.sleep(0.2)
    await asyncio.wait([c.done for _, c in calls if c.done is not None], timeout=30)
    for uac in uacs:
        answers.update(uac.answers)
    ports = [p for _, c in calls for p in answered_ports(answers.get(c.call_id, b""))]
    if results.failures or len(ports) != 2 * traffic.count:
        raise RuntimeError(f"set-up failed: {results.failures}, {len(ports)} ports")
    return Level(tag, uacs, calls, ports)


async def end_calls(level: Level) -> None:
    calls = level.calls
    for chunk in range(0, len(calls), 200):
        for uac, call in calls[chunk : chunk + 200]:
            uac.bye(call)
        await asyncio.sleep(0.1)
    await asyncio.wait([c.bye_ok for _, c in calls if c.bye_ok is not None], timeout=30)


# ------------------------------------------------------------------ checks
def finished_documents(
    daemon: Daemon, tag: str, count: int, timeout: float = 120.0
) -> list[tuple[Path, dict[str, Any]]]:
    """(session directory, session.json) of every call of ``tag`` once it is final
    (closing runs in a thread or a worker)."""
    deadline = time.time() + timeout
    while True:
        documents = []
        for path in (daemon.data_dir / "recordings").glob("*/*/session.json"):
            try:
                document = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # being rewritten
            if str(document["session"]["call_id"]).startswith(f"{tag}-"):
                documents.append((path.parent, document))
        done = [(p, d) for p, d in documents if d.get("state") != "recording"]
        if len(done) == count or time.time() > deadline:
            return done
        time.sleep(0.5)


def wav_rate(path: Path) -> int:
    with wave.open(str(path), "rb") as wav:
        return wav.getframerate()


def check(daemon: Daemon, traffic: Traffic, tag: str, timeout: float = 120.0) -> dict[str, Any]:
    """:func:`check_documents` of the calls of ``tag`` once they are final."""
    return check_documents(finished_documents(daemon, tag, traffic.count, timeout), traffic)


def check_documents(
    documents: list[tuple[Path, dict[str, Any]]], traffic: Traffic
) -> dict[str, Any]:
    """Every stream of every call: received == sent, nothing lost, no SRTP
    failures, the file's rate and its duration within 40 ms of the audio sent."""
    received = lost = streams = short = wrong_rate = srtp_failures = 0
    for directory, document in documents:
        for stream in document["streams"]:
            streams += 1
            received += int(stream.get("received", 0))
            lost += int(stream.get("lost", 0))
            srtp_failures += int(stream.get("srtp_auth_failures", 0))
            srtp_failures += int(stream.get("srtp_replays", 0))
            if traffic.keys is not None and stream.get("srtp_suite") != SRTP_SUITE:
                srtp_failures += 1
            if abs(float(stream.get("duration") or 0) - traffic.audio_seconds) > 0.04:
                short += 1
            name = stream.get("file")
            if not name or wav_rate(directory / name) != traffic.codec.sample_rate:
                wrong_rate += 1
    return {
        "finalised": len(documents),
        "streams": streams,
        "received": received,
        "expected": 2 * traffic.count * traffic.ticks,
        "lost": lost,
        "wrong_duration": short,
        "wrong_rate": wrong_rate,
        "srtp_failures": srtp_failures,
    }


def is_clean(row: dict[str, Any]) -> bool:
    """Nothing lost or wrong, and never more than 0.2 s behind the schedule."""
    return (
        row["lost"] == 0
        and row["kernel_drops"] == 0
        and row["wrong_duration"] == 0
        and row["wrong_rate"] == 0
        and row["srtp_failures"] == 0
        and row["received"] == row["expected"]
        and row["finalised"] == row["calls"]
        and float(row["behind_s"]) <= 0.2
    )


# ------------------------------------------------------------------ load while sending
def media_pids(daemon: Daemon) -> list[int]:
    """The SIP process first, then its media workers (from /api/health)."""
    media: Any = daemon.get("/api/health")["media"]
    return [daemon.process.pid] + [int(w["pid"]) for w in media.get("workers", [])]


def worker_loads(media: Any) -> list[Any]:
    """Each media worker's load report (the SIP process's own in in-process mode)."""
    return list(media.get("workers") or [media])


def behind(
    loads: list[Any], base: dict[int, int], start_at: float, rates: dict[int, float]
) -> float:
    """How far the workers' processing is behind the sender's schedule, in seconds:
    per worker, the datagrams due by the time of its last tick (``rates[n]``
    packets/s since ``start_at``) minus those processed since ``base``; the worst
    worker."""
    worst = 0.0
    for n, load in enumerate(loads):
        rate = rates.get(n, 0.0)
        if rate <= 0:
            continue
        at = float(load.get("datagrams_at", 0.0))
        done = int(load.get("datagrams", 0)) - base.get(n, 0)
        worst = max(worst, (max(0.0, at - start_at) * rate - done) / rate)
    return worst


async def watch_load(
    daemon: Daemon, start_at: float, until: float, per_call: float = 100.0
) -> dict[str, Any]:
    """Media load while the RTP flows, from ``/api/health`` every 0.5 s.

    Each worker reports its worst tick of the last second and how many datagrams
    its ticks processed. Returned: the worst tick lag in the first 2 s (the workers
    still create the calls' files), then for the steady state the median and worst
    tick lag, the worst tick's wall and CPU time (ms), and how far processing was
    behind the sender's schedule (``behind_s``, see :func:`behind`; the sender's own
    lateness counts against us). Each worker's packet rate is its recordings at the
    first steady sample times ``per_call``: calls set up later (a signalling burst)
    send no RTP.

    A level is late when the steady state falls behind by more than two ticks
    (0.2 s): the kernel buffers then hold the backlog, a longer run would lose
    packets, and a crash would lose more than the last second.
    """
    steady_from = start_at + 2.0
    first = worker_loads((await asyncio.to_thread(daemon.get, "/api/health"))["media"])
    base = {n: int(load.get("datagrams", 0)) for n, load in enumerate(first)}
    start_lag = 0.0
    lags: list[float] = []
    work = work_cpu = late = 0.0
    backlog = 0
    rates: dict[int, float] | None = None
    while time.time() < until:
        await asyncio.sleep(0.5)
        media: Any = (await asyncio.to_thread(daemon.get, "/api/health"))["media"]
        now = time.time()
        steady = now >= steady_from
        loads = worker_loads(media)
        for load in loads:
            lag = float(load.get("tick_lag_ms", 0.0))
            if steady:
                lags.append(lag)
                if float(load.get("tick_work_ms", 0.0)) > work:
                    work = float(load.get("tick_work_ms", 0.0))
                    work_cpu = float(load.get("tick_cpu_ms", 0.0))
            else:
                start_lag = max(start_lag, lag)
            backlog = max(backlog, int(load.get("decode_backlog", 0)))
        if steady and rates is None:  # each worker's calls, before any others come
            rates = {n: int(load.get("recordings", 0)) * per_call for n, load in enumerate(loads)}
        if rates is not None and now < until - 1.0:  # while the sender still sends
            late = max(late, behind(loads, base, start_at, rates))
    return {
        "behind_s": round(late, 3),
        "max_tick_lag_ms": max(lags, default=0.0),
        "median_tick_lag_ms": statistics.median(lags) if lags else 0.0,
        "max_tick_work_ms": work,
        "its_cpu_ms": work_cpu,
        "start_tick_lag_ms": start_lag,
        "max_decode_backlog": backlog,
    }


Companion = Callable[[float, float], Coroutine[Any, Any, T]]  # (start_at, until) -> result


async def send_media(
    daemon: Daemon, level: Level, traffic: Traffic, companion: Companion[T] | None = None
) -> tuple[dict[str, Any], T | None]:
    """Send ``traffic`` to ``level``'s ports and measure the daemon meanwhile.

    ``companion(start_at, until)`` runs alongside (a signalling burst, an RSS
    sampler); its result is returned with the figures. CPU is measured over the
    steady state: from 2 s into the RTP (the session starts' file creation is done)
    to 1 s after its end; per packet, over the packets sent in that window.
    """
    pids = media_pids(daemon)
    drops0 = rcvbuf_errors()
    start_at = time.time() + 0.5
    until = start_at + traffic.duration + 1.0
    sender = Sender(level.targets, traffic, start_at)
    watch = asyncio.create_task(watch_load(daemon, start_at, until, traffic.per_call))
    extra = asyncio.create_task(companion(start_at, until)) if companion else None
    await asyncio.sleep(max(0.0, start_at + min(2.0, traffic.duration / 3) - time.time()))
    wall0 = time.time()
    cpu0 = {pid: cpu_seconds(pid) for pid in pids}
    await asyncio.sleep(max(0.0, start_at + traffic.duration / 2 - time.time()))
    rss = sum(rss_mb(pid) for pid in pids)
    await asyncio.to_thread(sender.join)
    await asyncio.sleep(1.0)  # let the jitter buffers release the last packets
    elapsed = time.time() - wall0
    cpu = {pid: cpu_seconds(pid) - cpu0[pid] for pid in pids}
    load = await watch
    result = await extra if extra is not None else None
    drops = rcvbuf_errors() - drops0
    packets = traffic.count * traffic.per_call * max(0.0, start_at + traffic.duration - wall0)
    return {
        "calls": traffic.count,
        "packets_per_s": round(traffic.count * traffic.per_call),
        "kernel_drops": drops,
        **load,
        "sip_cpu_pct": 100 * cpu[daemon.process.pid] / elapsed,
        "worker_cpu_pct": "/".join(f"{100 * cpu[p] / elapsed:.0f}" for p in pids[1:]) or "-",
        "total_cpu_pct": 100 * sum(cpu.values()) / elapsed,
        "cpu_us_per_packet": 1e6 * sum(cpu.values()) / packets if packets else math.nan,
        "sender": sender.kind,
        "sender_cpu_pct": sender.cpu_pct,
        "sender_late_max_ms": sender.late_max_ms,
        "sender_late_at_s": sender.late_at_s,
        "rss_mb": rss,
    }, result


async def run_level(daemon: Daemon, traffic: Traffic) -> dict[str, Any]:
    """One level of the capacity bench: set up, send, end, check."""
    tag = level_tag(traffic.count)
    level = await start_calls(daemon, traffic, tag)
    try:
        figures, _ = await send_media(daemon, level, traffic)
        await end_calls(level)
    finally:
        level.close()
    await asyncio.sleep(2.0)
    result = check(daemon, traffic, tag)
    result.update(figures)
    return result


# ------------------------------------------------------------------ bare receiver
def run_ceiling(traffic: Traffic, first_port: int, processes: int = 1) -> dict[str, Any]:
    """The same sender and packets toward ``bench/bare_receiver.py`` processes, the
    streams shared out between them; each binds its ports from ``first_port`` up
    (skipping any in use) and says which before the next starts."""
    streams = 2 * traffic.count
    share = [streams // processes + (k < streams % processes) for k in range(processes)]
    receivers: list[subprocess.Popen[str]] = []
    ports: list[int] = []
    for n in share:
        receiver = subprocess.Popen(
            [
                *(sys.executable, str(BARE_RECEIVER), "--first-port", str(first_port)),
                *("--streams", str(n), "--interval", str(traffic.interval)),
                *("--ticks", str(traffic.ticks)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        receivers.append(receiver)
        assert receiver.stdout is not None
        bound = json.loads(receiver.stdout.readline())["ports"]
        ports += bound
        first_port = max(bound) + 2
    drops0 = rcvbuf_errors()
    start_at = time.time() + 0.5
    for receiver in receivers:
        assert receiver.stdin is not None
        receiver.stdin.write(f"{start_at:.6f}\n")
        receiver.stdin.flush()
    sender = Sender([(port, 0x1000 + i) for i, port in enumerate(ports)], traffic, start_at)
    sender.join()
    reports = []
    for receiver in receivers:
        assert receiver.stdout is not None
        reports.append(json.loads(receiver.stdout.readline()))
        receiver.wait()
    cpu = sum(r["window_cpu_s"] for r in reports)
    window = max(r["window_s"] for r in reports)
    packets = sum(r["window_packets"] for r in reports)
    return {
        "bare_calls": traffic.count,
        "processes": processes,
        "packets_per_s": round(traffic.count * traffic.per_call),
        "received": sum(r["received"] for r in reports),
        "expected": streams * traffic.ticks,
        "kernel_drops": rcvbuf_errors() - drops0,
        "behind_s": round(max(r["behind_s"] for r in reports), 3),
        "cpu_pct": 100 * cpu / window if window else math.nan,
        "cpu_us_per_packet": 1e6 * cpu / packets if packets else math.nan,
        "sender_cpu_pct": sender.cpu_pct,
        "sender_late_max_ms": sender.late_max_ms,
        "sender_late_at_s": sender.late_at_s,
    }


def bare_clean(row: dict[str, Any]) -> bool:
    return (
        row["received"] == row["expected"]
        and row["kernel_drops"] == 0
        and float(row["behind_s"]) <= 0.2
    )


# ------------------------------------------------------------------ main
def format_row(row: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())


def start_bench_daemon(
    tmp: Path, rtp_range: tuple[int, int], workers: str, extra: dict[str, str] | None = None
) -> Daemon:
    """The real daemon as the media benches run it (logging at WARNING)."""
    return start_daemon(
        tmp,
        rtp_range=rtp_range,
        extra_env={
            "SIPREC_LOG_LEVEL": "WARNING",
            "SIPREC_MEDIA_WORKERS": workers,
            **(extra or {}),
        },
    )


def stop_bench_daemon(daemon: Daemon) -> None:
    """Stop it and print its exit code and last warnings (why calls were refused
    or late, if they were)."""
    print(f"# daemon exit code {daemon.stop(60)}")
    warnings = [line for line in daemon.log().splitlines() if "WARNING" in line]
    for line in warnings[-20:]:
        print(f"# log: {line[:300]}")


def port_range(text: str) -> tuple[int, int]:
    low, high = (int(p) for p in text.split("-"))
    return low, high


def machine_line() -> str:
    return (
        f"# {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )


@dataclass
class Outcome:
    clean: int = 0  # largest clean N of the appliance
    failed: bool = False  # the appliance failed a level
    bare_clean: int = 0
    bare_failed: bool = False
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)


def ceiling_level(
    args: argparse.Namespace, traffic: Traffic, outcome: Outcome, first_port: int
) -> None:
    count = traffic.count
    bare = run_ceiling(traffic, first_port, args.ceiling_processes)
    print(format_row(bare), flush=True)
    if bare_clean(bare) and not outcome.bare_failed:
        outcome.bare_clean = count
    else:
        outcome.bare_failed = True
    row = outcome.rows.get(count)
    if row is not None:
        ratio = row["cpu_us_per_packet"] / bare["cpu_us_per_packet"]
        print(
            f"# {count} calls: CPU per packet, appliance {row['cpu_us_per_packet']:.1f} µs "
            f"(SIP + workers) vs bare receiver {bare['cpu_us_per_packet']:.1f} µs: {ratio:.1f}x",
            flush=True,
        )


def summary(args: argparse.Namespace, outcome: Outcome) -> None:
    if not args.ceiling_only:
        print(f"largest clean N: {outcome.clean}")
    if not args.ceiling:
        return
    bound = "" if outcome.bare_failed else ">= "  # never failed: only a lower bound
    processes = f"{args.ceiling_processes} process" + ("es" if args.ceiling_processes > 1 else "")
    print(
        f"bare receiver ({processes}): largest loss-free N: "
        f"{bound}{outcome.bare_clean} ({bound}{outcome.bare_clean * 100:,} packets/s)"
    )
    if not args.ceiling_only and outcome.bare_clean:
        ratio = outcome.clean / outcome.bare_clean
        upper = "<= " if bound else ""
        print(f"ratio largest clean N / bare receiver's: {upper}{ratio:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", default="100,250,500,1000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", default="auto", help="media.workers (auto, 0, 1, 2...)")
    parser.add_argument("--codec", choices=("pcmu", "g722"), default="pcmu")
    parser.add_argument("--srtp", action="store_true", help="RTP/SAVP, AES_CM_128_HMAC_SHA1_80")
    parser.add_argument("--ceiling", action="store_true", help="also run the bare receiver")
    parser.add_argument("--ceiling-only", action="store_true", help="only the bare receiver")
    parser.add_argument("--ceiling-processes", type=int, default=1)
    parser.add_argument("--rtp-range", type=port_range, default=DEFAULT_RTP_RANGE)
    args = parser.parse_args()
    args.ceiling = args.ceiling or args.ceiling_only
    spec = MediaSpec(codec=args.codec, srtp=args.srtp)
    print(f"{machine_line()}, {spec}")
    outcome = Outcome()
    first_port = (args.rtp_range[1] + 2) // 2 * 2  # the bare receiver's, above the daemon's
    with tempfile.TemporaryDirectory() as tmp:
        blaster = build_blaster(Path(tmp))
        daemon = None
        if not args.ceiling_only:
            daemon = start_bench_daemon(Path(tmp), args.rtp_range, args.workers)
        try:
            for count in [int(c) for c in args.calls.split(",")]:
                traffic = Traffic(spec, count, args.seconds, Path(tmp), blaster)
                traffic.prepare()
                if daemon is not None and not outcome.failed:
                    row = asyncio.run(run_level(daemon, traffic))
                    print(format_row(row), flush=True)
                    outcome.rows[count] = row
                    if is_clean(row):
                        outcome.clean = count
                    else:
                        outcome.failed = True
                if args.ceiling and not outcome.bare_failed:
                    ceiling_level(args, traffic, outcome, first_port)
                if (outcome.failed or daemon is None) and (outcome.bare_failed or not args.ceiling):
                    break
        finally:
            if daemon is not None:
                stop_bench_daemon(daemon)
    summary(args, outcome)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
