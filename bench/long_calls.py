"""Long calls: M concurrent calls carrying minutes of two-stream PCMU audio each.

Starts the real daemon (media workers as ``--workers``), sets up ``--calls`` SIPREC
calls and sends each call's two streams ``--audio-minutes`` of PCMU, faster than
real time by ``--speed``: packets are timestamped 20 ms apart (RTP time) but sent
every 20 / speed ms (``bench/rtpblast.c -i``). The appliance places audio by RTP
timestamp, so the files must hold exactly the audio sent. Both legs carry a 1 kHz
marker tone (200 ms) at the same RTP time every ``--marker-every`` seconds of audio,
starting 1 s in. Sequence numbers start 250 below the 16-bit wrap and timestamps
10 s of audio below the 32-bit wrap, so every call crosses both early (and the
sequence number again every 21.8 minutes of audio).

While the RTP flows it samples the RSS of the SIP process and of each media worker
every ``--sample-every`` seconds and prints, per process, the series' start, max and
end, one value after the calls were finalised, and the slope (least squares, MB
per wall minute, from 1 minute in: start-up growth is not a leak). It also watches
``/api/health`` as ``bench/rtp_capacity.py`` does (``behind_s``: how far processing
fell behind the sender's schedule).

After BYE it checks every call (``session.json`` and the files):

* each stream: received == sent, lost 0, duration within 40 ms of the audio sent;
* each per-stream file: every marker starts within 20 ms of its RTP time
  (placement by timestamp at any sending speed);
* the combined file: each leg's audio ends at the same point (offset + duration
  within 20 ms of the other's), the file is as long as the later leg (40 ms), and
  every marker starts within 20 ms on both channels (the legs line up).

Verdict: clean when all of that holds, the kernel dropped nothing, processing was
never more than 0.2 s behind, and no process's RSS grew faster than
``--max-slope`` MB/min (default 1; the bench's own threshold, not a product target).

Note the load: ``--calls`` x ``--speed`` is the real-time equivalent (200 calls at 4x
send as many packets per second as 800 real-time calls). Disk: 64 KB per call and
second of audio (two 8 kHz streams and a two-channel combined file); the bench
refuses to start without that much free space.

    .venv/bin/python bench/long_calls.py [--calls 200] [--audio-minutes 30] [--speed 4]
        [--sample-every 5] [--marker-every 60] [--workers auto]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import statistics
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rtp_capacity import (
    DEFAULT_RTP_RANGE,
    Companion,
    check_documents,
    end_calls,
    finished_documents,
    format_row,
    machine_line,
    media_pids,
    port_range,
    send_media,
    start_bench_daemon,
    start_calls,
    stop_bench_daemon,
)
from rtpload import PTIME, Marker, MediaSpec, Traffic, build_blaster
from signaling import rss_mb
from support.daemon import Daemon
from support.rtp_sender import tone, ulaw_encode

TAG = "long"
LOUD = 1000  # |sample| above this is the marker tone (amplitude 8000), else silence
BYTES_PER_CALL_SECOND = 4 * 8000 * 2  # two mono streams and a two-channel combined file
# The sequence number wraps 5 s in (and every 21.8 min of audio after), the timestamp
# 10 s in: a long call meets both (RFC 3550 §5.1: both start at random values).
FIRST_SEQ = (1 << 16) - 250
FIRST_TS = (1 << 32) - 500 * 160

Samples = list[tuple[float, dict[int, float]]]  # (minutes since the RTP start, pid -> MB)


def marker(every_s: float) -> Marker:
    """A 1 kHz tone, 200 ms (10 packets), from 1 s in and every ``every_s`` seconds."""
    frame = ulaw_encode(tone(1000, PTIME))  # 1 kHz at 8 kHz: whole periods per frame
    return Marker(frame, first=50, count=10, every=max(20, round(every_s / PTIME)))


def marker_times(spec: Marker, ticks: int) -> list[float]:
    """RTP times (seconds from the first packet) at which the markers start."""
    return [n * PTIME for n in range(spec.first, ticks - spec.count, spec.every)]


# ------------------------------------------------------------------ memory
def rss_sampler(pids: list[int], every: float) -> Companion[Samples]:
    """A :func:`send_media` companion: RSS of ``pids`` every ``every`` seconds."""

    async def sample(start_at: float, until: float) -> Samples:
        samples: Samples = []
        while True:
            samples.append(((time.time() - start_at) / 60, {pid: rss_mb(pid) for pid in pids}))
            if time.time() + every > until:
                return samples
            await asyncio.sleep(every)

    return sample


def steady(samples: Samples) -> Samples:
    """The samples from 1 minute in (a fifth of the run if shorter): start-up growth
    (buffers, first collections) is not a leak."""
    total = samples[-1][0] if samples else 0.0
    return [s for s in samples if s[0] >= min(1.0, total / 5)]


def slope(samples: Samples, pid: int) -> float:
    """Least-squares RSS slope of ``pid``, MB per minute, over the steady samples."""
    part = steady(samples)
    minutes = [t for t, _ in part]
    if len(part) < 3 or minutes[-1] <= minutes[0]:
        return math.nan
    return statistics.linear_regression(minutes, [row[pid] for _, row in part]).slope


def rss_summary(samples: Samples, after: dict[int, float], names: dict[int, str]) -> list[str]:
    """Per process: start, max, end of the series, after finalising, slope MB/min."""
    lines = []
    for pid, name in names.items():
        values = [row[pid] for _, row in samples]
        lines.append(
            f"rss {name} (pid {pid}): start {values[0]:.0f} max {max(values):.0f} "
            f"end {values[-1]:.0f} after finalising {after.get(pid, math.nan):.0f} MB, "
            f"slope {slope(samples, pid):+.2f} MB/min ({len(steady(samples))} of "
            f"{len(samples)} samples)"
        )
    return lines


# ------------------------------------------------------------------ alignment
def onset(wav: wave.Wave_read, channel: int, at: float, window: float = 0.3) -> float | None:
    """Seconds into the file of the first loud sample within ``window`` of ``at``."""
    rate, channels = wav.getframerate(), wav.getnchannels()
    first = max(0, int((at - window) * rate))
    if first >= wav.getnframes():
        return None
    wav.setpos(first)
    frames = np.frombuffer(wav.readframes(int(2 * window * rate)), "<i2")
    samples = frames.reshape(-1, channels)[:, channel].astype(np.int32)
    loud = np.flatnonzero(np.abs(samples) > LOUD)
    return None if loud.size == 0 else (first + int(loud[0])) / rate


def stream_errors(directory: Path, document: dict[str, Any], times: list[float]) -> list[float]:
    """Each marker's onset minus its RTP time, in every per-stream file (inf: missing)."""
    errors = []
    for stream in document["streams"]:
        with wave.open(str(directory / stream["file"]), "rb") as wav:
            for at in times:
                found = onset(wav, 0, at)
                errors.append(math.inf if found is None else found - at)
    return errors


def combined_figures(
    directory: Path, document: dict[str, Any], times: list[float]
) -> dict[str, float]:
    """The combined file: how far apart the legs' ends are, its length against the
    later leg's end, and the worst difference between the channels' marker onsets."""
    combined = document.get("combined") or {}
    if "file" not in combined:
        return {"end_gap": math.inf, "length_error": math.inf, "marker_gap": math.inf}
    durations = {s["index"]: float(s["duration"] or 0) for s in document["streams"]}
    offsets = {int(k): float(v) for k, v in combined["offsets"].items()}
    ends = [offsets[i] + durations[i] for i in sorted(offsets)]
    channels = [c["streams"][0] for c in combined["channels"]]
    gap = 0.0
    with wave.open(str(directory / combined["file"]), "rb") as wav:
        length = wav.getnframes() / wav.getframerate()
        for at in times:
            found = [onset(wav, c, offsets[stream] + at) for c, stream in enumerate(channels)]
            valid = [f for f in found if f is not None]
            if len(valid) < 2 or len(valid) != len(found):
                gap = math.inf
            else:
                gap = max(gap, max(valid) - min(valid))
    return {
        "end_gap": max(ends) - min(ends),
        "length_error": abs(length - max(ends)),
        "marker_gap": gap,
    }


def alignment(documents: list[tuple[Path, dict[str, Any]]], times: list[float]) -> dict[str, Any]:
    stream_worst = end_gap = length_error = marker_gap = 0.0
    for directory, document in documents:
        errors = stream_errors(directory, document, times)
        stream_worst = max([stream_worst, *(abs(e) for e in errors)])
        figures = combined_figures(directory, document, times)
        end_gap = max(end_gap, figures["end_gap"])
        length_error = max(length_error, figures["length_error"])
        marker_gap = max(marker_gap, figures["marker_gap"])
    return {
        "markers_per_stream": len(times),
        "stream_marker_error_ms": 1000 * stream_worst,
        "combined_end_gap_ms": 1000 * end_gap,
        "combined_length_error_ms": 1000 * length_error,
        "combined_marker_gap_ms": 1000 * marker_gap,
    }


# ------------------------------------------------------------------ run
async def run(daemon: Daemon, traffic: Traffic, every: float) -> dict[str, Any]:
    level = await start_calls(daemon, traffic, TAG)
    pids = media_pids(daemon)
    try:
        figures, samples = await send_media(daemon, level, traffic, rss_sampler(pids, every))
        await end_calls(level)
    finally:
        level.close()
    timeout = 120 + traffic.count * traffic.audio_seconds / 600
    documents = await asyncio.to_thread(finished_documents, daemon, TAG, traffic.count, timeout)
    after = {pid: rss_mb(pid) for pid in pids}
    return {
        "figures": figures,
        "checks": check_documents(documents, traffic),
        "documents": documents,
        "samples": samples or [],
        "after": after,
        "pids": pids,
    }


def verdict(result: dict[str, Any], aligned: dict[str, Any], max_slope: float) -> str:
    checks, figures = result["checks"], result["figures"]
    wrong = [
        f"{key}={checks[key]}"
        for key in ("lost", "wrong_duration", "wrong_rate")
        if checks[key] != 0
    ]
    if checks["received"] != checks["expected"] or checks["finalised"] != figures["calls"]:
        wrong.append(f"received {checks['received']} of {checks['expected']}")
    if figures["kernel_drops"]:
        wrong.append(f"kernel drops {figures['kernel_drops']}")
    if float(figures["behind_s"]) > 0.2:
        wrong.append(f"behind {figures['behind_s']} s")
    if aligned["stream_marker_error_ms"] > 20:
        wrong.append(f"markers off by {aligned['stream_marker_error_ms']:.1f} ms in a stream")
    if aligned["combined_end_gap_ms"] > 20 or aligned["combined_marker_gap_ms"] > 20:
        wrong.append("legs not aligned in the combined file")
    if aligned["combined_length_error_ms"] > 40:
        wrong.append("combined file length")
    grown = [s for s in (slope(result["samples"], p) for p in result["pids"]) if s > max_slope]
    if grown:
        wrong.append(f"RSS grows {max(grown):.2f} MB/min")
    return "CLEAN" if not wrong else "NOT CLEAN: " + "; ".join(wrong)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--audio-minutes", type=float, default=30.0)
    parser.add_argument("--speed", type=float, default=4.0)
    parser.add_argument("--sample-every", type=float, default=5.0)
    parser.add_argument("--marker-every", type=float, default=60.0, help="seconds of audio")
    parser.add_argument("--max-slope", type=float, default=1.0, help="MB/min per process")
    parser.add_argument("--workers", default="auto", help="media.workers (auto, 0, 1, 2...)")
    parser.add_argument("--rtp-range", type=port_range, default=DEFAULT_RTP_RANGE)
    args = parser.parse_args()
    audio = args.audio_minutes * 60
    spec = MediaSpec(
        speed=args.speed,
        marker=marker(args.marker_every),
        first_seq=FIRST_SEQ,
        first_ts=FIRST_TS,
    )
    print(
        f"{machine_line()}: {args.calls} calls x {args.audio_minutes:g} min of two-stream "
        f"PCMU at {args.speed:g}x ({args.calls * args.speed:g} real-time calls' worth, "
        f"{audio / args.speed / 60:.1f} min of sending)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        need = args.calls * audio * BYTES_PER_CALL_SECOND
        free = shutil.disk_usage(tmp).free
        print(f"# disk: {need / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free")
        if free < 1.1 * need:
            print("not enough disk space")
            return 1
        traffic = Traffic(spec, args.calls, audio, Path(tmp), build_blaster(Path(tmp)))
        traffic.prepare()
        daemon = start_bench_daemon(Path(tmp), args.rtp_range, args.workers)
        try:
            result = asyncio.run(run(daemon, traffic, args.sample_every))
        finally:
            stop_bench_daemon(daemon)
        print(format_row({**result["checks"], **result["figures"]}))
        names = {pid: "sip" if n == 0 else f"worker{n}" for n, pid in enumerate(result["pids"])}
        for line in rss_summary(result["samples"], result["after"], names):
            print(line)
        assert spec.marker is not None
        aligned = alignment(result["documents"], marker_times(spec.marker, traffic.ticks))
        print(format_row(aligned))
    print(f"verdict: {verdict(result, aligned, args.max_slope)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
