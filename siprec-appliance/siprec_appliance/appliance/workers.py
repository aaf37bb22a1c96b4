"""Media worker processes: every core records (the SIP process keeps signalling).

The SIP process binds each RTP/RTCP socket itself, in ``allocate``, so that a
port in an SDP answer is always really bound (as in one process), then passes
the descriptors to the worker that records the session and closes its copies.
All streams of a session go to one worker (its combined file needs them all):
the least loaded when the session's first port is bound. Commands follow on the
same ordered channel; the worker reports packet counts and its load twice a
second, which the SIP process uses for the session-timer keepalive and the RTP
timeout watch (:meth:`WorkerMedia.packets`).

A worker that dies takes its sessions' recordings with it (their files are
repaired by the next start-up's recovery); the pool reports it (``on_died``, an
alert) and starts a replacement, so the node keeps its capacity.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from siprec_appliance.appliance.channel import Channel, Message, channel_pair
from siprec_appliance.appliance.media import BoundPortAllocator
from siprec_appliance.appliance.mediaplane import (
    WORKER_DECODE_LANES,
    OnWritten,
    Snapshot,
    WorkerInit,
)
from siprec_appliance.config import RecordingConfig
from siprec_appliance.siprec.ports import PortPool
from siprec_appliance.siprec.session import StreamState

log = logging.getLogger("siprec.workers")

STOP_SECONDS = 30.0  # a worker's time to finish its recordings at shutdown


class WorkerHandle:
    """One worker process as the SIP process sees it."""

    def __init__(self, index: int, process: subprocess.Popen[bytes], channel: Channel):
        self.index = index
        self.process = process
        self.channel = channel
        self.alive = True
        self.sessions: set[str] = set()
        self.counts: dict[int, int] = {}
        self.load: dict[str, float] = {}
        self.stopped: asyncio.Future[None] | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def send(self, *message: Any, fds: Sequence[int] = ()) -> None:
        if self.alive:
            self.channel.send(message, fds)


class WorkerPool:
    """Starts the workers and routes commands and reports (the SIP side)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        count: int,
        recording: RecordingConfig,
        on_written: OnWritten,
        *,
        log_level: str = "INFO",
        lanes: int = WORKER_DECODE_LANES,
        on_died: Callable[[int, list[str]], None] = lambda index, sessions: None,
    ) -> None:
        self._loop = loop
        self._on_written = on_written
        self._on_died = on_died
        self._init = WorkerInit(0, recording, lanes, log_level)
        self._stopping = False
        self.workers: list[WorkerHandle] = []
        self._owner: dict[str, WorkerHandle] = {}  # session id -> its worker
        for index in range(count):
            self.workers.append(self._spawn(index))

    def _spawn(self, index: int) -> WorkerHandle:
        init = replace(self._init, index=index)
        ours, theirs = channel_pair()
        command = [
            sys.executable,
            "-m",
            "siprec_appliance.appliance.worker_main",
            "--fd",
            str(theirs.fileno()),
            "--parent",
            str(os.getpid()),
        ]
        process = subprocess.Popen(command, pass_fds=(theirs.fileno(),))
        theirs.close()
        handle: WorkerHandle

        def on_message(message: Message, fds: list[int]) -> None:
            self._on_report(handle, message, fds)

        channel = Channel(self._loop, ours, on_message, lambda: self._on_exit(handle))
        handle = WorkerHandle(index, process, channel)
        handle.send("init", init)
        log.info("media worker %d started (pid %d)", index, process.pid)
        return handle

    # ------------------------------------------------------------- routing
    def worker_for(self, session_id: str) -> WorkerHandle | None:
        """The session's worker; a new session goes to the least loaded live one."""
        worker = self._owner.get(session_id)
        if worker is None:
            live = [w for w in self.workers if w.alive]
            if not live:
                return None
            worker = min(live, key=lambda w: (len(w.sessions), w.index))
            self._owner[session_id] = worker
            worker.sessions.add(session_id)
        return worker

    def forget(self, session_id: str) -> None:
        worker = self._owner.pop(session_id, None)
        if worker is not None:
            worker.sessions.discard(session_id)

    def packets(self, port: int) -> int:
        for worker in self.workers:
            count = worker.counts.get(port)
            if count is not None:
                return count
        return 0

    def load(self) -> list[dict[str, Any]]:
        return [
            {"worker": w.index, "pid": w.process.pid, "alive": w.alive, **w.load}
            for w in self.workers
        ]

    # ------------------------------------------------------------- reports
    def _on_report(self, worker: WorkerHandle, message: Message, fds: list[int]) -> None:
        for fd in fds:
            os.close(fd)
        command = message[0]
        if command == "report":
            worker.counts, worker.load = message[1], message[2]
        elif command == "ready" and not worker.ready.done():
            worker.ready.set_result(None)
        elif command == "written":
            self._on_written(Path(message[1]), message[2])
        elif command == "closed" and worker.stopped is not None and not worker.stopped.done():
            worker.stopped.set_result(None)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every worker runs its loop (imports take a moment): packets sent
        to a port before that would be read late, with compressed arrival times."""
        _, pending = await asyncio.wait([w.ready for w in self.workers], timeout=timeout)
        if pending:
            raise OSError(f"{len(pending)} media workers did not start within {timeout:g} s")

    def _on_exit(self, worker: WorkerHandle) -> None:
        if not worker.ready.done():
            worker.ready.set_exception(OSError(f"media worker {worker.index} exited at start"))
            worker.ready.exception()  # retrieved: a replacement's failure is only logged
        if worker.alive:
            worker.alive = False
            if worker.stopped is None and not self._stopping:  # not asked to stop: it died
                self._died(worker)
        if worker.stopped is not None and not worker.stopped.done():
            worker.stopped.set_result(None)

    def _died(self, worker: WorkerHandle) -> None:
        sessions = sorted(worker.sessions)
        log.critical(
            "media worker %d (pid %d) died; its %d sessions are not recorded further "
            "(their files are repaired at the next start); starting a replacement",
            worker.index,
            worker.process.pid,
            len(sessions),
        )
        for session_id in sessions:
            self._owner.pop(session_id, None)
        worker.sessions.clear()
        self._loop.run_in_executor(None, worker.process.wait)  # reap it
        self._on_died(worker.index, sessions)
        replacement = self._spawn(worker.index)
        self.workers[self.workers.index(worker)] = replacement

    async def stop(self) -> None:
        """Ask every worker to finish its recordings and exit; kill the stragglers."""
        self._stopping = True
        for worker in self.workers:
            worker.stopped = self._loop.create_future()
            if worker.alive:
                worker.send("stop")
            else:
                worker.stopped.set_result(None)
        waits = [w.stopped for w in self.workers if w.stopped is not None]
        await asyncio.wait(waits, timeout=STOP_SECONDS)
        deadline = time.monotonic() + 5.0
        for worker in self.workers:
            worker.channel.close()
            while worker.process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if worker.process.poll() is None:
                log.error("media worker %d did not stop; killing it", worker.index)
                worker.process.kill()
                await asyncio.to_thread(worker.process.wait)


class WorkerPortAllocator(BoundPortAllocator):
    """Binds as in one process, then hands the sockets to the session's worker."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        pool: PortPool,
        workers: WorkerPool,
        *,
        max_sockets: int | None = None,
    ) -> None:
        super().__init__(loop, host, pool, max_sockets=max_sockets)
        self.workers = workers
        self._ported: dict[int, tuple[WorkerHandle, int]] = {}  # port -> (worker, sockets)

    def _attach(self, owner: str, port: int, sockets: list[socket.socket]) -> bool:
        worker = self.workers.worker_for(owner)
        if worker is not None:
            worker.send("attach", owner, len(sockets), fds=[s.fileno() for s in sockets])
            self._ported[port] = (worker, len(sockets))
        else:  # the session gets 503 rather than an answer nobody records
            log.error("no live media worker for session %s", owner)
        for sock in sockets:
            sock.close()  # the worker has its own descriptors now
        return worker is not None

    def _detach(self, port: int) -> int:
        entry = self._ported.pop(port, None)
        if entry is None:
            return 0
        worker, count = entry
        worker.send("detach", port)
        return count

    def _ports(self) -> list[int]:
        return list(self._ported)


class WorkerMedia:
    """The :class:`~siprec_appliance.appliance.mediaplane.MediaPlane` of the SIP
    process when media workers record: every call becomes a command."""

    def __init__(self, workers: WorkerPool) -> None:
        self.workers = workers
        self._recording: set[str] = set()

    def has(self, session_id: str) -> bool:
        return session_id in self._recording

    def packets(self, port: int) -> int:
        return self.workers.packets(port)

    def _send(self, session_id: str, *message: Any) -> None:
        worker = self.workers.worker_for(session_id)
        if worker is not None:
            worker.send(*message)

    def start(
        self,
        session_id: str,
        directory: Path,
        streams: Sequence[StreamState],
        snapshot: Snapshot,
        decision: dict[str, Any] | None = None,
    ) -> None:
        if session_id in self._recording:
            return
        self._recording.add(session_id)
        self._send(session_id, "start", session_id, directory, list(streams), snapshot, decision)

    def update(
        self,
        session_id: str,
        streams: Sequence[StreamState],
        pauses: tuple[Sequence[int], Sequence[int]] | None,
        at: float,
    ) -> None:
        if session_id in self._recording:
            self._send(session_id, "update", session_id, list(streams), pauses, at)

    def set_paused(self, session_id: str, paused: bool, streams: Sequence[int], at: float) -> None:
        if session_id in self._recording:
            self._send(session_id, "pause", session_id, paused, list(streams), at)

    def rtp_timeout(self, session_id: str, stream: int, at: float) -> None:
        if session_id in self._recording:
            self._send(session_id, "rtp_timeout", session_id, stream, at)

    def rtp_resumed(self, session_id: str, stream: int, at: float) -> None:
        if session_id in self._recording:
            self._send(session_id, "rtp_resumed", session_id, stream, at)

    def set_decision(self, session_id: str, decision: dict[str, Any]) -> None:
        if session_id in self._recording:
            self._send(session_id, "decision", session_id, decision)

    def finish(self, session_id: str, snapshot: Snapshot, reason: str) -> None:
        if session_id in self._recording:
            self._recording.discard(session_id)
            self._send(session_id, "finish", session_id, snapshot, reason)
        self.workers.forget(session_id)  # also a session that ended unanswered

    async def close(self) -> None:
        await self.workers.stop()


def worker_count(setting: int | str, cpus: Callable[[], int | None] = os.cpu_count) -> int:
    """``media.workers``: ``auto`` = one per core, 0 = record in the SIP process."""
    if setting == "auto":
        return max(1, cpus() or 1)
    return max(0, int(setting))
