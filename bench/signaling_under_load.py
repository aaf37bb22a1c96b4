"""Signalling under media load: set-up rate and INVITE-to-200 latency while N calls
stream RTP.

Starts the real daemon (media workers as ``--workers``), sets up N media calls
(default 80 % of ``--capacity``: ``--load 0.8`` of 500 = 400 calls) and sends their
two streams each at 50 packets/s from the C sender, exactly as
``bench/rtp_capacity.py`` does (its machinery: :class:`rtp_capacity.Traffic`,
:func:`rtp_capacity.start_calls`, :func:`rtp_capacity.send_media`,
:func:`rtp_capacity.check`). From 3 s into the RTP it runs one burst of additional
short calls per ``--rates`` step, as ``bench/signaling.py`` measures them (its
:func:`signaling.run_rate_quietly`: INVITE, 200, ACK, ``--hold`` s, BYE, latency
from INVITE to 200, the load generator's own GC off): ``--burst-seconds`` at that
many calls per second, one step after the other. The RTP runs until the last burst
is over (its length is computed from the steps), then the media calls end and are
checked as in the capacity bench (received == sent, lost 0, durations, never more
than 0.2 s behind the schedule; the media row's CPU figures include the bursts'
work). Before the media calls, the same bursts run on the same daemon without
media (skip with ``--no-baseline``), so that the effect of the load is read against
this machine's figures of the moment.

Prints the baseline rows, the media row, one row per burst (offered and achieved
set-ups/s, failures, p50/p99/max latency, SIP process CPU, whether the burst ended
while the RTP still flowed), alone -> under load per rate, and a verdict: clean
media, and every burst under load at its offered rate without failures and with p99
at or under ``--p99-ms`` (default 20 ms, the signalling target of
docs/benchmarks.md).

    .venv/bin/python bench/signaling_under_load.py [--capacity 500] [--load 0.8]
        [--calls N] [--rates 100,250,500] [--burst-seconds 10] [--hold 1]
        [--workers auto] [--codec pcmu|g722] [--srtp] [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rtp_capacity import (
    Companion,
    check,
    end_calls,
    format_row,
    is_clean,
    level_tag,
    machine_line,
    port_range,
    send_media,
    start_bench_daemon,
    start_calls,
    stop_bench_daemon,
)
from rtpload import MediaSpec, Traffic, build_blaster
from signaling import run_rate_quietly
from support.daemon import Daemon

WARM_UP = 3.0  # seconds of RTP before the first burst (the media calls' files exist)
GAP = 2.0  # seconds between bursts, and after the last one


def media_seconds(rates: list[int], burst: float, hold: float) -> float:
    """How long the RTP must flow to cover every burst (each burst ends ``hold`` s
    after its last INVITE, plus BYE round trips)."""
    return WARM_UP + len(rates) * (burst + hold + GAP) + GAP


def bursts(
    daemon: Daemon, rates: list[int], burst: float, hold: float
) -> Companion[list[dict[str, Any]]]:
    """A :func:`rtp_capacity.send_media` companion: the signalling steps (the RTP
    stops one second before ``until``)."""

    async def run(start_at: float, until: float) -> list[dict[str, Any]]:
        rows = []
        await asyncio.sleep(max(0.0, start_at + WARM_UP - time.time()))
        for rate in rates:
            row: dict[str, Any] = dict(
                await run_rate_quietly(daemon, rate, burst, hold, f"sul{rate}")
            )
            row["under_media"] = time.time() <= until - 1.0
            rows.append(row)
            await asyncio.sleep(GAP)
        return rows

    return run


async def alone(
    daemon: Daemon, rates: list[int], burst: float, hold: float
) -> list[dict[str, Any]]:
    """The same bursts without media: the baseline of this daemon on this machine now."""
    rows = []
    for rate in rates:
        rows.append(dict(await run_rate_quietly(daemon, rate, burst, hold, f"alone{rate}")))
        await asyncio.sleep(GAP)
    return rows


async def run(
    daemon: Daemon, traffic: Traffic, args: argparse.Namespace, rates: list[int]
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """Bursts alone (unless ``--no-baseline``), then the media calls and the bursts
    under their load; returns (baseline rows, media row, rows under load)."""
    burst, hold = args.burst_seconds, args.hold
    baseline = [] if args.no_baseline else await alone(daemon, rates, burst, hold)
    tag = level_tag(traffic.count)
    level = await start_calls(daemon, traffic, tag)
    try:
        figures, rows = await send_media(daemon, level, traffic, bursts(daemon, rates, burst, hold))
        await end_calls(level)
    finally:
        level.close()
    await asyncio.sleep(2.0)
    result = check(daemon, traffic, tag)
    result.update(figures)
    return baseline, result, rows or []


def verdict(media: dict[str, Any], rows: list[dict[str, Any]], p99_ms: float) -> str:
    wrong = [] if is_clean(media) else ["media not clean"]
    for row in rows:
        rate = row["offered_cps"]
        if row["failures"]:
            wrong.append(f"{rate}/s: {row['failures']} failures")
        if row["achieved_cps"] < 0.98 * rate:
            wrong.append(f"{rate}/s: achieved {row['achieved_cps']:.0f}/s")
        if not row["p99_ms"] <= p99_ms:
            wrong.append(f"{rate}/s: p99 {row['p99_ms']:.1f} ms")
        if not row["under_media"]:
            wrong.append(f"{rate}/s: burst outlasted the RTP")
    return "CLEAN" if not wrong else "NOT CLEAN: " + "; ".join(wrong)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--capacity", type=int, default=500, help="largest clean N measured")
    parser.add_argument("--load", type=float, default=0.8, help="media calls: this x capacity")
    parser.add_argument("--calls", type=int, default=0, help="media calls (overrides --load)")
    parser.add_argument("--rates", default="100,250,500", help="set-ups/s of the bursts")
    parser.add_argument("--burst-seconds", type=float, default=10.0)
    parser.add_argument("--hold", type=float, default=1.0)
    parser.add_argument("--p99-ms", type=float, default=20.0)
    parser.add_argument("--no-baseline", action="store_true", help="skip the bursts alone")
    parser.add_argument("--workers", default="auto", help="media.workers (auto, 0, 1, 2...)")
    parser.add_argument("--codec", choices=("pcmu", "g722"), default="pcmu")
    parser.add_argument("--srtp", action="store_true")
    # Bursts churn ports (cooldown 10 s): 500/s x 10 s needs ~10,000 RTP/RTCP pairs.
    parser.add_argument("--rtp-range", type=port_range, default=(20000, 60999))
    args = parser.parse_args()
    count = args.calls or round(args.capacity * args.load)
    rates = [int(r) for r in args.rates.split(",")]
    seconds = media_seconds(rates, args.burst_seconds, args.hold)
    spec = MediaSpec(codec=args.codec, srtp=args.srtp)
    print(f"{machine_line()}, {spec}")
    print(f"# media: {count} calls ({count * 100:,} packets/s) for {seconds:.0f} s; bursts {rates}")
    with tempfile.TemporaryDirectory() as tmp:
        traffic = Traffic(spec, count, seconds, Path(tmp), build_blaster(Path(tmp)))
        traffic.prepare()
        daemon = start_bench_daemon(
            Path(tmp), args.rtp_range, args.workers, {"SIPREC_MAX_SESSIONS": "20000"}
        )
        try:
            baseline, media, rows = asyncio.run(run(daemon, traffic, args, rates))
        finally:
            stop_bench_daemon(daemon)
    if baseline:
        print("## signalling bursts alone (same daemon, before the media calls)")
        for row in baseline:
            print(format_row(row))
    print("## media calls")
    print(format_row(media))
    print("## signalling bursts under that load")
    for row in rows:
        print(format_row(row))
    for before, under in zip(baseline, rows, strict=False):
        print(
            f"# {under['offered_cps']}/s: p50 {before['p50_ms']:.1f} -> {under['p50_ms']:.1f} ms, "
            f"p99 {before['p99_ms']:.1f} -> {under['p99_ms']:.1f} ms, "
            f"SIP CPU {before['daemon_cpu_pct']:.0f} -> {under['daemon_cpu_pct']:.0f} % "
            "(alone -> under media load)"
        )
    print(f"verdict: {verdict(media, rows, args.p99_ms)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
