"""Recording metadata through the SRS core (RFC 7866 §9, RFC 7865 §6.1), clock passed in."""

from __future__ import annotations

from siprec_appliance.sip.message import Request, Response
from siprec_appliance.siprec.srs import SrsCore
from support.src import BOUNDARY, Src, accept_all, make_core, multipart, sdp, statuses

NS = "urn:ietf:params:xml:ns:recording:1"

SNAPSHOT = f"""<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="{NS}">
  <datamode>complete</datamode>
  <session session_id="cs1"><sipSessionID>abc</sipSessionID></session>
  <participant participant_id="p1"><nameID aor="sip:+14155550100@example.com">
    <name>Alice</name></nameID></participant>
  <participant participant_id="p2"><nameID aor="sip:2001@pbx.example.com"/></participant>
  <stream stream_id="s1" session_id="cs1"><label>1</label></stream>
  <stream stream_id="s2" session_id="cs1"><label>2</label></stream>
  <participantstreamassoc participant_id="p1"><send>s1</send><recv>s2</recv>
  </participantstreamassoc>
  <participantstreamassoc participant_id="p2"><send>s2</send><recv>s1</recv>
  </participantstreamassoc>
</recording>
""".encode()

JOIN = f"""<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="{NS}">
  <datamode>partial</datamode>
  <participant participant_id="p3"><nameID aor="sip:supervisor@pbx.example.com"/></participant>
  <participantsessionassoc participant_id="p3" session_id="cs1">
    <associate-time>2026-11-23T08:00:10Z</associate-time></participantsessionassoc>
</recording>
""".encode()

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>&lol3;</datamode></recording>
"""

MULTIPART = f"multipart/mixed;boundary={BOUNDARY}"


def start(core: SrsCore, metadata: bytes | None = SNAPSHOT) -> tuple[Src, str]:
    src = Src(core)
    body = sdp() if metadata is None else multipart(sdp(), metadata)
    assert statuses(src.send(src.invite(body), 0.0)) == [100]
    accept_all(core, 0.0)
    assert statuses(src.drain()) == [200]
    src.ack(0.1)
    return src, next(iter(core.sessions))


def update(src: Src, metadata: bytes, now: float) -> list[Request | Response]:
    return src.send(
        src.request("UPDATE", body=metadata, content_type="application/rs-metadata+xml"),
        now,
    )


def test_invite_metadata_gives_participants_on_their_streams_and_facts() -> None:
    core = make_core()
    _, sid = start(core)
    view = core.snapshot(sid)
    assert view is not None
    assert [(p.aor, p.sends, p.receives) for p in view.participants] == [
        ("sip:+14155550100@example.com", (0,), (1,)),
        ("sip:2001@pbx.example.com", (1,), (0,)),
    ]
    assert view.participants[0].name == "Alice"
    assert view.facts["caller.aor"] == "sip:+14155550100@example.com"
    assert view.facts["call_id"] == "call-1@src"
    assert view.metadata_versions == 1
    assert view.metadata_problems == ()


def test_unparsable_metadata_is_recorded_with_a_warning() -> None:
    core = make_core()
    _, sid = start(core, b"<recording><participant></recording>")
    view = core.snapshot(sid)
    assert view is not None and view.state == "active"
    assert any("unusable metadata in INVITE" in w for w in view.warnings)
    assert view.metadata_versions == 0


def test_unparsable_metadata_gets_400_when_configured() -> None:
    core = make_core(reject_unparsable_metadata=True)
    src = Src(core)
    out = src.send(src.invite(multipart(sdp(), b"<recording>")), 0.0)
    assert statuses(out) == [400]
    assert isinstance(out[0], Response)
    assert out[0].reason.startswith("Unusable recording metadata: ")
    assert core.sessions == {}


def test_hostile_xml_is_never_expanded_and_the_call_is_still_recorded() -> None:
    core = make_core()
    _, sid = start(core, BILLION_LAUGHS)
    view = core.snapshot(sid)
    assert view is not None
    assert any("DTDs and entity declarations are not allowed" in w for w in view.warnings)
    strict = make_core(reject_unparsable_metadata=True)
    src = Src(strict)
    out = src.send(src.invite(multipart(sdp(), BILLION_LAUGHS)), 0.0)
    assert statuses(out) == [400]


def test_partial_update_adds_a_participant_and_keeps_history() -> None:
    core = make_core()
    src, sid = start(core)
    assert statuses(update(src, JOIN, 5.0)) == [200]
    view = core.snapshot(sid)
    assert view is not None
    assert [p.aor for p in view.participants][-1] == "sip:supervisor@pbx.example.com"
    assert view.metadata_versions == 2
    session = core.sessions[sid]
    assert [v.data_mode for v in session.metadata.history] == ["complete", "partial"]
    assert session.metadata.history[1].raw == JOIN


def test_full_snapshot_in_reinvite_replaces_the_old_one() -> None:
    core = make_core()
    src, sid = start(core)
    p2 = b'<participant participant_id="p2"><nameID aor="sip:2001@pbx.example.com"/></participant>'
    p2_streams = SNAPSHOT[
        SNAPSHOT.rindex(b"<participantstreamassoc") : SNAPSHOT.rindex(b"</recording>")
    ]
    fewer = SNAPSHOT.replace(p2, b"").replace(p2_streams, b"")
    out = src.send(
        src.request("INVITE", body=multipart(sdp("inactive"), fewer), content_type=MULTIPART),
        5.0,
    )
    assert statuses(out) == [200]
    view = core.snapshot(sid)
    assert view is not None
    assert [p.aor for p in view.participants] == ["sip:+14155550100@example.com"]


def test_inconsistent_metadata_triggers_one_snapshot_request() -> None:
    core = make_core()
    src, sid = start(core, metadata=None)  # no snapshot yet: a partial update is inconsistent
    out = update(src, JOIN, 5.0)
    assert statuses(out) == [200]
    requests = [m for m in out if isinstance(m, Request)]
    assert [r.method for r in requests] == ["UPDATE"]
    assert requests[0].content_type == "application/rs-metadata-request"
    assert requests[0].headers.get("Content-Disposition") == "recording-session"
    assert b"requestsnapshot" in requests[0].body
    assert requests[0].to_tag == "srctag"  # in the dialog: To is the SRC
    # A second inconsistent update within the interval asks again only after 30 s.
    again = update(src, JOIN, 10.0)
    assert [m for m in again if isinstance(m, Request)] == []
    later = update(src, JOIN, 40.0)
    assert [m.method for m in later if isinstance(m, Request)] == ["UPDATE"]
    assert core.sessions[sid].metadata.problems()


def test_snapshot_requests_can_be_turned_off() -> None:
    core = make_core(request_metadata_snapshots=False)
    src, _ = start(core, metadata=None)
    out = update(src, JOIN, 5.0)
    assert [m for m in out if isinstance(m, Request)] == []
