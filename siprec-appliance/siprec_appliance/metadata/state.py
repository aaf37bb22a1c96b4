"""The recording's metadata over time: snapshots, partial updates, history (pure).

RFC 7865 §6.1: a ``complete`` document replaces what the SRS knows; a ``partial``
one carries only what changed, each element identified by its id (associations by
the ids they join). RFC 7866 §9: updates arrive in re-INVITE or UPDATE bodies, and
an SRS that has lost track asks for a full snapshot (§9.3, ``requestsnapshot``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from lxml import etree

from siprec_appliance.metadata.model import (
    CommunicationSession,
    Extension,
    Group,
    Participant,
    ParticipantSessionAssoc,
    ParticipantStreamAssoc,
    RecordingMetadata,
    SessionRecordingAssoc,
    Stream,
)

SNAPSHOT_REQUEST_TYPE = "application/rs-metadata-request"  # RFC 7866 §9.3
RECORDING_NAMESPACE = "urn:ietf:params:xml:ns:recording:1"  # RFC 7865 §11.1
PARTIAL_FIRST = "partial update before any complete snapshot"
_REQUEST_TEMPLATE = (
    f'<requestsnapshot xmlns="{RECORDING_NAMESPACE}"><reason xml:lang="en"/></requestsnapshot>'
).encode()
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Item = TypeVar("Item", Group, CommunicationSession, Participant, Stream)
Timed = TypeVar("Timed", SessionRecordingAssoc, ParticipantSessionAssoc)


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataVersion:
    """One metadata body as received, with the changes it made."""

    received_at: float
    data_mode: str
    method: str  # INVITE, UPDATE, ...
    raw: bytes
    changes: tuple[str, ...]
    update: RecordingMetadata


def snapshot_request_body(reason: str) -> bytes:
    """The body of an ``application/rs-metadata-request`` (RFC 7866 §9.3).

    A ``requestsnapshot`` document in the recording namespace with the reason as
    human-readable text, e.g. ``<reason xml:lang="en">SRS internal error</reason>``.
    Send it in a re-INVITE or UPDATE with ``Content-Disposition: recording-session``.
    """
    root = etree.fromstring(_REQUEST_TEMPLATE)
    root[0].text = _NOT_XML.sub("", reason)  # keep text XML 1.0 can carry
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


class MetadataState:
    """What one recording session knows of its metadata, fed one body at a time.

    Pure: the caller passes the receive time. Never raises on parsed input; what
    does not add up is reported by ``problems()`` (then ask for a snapshot).
    """

    __slots__ = ("_complete_seen", "_history", "_max_versions", "_snapshot", "_sticky")

    def __init__(self, *, max_versions: int | None = None) -> None:
        self._snapshot: RecordingMetadata | None = None
        self._history: list[MetadataVersion] = []
        self._max_versions = max_versions  # None keeps every version
        self._sticky: list[str] = []  # problems only a complete snapshot clears
        self._complete_seen = False

    @property
    def snapshot(self) -> RecordingMetadata | None:
        """The merged view: the last complete snapshot plus later partial updates."""
        return self._snapshot

    @property
    def history(self) -> tuple[MetadataVersion, ...]:
        return tuple(self._history)

    def apply(
        self, update: RecordingMetadata, *, received_at: float, raw: bytes, method: str
    ) -> list[str]:
        """Take one parsed body (RFC 7865 §6.1); the human-readable changes it made."""
        before = _Index.of(self._snapshot)
        notes: list[str] = []
        if update.is_partial:
            after = _Index.of(self._snapshot)
            after.merge(update)
            if not self._complete_seen and PARTIAL_FIRST not in self._sticky:
                self._sticky.append(PARTIAL_FIRST)
                notes.append(PARTIAL_FIRST)
            self._sticky.extend(p for p in _duplicates(update) if p not in self._sticky)
            old = self._snapshot
            self._snapshot = after.to_metadata(
                data_mode="complete" if self._complete_seen else "partial",
                namespace=old.namespace if old else update.namespace,
                warnings=_unique((old.warnings if old else ()) + update.warnings),
            )
        else:
            after = _Index.of(update)
            self._snapshot = update
            self._sticky.clear()
            self._complete_seen = True
        notes.extend(_changes(before, after, complete=not update.is_partial))
        self._history.append(
            MetadataVersion(
                received_at=received_at,
                data_mode=update.data_mode,
                method=method,
                raw=raw,
                changes=tuple(notes),
                update=update,
            )
        )
        if self._max_versions is not None and len(self._history) > self._max_versions:
            del self._history[: len(self._history) - self._max_versions]
        return notes

    def problems(self) -> list[str]:
        """Consistency problems; non-empty means: request a snapshot (RFC 7866 §9.3)."""
        found = list(self._sticky)
        if self._snapshot is not None:
            found.extend(_duplicates(self._snapshot))
            found.extend(_dangling(self._snapshot))
        return list(_unique(found))


# --- merging (RFC 7865 §6.1) ----------------------------------------------------------


@dataclass(slots=True)
class _Index:
    """A snapshot keyed the way partial updates merge: by id, associations by ids."""

    groups: dict[str, Group] = field(default_factory=dict)
    sessions: dict[str, CommunicationSession] = field(default_factory=dict)
    participants: dict[str, Participant] = field(default_factory=dict)
    streams: dict[str, Stream] = field(default_factory=dict)
    recording: dict[str, SessionRecordingAssoc] = field(default_factory=dict)
    attendance: dict[tuple[str, str], ParticipantSessionAssoc] = field(default_factory=dict)
    media: dict[str, ParticipantStreamAssoc] = field(default_factory=dict)
    extensions: list[Extension] = field(default_factory=list)

    @classmethod
    def of(cls, metadata: RecordingMetadata | None) -> _Index:
        index = cls()
        if metadata is not None:
            index.merge(metadata)
        return index

    def merge(self, update: RecordingMetadata) -> None:
        """Same id replaces what the update gives and keeps the rest."""
        _merge_items(self.groups, update.groups, _merge_group)
        _merge_items(self.sessions, update.sessions, _merge_session)
        _merge_items(self.participants, update.participants, _merge_participant)
        _merge_items(self.streams, update.streams, _merge_stream)
        for a in update.session_recording_assocs:
            old_a = self.recording.get(a.session_id)
            self.recording[a.session_id] = a if old_a is None else _merge_times(old_a, a)
        for b in update.participant_session_assocs:
            key = (b.participant_id, b.session_id)
            old_b = self.attendance.get(key)
            self.attendance[key] = b if old_b is None else _merge_times(old_b, b)
        for c in update.participant_stream_assocs:
            old_c = self.media.get(c.participant_id)
            self.media[c.participant_id] = c if old_c is None else _merge_media(old_c, c)
        self.extensions.extend(e for e in update.extensions if e not in self.extensions)

    def to_metadata(
        self, *, data_mode: str, namespace: str | None, warnings: tuple[str, ...]
    ) -> RecordingMetadata:
        return RecordingMetadata(
            data_mode=data_mode,
            namespace=namespace,
            groups=tuple(self.groups.values()),
            sessions=tuple(self.sessions.values()),
            participants=tuple(self.participants.values()),
            streams=tuple(self.streams.values()),
            session_recording_assocs=tuple(self.recording.values()),
            participant_session_assocs=tuple(self.attendance.values()),
            participant_stream_assocs=tuple(self.media.values()),
            extensions=tuple(self.extensions),
            warnings=warnings,
        )


def _merge_items(
    into: dict[str, Item], items: Iterable[Item], merge: Callable[[Item, Item], Item]
) -> None:
    for item in items:
        old = into.get(item.id)
        into[item.id] = item if old is None else merge(old, item)


def _extend(old: tuple[Extension, ...], new: tuple[Extension, ...]) -> tuple[Extension, ...]:
    return old + tuple(e for e in new if e not in old)


def _merge_group(old: Group, new: Group) -> Group:
    return replace(
        old,
        associate_time=new.associate_time or old.associate_time,
        disassociate_time=new.disassociate_time or old.disassociate_time,
        extensions=_extend(old.extensions, new.extensions),
    )


def _merge_session(old: CommunicationSession, new: CommunicationSession) -> CommunicationSession:
    return replace(
        old,
        sip_session_ids=new.sip_session_ids or old.sip_session_ids,
        group_ref=new.group_ref or old.group_ref,
        start_time=new.start_time or old.start_time,
        stop_time=new.stop_time or old.stop_time,
        extensions=_extend(old.extensions, new.extensions),
    )


def _merge_participant(old: Participant, new: Participant) -> Participant:
    return replace(
        old,
        name_ids=new.name_ids or old.name_ids,
        extensions=_extend(old.extensions, new.extensions),
    )


def _merge_stream(old: Stream, new: Stream) -> Stream:
    return replace(
        old,
        session_id=new.session_id or old.session_id,
        label=new.label or old.label,
        extensions=_extend(old.extensions, new.extensions),
    )


def _merge_times(old: Timed, new: Timed) -> Timed:
    return replace(
        old,
        associate_time=new.associate_time or old.associate_time,
        disassociate_time=new.disassociate_time or old.disassociate_time,
    )


def _merge_media(
    old: ParticipantStreamAssoc, new: ParticipantStreamAssoc
) -> ParticipantStreamAssoc:
    # RFC 7865 §6.8 and the hold example of RFC 8068: the new send/recv lists are the
    # participant's whole media from now on, so they replace the old ones. A closing
    # association (disassociate-time and no streams) keeps the streams for the record.
    closing = not new.send and not new.recv and new.disassociate_time is not None
    return replace(
        old,
        send=old.send if closing else new.send,
        recv=old.recv if closing else new.recv,
        associate_time=new.associate_time or old.associate_time,
        disassociate_time=new.disassociate_time or old.disassociate_time,
    )


# --- change notes ---------------------------------------------------------------------


def _changes(before: _Index, after: _Index, *, complete: bool) -> list[str]:
    notes = [f"group {g} added" for g in after.groups if g not in before.groups]
    for sid, session in after.sessions.items():
        old = before.sessions.get(sid)
        if old is None:
            notes.append(f"session {sid} started")
        elif session.stop_time and session.stop_time != old.stop_time:
            notes.append(f"session {sid} stopped at {session.stop_time}")
    for sid, a in after.recording.items():
        if a.disassociate_time and a.disassociate_time != _left(before.recording.get(sid)):
            notes.append(f"session {sid} left the recording at {a.disassociate_time}")
    notes.extend(
        f"participant {p} joined" for p in after.participants if p not in before.participants
    )
    left = set()
    for (pid, sid), b in after.attendance.items():
        old_b = before.attendance.get((pid, sid))
        if b.disassociate_time and b.disassociate_time != _left(old_b):
            notes.append(f"participant {pid} left at {b.disassociate_time}")
            left.add(pid)
        elif old_b is None and pid in before.participants:
            notes.append(f"participant {pid} joined session {sid}")
    if complete:
        notes.extend(
            f"participant {p} left"
            for p in before.participants
            if p not in after.participants and p not in left
        )
    notes.extend(_stream_changes(before, after, complete=complete))
    return notes


def _stream_changes(before: _Index, after: _Index, *, complete: bool) -> list[str]:
    notes: list[str] = []
    for sid, stream in after.streams.items():
        old = before.streams.get(sid)
        if old is None:
            notes.append(f"stream {sid} added")
        elif stream.label != old.label:
            notes.append(f"stream {sid} label {old.label} -> {stream.label}")
    if complete:
        notes.extend(f"stream {s} removed" for s in before.streams if s not in after.streams)
    for pid, media in after.media.items():
        old_m = before.media.get(pid)
        if media.disassociate_time and media.disassociate_time != _left(old_m):
            notes.append(f"participant {pid} streams ended at {media.disassociate_time}")
        elif old_m is not None and (media.send, media.recv) != (old_m.send, old_m.recv):
            send, recv = ", ".join(media.send) or "nothing", ", ".join(media.recv) or "nothing"
            notes.append(f"participant {pid} now sends {send} and receives {recv}")
    return notes


def _left(
    assoc: SessionRecordingAssoc | ParticipantSessionAssoc | ParticipantStreamAssoc | None,
) -> str | None:
    return assoc.disassociate_time if assoc is not None else None


# --- consistency ----------------------------------------------------------------------


def _duplicates(metadata: RecordingMetadata) -> list[str]:
    problems: list[str] = []
    kinds: tuple[tuple[str, Iterable[Group | CommunicationSession | Participant | Stream]], ...]
    kinds = (
        ("group", metadata.groups),
        ("session", metadata.sessions),
        ("participant", metadata.participants),
        ("stream", metadata.streams),
    )
    for kind, items in kinds:
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                problems.append(f"duplicate {kind} id {item.id}")
            seen.add(item.id)
    return problems


def _dangling(metadata: RecordingMetadata) -> list[str]:
    groups = {g.id for g in metadata.groups}
    sessions = {s.id for s in metadata.sessions}
    participants = {p.id for p in metadata.participants}
    streams = {s.id for s in metadata.streams}
    found = [
        f"session {s.id} references unknown group {s.group_ref}"
        for s in metadata.sessions
        if s.group_ref and s.group_ref not in groups
    ]
    found.extend(
        f"stream {s.id} references unknown session {s.session_id}"
        for s in metadata.streams
        if s.session_id and s.session_id not in sessions
    )
    found.extend(
        f"sessionrecordingassoc references unknown session {a.session_id}"
        for a in metadata.session_recording_assocs
        if a.session_id not in sessions
    )
    for b in metadata.participant_session_assocs:
        if b.participant_id not in participants:
            found.append(
                f"participantsessionassoc references unknown participant {b.participant_id}"
            )
        if b.session_id not in sessions:
            found.append(f"participantsessionassoc references unknown session {b.session_id}")
    for c in metadata.participant_stream_assocs:
        if c.participant_id not in participants:
            found.append(
                f"participantstreamassoc references unknown participant {c.participant_id}"
            )
        found.extend(
            f"participantstreamassoc of {c.participant_id} references unknown stream {s}"
            for s in (*c.send, *c.recv)
            if s not in streams
        )
    return found


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
