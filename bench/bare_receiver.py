"""A bare UDP receiver: the ceiling that ``bench/rtp_capacity.py --ceiling`` sets the
appliance against.

uvloop, one ``DatagramProtocol`` per socket whose ``datagram_received`` only counts,
on ``--streams`` RTP ports (even, from ``--first-port`` up, skipping ports in use)
each with its RTCP neighbour bound as well and 1 MiB of receive buffer, as the
appliance binds them. Nothing is parsed, stored or written: what this process
spends per datagram is what uvloop and the kernel cost, the floor under any
Python receiver.

Protocol with the bench (stdin/stdout, one JSON line each way):

1. prints ``{"ports": [...]}`` once every socket is bound;
2. reads the sender's start time (Unix seconds) from stdin; the sender sends tick
   ``n`` (one packet to each port) at ``start + n * --interval`` for ``--ticks``
   ticks;
3. prints ``{"received", "behind_s", "window_s", "window_cpu_s",
   "window_packets"}`` one second after the last tick: ``behind_s`` is the most the
   count fell behind the sender's schedule in the steady state (from 2 s in to the
   last tick; the sender's own lateness counts against it), the ``window_*`` fields
   are wall time, CPU time and datagrams over that same window.

    .venv/bin/python bench/bare_receiver.py --first-port 41000 --streams 200 \\
        --interval 0.02 --ticks 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import socket
import sys
import time

import uvloop

RECEIVE_BUFFER = 1 << 20  # as the appliance's RTP sockets (appliance/media.py)


class Tally:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class Counter(asyncio.DatagramProtocol):
    """Counts datagrams; nothing else."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.tally.count += 1


def bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.setblocking(False)
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


def bind_pairs(first_port: int, streams: int) -> list[tuple[socket.socket, socket.socket]]:
    """``streams`` (RTP, RTCP) socket pairs on even ports from ``first_port`` up."""
    pairs: list[tuple[socket.socket, socket.socket]] = []
    port = first_port + first_port % 2
    while len(pairs) < streams:
        try:
            rtp = bind(port)
        except OSError:
            port += 2
            continue
        try:
            rtcp = bind(port + 1)
        except OSError:
            rtp.close()
            port += 2
            continue
        pairs.append((rtp, rtcp))
        port += 2
        if port > 65534:
            raise RuntimeError("ran out of ports")
    return pairs


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def receive(args: argparse.Namespace) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    tally = Tally()
    pairs = bind_pairs(args.first_port, args.streams)
    for pair in pairs:
        for sock in pair:
            await loop.create_datagram_endpoint(lambda: Counter(tally), sock=sock)
    print(json.dumps({"ports": [rtp.getsockname()[1] for rtp, _ in pairs]}), flush=True)
    start_at = float(await loop.run_in_executor(None, sys.stdin.readline))
    duration = args.ticks * args.interval
    window_from = start_at + min(2.0, duration / 3)
    window_to = start_at + duration
    expected = args.streams * args.ticks
    late = 0.0
    first: tuple[float, float, int] | None = None
    last: tuple[float, float, int] | None = None
    while True:
        await asyncio.sleep(0.05)
        now = time.time()
        if now >= window_from and first is None:
            first = (now, cpu_now(), tally.count)
        if now >= window_to and last is None:
            last = (now, cpu_now(), tally.count)
        if first is not None and last is None:
            due = args.streams * min(args.ticks, int((now - start_at) / args.interval) + 1)
            late = max(late, (due - tally.count) * args.interval / args.streams)
        if now >= window_to + 1.0 or (last is not None and tally.count >= expected):
            break
    assert first is not None and last is not None
    return {
        "received": tally.count,
        "behind_s": late,
        "window_s": last[0] - first[0],
        "window_cpu_s": last[1] - first[1],
        "window_packets": last[2] - first[2],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--first-port", type=int, required=True)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--ticks", type=int, required=True)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    report = uvloop.run(receive(args))
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
