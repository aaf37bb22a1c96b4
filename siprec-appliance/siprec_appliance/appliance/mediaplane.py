"""The media plane: recordings of the sessions the SIP core answered.

:class:`MediaPlane` is what the server asks of it: start a session's recording,
follow its re-INVITEs, pause it, note RTP timeouts, finish it. :class:`LocalMedia`
does the work in this process: its sockets (``PortSockets``), a
:class:`~siprec_appliance.appliance.recording.SessionRecording` per session, the
media tick that feeds every socket's batch to its recorder, the decode lanes, and
the periodic sync/fsync that keep the files valid on disk. The media worker
processes (:mod:`~siprec_appliance.appliance.workers`) run a ``LocalMedia`` each,
and the SIP process talks to them through the same interface.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from siprec_appliance.appliance.durable import flush_filesystems, syncfs_available
from siprec_appliance.appliance.lanes import Lanes
from siprec_appliance.appliance.media import PortSockets
from siprec_appliance.appliance.receiver import PROCESS_SECONDS
from siprec_appliance.appliance.recording import SYNC_SECONDS, SessionRecording
from siprec_appliance.config import RecordingConfig
from siprec_appliance.siprec.session import StreamState

log = logging.getLogger("siprec.media")

# Decode/write threads of the media plane in the SIP process (``media.workers: 0``),
# which keep decoding and file writes off the signalling loop. A media worker
# process decodes on its own loop (0 lanes): it has nothing else to protect, and
# threads would contend with its loop for the GIL (measured: 3x the CPU per packet).
DECODE_LANES = 2
WORKER_DECODE_LANES = 0
SYNC_TICKS = max(1, round(SYNC_SECONDS / PROCESS_SECONDS))  # each file synced every 0.5 s
FSYNC_SECONDS = 5.0
FSYNC_TICKS = max(1, round(FSYNC_SECONDS / PROCESS_SECONDS))  # each file fsynced every 5 s
LOAD_WINDOW_TICKS = max(1, round(1.0 / PROCESS_SECONDS))  # load() looks back one second

Snapshot = dict[str, Any] | None
# Called with a recording's directory once its session.json is on disk (started:
# state "recording"; finished: final) so the catalog can index it, and a summary
# for alerting: {"session_id", "final", "errors": [...], "srtp_auth_failures": {...}}.
OnWritten = Callable[[Path, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class WorkerInit:
    """A media worker's first message: what it needs to run a :class:`LocalMedia`.

    (Defined here, not in the worker's ``__main__`` module, so that both processes
    unpickle it as the same class.)
    """

    index: int
    recording: RecordingConfig
    lanes: int
    log_level: str


class MediaPlane(Protocol):
    """What the server needs from whoever records the media."""

    def has(self, session_id: str) -> bool:
        """Whether ``session_id`` is being recorded."""

    def packets(self, port: int) -> int:
        """Datagrams received on an RTP port (and its RTCP port) so far."""

    def start(
        self,
        session_id: str,
        directory: Path,
        streams: Sequence[StreamState],
        snapshot: Snapshot,
        decision: dict[str, Any] | None = None,
    ) -> None:
        """Open the session's files and attach its recorders to their ports."""

    def update(
        self,
        session_id: str,
        streams: Sequence[StreamState],
        pauses: tuple[Sequence[int], Sequence[int]] | None,
        at: float,
    ) -> None:
        """A re-INVITE/UPDATE: new ports or codecs; ``pauses`` = (paused, resumed)."""

    def set_paused(self, session_id: str, paused: bool, streams: Sequence[int], at: float) -> None:
        """The operator's pause or resume of ``streams`` (silence written meanwhile)."""

    def rtp_timeout(self, session_id: str, stream: int, at: float) -> None:
        """Note that ``stream`` stopped sending at ``at`` (Unix time)."""

    def rtp_resumed(self, session_id: str, stream: int, at: float) -> None:
        """Note that ``stream`` sends again."""

    def set_decision(self, session_id: str, decision: dict[str, Any]) -> None:
        """A new policy decision for a session (stored in its session.json)."""

    def finish(self, session_id: str, snapshot: Snapshot, reason: str) -> None:
        """Drain, finalise the files and session.json, then call ``on_written``."""

    async def close(self) -> None:
        """Finish what is being finished; stop the tick and the lanes."""


class LocalMedia:
    """The media plane in this process (also what each media worker runs)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: PortSockets,
        settings: RecordingConfig,
        on_written: OnWritten,
        *,
        lanes: int = DECODE_LANES,
    ) -> None:
        self._loop = loop
        self.sockets = sockets
        self.settings = settings
        self._on_written = on_written
        self.recordings: dict[str, SessionRecording] = {}
        self.lanes = Lanes(lanes)
        self._closing: set[asyncio.Task[None]] = set()
        self._fsync: asyncio.Future[object] | None = None
        self._tick: asyncio.Task[None] | None = None
        self.tick_lag = 0.0  # seconds the last media tick started late (a load signal)
        # The last second of ticks: how late each started and how long its work took
        # (load() reports the worst, so a spike between two reports is not missed).
        self._lags: deque[float] = deque(maxlen=LOAD_WINDOW_TICKS)
        self._work: deque[float] = deque(maxlen=LOAD_WINDOW_TICKS)
        self._cpu: deque[float] = deque(maxlen=LOAD_WINDOW_TICKS)  # CPU time of that work
        self.datagrams = 0  # RTP datagrams (RTP ports) the ticks have processed, in all
        self.datagrams_at = 0.0  # Unix time of the tick that last counted them

    def start_tick(self) -> None:
        self._tick = self._loop.create_task(self._media_tick())

    # ---------------------------------------------------------------- plane
    def has(self, session_id: str) -> bool:
        return session_id in self.recordings

    def packets(self, port: int) -> int:
        return self.sockets.packets(port)

    def start(
        self,
        session_id: str,
        directory: Path,
        streams: Sequence[StreamState],
        snapshot: Snapshot,
        decision: dict[str, Any] | None = None,
    ) -> None:
        if session_id in self.recordings:
            return
        settings = recording_settings(self.settings, decision)
        recording = SessionRecording(
            session_id, directory, settings, lane=self.lanes.lane(session_id)
        )
        self.recordings[session_id] = recording
        try:
            recording.update(streams, self.sockets.receivers)
            recording.set_policy(decision, time.time())
            recording.write_document(recording.document(snapshot, "recording"))
        except OSError as exc:
            log.error("session %s: cannot create recording files: %s", session_id, exc)
            self._on_written(directory, _summary(session_id, False, [str(exc)]))
        else:
            self._on_written(directory, _summary(session_id, False))

    def update(
        self,
        session_id: str,
        streams: Sequence[StreamState],
        pauses: tuple[Sequence[int], Sequence[int]] | None,
        at: float,
    ) -> None:
        recording = self.recordings.get(session_id)
        if recording is None:
            return
        try:
            recording.update(streams, self.sockets.receivers, renegotiated=True)
        except OSError as exc:
            log.error("session %s: cannot create recording files: %s", session_id, exc)
            self._on_written(recording.directory, _summary(session_id, False, [str(exc)]))
        if pauses is not None:
            recording.note_pauses(pauses[0], pauses[1], at)

    def set_paused(self, session_id: str, paused: bool, streams: Sequence[int], at: float) -> None:
        recording = self.recordings.get(session_id)
        if recording is None:
            return
        if paused:
            recording.note_pauses(streams, (), at, by="api")
        else:
            recording.note_pauses((), streams, at, by="api")
        recording.set_muted(paused, at)

    def rtp_timeout(self, session_id: str, stream: int, at: float) -> None:
        recording = self.recordings.get(session_id)
        if recording is not None:
            recording.rtp_timeouts.append({"stream": stream, "at": round(at, 3)})

    def rtp_resumed(self, session_id: str, stream: int, at: float) -> None:
        recording = self.recordings.get(session_id)
        if recording is None:
            return
        for entry in reversed(recording.rtp_timeouts):
            if entry["stream"] == stream and "resumed_at" not in entry:
                entry["resumed_at"] = round(at, 3)
                break

    def set_decision(self, session_id: str, decision: dict[str, Any]) -> None:
        recording = self.recordings.get(session_id)
        if recording is not None and recording.set_policy(decision, time.time()):
            on = recording.policy_on
            log.info("session %s: recording %s by the policy", session_id, "on" if on else "off")

    def finish(self, session_id: str, snapshot: Snapshot, reason: str) -> None:
        """Drain sockets and jitter buffers now (on the loop); the rest in a task."""
        recording = self.recordings.pop(session_id, None)
        if recording is None:
            return
        recording.finish(time.time())
        task = self._loop.create_task(self._close_recording(recording, snapshot, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_recording(
        self, recording: SessionRecording, snapshot: Snapshot, reason: str
    ) -> None:
        """Wait for the lane to write everything, then finalise the files and
        session.json in a thread."""
        await self.lanes.drain(recording.session_id)
        document = recording.document(snapshot, "completed")
        document["end_reason"] = reason
        errors = []
        try:
            await self._loop.run_in_executor(None, recording.close, document)
        except Exception as exc:
            log.error("session %s: cannot finish the recording: %s", recording.session_id, exc)
            errors.append(f"cannot finish the recording: {exc}")
        combined = document.get("combined")
        if isinstance(combined, dict) and combined.get("error"):
            errors.append(f"no combined file: {combined['error']}")
        summary = _summary(recording.session_id, True, errors)
        summary["srtp_auth_failures"] = {
            str(stream.get("label") or stream.get("index")): stream["srtp_auth_failures"]
            for stream in document.get("streams", [])
            if stream.get("srtp_auth_failures")
        }
        self._on_written(recording.directory, summary)

    async def finish_all(self, snapshots: Callable[[str], Snapshot], reason: str) -> None:
        for session_id in list(self.recordings):
            self.finish(session_id, snapshots(session_id), reason)
        if self._closing:
            await asyncio.wait(self._closing)

    async def close(self) -> None:
        await self.finish_all(lambda _: None, "appliance stopped")
        if self._tick is not None:
            self._tick.cancel()
        self.sockets.close_all()
        await self._loop.run_in_executor(None, self.lanes.close)

    # ------------------------------------------------------------ the tick
    async def _media_tick(self) -> None:
        """Feed every socket's batch to its recorder; sync each file twice a second.

        Syncing is spread over the ticks (a fifth of the recordings each 100 ms), and
        ``fsync`` (only needed against an OS crash or power loss: after ``kill -9``
        what was written is in the page cache) over ``FSYNC_SECONDS``, so the disk
        never gets every file's writes and flushes in one burst that stalls the loop.
        """
        tick = 0
        due = self._loop.time()
        while True:
            due += PROCESS_SECONDS
            await asyncio.sleep(max(0.0, due - self._loop.time()))
            self.tick_lag = max(0.0, self._loop.time() - due)
            if self.tick_lag > PROCESS_SECONDS:
                due = self._loop.time()  # behind: don't try to catch up with a burst
            self._lags.append(self.tick_lag)
            started, started_cpu = time.perf_counter(), time.thread_time()
            now = time.time()
            datagrams = 0
            for binding in list(self.sockets.bindings.values()):
                datagrams += len(binding.rtp.batch)
                binding.rtp.process(now)
                if binding.rtcp is not None:
                    binding.rtcp.process(now)
            self.datagrams += datagrams  # RTP only: RTCP is not what falls behind
            self.datagrams_at = now
            self._sync_files(tick)
            self.lanes.flush()  # this tick's decode/write jobs, one batch per lane
            self._work.append(time.perf_counter() - started)
            self._cpu.append(time.thread_time() - started_cpu)
            tick += 1

    def _sync_files(self, tick: int) -> None:
        recordings = list(self.recordings.values())
        share = SYNC_TICKS
        for recording in recordings[tick % share :: share]:
            recording.sync()  # queued on its lane, behind its writes
        if self._fsync is not None and not self._fsync.done():
            return
        if syncfs_available():  # every FSYNC_SECONDS, one syncfs per filesystem
            if tick % FSYNC_TICKS == 0 and recordings:
                directories = {recording.directory for recording in recordings}
                self._fsync = self._loop.run_in_executor(None, flush_filesystems, directories)
            return
        share = FSYNC_TICKS  # else fsync each file every FSYNC_SECONDS, spread out
        chosen = recordings[tick % share :: share]
        if chosen:
            self._fsync = self._loop.run_in_executor(None, _fsync_all, chosen)

    def load(self) -> dict[str, float]:
        """Load signals over the last second: how late the ticks started (worst), how
        long their work took (worst, wall and CPU time), and how far the lanes are
        behind."""
        return {
            "recordings": len(self.recordings),
            "tick_lag_ms": round(max(self._lags, default=0.0) * 1000, 1),
            "tick_work_ms": round(max(self._work, default=0.0) * 1000, 1),
            # CPU of the longest tick's work: much less than its wall time means the
            # worker waited for a core (the machine is short of CPU), not for its work.
            "tick_cpu_ms": round(self._cpu[self._work.index(max(self._work))] * 1000, 1)
            if self._work
            else 0.0,
            "decode_backlog": self.lanes.backlog,
            "datagrams": self.datagrams,
            "datagrams_at": self.datagrams_at,
        }


def _summary(session_id: str, final: bool, errors: Sequence[str] = ()) -> dict[str, Any]:
    return {"session_id": session_id, "final": final, "errors": list(errors)}


LAYOUTS = {  # record.layout -> (combined, per_stream)
    "combined": (True, False),
    "per-leg": (False, True),
    "both": (True, True),
}


def recording_settings(base: RecordingConfig, decision: dict[str, Any] | None) -> RecordingConfig:
    """The configuration's recording settings with the policy's ``record`` format and
    layout applied (None in the decision: the configuration decides)."""
    record = (decision or {}).get("record") or {}
    changes: dict[str, Any] = {}
    if record.get("format"):
        changes["format"] = record["format"]
    if record.get("layout") in LAYOUTS:
        changes["combined"], changes["per_stream"] = LAYOUTS[record["layout"]]
    return replace(base, **changes) if changes else base


def _fsync_all(recordings: list[SessionRecording]) -> None:
    for recording in recordings:
        recording.fsync()
