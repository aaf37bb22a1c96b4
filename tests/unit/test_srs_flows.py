"""SRC-to-SRS flows in memory, with the clock passed in (RFC 3261, 6026, 4028, 7866)."""

from __future__ import annotations

from pathlib import Path

import pytest

from siprec_appliance.sdp.model import SessionDescription
from siprec_appliance.sip.message import Request, Response, parse_message
from siprec_appliance.sip.multipart import split_body
from siprec_appliance.sip.transport import Peer, Target
from siprec_appliance.siprec.events import (
    Event,
    MetadataReceived,
    SessionAnswered,
    SessionEnded,
    SessionEstablished,
    SessionOffered,
    StreamsChanged,
)
from siprec_appliance.siprec.model import SessionSnapshot
from siprec_appliance.siprec.ports import PortPool
from siprec_appliance.siprec.srs import SrsCore
from support.src import METADATA, Src, accept_all, make_core, multipart, response_to, sdp

DATA = Path(__file__).resolve().parent.parent / "data"
Msg = Request | Response
SDP = "application/sdp"
T1_SCHEDULE = [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]  # T1, 2T1, 4T1, then T2


# ------------------------------------------------------------------ helpers
def events(core: SrsCore) -> list[Event]:
    out: list[Event] = []
    while (event := core.next_event()) is not None:
        out.append(event)
    return out


def resp(messages: list[Msg], status: int | None = None) -> list[Response]:
    return [m for m in messages if isinstance(m, Response) and status in (None, m.status)]


def reqs(messages: list[Msg], method: str) -> list[Request]:
    return [m for m in messages if isinstance(m, Request) and m.method == method]


def one(messages: list[Msg]) -> Response:
    assert len(messages) == 1, messages
    assert isinstance(messages[0], Response)
    return messages[0]


def answer(response: Response) -> SessionDescription:
    assert response.headers.get("Content-Type") == "application/sdp"
    return SessionDescription.parse(response.body)


def snap(core: SrsCore, session_id: str) -> SessionSnapshot:
    snapshot = core.snapshot(session_id)
    assert snapshot is not None
    return snapshot


def pool(core: SrsCore) -> PortPool:
    assert isinstance(core.ports, PortPool)
    return core.ports


def offered(core: SrsCore) -> str:
    ids = [e.session_id for e in events(core) if isinstance(e, SessionOffered)]
    assert len(ids) == 1
    return ids[0]


def establish(src: Src, invite: bytes | None = None, now: float = 0.0) -> tuple[str, Response]:
    """INVITE, accept, ACK: returns the session id and the 200 OK."""
    assert [r.status for r in resp(src.send(src.invite() if invite is None else invite, now))] == [
        100
    ]
    sid = offered(src.core)
    assert src.core.accept(sid, now)
    ok = one(src.drain())
    assert ok.status == 200
    assert src.ack(now + 0.1) == []
    assert SessionEstablished(sid) in events(src.core)
    return sid, ok


def run_until(src: Src, end: float) -> list[tuple[float, Msg]]:
    """Fire every timer up to ``end`` at its own deadline; what was sent, and when."""
    out: list[tuple[float, Msg]] = []
    while (when := src.core.get_timer()) is not None and when <= end:
        out += [(when, m) for m in src.tick(when)]
    return out


def offer(*media: str, origin: str = "o=SRC 1 1 IN IP4 127.0.0.1") -> bytes:
    head = ["v=0", origin, "s=-", "c=IN IP4 127.0.0.1", "t=0 0"]
    return ("\r\n".join(head + list(media)) + "\r\n").encode()


def reinvite(
    src: Src, body: bytes | None, now: float, extra: list[tuple[str, str]] | None = None
) -> Response:
    ctype = (
        "multipart/mixed;boundary=OSS-unique-boundary-42"
        if body and body.startswith(b"--")
        else None
    )
    out = src.send(src.request("INVITE", body=body or b"", content_type=ctype, extra=extra), now)
    return one(out)


# ------------------------------------------------------------------ INVITE
def test_invite_gets_100_then_plain_sdp_200() -> None:
    core = make_core()
    src = Src(core)
    out = src.send(src.invite(), 0.0)
    trying = one(out)
    assert (trying.status, trying.to_tag, trying.body) == (100, None, b"")
    sid = offered(core)
    assert core.accept(sid, 0.0)
    ok = one(src.drain())
    assert ok.status == 200 and ok.to_tag
    assert ok.headers.get("Content-Type") == "application/sdp"  # never multipart (INTEROP.md)
    assert ok.headers.get("Contact") == "<sip:srs@127.0.0.1:5060>;+sip.srs"
    assert "siprec" in ok.headers.get_list("Supported")
    sdp_answer = answer(ok)
    assert [m.label for m in sdp_answer.media] == ["1", "2"]
    assert all(m.direction == "recvonly" for m in sdp_answer.media)
    assert [m.formats for m in sdp_answer.media] == [["0", "8", "101"]] * 2
    ports = [m.port for m in sdp_answer.media]
    assert len(set(ports)) == 2 and all(p % 2 == 0 and 20000 <= p < 20100 for p in ports)
    got = events(core)
    assert SessionAnswered(sid) in got
    assert [e.method for e in got if isinstance(e, MetadataReceived)] == []  # came with the offer
    assert src.ack(0.2) == []
    assert events(core) == [SessionEstablished(sid)]
    assert snap(core, sid).state == "active"


def test_metadata_event_with_the_offer() -> None:
    core = make_core()
    src = Src(core)
    src.send(src.invite(), 0.0)
    got = events(core)
    metadata = [e for e in got if isinstance(e, MetadataReceived)]
    assert len(metadata) == 1 and metadata[0].method == "INVITE"
    assert metadata[0].parts[0].body == METADATA
    assert isinstance(got[-1], SessionOffered)


def test_codecs_we_cannot_record_are_dropped_telephone_event_kept() -> None:
    core = make_core()
    src = Src(core)
    body = offer(
        "m=audio 40000 RTP/AVP 3 97 8 0 101",
        "a=rtpmap:97 iLBC/8000",
        "a=fmtp:97 mode=30",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=label:7",
        "a=sendonly",
    )
    _, ok = establish(src, src.invite(multipart(body)))
    media = answer(ok).media[0]
    assert media.formats == ["8", "0", "101"]
    assert media.label == "7"
    assert media.fmtps == {101: "0-16"}
    assert 97 not in media.rtpmaps


def test_each_session_gets_fresh_distinct_ports() -> None:
    core = make_core()
    seen: list[int] = []
    for n in range(3):
        src = Src(core, call_id=f"c{n}", from_tag=f"t{n}")
        sid, ok = establish(src, now=float(n))
        seen += [m.port for m in answer(ok).media]
        if n == 0:
            core.terminate(sid, 0.5)  # released ports wait for the cooldown
    assert len(seen) == len(set(seen)) == 6
    assert pool(core).in_use == 4


def test_all_golden_invites_are_recorded() -> None:
    for path in sorted((DATA / "sip").glob("*_invite.sip")):
        data = path.read_bytes()
        invite = parse_message(data).message
        transport = invite.top_via.transport
        core = make_core()
        peer = Peer(
            transport, "192.0.2.9", 5060, "192.0.2.1", 5060, None if transport == "UDP" else 1
        )
        core.receive(data, peer, 0.0, datagram=transport == "UDP")
        first = core.messages_to_send()
        assert [r.status for r in resp([o.message for o in first])] == [100], path.name
        sid = offered(core)
        assert core.accept(sid, 0.0), path.name
        (out,) = core.messages_to_send()
        assert isinstance(out.message, Response) and out.message.status == 200
        offered_sdp = SessionDescription.parse(
            next(p for p in split_body(invite.headers, invite.body) if p.content_type == SDP).body
        )
        answered = answer(out.message)
        assert [m.label for m in answered.media] == [m.label for m in offered_sdp.media]
        # INTEROP.md: keep every offered payload type we can record, and telephone-event.
        for o, a in zip(offered_sdp.media, answered.media, strict=True):
            assert a.formats == o.formats, path.name


def test_metadata_before_sdp_and_extra_gtd_part_accepted() -> None:
    core = make_core()
    src = Src(core)
    _, ok = establish(src, src.invite(multipart(sdp(), metadata_first=True)))
    assert len(answer(ok).media) == 2
    cisco = (DATA / "sip" / "cisco_cube_invite.sip").read_bytes()
    src2 = Src(core)
    src2.send(cisco, 1.0)
    got = events(core)
    assert [len(e.parts) for e in got if isinstance(e, MetadataReceived)] == [1]
    assert core.accept(next(e.session_id for e in got if isinstance(e, SessionOffered)), 1.0)


# ------------------------------------------------------------------ 2xx and ACK
def test_200_retransmitted_at_t1_doubling_to_t2_until_ack() -> None:
    core = make_core()
    src = Src(core)
    src.send(src.invite(), 0.0)
    sid = offered(core)
    core.accept(sid, 0.0)
    ok = one(src.drain())
    sent = run_until(src, 14.0)
    assert [t for t, _ in sent] == [0.5, 1.5, 3.5, 7.5, 11.5]
    assert all(bytes(m) == bytes(ok) for _, m in sent)
    assert src.ack(14.0) == []
    assert SessionEstablished(sid) in events(core)
    assert [m for _, m in run_until(src, 100.0)] == []


def test_lost_ack_ends_the_session_with_bye_after_64_t1() -> None:
    core = make_core()
    src = Src(core)
    src.send(src.invite(), 0.0)
    sid = offered(core)
    core.accept(sid, 0.0)
    src.drain()
    sent = run_until(src, 31.9)
    assert [t for t, _ in sent] == T1_SCHEDULE
    assert [m.status for _, m in sent if isinstance(m, Response)] == [200] * 10
    assert events(core) == [SessionAnswered(sid)]
    at_32 = run_until(src, 32.0)
    assert [(t, m.method) for t, m in at_32 if isinstance(m, Request)] == [(32.0, "BYE")]
    assert SessionEnded(sid, "no ACK received for 200 OK") in events(core)
    assert pool(core).in_use == 0


def test_retransmitted_invite_is_absorbed() -> None:
    core = make_core()
    src = Src(core)
    invite = src.invite()
    src.send(invite, 0.0)
    sid = offered(core)
    assert [r.status for r in resp(src.send(invite, 0.3))] == [100]  # resent 100
    assert events(core) == []
    core.accept(sid, 0.4)
    ok = one(src.drain())
    assert [bytes(m) for m in src.send(invite, 0.45)] == [bytes(ok)]  # resent 200
    src.ack(0.46)
    # RFC 6026 §7.1: a late copy after the ACK is still absorbed (Accepted until timer L).
    assert src.send(invite, 1.0) == []
    assert src.send(invite, 31.0) == []
    assert [e for e in events(core) if isinstance(e, SessionOffered)] == []
    assert core.active_count() == 1


def test_stray_ack_is_ignored() -> None:
    core = make_core()
    src = Src(core)
    establish(src)
    assert src.ack(1.0) == []  # the SRC's ACK retransmission
    assert src.ack(1.0, cseq=99) == []
    assert core.stats["stray_ack"] == 2


# ------------------------------------------------------------------ CANCEL
def test_cancel_before_accept() -> None:
    core = make_core()
    src = Src(core)
    src.send(src.invite(), 0.0)
    branch, cseq = src.last_branch, src.cseq
    sid = offered(core)
    out = src.send(src.request("CANCEL", branch=branch, cseq=cseq, in_dialog=False), 1.0)
    assert [(r.status, r.cseq[1]) for r in resp(out)] == [(200, "CANCEL"), (487, "INVITE")]
    assert SessionEnded(sid, "cancelled by the SRC") in events(core)
    # The ACK for the 487 has the INVITE's branch (§17.1.1.3): absorbed, stops timer G.
    assert src.send(src.request("ACK", branch=branch, cseq=cseq), 1.2) == []
    assert core.stats["stray_ack"] == 0
    assert [m for _, m in run_until(src, 40.0)] == []
    assert core.accept(sid, 2.0) is False
    assert src.drain() == []
    assert pool(core).in_use == 0 and core.active_count() == 0


def test_cancel_after_200_leaves_the_session_alone() -> None:
    core = make_core()
    src = Src(core)
    src.send(src.invite(), 0.0)
    branch, cseq = src.last_branch, src.cseq
    sid = offered(core)
    core.accept(sid, 0.0)
    src.drain()
    out = src.send(src.request("CANCEL", branch=branch, cseq=cseq, in_dialog=False), 0.2)
    assert [(r.status, r.cseq[1]) for r in resp(out)] == [(200, "CANCEL")]
    src.ack(0.3)
    assert SessionEstablished(sid) in events(core)
    assert core.active_count() == 1


def test_cancel_for_unknown_transaction_gets_481() -> None:
    core = make_core()
    src = Src(core)
    out = src.send(src.request("CANCEL", in_dialog=False), 0.0)
    assert [r.status for r in resp(out)] == [481]


# ------------------------------------------------------------------ non-2xx finals
VIDEO_ONLY = offer("m=video 40000 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=sendonly")


def test_non_2xx_retransmitted_over_udp_until_ack() -> None:
    core = make_core()
    src = Src(core)
    first = one(src.send(src.invite(multipart(VIDEO_ONLY)), 0.0))
    assert first.status == 488
    branch, cseq = src.last_branch, src.cseq
    sent = run_until(src, 8.0)
    assert [t for t, _ in sent] == [0.5, 1.5, 3.5, 7.5]
    assert all(bytes(m) == bytes(first) for _, m in sent)
    assert src.send(src.request("ACK", branch=branch, cseq=cseq), 8.0) == []
    assert [m for _, m in run_until(src, 100.0)] == []


def test_non_2xx_gives_up_after_timer_h() -> None:
    core = make_core()
    src = Src(core)
    src.send(src.invite(multipart(VIDEO_ONLY)), 0.0)
    assert [t for t, _ in run_until(src, 100.0)] == T1_SCHEDULE


def test_no_retransmission_over_tcp() -> None:
    core = make_core()
    src = Src(core, transport="TCP")
    assert one(src.send(src.invite(multipart(VIDEO_ONLY)), 0.0)).status == 488
    assert run_until(src, 100.0) == []
    src2 = Src(core, transport="TCP", call_id="c2")
    src2.send(src2.invite(), 0.0)
    sid = offered(core)
    core.accept(sid, 0.0)
    src2.drain()
    # RFC 3261 §13.3.1.4: the UA core retransmits the 2xx whatever the transport.
    assert [t for t, _ in run_until(src2, 4.0)] == [0.5, 1.5, 3.5]


# ------------------------------------------------------------------ session timer
TIMER = [("Session-Expires", "1800;refresher=uac")]


def test_session_timer_uac_refresher_headers() -> None:
    src = Src(make_core())
    _, ok = establish(src, src.invite(extra=TIMER))
    assert ok.headers.get("Session-Expires") == "1800;refresher=uac"
    assert "timer" in ok.headers.get_list("Require")


def test_session_timer_expiry_without_refresh_or_rtp_sends_bye() -> None:
    core = make_core()
    src = Src(core)
    sid, _ = establish(src, src.invite(extra=TIMER))
    assert reqs([m for _, m in run_until(src, 1767.9)], "BYE") == []
    at = run_until(src, 1768.0)
    assert [(t, m.method) for t, m in at if isinstance(m, Request)] == [(1768.0, "BYE")]  # 1800-32
    assert SessionEnded(sid, "session timer expired (RFC 4028)") in events(core)


def test_session_timer_keeps_a_call_whose_rtp_flows() -> None:
    core = make_core()
    src = Src(core)
    sid, _ = establish(src, src.invite(extra=TIMER))
    core.note_media_activity(sid, 1760.0, {answer_ports(src)[0]: 5000})
    assert run_until(src, 1800.0) == []
    core.note_media_activity(sid, 1820.0)
    assert run_until(src, 1887.9) == []
    assert core.active_count() == 1
    assert snap(core, sid).streams[0].packets == 5000
    # RTP stopped at 1820: the check at 1888 finds it silent for 68 s > rtp_timeout.
    assert [(t, m.method) for t, m in run_until(src, 1888.0) if isinstance(m, Request)] == [
        (1888.0, "BYE")
    ]


def answer_ports(src: Src) -> list[int]:
    ok = next(o.message for o in src.received if isinstance(o.message, Response) and o.message.body)
    assert isinstance(ok, Response)
    return [m.port for m in answer(ok).media]


def test_reinvite_refresh_resets_the_session_timer() -> None:
    core = make_core()
    src = Src(core)
    establish(src, src.invite(extra=TIMER))
    assert run_until(src, 1000.0) == []
    ok = reinvite(src, multipart(sdp()), 1000.0, extra=[*TIMER, ("Supported", "timer")])
    assert ok.status == 200 and ok.headers.get("Session-Expires") == "1800;refresher=uac"
    src.ack(1000.1)
    assert reqs([m for _, m in run_until(src, 2767.9)], "BYE") == []
    assert [m.method for _, m in run_until(src, 2768.0) if isinstance(m, Request)] == ["BYE"]


def test_session_expires_below_min_se_gets_422() -> None:
    core = make_core()
    src = Src(core)
    out = src.send(src.invite(extra=[("Session-Expires", "60")]), 0.0)
    rejection = one(out)
    assert (rejection.status, rejection.headers.get("Min-SE")) == (422, "90")
    assert core.active_count() == 0 and events(core) == []


def test_uac_without_timer_support_makes_us_the_refresher() -> None:
    """RFC 4028 §9: a UAC without Supported: timer cannot refresh, whatever the parameter."""
    core = make_core()
    src = Src(core)
    invite = src.request(
        "INVITE",
        body=multipart(sdp()),
        content_type="multipart/mixed;boundary=OSS-unique-boundary-42",
        extra=[("Require", "siprec"), *TIMER],
        in_dialog=False,
    )
    sid, ok = establish(src, invite)
    assert ok.headers.get("Session-Expires") == "1800;refresher=uas"
    assert "timer" not in ok.headers.get_list("Require")
    sent = run_until(src, 900.0)
    (update,) = [m for _, m in sent if isinstance(m, Request)]
    assert (update.method, update.body) == ("UPDATE", b"")
    assert update.headers.get("Session-Expires") == "1800;refresher=uas"
    src.send(response_to(update, 200), 900.1)
    assert reqs([m for _, m in run_until(src, 1799.0)], "UPDATE") == []
    assert len(reqs([m for _, m in run_until(src, 1800.1)], "UPDATE")) == 1
    assert core.active_count() == 1 and sid in core.sessions


# ------------------------------------------------------------------ re-INVITE, UPDATE
def test_hold_and_resume() -> None:
    core = make_core()
    src = Src(core)
    sid, ok = establish(src)
    first = answer(ok)
    held = reinvite(src, multipart(sdp("inactive")), 5.0)
    src.ack(5.1)
    held_sdp = answer(held)
    assert [m.port for m in held_sdp.media] == [m.port for m in first.media]
    assert [m.direction for m in held_sdp.media] == ["inactive", "inactive"]
    assert held_sdp.origin.session_version == first.origin.session_version + 1
    assert held_sdp.origin.session_id == first.origin.session_id
    got = events(core)
    assert StreamsChanged(sid, (0, 1), ()) in got
    assert [e.method for e in got if isinstance(e, MetadataReceived)] == ["INVITE"]
    assert all(s.paused for s in snap(core, sid).streams)
    resumed = answer(reinvite(src, multipart(sdp("sendonly")), 9.0))
    src.ack(9.1)
    assert [m.direction for m in resumed.media] == ["recvonly", "recvonly"]
    assert [m.port for m in resumed.media] == [m.port for m in first.media]
    assert resumed.origin.session_version == first.origin.session_version + 2
    assert StreamsChanged(sid, (), (0, 1)) in events(core)
    # An unchanged re-offer keeps the version (RFC 3264 §8).
    same = answer(reinvite(src, multipart(sdp("sendonly")), 12.0))
    assert same.origin.session_version == resumed.origin.session_version


def test_reinvite_with_plain_sdp_is_accepted() -> None:
    core = make_core(require_siprec=True)
    src = Src(core)
    establish(src)
    ok = reinvite(src, sdp(), 3.0)
    assert ok.status == 200
    assert len(answer(ok).media) == 2


def test_offerless_reinvite_gets_our_offer_and_ack_answer_applies() -> None:
    core = make_core()
    src = Src(core)
    sid, ok = establish(src)
    ports = [m.port for m in answer(ok).media]
    our_offer = reinvite(src, None, 4.0)
    sdp_offer = answer(our_offer)
    assert [m.port for m in sdp_offer.media] == ports
    assert [m.label for m in sdp_offer.media] == ["1", "2"]
    ack_answer = offer(
        "m=audio 40000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=inactive",
        "m=audio 40002 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly",
    )  # fmt: skip
    assert src.ack(4.1, body=ack_answer) == []
    assert StreamsChanged(sid, (0,), ()) in events(core)
    assert [s.paused for s in snap(core, sid).streams] == [True, False]
    assert run_until(src, 40.0) == []  # the 200 stopped with the ACK


def test_reinvite_adding_a_stream_keeps_the_others() -> None:
    core = make_core()
    src = Src(core)
    _, ok = establish(src)
    before = [m.port for m in answer(ok).media]
    grown = answer(reinvite(src, multipart(sdp(streams=3)), 2.0))
    after = [m.port for m in grown.media]
    assert after[:2] == before and after[2] not in before and after[2] % 2 == 0
    assert [m.label for m in grown.media] == ["1", "2", "3"]
    assert pool(core).in_use == 3


def test_reinvite_while_the_first_is_unacked_gets_500() -> None:
    core = make_core()
    src = Src(core)
    src.send(src.invite(), 0.0)
    core.accept(offered(core), 0.0)
    src.drain()
    pending = reinvite(src, multipart(sdp()), 0.2)
    assert pending.status == 500 and pending.headers.get("Retry-After") is not None


def test_update_with_metadata_only() -> None:
    core = make_core()
    src = Src(core)
    establish(src)
    out = src.send(
        src.request("UPDATE", body=METADATA, content_type="application/rs-metadata+xml"), 3.0
    )
    ok = one(out)
    assert ok.status == 200 and ok.body == b"" and "Content-Type" not in ok.headers
    got = events(core)
    assert [(type(e), getattr(e, "method", None)) for e in got] == [(MetadataReceived, "UPDATE")]


def test_update_with_sdp_gets_an_answer() -> None:
    core = make_core()
    src = Src(core)
    sid, ok = establish(src)
    out = one(src.send(src.request("UPDATE", body=sdp("inactive")), 3.0))
    assert [m.direction for m in answer(out).media] == ["inactive", "inactive"]
    assert [m.port for m in answer(out).media] == [m.port for m in answer(ok).media]
    assert StreamsChanged(sid, (0, 1), ()) in events(core)


# ------------------------------------------------------------------ other methods
def test_options_out_of_dialog() -> None:
    src = Src(make_core())
    ok = one(src.send(src.request("OPTIONS", in_dialog=False), 0.0))
    assert ok.status == 200
    assert {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "INFO"} <= set(
        ok.headers.get_list("Allow")
    )
    assert "application/sdp" in ok.headers.get_list("Accept")
    assert "application/rs-metadata+xml" in ok.headers.get_list("Accept")
    assert ok.headers.get_list("Supported") == ["siprec", "timer"]


def test_draining_answers_options_and_invite_with_503() -> None:
    core = make_core()
    core.start_drain(0.0)
    src = Src(core)
    for data in (src.request("OPTIONS", in_dialog=False), src.invite()):
        busy = one(src.send(data, 0.0))
        assert (busy.status, busy.headers.get("Retry-After")) == (503, "30")
    assert core.active_count() == 0


def test_bye_ends_the_session() -> None:
    core = make_core()
    src = Src(core)
    sid, _ = establish(src)
    assert pool(core).in_use == 2
    ok = one(src.send(src.request("BYE"), 10.0))
    assert ok.status == 200 and ok.to_tag == src.to_tag
    assert events(core) == [SessionEnded(sid, "BYE from the SRC")]
    assert pool(core).in_use == 0 and core.active_count() == 0
    assert snap(core, sid).state == "terminated"


def test_bye_for_unknown_dialog_gets_481() -> None:
    src = Src(make_core(), to_tag="nosuchtag")
    assert one(src.send(src.request("BYE"), 0.0)).status == 481


def test_info_in_dialog() -> None:
    src = Src(make_core())
    establish(src)
    assert one(src.send(src.request("INFO"), 1.0)).status == 200


@pytest.mark.parametrize(
    ("method", "status"), [("FOO", 501), ("REGISTER", 405), ("SUBSCRIBE", 405), ("invite", 501)]
)
def test_methods_we_do_not_take(method: str, status: int) -> None:
    src = Src(make_core())
    out = one(src.send(src.request(method, in_dialog=False), 0.0))
    assert out.status == status
    assert "INVITE" in out.headers.get_list("Allow")


def test_unknown_required_extension_gets_420() -> None:
    src = Src(make_core())
    out = one(src.send(src.invite(extra=[("Require", "foo")]), 0.0))
    assert (out.status, out.headers.get("Unsupported")) == (420, "foo")


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    ("body", "warning"),
    [
        (VIDEO_ONLY, "only audio is recorded"),
        (
            (DATA / "sdp" / "srtp_savp.sdp")
            .read_bytes()
            .replace(b"AES_CM_128_HMAC_SHA1_80", b"F8_128_HMAC_SHA1_80"),
            "no usable a=crypto for SRTP (crypto suite F8_128_HMAC_SHA1_80 is not supported)",
        ),
    ],
)
def test_nothing_recordable_gets_488_with_warning(body: bytes, warning: str) -> None:
    core = make_core()
    src = Src(core)
    out = one(src.send(src.invite(multipart(body)), 0.0))
    assert out.status == 488
    assert warning in (out.headers.get("Warning") or "")
    assert (out.headers.get("Warning") or "").startswith("305 127.0.0.1 ")
    assert core.active_count() == 0 and pool(core).in_use == 0


def test_session_limit_gets_503() -> None:
    core = make_core(max_sessions=1)
    establish(Src(core))
    src = Src(core, call_id="c2")
    busy = one(src.send(src.invite(), 1.0))
    assert (busy.status, busy.reason, busy.headers.get("Retry-After")) == (
        503,
        "Concurrent session limit reached",
        "30",
    )


def test_no_free_port_gets_503_and_leaks_nothing() -> None:
    core = make_core(ports=(20000, 20005))  # three RTP/RTCP pairs
    first = Src(core)
    sid1, _ = establish(first)
    assert pool(core).in_use == 2
    second = Src(core, call_id="c2")
    second.send(second.invite(), 1.0)
    sid2 = offered(core)
    assert core.accept(sid2, 1.0) is False
    busy = one(second.drain())
    assert (busy.status, busy.headers.get("Retry-After")) == (503, "30")
    assert pool(core).in_use == 2  # the one port taken for stream 0 went back
    assert SessionEnded(sid2, "rejected: 503 No free RTP port") in events(core)
    core.terminate(sid1, 2.0)
    assert pool(core).in_use == 0


def test_require_siprec_refuses_a_plain_invite_with_421() -> None:
    core = make_core(require_siprec=True)
    src = Src(core, contact="<sip:src@127.0.0.1:5070>")
    out = one(src.send(src.request("INVITE", body=sdp(), in_dialog=False), 0.0))
    assert (out.status, out.headers.get("Require")) == (421, "siprec")
    assert core.active_count() == 0


def test_plain_invite_is_recorded_with_a_warning() -> None:
    core = make_core(require_siprec=False)
    src = Src(core, contact="<sip:src@127.0.0.1:5070>")
    sid, _ = establish(src, src.request("INVITE", body=sdp(), in_dialog=False))
    snap = core.snapshot(sid)
    assert snap is not None and snap.is_siprec is False
    assert snap.warnings == ("INVITE carries no SIPREC indication; recorded anyway",)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"Max-Forwards: 70", b"Max-Forwards: abc", "malformed Max-Forwards 'abc'"),
        (b"To: <sip:srs@127.0.0.1>\r\n", b"", "Missing To header"),
        (
            b"To: <sip:srs@127.0.0.1>",
            b"To: <sip:srs@127.0.0.1",
            "unterminated <URI> in '<sip:srs@127.0.0.1'",
        ),
        (b"CSeq: 2 INVITE", b"CSeq: 2 BYE", "CSeq method BYE does not match INVITE"),
    ],
)
def test_malformed_request_with_routable_headers_gets_400(
    old: bytes, new: bytes, reason: str
) -> None:
    core = make_core()
    src = Src(core)
    invite = src.invite()
    assert old in invite
    out = one(src.send(invite.replace(old, new, 1), 0.0))
    assert (out.status, out.reason) == (400, reason)
    assert out.call_id == src.call_id
    assert core.active_count() == 0


def test_unroutable_garbage_is_dropped_silently() -> None:
    core = make_core()
    src = Src(core)
    assert src.send(src.invite().replace(b"Via: ", b"Vja: "), 0.0) == []
    assert src.send(b"\x00\xff garbage", 0.0) == []
    assert core.stats["malformed"] == 1


# ------------------------------------------------------------------ routing
def test_udp_response_goes_to_the_via_port_with_received() -> None:
    core = make_core()
    src = Src(core, via_host="10.9.9.9", via_port=5080, rport=False)
    src.send(src.invite(), 0.0)
    (out,) = src.received
    assert out.target == Target("UDP", "127.0.0.1", 5080, None)
    assert out.message.headers.get("Via") == (
        f"SIP/2.0/UDP 10.9.9.9:5080;branch={src.last_branch};received=127.0.0.1"
    )


def test_udp_response_with_rport_goes_to_the_source_port() -> None:
    core = make_core()
    src = Src(core, via_host="10.9.9.9", via_port=5080)
    src.send(src.invite(), 0.0)
    (out,) = src.received
    assert out.target == Target("UDP", "127.0.0.1", 5070, None)
    assert out.message.headers.get("Via") == (
        f"SIP/2.0/UDP 10.9.9.9:5080;branch={src.last_branch};rport=5070;received=127.0.0.1"
    )


def test_rport_adds_received_even_when_the_host_matches() -> None:
    """RFC 3581 §4: received is added even if it equals the sent-by host."""
    src = Src(make_core())
    src.send(src.invite(), 0.0)
    via = src.received[0].message.headers.get("Via") or ""
    assert via.endswith(";rport=5070;received=127.0.0.1")


def test_tcp_response_uses_the_connection() -> None:
    """RFC 3261 §18.2.2: the same connection; if it closed, a new one to sent-by's port."""
    core = make_core()
    src = Src(core, transport="TCP", port=40123, via_port=5070)
    src.send(src.invite(), 0.0)
    (out,) = src.received
    assert out.target == Target("TCP", "127.0.0.1", 5070, 7)


# ------------------------------------------------------------------ terminate()
def test_terminate_sends_bye_retransmitted_until_200() -> None:
    core = make_core()
    src = Src(core)
    sid, ok = establish(src)
    assert core.terminate(sid, 5.0, "operator stop")
    assert events(core) == [SessionEnded(sid, "operator stop")]
    assert pool(core).in_use == 0
    (bye,) = src.drain()
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert bye.uri == "sip:src@127.0.0.1:5070"  # the SRC's Contact (§12.2.1.1)
    assert bye.from_tag == ok.to_tag and bye.to_tag == "srctag"
    assert bye.call_id == src.call_id and bye.cseq == (1, "BYE")
    assert bye.top_via.branch and bye.top_via.branch.startswith("z9hG4bK")
    assert bye.headers.get("Reason") == 'SIP;cause=200;text="operator stop"'
    assert src.received[-1].target == Target("UDP", "127.0.0.1", 5070, None)
    resent = run_until(src, 13.0)
    assert [t for t, _ in resent] == [5.5, 6.5, 8.5, 12.5]  # timer E
    assert all(bytes(m) == bytes(bye) for _, m in resent)
    assert src.send(response_to(bye, 200), 13.0) == []
    assert run_until(src, 100.0) == []
    assert core.terminate(sid, 14.0) is False


def test_terminate_over_tcp_is_not_retransmitted() -> None:
    core = make_core()
    src = Src(core, transport="TCP")
    sid, _ = establish(src)
    core.terminate(sid, 5.0)
    (bye,) = src.drain()
    assert src.received[-1].target == Target("TCP", "127.0.0.1", 5070, 7)
    assert reqs([m for _, m in run_until(src, 100.0)], "BYE") == []
    assert isinstance(bye, Request)


def test_bye_goes_to_the_source_when_the_contact_is_unusable() -> None:
    core = make_core()
    src = Src(core, contact="<sip:src@127.0.0.1:99999>;+sip.src")
    sid, _ = establish(src)
    core.terminate(sid, 1.0)
    (bye,) = src.drain()
    assert isinstance(bye, Request) and bye.uri == "sip:127.0.0.1:5070"
    assert src.received[-1].target == Target("UDP", "127.0.0.1", 5070, None)


def test_bye_after_terminate_still_gets_200() -> None:
    core = make_core()
    src = Src(core)
    sid, _ = establish(src)
    core.terminate(sid, 1.0)
    src.drain()
    assert one(src.send(src.request("BYE"), 1.5)).status == 200  # crossing BYEs


def test_accept_all_helper() -> None:
    core = make_core()
    src = Src(core)
    src.send(src.invite(), 0.0)
    accept_all(core, 0.0)
    assert one(src.drain()).status == 200


# ------------------------------------------------------------------ retransmitted requests
def test_retransmitted_bye_gets_the_same_200() -> None:
    core = make_core()
    src = Src(core)
    sid, _ = establish(src)
    bye = src.request("BYE")
    ok = one(src.send(bye, 5.0))
    assert [bytes(m) for m in src.send(bye, 5.5)] == [bytes(ok)]
    assert events(core) == [SessionEnded(sid, "BYE from the SRC")]
    assert core.stats["retransmissions"] == 1


def test_retransmitted_reinvite_gets_the_same_200() -> None:
    core = make_core()
    src = Src(core)
    establish(src)
    data = src.request(
        "INVITE", body=sdp("inactive"), extra=[("Session-Expires", "1800;refresher=uac")]
    )
    ok = one(src.send(data, 3.0))
    assert [bytes(m) for m in src.send(data, 3.4)] == [bytes(ok)]
    assert events(core)[-1] == StreamsChanged(next(iter(core.sessions)), (0, 1), ())


def test_out_of_order_cseq_gets_500() -> None:
    core = make_core()
    src = Src(core)
    establish(src)
    assert one(src.send(src.request("INFO"), 1.0)).status == 200
    late = one(src.send(src.request("INFO", cseq=src.cseq - 1), 1.1))
    assert (late.status, late.reason) == (500, "CSeq out of order")


def test_update_with_an_offer_while_ours_is_pending_gets_491() -> None:
    core = make_core()
    src = Src(core)
    establish(src)
    reinvite(src, None, 2.0)  # our offer is in the 200; its answer comes in the ACK
    assert one(src.send(src.request("UPDATE", body=sdp()), 2.1)).status == 491


def test_short_session_expires_without_timer_support_is_raised() -> None:
    """RFC 4028 §9: a UAC that cannot take a 422 gets the interval raised to Min-SE."""
    core = make_core()
    src = Src(core)
    invite = src.request(
        "INVITE",
        body=sdp(),
        extra=[("Require", "siprec"), ("Session-Expires", "60")],
        in_dialog=False,
    )
    _, ok = establish(src, invite)
    assert ok.headers.get("Session-Expires") == "90;refresher=uas"


def test_terminate_before_accept_rejects_with_503() -> None:
    core = make_core()
    src = Src(core)
    src.send(src.invite(), 0.0)
    sid = offered(core)
    assert core.terminate(sid, 1.0)
    busy = one(src.drain())
    assert (busy.status, busy.headers.get("Retry-After")) == (503, "30")
    assert core.terminate_all(2.0) == 0


def test_refusal_answers_new_invites_with_503_and_its_retry_after() -> None:
    """The appliance sets ``refusal`` while it cannot record (disk critical): new
    sessions get 503 with its reason and Retry-After; calls in progress go on."""
    core = make_core()
    first = Src(core)
    sid, _ = establish(first)
    core.refusal = ("Disk space critical", 300)
    second = Src(core, call_id="c-refused")
    busy = one(second.send(second.invite(), 1.0))
    assert (busy.status, busy.reason, busy.headers.get("Retry-After")) == (
        503,
        "Disk space critical",
        "300",
    )
    assert core.active_count() == 1 and sid in core.sessions
    core.refusal = None
    third = Src(core, call_id="c-after")
    third.send(third.invite(), 2.0)
    assert offered(core) is not None
