"""Hand-written recording directories (``session.json`` + WAVs) for catalog tests."""

from __future__ import annotations

import hashlib
import json
import random
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_wav(path: Path, seconds: float, *, seed: int = 0, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of noise; returns the file's bytes."""
    noise = random.Random(seed)
    frames = bytes(noise.getrandbits(8) for _ in range(int(seconds * rate) * 2))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path.read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def participant(aor: str, *, name: str | None = None, e164: str | None = None) -> dict[str, Any]:
    return {"id": aor, "aor": aor, "name": name, "e164": e164, "role": "other"}


def write_recording(
    data_dir: Path,
    session_id: str,
    *,
    day: str = "2024-05-01",
    state: str = "completed",
    call_id: str | None = None,
    started_at: float = 1_714_557_600.0,  # 2024-05-01T10:00:00Z
    seconds: float = 0.5,
    participants: Sequence[dict[str, Any]] = (),
    facts: dict[str, Any] | None = None,
    labels: Sequence[str] = ("1", "2"),
    write_files: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """``{data_dir}/recordings/{day}/{session_id}`` with session.json and one WAV a label."""
    directory = data_dir / "recordings" / day / session_id
    directory.mkdir(parents=True, exist_ok=True)
    streams = []
    for index, label in enumerate(labels):
        name = f"stream-{index}-{label}.wav"
        if write_files:
            write_wav(directory / name, seconds, seed=hash((session_id, index)) & 0xFFFF)
        streams.append(
            {
                "index": index,
                "label": label,
                "file": name,
                "duration": seconds,
                "received": 25,
                "lost": 0,
                "mos": 4.4,
                "dtmf": [{"digit": "5", "at": 0.1}] if index == 0 else [],
            }
        )
    all_facts = {
        "vendor": "generic",
        "call_id": call_id or f"{session_id}@src",
        "participants": list(participants),
        **(facts or {}),
    }
    document: dict[str, Any] = {
        "session_id": session_id,
        "state": state,
        "session": {
            "id": session_id,
            "call_id": call_id or f"{session_id}@src",
            "started_at": started_at,
            "ended_at": None if state != "completed" else started_at + seconds,
            "end_reason": "BYE from the SRC" if state == "completed" else None,
            "participants": [
                {"id": p["id"], "aor": p["aor"], "name": p["name"]} for p in participants
            ],
            "facts": all_facts,
            "src_address": "192.0.2.1:5060",
            "transport": "udp",
        },
        "streams": streams,
        **(extra or {}),
    }
    if state == "completed":
        document["end_reason"] = "BYE from the SRC"
    (directory / "session.json").write_text(json.dumps(document, indent=2))
    return directory
