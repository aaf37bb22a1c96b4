"""RTP capacity benchmark: N concurrent calls, two PCMU streams each at 50 packets/s.

For each N: start N SIPREC calls on the real daemon (UDP), send 20 ms PCMU packets to
every answered port from a separate sender process for ``--seconds``, end the calls,
then check every call's ``session.json``: packets received == sent, nothing lost,
and the WAV duration. Also reads the kernel's UDP ``RcvbufErrors`` (drops the
application never sees). While the RTP flows it polls ``/api/health``: how many
datagrams the media ticks have processed against the sender's schedule
(``behind_s``), and how late the ticks run. A level is clean when nothing is lost
or wrong and processing never falls more than 0.2 s (two ticks) behind in the
steady state; N is raised until a level is not clean. Prints the largest clean N,
CPU per process (SIP process, each media worker, the sender) and RSS.

    .venv/bin/python bench/rtp_capacity.py [--calls 100,250,500,1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from signaling import cpu_seconds, rss_mb
from sipload import Call, Results, Uac, open_uac
from support.daemon import Daemon, start_daemon

PAYLOAD = bytes([0xFF]) * 160  # 20 ms of PCMU silence-level samples


def rcvbuf_errors() -> int:
    lines = Path("/proc/net/snmp").read_text().splitlines()
    udp = [line.split() for line in lines if line.startswith("Udp:")]
    return int(udp[1][udp[0].index("RcvbufErrors")])


def answered_ports(answer: bytes) -> list[int]:
    return [int(p) for p in re.findall(rb"\r\nm=audio (\d+) ", answer)]


BLAST_SOURCE = Path(__file__).with_name("rtpblast.c")


def build_blaster(directory: Path) -> Path | None:
    """Compile bench/rtpblast.c (sendmmsg sender) when a C compiler is there."""
    binary = directory / "rtpblast"
    try:
        subprocess.run(
            ["cc", "-O2", "-o", str(binary), str(BLAST_SOURCE)], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"# no C sender ({exc}); using the Python sender", file=sys.stderr)
        return None
    return binary


class Sender:
    """The RTP sender of one level: the C blaster, else a Python process."""

    def __init__(self, targets: list[tuple[int, int]], seconds: float, start_at: float) -> None:
        self.kind = "python"
        self.cpu_pct = float("nan")
        self._process: multiprocessing.Process | subprocess.Popen[bytes] | None = None
        self._seconds = seconds + max(0.0, start_at - time.time())
        if BLASTER is not None:
            listing = Path(tempfile.mkstemp(suffix=".targets")[1])
            listing.write_text("".join(f"{port} {ssrc}\n" for port, ssrc in targets))
            self.kind = "c-sendmmsg"
            self._process = subprocess.Popen(
                [str(BLASTER), str(listing), str(seconds), f"{start_at:.6f}"],
                stdout=subprocess.DEVNULL,
            )
        else:
            self._process = multiprocessing.Process(
                target=send_rtp, args=(targets, seconds, start_at)
            )
            self._process.start()
        self._pid = self._process.pid

    def join(self) -> None:
        if isinstance(self._process, subprocess.Popen):
            _, status, usage = os.wait4(self._pid, 0)
            self._process.returncode = os.waitstatus_to_exitcode(status)
            self.cpu_pct = 100 * (usage.ru_utime + usage.ru_stime) / self._seconds
        elif self._process is not None:
            self._process.join()


def start_sender(targets: list[tuple[int, int]], seconds: float, start_at: float) -> Sender:
    return Sender(targets, seconds, start_at)


BLASTER: Path | None = None


def send_rtp(targets: list[tuple[int, int]], seconds: float, start_at: float) -> None:
    """Sender process: one packet per stream every 20 ms, paced on absolute time."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    packets = int(seconds / 0.02)
    header = struct.Struct("!BBHII")
    while time.time() < start_at:
        time.sleep(0.001)
    for n in range(packets):
        due = start_at + n * 0.02
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        for port, ssrc in targets:
            data = header.pack(0x80, 0, n & 0xFFFF, (n * 160) & 0xFFFFFFFF, ssrc) + PAYLOAD
            while True:
                try:
                    sock.sendto(data, ("127.0.0.1", port))
                    break
                except BlockingIOError:  # pragma: no cover - sender buffer full
                    time.sleep(0.0005)
    sock.close()


async def start_calls(
    daemon: Daemon, count: int
) -> tuple[list[Uac], list[tuple[Uac, Call]], list[int]]:
    results = Results()
    uacs = [await open_uac(("127.0.0.1", daemon.sip_port), results) for _ in range(8)]
    calls: list[tuple[Uac, Call]] = []
    answers: dict[str, bytes] = {}
    for n in range(count):
        uac = uacs[n % len(uacs)]
        calls.append((uac, uac.invite(f"cap-{count}-{n}")))
        if n % 200 == 199:
            await asyncio.sleep(0.2)
    await asyncio.wait([c.done for _, c in calls if c.done is not None], timeout=30)
    for uac in uacs:
        answers.update(uac.answers)
    ports = [p for _, c in calls for p in answered_ports(answers.get(c.call_id, b""))]
    if results.failures or len(ports) != 2 * count:
        raise RuntimeError(f"set-up failed: {results.failures}, {len(ports)} ports")
    return uacs, calls, ports


async def end_calls(calls: list[tuple[Uac, Call]]) -> None:
    for chunk in range(0, len(calls), 200):
        for uac, call in calls[chunk : chunk + 200]:
            uac.bye(call)
        await asyncio.sleep(0.1)
    await asyncio.wait([c.bye_ok for _, c in calls if c.bye_ok is not None], timeout=30)


def finished_documents(daemon: Daemon, count: int, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Every call's session.json once it is final (closing runs in a thread)."""
    deadline = time.time() + timeout
    while True:
        documents = []
        for path in (daemon.data_dir / "recordings").glob("*/*/session.json"):
            try:
                document = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # being rewritten
            if str(document["session"]["call_id"]).startswith(f"cap-{count}-"):
                documents.append(document)
        done = [d for d in documents if d.get("state") != "recording"]
        if len(done) == count or time.time() > deadline:
            return done
        time.sleep(0.5)


def check(daemon: Daemon, count: int, sent: int) -> dict[str, Any]:
    received = lost = streams = short = 0
    documents = finished_documents(daemon, count)
    for document in documents:
        for stream in document["streams"]:
            streams += 1
            received += int(stream.get("received", 0))
            lost += int(stream.get("lost", 0))
            if abs(float(stream.get("duration") or 0) - sent * 0.02) > 0.04:
                short += 1
    return {
        "finalised": len(documents),
        "streams": streams,
        "received": received,
        "expected": 2 * count * sent,
        "lost": lost,
        "wrong_duration": short,
    }


def media_pids(daemon: Daemon) -> list[int]:
    """The SIP process first, then its media workers (from /api/health)."""
    media: Any = daemon.get("/api/health")["media"]
    return [daemon.process.pid] + [int(w["pid"]) for w in media.get("workers", [])]


def worker_loads(media: Any) -> list[Any]:
    """Each media worker's load report (the SIP process's own in in-process mode)."""
    return list(media.get("workers") or [media])


def behind(loads: list[Any], base: dict[int, int], start_at: float, per_call: float) -> float:
    """How far the workers' processing is behind the sender's schedule, in seconds:
    per worker, the datagrams due by the time of its last tick (its calls times
    ``per_call`` packets/s since ``start_at``) minus those processed since ``base``;
    the worst worker."""
    worst = 0.0
    for n, load in enumerate(loads):
        rate = int(load.get("recordings", 0)) * per_call
        if rate <= 0:
            continue
        at = float(load.get("datagrams_at", 0.0))
        done = int(load.get("datagrams", 0)) - base.get(n, 0)
        worst = max(worst, (max(0.0, at - start_at) * rate - done) / rate)
    return worst


async def watch_load(daemon: Daemon, start_at: float, until: float) -> dict[str, Any]:
    """Media load while the RTP flows, from ``/api/health`` every 0.5 s.

    Each worker reports its worst tick of the last second and how many datagrams
    its ticks processed. Returned: the worst tick lag in the first 2 s (the workers
    still create the calls' files), then for the steady state the median and worst
    tick lag, the worst tick's wall and CPU time (ms), and how far processing was
    behind the sender's schedule (``behind_s``, see :func:`behind`; the sender's own
    lateness counts against us).

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
        if steady and now < until - 1.0:  # while the sender still sends
            late = max(late, behind(loads, base, start_at, 100.0))
    return {
        "behind_s": round(late, 3),
        "max_tick_lag_ms": max(lags, default=0.0),
        "median_tick_lag_ms": statistics.median(lags) if lags else 0.0,
        "max_tick_work_ms": work,
        "its_cpu_ms": work_cpu,
        "start_tick_lag_ms": start_lag,
        "max_decode_backlog": backlog,
    }


async def run_level(daemon: Daemon, count: int, seconds: float) -> dict[str, Any]:
    uacs, calls, ports = await start_calls(daemon, count)
    targets = [(port, 0x1000 + i) for i, port in enumerate(ports)]
    pids = media_pids(daemon)
    drops0 = rcvbuf_errors()
    start_at = time.time() + 0.5
    sender = start_sender(targets, seconds, start_at)
    watch = asyncio.create_task(watch_load(daemon, start_at, start_at + seconds + 1.0))
    # CPU of the steady state: from 2 s into the RTP (the session starts' file
    # creation is done) to 1 s before its end.
    await asyncio.sleep(max(0.0, start_at + 2.0 - time.time()))
    wall0 = time.time()
    cpu0 = {pid: cpu_seconds(pid) for pid in pids}
    await asyncio.sleep(seconds / 2)
    rss = sum(rss_mb(pid) for pid in pids)
    await asyncio.to_thread(sender.join)
    sender_cpu = sender.cpu_pct
    await asyncio.sleep(1.0)  # let the jitter buffers release the last packets
    elapsed = time.time() - wall0
    cpu = {pid: (cpu_seconds(pid) - cpu0[pid]) / elapsed for pid in pids}
    load = await watch
    drops = rcvbuf_errors() - drops0
    await end_calls(calls)
    await asyncio.sleep(2.0)
    result = check(daemon, count, int(seconds / 0.02))
    result.update(
        {
            "calls": count,
            "packets_per_s": 2 * count * 50,
            "kernel_drops": drops,
            **load,
            "sip_cpu_pct": 100 * cpu[daemon.process.pid],
            "worker_cpu_pct": "/".join(f"{100 * cpu[p]:.0f}" for p in pids[1:]) or "-",
            "total_cpu_pct": 100 * sum(cpu.values()),
            "sender": sender.kind,
            "sender_cpu_pct": sender_cpu,
            "rss_mb": rss,
        }
    )
    for uac in uacs:
        if uac.transport is not None:
            uac.transport.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", default="100,250,500,1000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", default="auto", help="media.workers (auto, 0, 1, 2...)")
    args = parser.parse_args()
    print(
        f"# {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    clean = 0
    global BLASTER
    with tempfile.TemporaryDirectory() as tmp:
        BLASTER = build_blaster(Path(tmp))
        daemon = start_daemon(
            Path(tmp),
            rtp_range=(20000, 40999),
            extra_env={"SIPREC_LOG_LEVEL": "WARNING", "SIPREC_MEDIA_WORKERS": args.workers},
        )
        try:
            for count in [int(c) for c in args.calls.split(",")]:
                row = asyncio.run(run_level(daemon, count, args.seconds))
                print(
                    " ".join(
                        f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in row.items()
                    ),
                    flush=True,
                )
                ok = (
                    row["lost"] == 0
                    and row["kernel_drops"] == 0
                    and row["wrong_duration"] == 0
                    and row["received"] == row["expected"]
                    and float(row["behind_s"]) <= 0.2
                )
                if not ok:
                    break
                clean = count
        finally:
            print(f"# daemon exit code {daemon.stop(60)}")
            warnings = [line for line in daemon.log().splitlines() if "WARNING" in line]
            for line in warnings[-20:]:  # why calls were refused or late, if they were
                print(f"# log: {line[:300]}")
    print(f"largest clean N: {clean}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
