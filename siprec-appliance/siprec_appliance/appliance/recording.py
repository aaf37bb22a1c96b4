"""Crash-safe WAV files and the per-session recording directory.

Layout, one directory per recording session::

    {data_dir}/recordings/{YYYY-MM-DD}/{session_id}/
        stream-{index}-{label}.wav            16-bit PCM, one file per m= line
        stream-{index}-{label}.wav.recording  marker: the WAV is still being written
        combined.{wav,flac,opus,mp3}          at the end: all streams time-aligned, one
                                              channel per participant (see mixdown.py)
        session.json                          session snapshot, stream stats, DTMF,
                                              the combined file's channels (``combined``)

Crash safety: :class:`WavWriter` writes the RIFF header at once, with the
"unknown length" placeholder sizes (0xFFFFFFFF, as FFmpeg writes to a pipe),
keeps new samples in memory and, at every :meth:`WavWriter.sync` (the server calls
it every ``SYNC_SECONDS``), appends them and rewrites the RIFF and data sizes, so
the file on disk is a valid WAV after each sync and a crash loses at most one sync
interval. The sidecar marker exists from before the WAV is created until after it
is closed. At start-up :func:`recover_unfinished` fixes the header of every WAV
whose marker is still there (sizes from the file length, cut to whole frames),
removes the marker and notes the recovery in the directory's ``session.json``
(key ``recovered``; ``state`` becomes ``interrupted``). It then removes any partial
combined file (``.combined.*.part``) and builds ``combined.<ext>`` from the stream
files, at the starts ``session.json`` recorded, else all at 0 (``clock``
``"unknown (recovered)"``); a failure is noted under ``combined``, the stream files stay.

This module does file I/O only in small, buffered pieces; ``os.fsync`` is meant to
run in an executor (see :meth:`WavWriter.fsync`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from siprec_appliance.appliance.lanes import INLINE, Lane
from siprec_appliance.appliance.mixdown import (
    MixdownError,
    MixSource,
    mixdown,
    paused_spans,
    plan_channels,
)
from siprec_appliance.appliance.receiver import StreamReceiver, StreamRecorder, audio_format
from siprec_appliance.config import RecordingConfig
from siprec_appliance.errors import LocalProtocolError
from siprec_appliance.siprec.session import StreamState

log = logging.getLogger("siprec.recording")

MARKER_SUFFIX = ".recording"
SESSION_FILE = "session.json"
SYNC_SECONDS = 0.5  # crash loses at most this much audio (plus one processing tick)
_UNKNOWN = 0xFFFFFFFF  # RIFF/data size placeholder: "until the end of the file"
_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
HEADER_SIZE = _HEADER.size  # 44: RIFF, fmt (16 bytes, PCM), data chunk header
_RIFF_SIZE_AT = 4
_DATA_SIZE_AT = 40
_MAX_DATA = 0xFFFFFFFF - (HEADER_SIZE - 8)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_STREAM_FILE = re.compile(r"stream-(\d+)-.*\.wav")
_PARTIAL_GLOB = ".combined.*.part"  # mixdown's temporary name


def _header(sample_rate: int, channels: int, data_size: int | None) -> bytes:
    block_align = 2 * channels
    riff = _UNKNOWN if data_size is None else data_size + HEADER_SIZE - 8
    data = _UNKNOWN if data_size is None else data_size
    pcm = 1  # WAVE_FORMAT_PCM
    return _HEADER.pack(
        b"RIFF",
        riff,
        b"WAVE",
        b"fmt ",
        16,
        pcm,
        channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        16,
        b"data",
        data,
    )


class WavWriter:
    """A mono or interleaved 16-bit PCM WAV file written by sample offset.

    :meth:`write_at` places frames at a frame offset: a gap before it is filled with
    silence, and frames before what is already written are dropped (the file never
    goes backwards). Samples wait in memory until :meth:`sync`.
    """

    def __init__(self, path: Path, sample_rate: int, channels: int = 1) -> None:
        if sample_rate <= 0 or channels <= 0:
            raise LocalProtocolError("sample_rate and channels must be positive")
        self.path = path
        self.marker = path.with_name(path.name + MARKER_SUFFIX)
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames = 0  # frames written or waiting in memory
        self.dropped_frames = 0  # frames that would have gone backwards
        self._synced_frames = 0
        self._pending: list[bytes] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        marker = {"sample_rate": sample_rate, "channels": channels, "started_at": time.time()}
        self.marker.write_text(json.dumps(marker))  # before the WAV: never a WAV without it
        self._file = path.open("wb")
        self._file.write(_header(sample_rate, channels, None))
        self._file.flush()

    @property
    def closed(self) -> bool:
        return self._file.closed

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def write_at(self, offset: int, samples: npt.NDArray[np.int16]) -> None:
        """Place ``samples`` (interleaved int16) at frame ``offset``."""
        count = len(samples) // self.channels
        if offset < self.frames:
            skip = min(count, self.frames - offset)
            self.dropped_frames += skip
            samples = samples[skip * self.channels : count * self.channels]
            count -= skip
            offset = self.frames
        if count <= 0:
            return
        self.pad_to(offset)
        self._pending.append(samples[: count * self.channels].astype("<i2", copy=False).tobytes())
        self.frames += count

    def pad_to(self, offset: int) -> None:
        """Silence up to frame ``offset`` (nothing if the file is already there)."""
        if offset > self.frames:
            self._pending.append(bytes(2 * self.channels * (offset - self.frames)))
            self.frames = offset

    def sync(self) -> None:
        """Append what waits in memory and rewrite the sizes: a valid WAV from here on."""
        if self._file.closed:
            return
        if self._pending:
            self._file.write(b"".join(self._pending))
            self._pending.clear()
        if self._synced_frames != self.frames or self._synced_frames == 0:
            self._write_sizes()
            self._synced_frames = self.frames
        self._file.flush()

    def fsync(self) -> None:
        """Push what :meth:`sync` wrote to the disk (blocking: run it in an executor)."""
        with contextlib.suppress(OSError, ValueError):  # closed meanwhile: close() synced it
            os.fsync(self._file.fileno())

    def close(self, *, fsync: bool = True) -> None:
        """Finalise the header, close the file, then remove the marker."""
        if self._file.closed:
            return
        self._synced_frames = -1
        self.sync()
        if fsync:
            os.fsync(self._file.fileno())
        self._file.close()
        self.marker.unlink(missing_ok=True)

    def _write_sizes(self) -> None:
        data_size = min(self.frames * 2 * self.channels, _MAX_DATA)
        end = self._file.tell()
        self._file.seek(_RIFF_SIZE_AT)
        self._file.write(struct.pack("<I", data_size + HEADER_SIZE - 8))
        self._file.seek(_DATA_SIZE_AT)
        self._file.write(struct.pack("<I", data_size))
        self._file.seek(end)


# ------------------------------------------------------------------ sessions
class SessionRecording:
    """The stream recorders and WAV files of one recording session.

    Threading: packets are placed on the event loop; decoding and writing the files
    (and :meth:`sync`) run as jobs on the session's ``lane``, in order
    (:mod:`~siprec_appliance.appliance.lanes`). :meth:`fsync` and :meth:`close`
    block and run in an executor; :meth:`close` only after :meth:`finish` and once
    the lane has run every job of this session (``Lanes.drain``).
    """

    def __init__(
        self,
        session_id: str,
        directory: Path,
        settings: RecordingConfig | None = None,
        *,
        lane: Lane = INLINE,
    ) -> None:
        self.session_id = session_id
        self.lane = lane
        self.directory = directory
        self.settings = settings if settings is not None else RecordingConfig()
        self.recorders: dict[int, StreamRecorder] = {}
        self.writers: dict[int, WavWriter] = {}
        self.receivers: list[StreamReceiver] = []
        self.muted = False  # paused by the operator (API): see StreamRecorder.set_muted
        # The policy's record on/off (rules, re-evaluated on metadata updates): while
        # off, audio is written as silence; a session never on keeps no audio files.
        self.policy_on = True
        self.ever_recorded = True
        self._policy_set = False  # set_policy has not been called yet
        self.rtp_timeouts: list[dict[str, Any]] = []  # streams that went quiet
        self.decision: dict[str, Any] | None = None  # the policy decision, as JSON
        self._ports: dict[int, int] = {}

    def update(
        self,
        streams: Sequence[StreamState],
        receivers: Callable[[int], list[StreamReceiver]],
        *,
        renegotiated: bool = False,
    ) -> None:
        """Create recorders for new streams and attach them to their ports' receivers."""
        for stream in streams:
            plan = stream.plan
            recorder = self.recorders.get(plan.index)
            if recorder is None:
                if stream.port is None:
                    continue  # refused m= line: nothing to record
                recorder = self.recorders[plan.index] = self._new_recorder(stream)
            elif renegotiated:
                recorder.renegotiated(plan)
            if stream.port is not None and self._ports.get(plan.index) != stream.port:
                self._ports[plan.index] = stream.port
                for receiver in receivers(stream.port):
                    receiver.recorder = recorder
                    self.receivers.append(receiver)

    def _new_recorder(self, stream: StreamState) -> StreamRecorder:
        plan = stream.plan
        fmt = audio_format(plan)  # (sample rate, channels) of the first decodable codec
        writer = None
        if fmt is not None:
            path = self.directory / stream_file_name(plan.index, plan.label)
            writer = self.writers[plan.index] = WavWriter(path, *fmt)
        else:
            log.warning(
                "session %s stream %d: no decoder for %s; not written",
                self.session_id,
                plan.index,
                "/".join(plan.codecs) or "none",
            )
        recorder = StreamRecorder(plan, writer, session_id=self.session_id, lane=self.lane)
        recorder.set_muted(self.muted or not self.policy_on, time.time())
        return recorder

    def note_pauses(
        self, paused: Sequence[int], resumed: Sequence[int], at: float, *, by: str | None = None
    ) -> None:
        for index in paused:
            if index in self.recorders:
                self.recorders[index].note_pause(True, at, by=by)
        for index in resumed:
            if index in self.recorders:
                self.recorders[index].note_pause(False, at, by=by)

    def set_muted(self, muted: bool, at: float) -> None:
        """Write silence for whatever arrives while ``muted`` (an operator's pause)."""
        self.muted = muted
        self._apply_mute(at)

    def set_policy(self, decision: dict[str, Any] | None, at: float) -> bool:
        """Store the policy decision; start or stop writing audio when its ``record``
        changes (the span off is a pause ``by: policy`` in the combined file).
        Returns whether recording was switched."""
        self.decision = decision
        record = (decision or {}).get("record") or {}
        on = bool(record.get("on", True))
        if not self._policy_set:  # the first decision, before any audio
            self._policy_set = True
            self.policy_on = self.ever_recorded = on
            if not on:
                self.note_pauses(list(self.recorders), (), at, by="policy")
                self._apply_mute(at)
            return False
        if on == self.policy_on:
            return False
        self.policy_on = on
        self.ever_recorded = self.ever_recorded or on
        indexes = list(self.recorders)
        if on:
            self.note_pauses((), indexes, at, by="policy")
        else:
            self.note_pauses(indexes, (), at, by="policy")
        self._apply_mute(at)
        return True

    def _apply_mute(self, at: float) -> None:
        for recorder in self.recorders.values():
            recorder.set_muted(self.muted or not self.policy_on, at)

    def process(self, now: float) -> None:
        for receiver in self.receivers:
            receiver.process(now)

    def sync(self) -> None:
        """Queue a sync of every file (valid headers on disk) behind the writes."""
        self.lane.run(self._sync_writers)

    def _sync_writers(self) -> None:
        for writer in list(self.writers.values()):
            try:
                writer.sync()
            except OSError as exc:
                log.error("session %s: cannot write %s: %s", self.session_id, writer.path, exc)

    def fsync(self) -> None:
        """Blocking: run in an executor."""
        for writer in list(self.writers.values()):
            writer.fsync()

    def finish(self, now: float) -> None:
        """Drain sockets and jitter buffers (on the loop, before :meth:`close`)."""
        self.process(now)
        for receiver in self.receivers:
            receiver.recorder = None
        for recorder in self.recorders.values():
            recorder.finish()

    def document(self, snapshot: dict[str, Any] | None, state: str) -> dict[str, Any]:
        """The ``session.json`` content."""
        streams = []
        sources, clock = self.mix_sources()
        starts = {source.index: source for source in sources}
        for index, recorder in sorted(self.recorders.items()):
            entry = recorder.report()
            writer = self.writers.get(index)
            entry["file"] = writer.path.name if writer is not None else None
            entry["duration"] = round(writer.duration, 3) if writer is not None else None
            # Sample 0 of the file on the document's clock (for a mixdown after a crash)
            start = starts[index].start if index in starts else None
            arrival = recorder.timeline.origin_arrival
            entry["start"] = start
            entry["clock_shift"] = (
                start - arrival if start is not None and arrival is not None else 0.0
            )
            streams.append(entry)
        return {
            "session_id": self.session_id,
            "state": state,
            "session": snapshot,
            "clock": clock,
            "streams": streams,
            "rtp_timeouts": self.rtp_timeouts,
            "decision": self.decision,
        }

    def write_document(self, document: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json(self.directory / SESSION_FILE, document)

    def close(self, document: dict[str, Any]) -> None:
        """Blocking: finalise every file, build the combined file, write ``session.json``."""
        for writer in self.writers.values():
            try:
                writer.close()
            except OSError as exc:
                log.error("session %s: cannot finish %s: %s", self.session_id, writer.path, exc)
        document["recorded"] = self.ever_recorded
        if not self.ever_recorded:  # the policy said no for the whole call
            self._remove_stream_files(document, "not recorded: the recording policy said no")
            self.write_document(document)
            return
        if self.settings.combined and self.writers:
            try:
                self.combine(document)
            except Exception as exc:  # never lose the call over it: the stream files stay
                log.error("session %s: no combined file: %s", self.session_id, exc)
                document["combined"] = {"error": str(exc) or type(exc).__name__}
        self.write_document(document)

    def mix_sources(self) -> tuple[list[MixSource], str]:
        """Each written stream's file, start and paused spans, and the clock used.

        The clock is the senders' (RTCP SR, :attr:`StreamRecorder.start_wall_time`) when
        every stream that had audio has an SR, else ours (arrival of each stream's first
        packet, which is its sample 0). Pause events carry our time; they are moved
        onto the chosen clock by the stream's difference between the two.
        """
        started = [
            self.recorders[i] for i in self.writers if self.recorders[i].timeline.ssrc is not None
        ]
        rtcp = bool(started) and all(r.timeline.wall_clock_source == "rtcp" for r in started)
        sources = []
        for index, writer in sorted(self.writers.items()):
            recorder = self.recorders[index]
            arrival = recorder.timeline.origin_arrival
            start = recorder.start_wall_time if rtcp else arrival
            shift = start - arrival if start is not None and arrival is not None else 0.0
            paused = tuple((a + shift, b + shift) for a, b in paused_spans(recorder.pauses))
            sources.append(MixSource(index=index, path=writer.path, start=start, paused=paused))
        return sources, "rtcp" if rtcp else "arrival"

    def combine(self, document: dict[str, Any]) -> None:
        """Write the combined file and note it in ``document`` (blocking).

        Raises what :func:`~siprec_appliance.appliance.mixdown.mixdown` raises; the
        per-stream files are removed (``per_stream: false``) only after success.
        """
        sources, clock = self.mix_sources()
        combine_sources(self.directory, document, sources, clock, self.settings)
        if not self.settings.per_stream:
            self._remove_stream_files(
                document, "per_stream is off: the audio is in the combined file"
            )

    def _remove_stream_files(self, document: dict[str, Any], why: str) -> None:
        removed = set()
        for index, writer in self.writers.items():
            try:
                writer.path.unlink(missing_ok=True)
                removed.add(index)
            except OSError as exc:
                log.error("session %s: cannot remove %s: %s", self.session_id, writer.path, exc)
        for entry in document.get("streams") or []:
            if isinstance(entry, dict) and entry.get("index") in removed:
                entry["file"] = None
                entry["file_removed"] = why


def _participants(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The participant rows of ``session.json``: the facts', else the snapshot's views."""
    session = document.get("session")
    facts = session.get("facts") if isinstance(session, dict) else None
    rows = facts.get("participants") if isinstance(facts, dict) else None
    if not isinstance(rows, list):  # no facts: the snapshot's participant views
        rows = session.get("participants") if isinstance(session, dict) else None
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def combine_sources(
    directory: Path,
    document: dict[str, Any],
    sources: Sequence[MixSource],
    clock: str,
    settings: RecordingConfig,
) -> None:
    """Mix ``sources`` into ``directory/combined.<ext>``; note it in ``document``.

    Raises what :func:`~siprec_appliance.appliance.mixdown.mixdown` raises.
    """
    plan = plan_channels(_participants(document), sorted(source.index for source in sources))
    result = mixdown(sources, plan, directory, fmt=settings.format, pauses=settings.pauses)
    document["combined"] = {**result.to_dict(), "clock": clock}
    if result.requested_format != result.format:
        log.warning(
            "%s: %d channels do not fit %s; combined file is %s",
            directory.name,
            result.channel_count,
            result.requested_format,
            result.format,
        )


# ------------------------------------------------------------------ recovery
@dataclass(frozen=True, slots=True)
class _Format:
    channels: int
    sample_rate: int
    data_offset: int  # where the samples start


def _read_format(path: Path, marker: Path) -> _Format:
    """The WAV's format from its header, or from the marker if the header is damaged."""
    with path.open("rb") as wav:
        head = wav.read(HEADER_SIZE)
    if len(head) == HEADER_SIZE and head[:4] == b"RIFF" and head[8:16] == b"WAVE" + b"fmt ":
        fields = _HEADER.unpack(head)
        channels, sample_rate, data_id = fields[6], fields[7], fields[11]
        if data_id == b"data" and channels > 0 and sample_rate > 0:
            return _Format(channels, sample_rate, HEADER_SIZE)
    info = json.loads(marker.read_text() or "{}")
    return _Format(int(info["channels"]), int(info["sample_rate"]), HEADER_SIZE)


def recover_wav(path: Path) -> int:
    """Fix the header of an unfinished WAV; return its length in frames."""
    marker = path.with_name(path.name + MARKER_SUFFIX)
    fmt = _read_format(path, marker)
    block_align = 2 * fmt.channels
    length = path.stat().st_size
    frames = max(0, length - fmt.data_offset) // block_align
    data_size = min(frames * block_align, _MAX_DATA)
    with path.open("r+b") as wav:
        wav.seek(0)
        wav.write(_header(fmt.sample_rate, fmt.channels, data_size))
        wav.truncate(fmt.data_offset + data_size)
        wav.flush()
        os.fsync(wav.fileno())
    return data_size // block_align


def recover_unfinished(data_dir: Path, settings: RecordingConfig | None = None) -> list[Path]:
    """Repair every recording a crash left unfinished (see the module docstring).

    Returns the WAV files recovered. Blocking: call it at start-up, before serving.
    """
    settings = settings if settings is not None else RecordingConfig()
    recovered: list[Path] = []
    notes: dict[Path, list[dict[str, Any]]] = {}
    for marker in sorted((data_dir / "recordings").glob(f"*/*/*.wav{MARKER_SUFFIX}")):
        wav = marker.with_name(marker.name.removesuffix(MARKER_SUFFIX))
        note: dict[str, Any] = {"file": wav.name}
        try:
            if wav.exists():
                frames = recover_wav(wav)
                fmt = _read_format(wav, marker)
                note.update(frames=frames, duration=round(frames / fmt.sample_rate, 3))
                recovered.append(wav)
            else:
                note["missing"] = True
        except (OSError, ValueError, KeyError) as exc:
            log.error("cannot recover %s: %s", wav, exc)
            note["error"] = str(exc)
        marker.unlink(missing_ok=True)
        notes.setdefault(wav.parent, []).append(note)
        log.warning("recovered unfinished recording %s", wav)
    # A crash during the mixdown at close leaves a partial combined file, no marker.
    for partial in sorted((data_dir / "recordings").glob(f"*/*/{_PARTIAL_GLOB}")):
        notes.setdefault(partial.parent, [])
    for directory, files in notes.items():
        _note_recovery(directory, files, settings)
    return recovered


def _note_recovery(directory: Path, files: list[dict[str, Any]], settings: RecordingConfig) -> None:
    path = directory / SESSION_FILE
    try:
        document: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        document = {}
    document.setdefault("session_id", directory.name)
    document["state"] = "interrupted"
    recovered: dict[str, Any] = {"at": time.time(), "files": files}
    removed = []
    for partial in sorted(directory.glob(_PARTIAL_GLOB)):
        try:
            partial.unlink()
            removed.append(partial.name)
        except OSError as exc:
            log.error("cannot remove %s: %s", partial, exc)
    if removed:
        recovered["removed"] = removed
    document["recovered"] = recovered
    if settings.combined:
        try:
            sources, clock = _recovered_sources(directory, document)
            combine_sources(directory, document, sources, clock, settings)
        except Exception as exc:  # the per-stream files stay whatever happens
            log.error("%s: no combined file after recovery: %s", directory, exc)
            document["combined"] = {"error": str(exc) or type(exc).__name__}
    write_json(path, document)


def _recovered_sources(directory: Path, document: dict[str, Any]) -> tuple[list[MixSource], str]:
    """The stream files of a recovered session and where they start.

    The starts are those ``session.json`` recorded (``start``, on its ``clock``) when
    it has one for every file; else the clock is lost and every file starts at 0
    (``"unknown (recovered)"``), with no pauses (they were on the lost clock).
    """
    entries: dict[int, dict[str, Any]] = {}
    for entry in document.get("streams") or []:
        if isinstance(entry, dict) and isinstance(entry.get("index"), int):
            entries[entry["index"]] = entry
    files: dict[int, Path] = {}
    for wav in sorted(directory.glob("stream-*.wav")):
        match = _STREAM_FILE.fullmatch(wav.name)
        if match is not None:
            files.setdefault(int(match.group(1)), wav)
    for index, entry in entries.items():
        name = entry.get("file")
        if isinstance(name, str) and (directory / name).is_file():
            files[index] = directory / name
    if not files:
        raise MixdownError("no stream file to combine")

    def start_of(index: int) -> float | None:
        value = entries.get(index, {}).get("start")
        return float(value) if isinstance(value, int | float) else None

    clock = document.get("clock")
    if isinstance(clock, str) and all(start_of(index) is not None for index in files):
        sources = []
        for index, wav in sorted(files.items()):
            entry = entries[index]
            shift = entry.get("clock_shift")
            shift = float(shift) if isinstance(shift, int | float) else 0.0
            events = [e for e in entry.get("pauses") or [] if isinstance(e, dict)]
            paused = tuple((a + shift, b + shift) for a, b in paused_spans(events))
            sources.append(MixSource(index=index, path=wav, start=start_of(index), paused=paused))
        return sources, clock
    sources = [MixSource(index=i, path=wav, start=0.0) for i, wav in sorted(files.items())]
    return sources, "unknown (recovered)"


# ------------------------------------------------------------------ layout
def session_directory(data_dir: Path, session_id: str, started_at: float) -> Path:
    """``{data_dir}/recordings/{YYYY-MM-DD}/{session_id}`` (UTC date of ``started_at``)."""
    day = time.strftime("%Y-%m-%d", time.gmtime(started_at))
    return data_dir / "recordings" / day / safe_name(session_id)


def stream_file_name(index: int, label: str | None) -> str:
    return f"stream-{index}-{safe_name(label) if label else index}.wav"


def safe_name(text: str) -> str:
    """A path component from remote-controlled text (SDP labels, ids)."""
    cleaned = _SAFE_NAME.sub("_", text).strip("._")[:48]
    return cleaned or "_"


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` atomically (a temporary file renamed over the old one)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(temporary, path)
