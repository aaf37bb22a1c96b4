"""What the catalog knows about one recording directory, read from its ``session.json``.

:func:`read_recording` turns ``{data_dir}/recordings/{day}/{id}/session.json`` (written
by :mod:`~siprec_appliance.appliance.recording`) and the WAV files next to it into an
:class:`IndexedRecording`: the status (``recording``, ``complete``, ``interrupted`` or
``failed``, with a reason), participants, correlation ids and every file's size,
format, duration and SHA-256. The combined file (``combined`` in ``session.json``) is
indexed as stream :data:`COMBINED_INDEX` with the label ``combined``. Everything in
``session.json`` may come from the network (SIP headers, metadata), so every value is
type-checked and nothing here raises on it.
Blocking file I/O: run it off the event loop (the catalog's thread does).
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siprec_appliance.appliance.recording import SESSION_FILE

__all__ = [
    "COMBINED_INDEX",
    "COMBINED_LABEL",
    "CORRELATION_KEYS",
    "Fingerprints",
    "IndexedFile",
    "IndexedRecording",
    "read_recording",
]

log = logging.getLogger("siprec.catalog")

# Facts (docs/call-facts.md) that name the call in another system: searchable by value.
CORRELATION_KEYS = (
    "call_id",
    "cs_call_id",
    "ucid",
    "avaya.ucid",
    "avaya.ucid_hex",
    "oracle.ucid",
    "oracle.isr_ucid",
    "cisco.session_id",
    "cisco.session_id_remote",
    "genesys.uuid",
    "audiocodes.session_id",
    "ribbon.call_id",
    "icid",
    "sip_session_ids",
)
_MAX_VALUE = 512  # longer correlation values are not indexed
_HASH_CHUNK = 1 << 20
_WAV_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
COMBINED_INDEX = -1  # the stream_index of the combined file: before every stream
COMBINED_LABEL = "combined"


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexedFile:
    stream_index: int
    label: str | None
    path: str  # relative to data_dir
    format: str
    sample_rate: int | None
    channels: int | None
    size: int | None
    sha256: str | None
    duration: float | None
    mtime_ns: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexedRecording:
    """What the catalog stores about one recording directory."""

    id: str
    call_id: str
    started_at: float | None
    ended_at: float | None
    duration: float | None
    status: str
    reason: str | None
    vendor: str | None
    participants: list[dict[str, Any]]
    facts: dict[str, Any]
    streams: list[dict[str, Any]]
    details: dict[str, Any]
    directory: str
    files: list[IndexedFile] = field(default_factory=list)
    correlation: list[tuple[str, str]] = field(default_factory=list)


# Previously indexed files: (path, size, mtime_ns) -> sha256, so a re-index does not
# hash an unchanged file again.
Fingerprints = Mapping[tuple[str, int, int], str]


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _combined_entry(document: dict[str, Any]) -> dict[str, Any] | None:
    """The combined file as a file entry (its index and label fixed), or None."""
    combined = _dict(document.get("combined"))
    if not isinstance(combined.get("file"), str):
        return None  # not written, or failed ({"error": ...})
    return {
        "file": combined["file"],
        "index": COMBINED_INDEX,
        "label": COMBINED_LABEL,
        "format": combined.get("format"),
        "duration": combined.get("duration"),
        "sample_rate": combined.get("sample_rate"),
        "channel_count": combined.get("channel_count"),
    }


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list_of_dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _wav_format(path: Path) -> tuple[int, int] | None:
    """(sample_rate, channels) from a PCM WAV header, or None."""
    with path.open("rb") as wav:
        head = wav.read(_WAV_HEADER.size)
    if len(head) < _WAV_HEADER.size or head[:4] != b"RIFF" or head[8:16] != b"WAVEfmt ":
        return None
    fields = _WAV_HEADER.unpack(head)
    return (fields[7], fields[6]) if fields[6] > 0 and fields[7] > 0 else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _index_file(
    entry: dict[str, Any], directory: Path, data_dir: Path, known: Fingerprints, final: bool
) -> IndexedFile | None:
    name = entry.get("file")
    index = entry.get("index")
    if not isinstance(name, str) or not isinstance(index, int) or isinstance(index, bool):
        return None
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        log.warning("%s: ignoring file name %r outside the directory", directory, name)
        return None
    path = directory / name
    relative = path.relative_to(data_dir).as_posix()
    label = _text(entry.get("label"))
    fmt = _text(entry.get("format")) or "wav"
    try:
        stat = path.stat()
        wav = _wav_format(path)
    except OSError:
        return IndexedFile(
            stream_index=index, label=label, path=relative, format=fmt, sample_rate=None,
            channels=None, size=None, sha256=None, duration=_number(entry.get("duration")),
            mtime_ns=None,
        )  # fmt: skip
    sha256 = None
    if final:  # a file still being written changes under the hash
        sha256 = known.get((relative, stat.st_size, stat.st_mtime_ns)) or _sha256(path)
    duration = _number(entry.get("duration"))
    rate, channels = _int(entry.get("sample_rate")), _int(entry.get("channel_count"))
    if wav is not None:
        rate, channels = wav
        duration = round(max(0, stat.st_size - _WAV_HEADER.size) // (2 * channels) / rate, 3)
    return IndexedFile(
        stream_index=index,
        label=label,
        path=relative,
        format=fmt,
        sample_rate=rate,
        channels=channels,
        size=stat.st_size,
        sha256=sha256,
        duration=duration,
        mtime_ns=stat.st_mtime_ns,
    )


def _participants(session: dict[str, Any], facts: dict[str, Any]) -> list[dict[str, Any]]:
    rows = _list_of_dicts(facts.get("participants")) or _list_of_dicts(session.get("participants"))
    return [
        {
            "id": _text(row.get("id")),
            "aor": _text(row.get("aor")),
            "name": _text(row.get("name")),
            "e164": _text(row.get("e164")),
            "role": _text(row.get("role")),
        }
        for row in rows
    ]


def _correlation(call_id: str, facts: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: dict[tuple[str, str], None] = {}
    if call_id:
        pairs["call_id", call_id] = None
    for key in CORRELATION_KEYS:
        value = facts.get(key)
        for item in value if isinstance(value, list) else [value]:
            text = _text(item)
            if text is not None and len(text) <= _MAX_VALUE:
                pairs[key, text] = None
    return list(pairs)


def _status(
    document: dict[str, Any], files: list[IndexedFile], streams: list[dict[str, Any]], stale: bool
) -> tuple[str, str | None]:
    """Catalog status and reason from the document's ``state`` and the files found."""
    state = document.get("state")
    session = _dict(document.get("session"))
    if state == "recording":
        if not stale:
            return "recording", None
        return "interrupted", "the appliance stopped while recording"
    if state == "interrupted":
        recovered = _dict(document.get("recovered"))
        count = len(_list_of_dicts(recovered.get("files")))
        status = "interrupted"
        reason: str | None = f"recovered after a crash ({count} files repaired)"
    elif state == "completed":
        status = "complete"
        reason = _text(document.get("end_reason")) or _text(session.get("end_reason"))
    else:
        return "failed", f"unknown recording state {state!r}"
    missing = [Path(f.path).name for f in files if f.size is None]
    if missing:
        return "failed", f"missing audio files: {', '.join(missing)}"
    if document.get("recorded") is False:  # the policy said no: no audio, by design
        return status, "not recorded: the recording policy said no"
    if not files:
        why = "no audio written (no stream with a decodable codec)" if streams else "no streams"
        return "failed", why
    return status, reason


def read_recording(
    directory: Path, data_dir: Path, *, known: Fingerprints | None = None, stale: bool = False
) -> IndexedRecording:
    """Read ``directory/session.json`` and stat/hash its files (blocking).

    ``stale``: the appliance has restarted, so ``state: recording`` means interrupted.
    An unreadable ``session.json`` becomes a ``failed`` recording named by the directory.
    """
    relative_dir = directory.relative_to(data_dir).as_posix()
    try:
        loaded = json.loads((directory / SESSION_FILE).read_text(encoding="utf-8"))
        document = _dict(loaded)
        problem = None if document else "session.json is not a JSON object"
    except (OSError, ValueError) as exc:
        document, problem = {}, f"unreadable session.json: {exc}"
    session = _dict(document.get("session"))
    facts = _dict(session.get("facts"))
    streams = _list_of_dicts(document.get("streams"))
    final = document.get("state") != "recording" or stale
    entries = [entry for entry in [_combined_entry(document)] if entry is not None] + streams
    files = [
        indexed
        for entry in entries
        if (indexed := _index_file(entry, directory, data_dir, known or {}, final)) is not None
    ]
    status, reason = _status(document, files, streams, stale)
    if problem is not None:
        status, reason = "failed", problem
    started_at = _number(session.get("started_at"))
    ended_at = _number(session.get("ended_at"))
    longest = max((f.duration or 0.0 for f in files), default=None)
    if ended_at is None and started_at is not None and status != "recording" and longest:
        ended_at = started_at + longest
    duration = ended_at - started_at if started_at is not None and ended_at is not None else None
    call_id = _text(session.get("call_id")) or ""
    details: dict[str, Any] = {
        key: session.get(key)
        for key in ("src_address", "transport", "is_siprec", "warnings", "metadata_problems")
        if key in session
    }
    if "recovered" in document:
        details["recovered"] = document["recovered"]
    if "end_reason" in document:
        details["end_reason"] = document["end_reason"]
    for key in ("decision", "recorded"):  # the policy's decision (rules) and its effect
        if document.get(key) is not None:
            details[key] = document[key]
    return IndexedRecording(
        id=_text(document.get("session_id")) or directory.name,
        call_id=call_id,
        started_at=started_at,
        ended_at=ended_at,
        duration=None if duration is None else round(max(0.0, duration), 3),
        status=status,
        reason=reason,
        vendor=_text(facts.get("vendor")),
        participants=_participants(session, facts),
        facts=facts,
        streams=streams,
        details=details,
        directory=relative_dir,
        files=files,
        correlation=_correlation(call_id, facts),
    )
