"""Participants resolved to SDP m= line indexes (RFC 7866 §8 labels, RFC 7865 §6.8)."""

from __future__ import annotations

from pathlib import Path

from siprec_appliance.metadata import (
    ParticipantStreams,
    RecordingMetadata,
    parse_metadata,
    resolve_participants,
    stream_indexes,
)
from siprec_appliance.sdp.model import SessionDescription

DATA = Path(__file__).resolve().parent.parent / "data"


def load(name: str) -> RecordingMetadata:
    return parse_metadata((DATA / "metadata" / name).read_bytes())


def labels_of(sdp_name: str) -> list[str | None]:
    sdp = SessionDescription.parse((DATA / "sdp" / sdp_name).read_bytes())
    return [media.label for media in sdp.media]


def placed(
    md: RecordingMetadata, labels: list[str | None]
) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    return [(p.participant_id, p.send, p.recv) for p in resolve_participants(md, labels)]


TWO_PARTY = (
    b'<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode>'
    b'<participant participant_id="pa"><nameID aor="sip:a@x"><name>A</name></nameID></participant>'
    b'<participant participant_id="pb"><nameID aor="sip:b@x"/></participant>'
    b'<participant participant_id="pc"/>'
    b'<stream stream_id="sa"><label>10</label></stream>'
    b'<stream stream_id="sb"><label>20</label></stream>'
    b'<participantstreamassoc participant_id="pa"><send>sa</send><recv>sb</recv>'
    b"</participantstreamassoc>"
    b'<participantstreamassoc participant_id="pb"><send>sb</send><recv>sa</recv>'
    b"</participantstreamassoc>"
    b"</recording>"
)


def test_two_labelled_streams() -> None:
    md = parse_metadata(TWO_PARTY)
    result = resolve_participants(md, ["10", "20"])
    assert result[0] == ParticipantStreams(
        participant_id="pa", aor="sip:a@x", display_name="A", send=(0,), recv=(1,)
    )
    assert placed(md, ["10", "20"])[1:] == [("pb", (1,), (0,)), ("pc", (), ())]
    # the SDP lists the m= lines the other way round: labels, not order, decide
    assert placed(md, ["20", "10"])[:2] == [("pa", (1,), (0,)), ("pb", (0,), (1,))]


def test_opensips_labels_one_then_zero() -> None:
    md = load("opensips.xml")
    labels = labels_of("opensips_rtpengine.sdp")
    assert labels == ["1", "0"]
    alice, bob = resolve_participants(md, labels)
    assert (alice.display_name, alice.send, alice.recv) == ("Alice", (0,), (1,))
    assert (bob.display_name, bob.send, bob.recv) == ("Bob", (1,), (0,))


def test_missing_labels_fall_back_to_metadata_order() -> None:
    md = load("opensips.xml")
    # no a=label at all: the n-th metadata stream is the n-th m= line
    assert placed(md, [None, None]) == [
        ("Q2F0aGVyaW5lQGV4YW1wbGUuY29t", (0,), (1,)),
        ("Qm9iQGV4YW1wbGUuY29t", (1,), (0,)),
    ]
    # labels that match nothing are treated the same way
    assert placed(md, ["x", "y"]) == placed(md, [None, None])


def test_one_label_matches_and_the_rest_fill_in_order() -> None:
    md = parse_metadata(TWO_PARTY)
    assert stream_indexes(md.streams, [None, "10", None]) == {"sa": 1, "sb": 0}


def test_mixed_single_m_line_without_associations() -> None:
    labels = labels_of("metaswitch_mixed.sdp")
    assert labels == ["mixed"]
    md = parse_metadata(
        b"<recording><datamode>complete</datamode>"
        b'<participant participant_id="caller"><nameID aor="sip:1@x"/></participant>'
        b'<participant participant_id="callee"><nameID aor="sip:2@x"/></participant>'
        b"</recording>"
    )
    assert placed(md, labels) == [("caller", (0,), ()), ("callee", (0,), ())]


def test_mixed_single_m_line_with_per_party_streams() -> None:
    # the metadata describes one stream per party, the SDP carries one mix
    md = parse_metadata(TWO_PARTY)
    assert placed(md, ["mixed"]) == [("pa", (0,), (0,)), ("pb", (0,), (0,)), ("pc", (), ())]


def test_single_m_line_respects_explicit_associations() -> None:
    # Avaya SBCE: one m= line per recording session, associated with one participant
    md = load("avaya_sbce.xml")
    labels = labels_of("avaya_single_mono.sdp")
    assert labels == ["1001"]
    assert placed(md, labels) == [("YXZheWFQYXJ0MQ==", (0,), ()), ("YXZheWFQYXJ0Mg==", (), ())]


def test_rfc_example_audio_and_video() -> None:
    md = load("rfc7865_complete.xml")
    alice, bob = resolve_participants(md, ["96", "97", "98", "99"])
    assert (alice.aor, alice.send, alice.recv) == ("sip:alice@atlanta.com", (0, 1), (2, 3))
    assert (bob.aor, bob.send, bob.recv) == ("sip:bob@biloxy.com", (2, 3), (0, 1))


def test_participants_without_associations_and_ended_associations() -> None:
    md = load("ribbon_tns.xml")
    assert placed(md, ["1", "2"]) == [
        ("0e5c0b1300000002", (0,), (1,)),
        ("0e5c0b1300000003", (1,), (0,)),
    ]
    ended = parse_metadata(
        b'<recording><participant participant_id="p"/><stream stream_id="s"><label>1</label>'
        b'</stream><participantstreamassoc participant_id="p"><send>s</send>'
        b"<disassociate-time>2024-01-01T00:00:00Z</disassociate-time>"
        b"</participantstreamassoc></recording>"
    )
    assert placed(ended, ["1", "2"]) == [("p", (), ())]


def test_association_without_participant_element_still_appears() -> None:
    md = parse_metadata(
        b'<recording><stream stream_id="s"><label>1</label></stream>'
        b'<participantstreamassoc participant_id="ghost"><send>s</send></participantstreamassoc>'
        b"</recording>"
    )
    (ghost,) = resolve_participants(md, ["1"])
    assert (ghost.participant_id, ghost.aor, ghost.send) == ("ghost", None, (0,))


def test_more_streams_than_m_lines() -> None:
    md = load("rfc7865_complete.xml")
    assert stream_indexes(md.streams, [None, None]) == {
        "UAAMm5GRQKSCMVvLyl4rFw==": 0,
        "i1Pz3to5hGk8fuXl+PbwCw==": 1,
    }
    assert resolve_participants(md, [])[0].send == ()
