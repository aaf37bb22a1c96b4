"""A media worker process: receives, decodes and writes the streams it is given.

Started by :class:`~siprec_appliance.appliance.workers.WorkerPool` as
``python -m siprec_appliance.appliance.worker_main --fd N`` with one end of a
:mod:`~siprec_appliance.appliance.channel` pair. The first message is
``("init", WorkerInit)``; after it the worker runs a
:class:`~siprec_appliance.appliance.mediaplane.LocalMedia` on its own event loop
(uvloop when installed) and obeys the SIP process's commands. Bound RTP/RTCP
sockets arrive as descriptors with ``attach``; every ``REPORT_SECONDS`` the
worker reports packet counts and its load.

The worker dies with the SIP process (``PR_SET_PDEATHSIG``): a crash of the
appliance is one crash, and the start-up recovery finalises what both left.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from siprec_appliance.appliance.channel import Channel, Message, receive_blocking
from siprec_appliance.appliance.media import PortSockets
from siprec_appliance.appliance.mediaplane import LocalMedia, WorkerInit

log = logging.getLogger("siprec.workers")

REPORT_SECONDS = 0.5
# Garbage collection in a media worker: every datagram waits in a batch as a tuple
# until the next tick, so with the default threshold (700) the collector ran on
# every few hundred packets and promoted the batches, and a full collection (tens of
# milliseconds with a thousand streams) came every few seconds, each one delaying
# the media tick. The young generation is collected after YOUNG_THRESHOLD net
# allocations instead (the batches are freed each tick, so this is rarely reached)
# and a full collection runs every FULL_GC_SECONDS, between two ticks.
YOUNG_THRESHOLD = 50_000
FULL_GC_SECONDS = 60.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Worker:
    """Command handling of one worker (the loop side)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, init: WorkerInit):
        self.index = init.index
        self._loop = loop
        self.sockets = PortSockets(loop)
        self.media = LocalMedia(loop, self.sockets, init.recording, self._written, lanes=init.lanes)
        self.channel = Channel(loop, sock, self._on_message, self._on_close)
        self.done = loop.create_future()

    def _written(self, directory: Path, summary: dict[str, Any]) -> None:
        if not self.channel.closed:
            self.channel.send(("written", str(directory), summary))

    def _on_message(self, message: Message, fds: list[int]) -> None:
        command, *args = message
        if command == "attach":
            owner, count = args
            sockets = [socket.socket(fileno=fd) for fd in fds[:count]]
            for fd in fds[count:]:
                os.close(fd)
            self.sockets.attach(owner, sockets)
            return
        for fd in fds:  # nothing else carries descriptors
            os.close(fd)
        handler = _HANDLERS.get(command)
        if handler is None:
            log.error("worker %d: unknown command %r", self.index, command)
            return
        handler(self, *args)

    def _detach(self, port: int) -> None:
        self.sockets.detach(port)

    def _start(self, *args: Any) -> None:
        self.media.start(*args)

    def _update(self, *args: Any) -> None:
        self.media.update(*args)

    def _pause(self, *args: Any) -> None:
        self.media.set_paused(*args)

    def _rtp_timeout(self, *args: Any) -> None:
        self.media.rtp_timeout(*args)

    def _rtp_resumed(self, *args: Any) -> None:
        self.media.rtp_resumed(*args)

    def _decision(self, *args: Any) -> None:
        self.media.set_decision(*args)

    def _finish(self, *args: Any) -> None:
        self.media.finish(*args)

    def _stop(self) -> None:
        self._loop.create_task(self._shutdown())

    async def _shutdown(self) -> None:
        await self.media.close()
        if not self.channel.closed:
            self.channel.send(("closed",))
        if not self.done.done():
            self.done.set_result(None)

    def _on_close(self) -> None:
        log.warning("worker %d: the SIP process went away; finishing", self.index)
        self._stop()

    async def report(self) -> None:
        next_gc = self._loop.time() + FULL_GC_SECONDS
        while not self.channel.closed:
            await asyncio.sleep(REPORT_SECONDS)
            if self.channel.closed:
                return
            if self._loop.time() >= next_gc:
                next_gc = self._loop.time() + FULL_GC_SECONDS
                gc.collect()
            counts = {port: self.sockets.packets(port) for port in self.sockets.bindings}
            self.channel.send(("report", counts, self.media.load()))


_HANDLERS: dict[str, Callable[..., None]] = {
    "detach": Worker._detach,
    "start": Worker._start,
    "update": Worker._update,
    "pause": Worker._pause,
    "rtp_timeout": Worker._rtp_timeout,
    "rtp_resumed": Worker._rtp_resumed,
    "decision": Worker._decision,
    "finish": Worker._finish,
    "stop": Worker._stop,
}


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when the SIP process dies (Linux), even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the channel's EOF still ends us
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


async def _run(sock: socket.socket, init: WorkerInit) -> None:
    loop = asyncio.get_running_loop()
    worker = Worker(loop, sock, init)
    worker.media.start_tick()
    reporting = loop.create_task(worker.report())
    worker.channel.send(("ready",))
    gc.freeze()  # the imports are long-lived: keep them out of the collector's scans
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    await worker.done
    reporting.cancel()
    worker.channel.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="siprec-appliance media worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the SIP process decides when we stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=args.fd)
    message, _ = receive_blocking(sock)
    if message[0] != "init" or not isinstance(message[1], WorkerInit):
        print("media worker: expected an init message", file=sys.stderr)
        return 2
    init: WorkerInit = message[1]
    logging.basicConfig(
        level=init.log_level,
        format=f"%(asctime)s %(levelname)s %(name)s[w{init.index}]: %(message)s",
    )
    from siprec_appliance.__main__ import install_fast_loop, raise_open_file_limit

    raise_open_file_limit()  # the worker holds the RTP sockets
    install_fast_loop()
    asyncio.run(_run(sock, init))
    return 0


if __name__ == "__main__":
    sys.exit(main())
