"""The combined recording: a session's per-stream WAV files, time-aligned in one file.

Inputs are the finished 16-bit PCM WAV of every recorded stream (``m=`` line), the
time of each file's sample 0 on one clock (:attr:`MixSource.start`), the paused spans
on that clock, and a channel plan (:func:`plan_channels`): one channel per
participant (caller, callee, others), then one per stream nobody claims.

Alignment: ``t0`` is the earliest start; the output rate is the highest input rate
(lower rates are resampled with FFmpeg's swresample); stream ``i`` begins at output
frame ``round((start_i - t0) * rate)``. A channel is the clipped sum of its streams; a
stereo stream that feeds one channel is averaged to mono. One stream on one channel
(a single mixed ``m=`` line) is copied as it came, mono or stereo.

Pauses (RFC 7866 §7.1.1): a stream's paused spans are silence in its channel. With
``pauses="cut"``, the spans where every audible stream is paused are removed from
the file (the offsets in :class:`MixResult` stay those before the cut).

The work goes block by block (``BLOCK_SECONDS``), so a long call never sits whole in
memory. WAV is written with the ``wave`` module, FLAC, Ogg Opus and MP3 are encoded
by PyAV. The file is written under a temporary name and renamed once complete.
Blocking: run it off the event loop.
"""

from __future__ import annotations

import contextlib
import math
import os
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import av
import numpy as np
import numpy.typing as npt
from av.audio.stream import AudioStream

from siprec_appliance.errors import SiprecError

__all__ = [
    "FORMATS",
    "MixChannel",
    "MixResult",
    "MixSource",
    "MixdownError",
    "OutputFormat",
    "Party",
    "mixdown",
    "paused_spans",
    "plan_channels",
]

BLOCK_SECONDS = 5
_READ_FRAMES = 1 << 15
# FFmpeg channel layouts by count (the Vorbis/FLAC orders that Opus and FLAC accept).
_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}
_ROLE_RANK = {"caller": 0, "callee": 1}

Frames = npt.NDArray[np.int16]  # shape (frames, channels)


class MixdownError(SiprecError):
    """The combined file cannot be made (no audio, unreadable input)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputFormat:
    """A combined-file format: its extension, PyAV container and encoder."""

    name: str
    extension: str
    container: str | None  # None: written by the wave module
    codec: str | None
    max_channels: int
    fallback: str | None = None  # used when there are more channels than max_channels


FORMATS: dict[str, OutputFormat] = {
    "wav": OutputFormat(name="wav", extension="wav", container=None, codec=None, max_channels=64),
    "flac": OutputFormat(
        name="flac", extension="flac", container="flac", codec="flac", max_channels=8,
        fallback="wav",
    ),
    "opus": OutputFormat(
        name="opus", extension="opus", container="ogg", codec="libopus", max_channels=8,
        fallback="wav",
    ),
    "mp3": OutputFormat(
        name="mp3", extension="mp3", container="mp3", codec="libmp3lame", max_channels=2,
        fallback="flac",
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Party:
    """A participant named on a channel (from the session's facts)."""

    id: str | None
    aor: str | None
    role: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "aor": self.aor, "role": self.role}


@dataclass(frozen=True, slots=True, kw_only=True)
class MixChannel:
    """One output channel: the streams (m= line indexes) mixed into it, and who sends them."""

    streams: tuple[int, ...]
    parties: tuple[Party, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MixSource:
    """One stream's finished WAV and where it sits in time.

    ``start`` is the time of the file's sample 0 (seconds, any clock shared by all
    sources; None when the stream never had audio). ``paused`` holds spans on the
    same clock; ``math.inf`` ends a pause that was never resumed.
    """

    index: int
    path: Path
    start: float | None
    paused: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class MixResult:
    """What was written: the ``combined`` entry of ``session.json`` (:meth:`to_dict`)."""

    path: Path
    format: str
    requested_format: str
    sample_rate: int
    channels: tuple[MixChannel, ...]
    channel_count: int
    copied: bool  # one stream copied with its own channels
    frames: int
    offsets: dict[int, float]  # stream index -> seconds from the start (before any cut)
    pauses: tuple[dict[str, Any], ...] = field(default=())
    cut_seconds: float = 0.0

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        channels = []
        for number, channel in enumerate(self.channels):
            first = channel.parties[0] if channel.parties else Party(id=None, aor=None, role=None)
            channels.append(
                {
                    "channel": number,
                    "participant": first.id,
                    "aor": first.aor,
                    "role": first.role,
                    "participants": [party.to_dict() for party in channel.parties],
                    "streams": list(channel.streams),
                }
            )
        document: dict[str, Any] = {
            "file": self.path.name,
            "format": self.format,
            "sample_rate": self.sample_rate,
            "channel_count": self.channel_count,
            "layout": "copy" if self.copied else "per-participant",
            "channels": channels,
            "duration": round(self.duration, 3),
            "offsets": {str(index): round(value, 3) for index, value in self.offsets.items()},
            "pauses": list(self.pauses),
            "cut_seconds": round(self.cut_seconds, 3),
        }
        if self.requested_format != self.format:
            document["requested_format"] = self.requested_format
        return document


# ------------------------------------------------------------------ planning
def _party(row: Mapping[str, Any]) -> Party:
    def text(key: str) -> str | None:
        value = row.get(key)
        return value if isinstance(value, str) and value else None

    return Party(id=text("id"), aor=text("aor"), role=text("role"))


def _sends(row: Mapping[str, Any]) -> list[int]:
    value = row.get("sends")
    if not isinstance(value, list | tuple):
        return []
    return [i for i in value if isinstance(i, int) and not isinstance(i, bool)]


def plan_channels(
    participants: Sequence[Mapping[str, Any]], streams: Sequence[int]
) -> tuple[MixChannel, ...]:
    """Channels for ``streams`` (m= line indexes): caller first (left), callee second
    (right), other participants after them in document order, each with the streams
    it sends; then each stream nobody claims, in m= order.

    ``participants`` are rows of the session's facts (``id``, ``aor``, ``role``,
    ``sends``); they come from the network, so anything malformed is ignored. A
    participant whose streams another one already claimed (a mixed ``m=``) is named
    on that channel.
    """
    wanted = set(streams)
    rows = [row for row in participants if isinstance(row, Mapping)]
    ordered = sorted(
        enumerate(rows), key=lambda item: (_ROLE_RANK.get(str(item[1].get("role")), 2), item[0])
    )
    channels: list[tuple[list[int], list[Party]]] = []
    owner: dict[int, int] = {}  # stream -> channel
    for _, row in ordered:
        sends = [i for i in dict.fromkeys(_sends(row)) if i in wanted]
        mine = [i for i in sends if i not in owner]
        if mine:
            for i in mine:
                owner[i] = len(channels)
            channels.append((mine, [_party(row)]))
        elif sends:
            channels[owner[sends[0]]][1].append(_party(row))
    for index in sorted(wanted - owner.keys()):
        channels.append(([index], []))
    return tuple(MixChannel(streams=tuple(sorted(s)), parties=tuple(p)) for s, p in channels)


def paused_spans(events: Sequence[Mapping[str, Any]]) -> tuple[tuple[float, float], ...]:
    """Spans from a recorder's pause events (``{"paused": t}`` / ``{"resumed": t}``).

    A pause never resumed lasts to ``math.inf``; repeated pauses or resumes are one.
    """
    spans: list[tuple[float, float]] = []
    since: float | None = None
    for event in events:
        paused, resumed = event.get("paused"), event.get("resumed")
        if isinstance(paused, int | float) and since is None:
            since = float(paused)
        elif isinstance(resumed, int | float) and since is not None:
            if resumed > since:
                spans.append((since, float(resumed)))
            since = None
    if since is not None:
        spans.append((since, math.inf))
    return tuple(spans)


def _intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        elif start < end:
            out.append((start, end))
    return out


# ------------------------------------------------------------------ reading
class _Cursor:
    """One source at the output rate: ``lead`` frames of silence, its audio, then silence."""

    def __init__(self, path: Path, lead: int, rate: int) -> None:
        self._wav = wave.open(str(path), "rb")  # noqa: SIM115 - closed at the end of the data
        if self._wav.getsampwidth() != 2:
            self._wav.close()
            raise MixdownError(f"{path.name}: not 16-bit PCM")
        self.channels = self._wav.getnchannels()
        self.source_rate = self._wav.getframerate()
        frames = self._wav.getnframes()
        self._lead = lead
        self._buffer: Frames = np.zeros((0, self.channels), np.int16)
        self._layout = _LAYOUTS.get(self.channels, "stereo")
        self._resampler: av.AudioResampler | None = None
        if self.source_rate != rate:
            self._resampler = av.AudioResampler(format="s16", layout=self._layout, rate=rate)
            frames = round(frames * rate / self.source_rate)
        self.end = lead + frames

    def take(self, count: int) -> Frames:
        out = np.zeros((count, self.channels), np.int16)
        filled = min(self._lead, count)
        self._lead -= filled
        while filled < count:
            if not len(self._buffer):
                more = self._read()
                if more is None:
                    break
                self._buffer = more
                continue
            n = min(count - filled, len(self._buffer))
            out[filled : filled + n] = self._buffer[:n]
            self._buffer = self._buffer[n:]
            filled += n
        return out

    def _read(self) -> Frames | None:
        if self._wav.getfp() is None:  # closed: everything was read
            return None
        raw = self._wav.readframes(_READ_FRAMES)
        if not raw:
            self._wav.close()
            return self._resample(None) if self._resampler is not None else None
        samples = np.frombuffer(raw, "<i2").reshape(-1, self.channels)
        if self._resampler is None:
            return samples
        return self._resample(samples)

    def _resample(self, samples: Frames | None) -> Frames:
        assert self._resampler is not None
        frame = None
        if samples is not None:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples.reshape(1, -1)), format="s16", layout=self._layout
            )
            frame.sample_rate = self.source_rate
        parts = [f.to_ndarray().reshape(-1, self.channels) for f in self._resampler.resample(frame)]
        if not parts:
            return np.zeros((0, self.channels), np.int16)
        return np.concatenate(parts).astype(np.int16, copy=False)

    def close(self) -> None:
        self._wav.close()


# ------------------------------------------------------------------ writing
class _Sink(Protocol):
    def write(self, block: Frames) -> None: ...

    def close(self) -> None: ...


class _WavSink:
    def __init__(self, path: Path, rate: int, channels: int) -> None:
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed by close()
        self._wav.setnchannels(channels)
        self._wav.setsampwidth(2)
        self._wav.setframerate(rate)

    def write(self, block: Frames) -> None:
        self._wav.writeframesraw(block.astype("<i2", copy=False).tobytes())

    def close(self) -> None:
        self._wav.close()


class _AvSink:
    """PyAV encoder; PyAV converts the s16 frames to the encoder's sample format."""

    def __init__(self, path: Path, fmt: OutputFormat, rate: int, channels: int) -> None:
        assert fmt.container is not None and fmt.codec is not None
        codec = av.Codec(fmt.codec, "w")
        rates = codec.audio_rates
        encode_rate = rate
        if rates and rate not in rates:  # Opus: 8/12/16/24/48 kHz; MP3: MPEG rates
            encode_rate = min((r for r in rates if r >= rate), default=max(rates))
        self._layout = _LAYOUTS[channels]
        self._rate = rate
        self._resampler: av.AudioResampler | None = None
        if encode_rate != rate:
            self._resampler = av.AudioResampler(format="s16", layout=self._layout, rate=encode_rate)
        self._container = av.open(str(path), "w", format=fmt.container)
        self._stream = cast(
            AudioStream,
            self._container.add_stream(fmt.codec, rate=encode_rate, layout=self._layout),
        )

    def write(self, block: Frames) -> None:
        if not len(block):
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block.reshape(1, -1)), format="s16", layout=self._layout
        )
        frame.sample_rate = self._rate
        self._encode(frame)

    def _encode(self, frame: av.AudioFrame | None) -> None:
        frames: list[av.AudioFrame | None] = [frame]
        if self._resampler is not None:
            frames = list(self._resampler.resample(frame))
            if frame is None:
                frames.append(None)
        for item in frames:
            for packet in self._stream.encode(item):
                self._container.mux(packet)

    def close(self) -> None:
        try:
            self._encode(None)
        finally:
            self._container.close()


def _sink(path: Path, fmt: OutputFormat, rate: int, channels: int) -> _Sink:
    if fmt.container is None:
        return _WavSink(path, rate, channels)
    return _AvSink(path, fmt, rate, channels)


def _choose_format(name: str, channels: int) -> OutputFormat:
    fmt = FORMATS.get(name)
    if fmt is None:
        raise MixdownError(f"unknown format {name!r} ({', '.join(FORMATS)})")
    while channels > fmt.max_channels and fmt.fallback is not None:
        fmt = FORMATS[fmt.fallback]
    if channels > fmt.max_channels:
        raise MixdownError(f"{channels} channels are more than {fmt.name} can hold")
    return fmt


# ------------------------------------------------------------------ mixing
def mixdown(
    sources: Sequence[MixSource],
    plan: Sequence[MixChannel],
    directory: Path,
    *,
    fmt: str = "wav",
    pauses: str = "silence",
    name: str = "combined",
) -> MixResult:
    """Write ``directory/<name>.<ext>`` from ``sources`` after ``plan`` (see the module).

    Raises :class:`MixdownError` when there is nothing to combine, ``OSError`` and
    PyAV's errors when writing fails; a partial file is removed.
    """
    if pauses not in ("silence", "cut"):
        raise MixdownError(f"unknown pause mode {pauses!r}")
    if not plan:
        raise MixdownError("no channels to write")
    mixer = _Mixer(sources, plan)
    try:
        return mixer.run(directory, fmt, pauses == "cut", name)
    finally:
        mixer.close()


class _Mixer:
    """The layout of one mixdown (rate, offsets, muted and cut spans) and its block loop."""

    def __init__(self, sources: Sequence[MixSource], plan: Sequence[MixChannel]) -> None:
        self.plan = tuple(plan)
        planned = {i for channel in plan for i in channel.streams}
        audible = _audible(sources, planned)
        if not audible:
            raise MixdownError("no stream has audio")
        self.rate = max(source_rate for _, start, source_rate in audible)
        self.t0 = min(start for _, start, _ in audible)
        self.offsets = {source.index: start - self.t0 for source, start, _ in audible}
        self.cursors: dict[int, _Cursor] = {}
        for source, start, _ in audible:
            lead = round((start - self.t0) * self.rate)
            self.cursors[source.index] = _Cursor(source.path, lead, self.rate)
        self.total = max(cursor.end for cursor in self.cursors.values())
        self.muted = {
            source.index: _merge([(self._frame(a), self._frame(b)) for a, b in source.paused])
            for source, _, _ in audible
        }
        self.copied = len(plan) == 1 and len(plan[0].streams) == 1
        first = self.cursors[next(iter(self.cursors))]
        self.channels = first.channels if self.copied else len(plan)

    def _frame(self, at: float) -> int:
        if math.isinf(at):
            return self.total if at > 0 else 0
        return min(self.total, max(0, round((at - self.t0) * self.rate)))

    def run(self, directory: Path, fmt_name: str, cut_pauses: bool, name: str) -> MixResult:
        cut: list[tuple[int, int]] = []
        if cut_pauses:  # only where every audible stream is paused
            spans = list(self.muted.values())
            cut = spans[0]
            for other in spans[1:]:
                cut = _intersect(cut, other)
        fmt = _choose_format(fmt_name, self.channels)
        target = directory / f"{name}.{fmt.extension}"
        partial = directory / f".{name}.{fmt.extension}.part"
        sink = _sink(partial, fmt, self.rate, self.channels)
        written = 0
        try:
            step = BLOCK_SECONDS * self.rate
            for start in range(0, self.total, step):
                block = self._block(start, min(step, self.total - start))
                keep = np.ones(len(block), bool)
                for a, b in _within(cut, start, len(block)):
                    keep[a:b] = False
                sink.write(block[keep])
                written += int(keep.sum())
            sink.close()
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(Exception):
                sink.close()
            partial.unlink(missing_ok=True)
            raise
        return MixResult(
            path=target,
            format=fmt.name,
            requested_format=fmt_name,
            sample_rate=self.rate,
            channels=self.plan,
            channel_count=self.channels,
            copied=self.copied,
            frames=written,
            offsets=self.offsets,
            pauses=self._pause_notes(cut),
            cut_seconds=sum(b - a for a, b in cut) / self.rate,
        )

    def _block(self, start: int, count: int) -> Frames:
        """Output frames ``start`` .. ``start + count``, every channel mixed."""
        mixed = np.zeros((count, self.channels), np.int32)
        for number, channel in enumerate(self.plan):
            for index in channel.streams:
                cursor = self.cursors.get(index)
                if cursor is None:
                    continue  # a stream without audio: its share is silence
                samples = cursor.take(count)
                for a, b in _within(self.muted.get(index, []), start, count):
                    samples[a:b] = 0
                if self.copied:
                    mixed += samples
                elif samples.shape[1] == 1:
                    mixed[:, number] += samples[:, 0]
                else:  # a stereo stream on one channel: its mono average
                    mixed[:, number] += samples.astype(np.int32).sum(axis=1) // samples.shape[1]
        return np.clip(mixed, -32768, 32767).astype(np.int16)

    def _pause_notes(self, cut: list[tuple[int, int]]) -> tuple[dict[str, Any], ...]:
        """The spans muted per stream and cut from the file, in seconds before the cut."""
        spans: list[tuple[list[int], int, int, str]] = [
            ([index], a, b, "silence")
            for index, muted in sorted(self.muted.items())
            for a, b in muted
        ]
        spans += [(sorted(self.muted), a, b, "cut") for a, b in cut]
        return tuple(
            {
                "streams": streams,
                "start": round(a / self.rate, 3),
                "end": round(b / self.rate, 3),
                "action": action,
            }
            for streams, a, b, action in spans
        )

    def close(self) -> None:
        for cursor in self.cursors.values():
            cursor.close()


def _within(spans: Sequence[tuple[int, int]], start: int, count: int) -> list[tuple[int, int]]:
    """``spans`` clipped to the block ``start`` .. ``start + count``, relative to it."""
    return [
        (max(0, a - start), min(count, b - start))
        for a, b in spans
        if a < start + count and b > start
    ]


def _audible(sources: Sequence[MixSource], planned: set[int]) -> list[tuple[MixSource, float, int]]:
    """Planned sources with audio: each with its start and sample rate."""
    found: list[tuple[MixSource, float, int]] = []
    for source in sources:
        if source.start is None or source.index not in planned or not source.path.exists():
            continue
        with wave.open(str(source.path), "rb") as wav:
            if wav.getnframes() > 0:
                found.append((source, source.start, wav.getframerate()))
    return found
