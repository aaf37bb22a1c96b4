"""Who is on which m= line: metadata streams resolved to SDP media indexes (pure).

RFC 7866 §8 ties each metadata ``stream`` to an SDP media description through its
``label`` (the m= line's ``a=label``, RFC 4574); RFC 7865 §6.8 says which streams
each participant sends and receives. Real SRCs bend this in three ways, handled here:

1. Labels missing or not matching any ``a=label``: the streams still unmatched are
   paired with the still unmatched m= lines in order (the n-th remaining stream in
   the metadata is the n-th remaining m= line). OpenSIPS, for one, lists its streams
   in the same order as its m= lines (labels ``1`` then ``0``).
2. One mixed m= line (Metaswitch, FreeSWITCH): every stream that matches no label
   is in the mix, index 0; and when no participant resolves to any stream at all,
   every participant is taken to send into index 0.
3. Associations that have ended (a disassociate-time) no longer place a participant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from siprec_appliance.metadata.model import RecordingMetadata, Stream


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantStreams:
    """One participant and the m= line indexes (0-based) it sends and receives."""

    participant_id: str
    aor: str | None
    display_name: str | None
    send: tuple[int, ...] = ()
    recv: tuple[int, ...] = ()


def stream_indexes(streams: Sequence[Stream], labels: Sequence[str | None]) -> dict[str, int]:
    """Metadata stream id -> m= line index, by label first, then by order."""
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        if label is not None and label.strip():
            by_label.setdefault(label.strip(), []).append(index)
    found: dict[str, int] = {}
    unmatched: list[Stream] = []
    for stream in streams:
        if stream.id in found:
            continue
        free = by_label.get((stream.label or "").strip())
        if free:
            found[stream.id] = free.pop(0)
        else:
            unmatched.append(stream)
    if len(labels) == 1:  # one mixed m= line: every other stream is in the mix
        found.update((stream.id, 0) for stream in unmatched)
        return found
    taken = set(found.values())
    spare = (index for index in range(len(labels)) if index not in taken)
    for stream, index in zip(unmatched, spare, strict=False):
        found[stream.id] = index
    return found


def resolve_participants(
    metadata: RecordingMetadata, labels: Sequence[str | None]
) -> tuple[ParticipantStreams, ...]:
    """Each participant (document order) with the m= lines it sends and receives.

    ``labels`` holds the ``a=label`` value of each m= line in order (None when absent).
    Participants without a stream association appear with empty tuples.
    """
    indexes = stream_indexes(metadata.streams, labels)
    send: dict[str, set[int]] = {}
    recv: dict[str, set[int]] = {}
    for assoc in metadata.participant_stream_assocs:
        if assoc.disassociate_time:
            continue
        send.setdefault(assoc.participant_id, set()).update(
            indexes[s] for s in assoc.send if s in indexes
        )
        recv.setdefault(assoc.participant_id, set()).update(
            indexes[s] for s in assoc.recv if s in indexes
        )
    people: dict[str, tuple[str | None, str | None]] = {}
    for participant in metadata.participants:
        people.setdefault(participant.id, (participant.aor, participant.display_name))
    for assoc in metadata.participant_stream_assocs:
        people.setdefault(assoc.participant_id, (None, None))
    mixed = len(labels) == 1 and not any(send.values()) and not any(recv.values())
    return tuple(
        ParticipantStreams(
            participant_id=pid,
            aor=aor or None,
            display_name=name,
            send=(0,) if mixed else tuple(sorted(send.get(pid, ()))),
            recv=tuple(sorted(recv.get(pid, ()))),
        )
        for pid, (aor, name) in people.items()
    )
