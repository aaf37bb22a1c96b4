"""Metadata over time (RFC 7865 §6.1): snapshots, partial updates, problems, and the
snapshot request body (RFC 7866 §9.3)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from siprec_appliance.errors import MetadataError
from siprec_appliance.metadata import (
    SNAPSHOT_REQUEST_TYPE,
    MetadataState,
    RecordingMetadata,
    parse_metadata,
    resolve_participants,
    snapshot_request_body,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "metadata"
SEQUENCES = DATA / "sequences"
RFC = "urn:ietf:params:xml:ns:recording:1"
SCALE = int(os.environ.get("SIPREC_FUZZ_SCALE", "1"))


def feed(state: MetadataState, name: str, at: float, method: str = "UPDATE") -> list[str]:
    raw = (SEQUENCES / name).read_bytes()
    return state.apply(parse_metadata(raw), received_at=at, raw=raw, method=method)


def test_first_complete_snapshot() -> None:
    state = MetadataState()
    assert state.snapshot is None and state.history == () and state.problems() == []
    notes = feed(state, "1_complete.xml", 1.0, "INVITE")
    assert notes == [
        "session cs1 started",
        "participant p1 joined",
        "participant p2 joined",
        "stream s1 added",
        "stream s2 added",
    ]
    assert state.snapshot is not None and [p.id for p in state.snapshot.participants] == [
        "p1",
        "p2",
    ]
    assert state.problems() == []


def test_join_transfer_and_stream_added() -> None:
    state = MetadataState()
    feed(state, "1_complete.xml", 1.0, "INVITE")
    assert feed(state, "2_join.xml", 2.0) == ["participant p3 joined", "stream s3 added"]
    assert feed(state, "3_transfer.xml", 3.0, "INVITE") == [
        "participant p4 joined",
        "participant p2 left at 2024-01-01T10:10:00Z",
        "participant p2 streams ended at 2024-01-01T10:10:00Z",
    ]
    assert feed(state, "4_stream_added.xml", 4.0) == [
        "stream s4 added",
        "participant p1 now sends s1, s4 and receives s2",
    ]
    snapshot = state.snapshot
    assert snapshot is not None and snapshot.data_mode == "complete"
    assert [p.id for p in snapshot.participants] == ["p1", "p2", "p3", "p4"]
    assert [s.id for s in snapshot.streams] == ["s1", "s2", "s3", "s4"]
    left = {(a.participant_id, a.disassociate_time) for a in snapshot.participant_session_assocs}
    assert ("p2", "2024-01-01T10:10:00Z") in left
    media = {a.participant_id: a for a in snapshot.participant_stream_assocs}
    assert media["p2"].send == ("s2",)  # a closing association keeps the record
    assert media["p1"].send == ("s1", "s4")
    assert state.problems() == []
    # Who is on which m= line now: p2 has left, p4 sends on s2.
    placed = {
        p.participant_id: p.send for p in resolve_participants(snapshot, ["1", "2", "3", "4"])
    }
    assert placed == {"p1": (0, 3), "p2": (), "p3": (2,), "p4": (1,)}


def test_history_keeps_every_version() -> None:
    state = MetadataState()
    feed(state, "1_complete.xml", 1.0, "INVITE")
    feed(state, "2_join.xml", 2.5, "UPDATE")
    first, second = state.history
    assert (first.received_at, first.data_mode, first.method) == (1.0, "complete", "INVITE")
    assert (second.received_at, second.data_mode, second.method) == (2.5, "partial", "UPDATE")
    assert second.raw == (SEQUENCES / "2_join.xml").read_bytes()
    assert second.changes == ("participant p3 joined", "stream s3 added")
    assert second.update.is_partial


def test_history_can_be_capped() -> None:
    state = MetadataState(max_versions=2)
    for at, name in enumerate(["1_complete.xml", "2_join.xml", "4_stream_added.xml"]):
        feed(state, name, float(at))
    assert [v.received_at for v in state.history] == [1.0, 2.0]


def test_rfc_hold_partial_update() -> None:
    state = MetadataState()
    raw = (DATA / "rfc7865_complete.xml").read_bytes()
    state.apply(parse_metadata(raw), received_at=0.0, raw=raw, method="INVITE")
    hold = (DATA / "rfc7865_partial_hold.xml").read_bytes()
    notes = state.apply(parse_metadata(hold), received_at=1.0, raw=hold, method="INVITE")
    assert notes == [
        "participant srfBElmCRp2QB23b7Mpk0w== now sends nothing and receives "
        "8zc6e0lYTlWIINA6GR+3ag==, EiXGlc+4TruqqoDaNE76ag==",
        "participant zSfPoSvdSDCmU3A3TRDxAw== now sends "
        "8zc6e0lYTlWIINA6GR+3ag==, EiXGlc+4TruqqoDaNE76ag== and receives nothing",
    ]
    assert state.snapshot is not None
    placed = resolve_participants(state.snapshot, ["96", "97", "98", "99"])
    assert [(p.send, p.recv) for p in placed] == [((), (2, 3)), ((2, 3), ())]


def test_complete_snapshot_replaces_and_notes_who_left() -> None:
    state = MetadataState()
    feed(state, "1_complete.xml", 1.0)
    body = (
        b'<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode>'
        b'<session session_id="cs1"/><participant participant_id="p1"/>'
        b'<stream stream_id="s1" session_id="cs1"><label>9</label></stream></recording>'
    )
    notes = state.apply(parse_metadata(body), received_at=2.0, raw=body, method="INVITE")
    assert notes == ["participant p2 left", "stream s1 label 1 -> 9", "stream s2 removed"]
    assert state.snapshot is not None and len(state.snapshot.participants) == 1


def test_resent_snapshot_changes_nothing() -> None:
    # OpenSIPS resends the full snapshot on hold (shared/INTEROP.md).
    state = MetadataState()
    raw = (DATA / "opensips.xml").read_bytes()
    assert state.apply(parse_metadata(raw), received_at=0.0, raw=raw, method="INVITE")
    assert state.apply(parse_metadata(raw), received_at=9.0, raw=raw, method="INVITE") == []
    assert len(state.history) == 2 and state.problems() == []


def test_partial_before_any_snapshot_is_a_problem_until_a_complete_one() -> None:
    state = MetadataState()
    notes = feed(state, "2_join.xml", 1.0)
    assert notes[0] == "partial update before any complete snapshot"
    assert state.snapshot is not None and state.snapshot.data_mode == "partial"
    assert state.problems() == [
        "partial update before any complete snapshot",
        "stream s3 references unknown session cs1",
        "participantsessionassoc references unknown session cs1",
        "participantstreamassoc of p3 references unknown stream s1",
        "participantstreamassoc of p3 references unknown stream s2",
    ]
    feed(state, "1_complete.xml", 2.0)
    assert state.problems() == []


def test_consistency_problems() -> None:
    body = (
        b"<recording><datamode>complete</datamode>"
        b'<session session_id="c1"><group-ref>g9</group-ref></session>'
        b'<participant participant_id="p1"/><participant participant_id="p1"/>'
        b'<stream stream_id="s1" session_id="c9"/>'
        b'<sessionrecordingassoc session_id="c8"/>'
        b'<participantsessionassoc participant_id="p7" session_id="c1"/>'
        b'<participantstreamassoc participant_id="p8"><send>s1 s5</send></participantstreamassoc>'
        b"</recording>"
    )
    state = MetadataState()
    state.apply(parse_metadata(body), received_at=0.0, raw=body, method="INVITE")
    assert state.problems() == [
        "duplicate participant id p1",
        "session c1 references unknown group g9",
        "stream s1 references unknown session c9",
        "sessionrecordingassoc references unknown session c8",
        "participantsessionassoc references unknown participant p7",
        "participantstreamassoc references unknown participant p8",
        "participantstreamassoc of p8 references unknown stream s5",
    ]


def test_duplicates_in_a_partial_update_stay_a_problem() -> None:
    state = MetadataState()
    feed(state, "1_complete.xml", 1.0)
    body = (
        b"<recording><datamode>partial</datamode>"
        b'<stream stream_id="s1"/><stream stream_id="s1"/></recording>'
    )
    state.apply(parse_metadata(body), received_at=2.0, raw=body, method="UPDATE")
    assert state.problems() == ["duplicate stream id s1"]


def test_snapshot_request_body() -> None:
    assert SNAPSHOT_REQUEST_TYPE == "application/rs-metadata-request"
    body = snapshot_request_body("SRS lost track: <partial> & \x00stuff")
    root = etree.fromstring(body)
    assert root.tag == f"{{{RFC}}}requestsnapshot"
    (reason,) = root
    assert reason.tag == f"{{{RFC}}}reason"
    assert reason.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert reason.text == "SRS lost track: <partial> & stuff"
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


# --- never raises ----------------------------------------------------------------------------

IDS = st.sampled_from(["a", "b", "c", "d", ""])
TIME = st.sampled_from(["", "2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"])


TEMPLATES = {
    "group": '<group group_id="{i}"><associate-time>{t}</associate-time></group>',
    "session": '<session session_id="{i}"><group-ref>{j}</group-ref>'
    "<stop-time>{t}</stop-time></session>",
    "participant": '<participant participant_id="{i}"><nameID aor="sip:{j}@x"/></participant>',
    "stream": '<stream stream_id="{i}" session_id="{j}"><label>{j}</label></stream>',
    "psa": '<participantsessionassoc participant_id="{i}" session_id="{j}">'
    "<disassociate-time>{t}</disassociate-time></participantsessionassoc>",
    "pst": '<participantstreamassoc participant_id="{i}"><send>{j}</send><recv>{i} {j}</recv>'
    "<disassociate-time>{t}</disassociate-time></participantstreamassoc>",
    "sra": '<sessionrecordingassoc session_id="{i}">'
    "<disassociate-time>{t}</disassociate-time></sessionrecordingassoc>",
}


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    parts = [
        f"<datamode>{draw(st.sampled_from(['complete', 'partial', 'PARTIAL', 'x']))}</datamode>"
    ]
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(
            st.sampled_from(["group", "session", "participant", "stream", "psa", "pst", "sra"])
        )
        parts.append(TEMPLATES[kind].format(i=draw(IDS), j=draw(IDS), t=draw(TIME)))
    return f'<recording xmlns="{RFC}">{"".join(parts)}</recording>'.encode()


@settings(max_examples=200 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(documents(), st.binary(max_size=64)), max_size=8),
    st.lists(st.one_of(st.none(), IDS), max_size=5),
)
def test_any_sequence_of_documents_never_raises(
    bodies: list[bytes], labels: list[str | None]
) -> None:
    state = MetadataState()
    for at, body in enumerate(bodies):
        try:
            update = parse_metadata(body)
        except MetadataError:
            continue
        notes = state.apply(update, received_at=float(at), raw=body, method="UPDATE")
        assert all(isinstance(n, str) for n in notes)
        assert isinstance(state.snapshot, RecordingMetadata)
        state.problems()
        placed = resolve_participants(state.snapshot, labels)
        for p in placed:
            assert all(0 <= i < max(len(labels), 1) for i in (*p.send, *p.recv))
    assert len(state.history) <= len(bodies)
