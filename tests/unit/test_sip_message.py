"""Golden SIP messages as real SBCs send them: parse, serialise, frame (RFC 3261 §7, §18.3)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from siprec_appliance.errors import SipProtocolError
from siprec_appliance.sip.framing import PING, StreamFramer
from siprec_appliance.sip.headers import NameAddress
from siprec_appliance.sip.message import (
    MAX_DATAGRAM,
    Request,
    Response,
    parse_message,
    validate_request,
)
from siprec_appliance.sip.multipart import split_body
from siprec_appliance.siprec.detect import detect

DATA = Path(__file__).resolve().parent.parent / "data" / "sip"
SDP = "application/sdp"
MD = "application/rs-metadata+xml"


@dataclass(frozen=True)
class Expect:
    uri: str
    call_id: str
    cseq: tuple[int, str]
    from_tag: str
    branch: str
    parts: tuple[str, ...]
    size: tuple[int, int] = (0, MAX_DATAGRAM)


GOLDEN: dict[str, Expect] = {
    "opensips_siprec_invite.sip": Expect(
        "sip:127.0.0.1:5080",
        "B2B.318.4422156.1712345678",
        (2, "INVITE"),
        "b3ecae0bd4f2fa1d5e3e7fe2e5c4f1a7-1a2b",
        "z9hG4bK6a8f.2e4f1b37.0",
        (SDP, MD),
    ),
    "broadworks_invite.sip": Expect(
        "sip:recorder@198.51.100.20:5060;transport=udp",
        "BW1154042102406241719230044@10.20.30.40",
        (1086912321, "INVITE"),
        "1876534208-1719230044210-",
        "z9hG4bKBroadWorks.-1qk8xc9-198.51.100.20V5060-0-1086912321-1876534208-1719230044210-",
        (MD, SDP),
        (3500, 4000),
    ),
    "avaya_sbce_invite.sip": Expect(
        "sip:srs@203.0.113.7:5060;transport=tcp",
        "7c3e9a0d2f4b11ef8e2d0242ac120002",
        (1, "INVITE"),
        "ac1f5e8b44d1b9a",
        "z9hG4bK-s1632-001215437218-1--s1632-",
        (SDP, MD),
    ),
    "cisco_cube_invite.sip": Expect(
        "sip:192.0.2.50:5060",
        "5D8B1F0E-A7D511EF-8B4B8C6E-1F2A3B4C@192.0.2.10",
        (101, "INVITE"),
        "2F3A4B5C-1D2E",
        "z9hG4bK1A2B3C4D5",
        (SDP, MD, "application/gtd"),
    ),
    "compact_folded_invite.sip": Expect(
        "sip:srs@198.51.100.1",
        "compact-call-7@198.51.100.9",
        (7, "INVITE"),
        "cmp-from-1",
        "z9hG4bKcompact1",
        (SDP, MD),
    ),
    "bare_lf_invite.sip": Expect(
        "sip:srs@192.0.2.1:5060",
        "barelf-1@192.0.2.77",
        (1, "INVITE"),
        "lf-tag",
        "z9hG4bKbarelf1",
        (SDP, MD),
    ),
    "big_8k_invite.sip": Expect(
        "sip:srs@203.0.113.1:5060",
        "big_8k_invite@203.0.113.5",
        (1, "INVITE"),
        "big-big",
        "z9hG4bKbigbig",
        (SDP, MD),
        (7500, 8500),
    ),
    "udp_60k_invite.sip": Expect(
        "sip:srs@203.0.113.1:5060",
        "udp_60k_invite@203.0.113.5",
        (1, "INVITE"),
        "big-udp",
        "z9hG4bKudpbig",
        (SDP, MD),
        (60_000, MAX_DATAGRAM),
    ),
}
# Written with canonical names, ": " and Content-Length last: serialising gives the same bytes.
CANONICAL = ("opensips_siprec_invite.sip", "avaya_sbce_invite.sip")


def golden(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parse_request(data: bytes, *, datagram: bool = True) -> Request:
    message = parse_message(data, datagram=datagram).message
    assert isinstance(message, Request)
    return message


def check_fields(message: Request, expect: Expect) -> None:
    assert message.method == "INVITE"
    assert message.version == "SIP/2.0"
    assert message.uri == expect.uri
    assert message.call_id == expect.call_id
    assert message.cseq == expect.cseq
    assert message.from_tag == expect.from_tag
    assert message.to_tag is None
    assert message.top_via.branch == expect.branch
    parts = split_body(message.headers, message.body)
    assert tuple(p.content_type for p in parts) == expect.parts
    assert all(p.body.strip() for p in parts)
    validate_request(message)
    assert detect(message, parts).is_siprec


# ----------------------------------------------------------------- whole messages
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_parses_whole(name: str) -> None:
    data = golden(name)
    low, high = GOLDEN[name].size
    assert low <= len(data) <= high
    check_fields(parse_request(data), GOLDEN[name])


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_round_trips(name: str) -> None:
    first = parse_request(golden(name))
    wire = bytes(first)
    second = parse_request(wire)
    check_fields(second, GOLDEN[name])
    assert second.body == first.body
    assert second.headers.items() == first.headers.items()
    assert bytes(second) == wire  # serialising is a fixpoint
    assert b"\r\n\r\n" in wire and b"\n\n" not in wire.split(b"\r\n\r\n", 1)[0]


@pytest.mark.parametrize("name", CANONICAL)
def test_canonical_golden_serialises_to_the_same_bytes(name: str) -> None:
    data = golden(name)
    assert bytes(parse_request(data)) == data


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_as_one_stream_message(name: str) -> None:
    data = golden(name)
    check_fields(parse_request(data, datagram=False), GOLDEN[name])


# ----------------------------------------------------------------- vendor quirks
def test_opensips_shape() -> None:
    msg = parse_request(golden("opensips_siprec_invite.sip"))
    assert "@" not in msg.uri  # no user part
    from_ = NameAddress.parse(msg.headers.get("From") or "")
    to = NameAddress.parse(msg.headers.get("To") or "")
    assert from_.uri == to.uri == "sip:127.0.0.1:5080"
    contact = NameAddress.parse(msg.headers.get("Contact") or "")
    assert contact.uri == "sip:127.0.0.1:5060"
    assert "+sip.src" in contact.params
    assert msg.headers.get_list("Require") == ["siprec"]
    assert "Supported" not in msg.headers and "Accept" not in msg.headers
    assert msg.headers.get("Content-Type") == "multipart/mixed;boundary=OSS-unique-boundary-42"
    sdp = split_body(msg.headers, msg.body)[0].body.decode()
    assert sdp.count("m=audio") == sdp.count("c=IN") == sdp.count("a=rtcp:") == 2
    assert sdp.index("a=label:1") < sdp.index("a=label:0")


def test_broadworks_shape() -> None:
    data = golden("broadworks_invite.sip")
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b": " not in head.split(b"\r\n", 1)[1].replace(b"SIP/2.0/UDP ", b"")
    msg = parse_request(data)
    assert "Require" not in msg.headers
    assert msg.headers.get("From") == (
        '"Sales Desk 100"<sip:+12025550100@enterprise.example.com;user=phone>'
        ";tag=1876534208-1719230044210-"
    )
    assert NameAddress.parse(msg.headers.get("From") or "").display_name == "Sales Desk 100"
    assert "src" in NameAddress.parse(msg.headers.get("Contact") or "").params
    signals = detect(msg, split_body(msg.headers, msg.body))
    assert (signals.require_siprec, signals.contact_src, signals.metadata) == (False, True, True)
    assert msg.headers.get("Session-Expires") == "1800;refresher=uac"


def test_avaya_src_inside_brackets() -> None:
    msg = parse_request(golden("avaya_sbce_invite.sip"))
    contact = NameAddress.parse(msg.headers.get("Contact") or "")
    assert contact.uri == "sip:sbce@10.1.1.5:5060;transport=tcp;+sip.src"
    assert contact.params == {}
    parts = split_body(msg.headers, msg.body)
    assert detect(msg, parts).contact_src
    assert b"<dataMode>complete</dataMode>" in parts[1].body
    assert parts[0].body.count(b"m=audio") == 1
    assert msg.top_via.transport == "TCP"


def test_cisco_gtd_part() -> None:
    msg = parse_request(golden("cisco_cube_invite.sip"))
    parts = split_body(msg.headers, msg.body)
    gtd = parts[2]
    assert gtd.disposition == "signal"
    # RFC 2046 §5.1.1: the CRLF before the next delimiter belongs to the delimiter.
    assert gtd.body.startswith(b"IAM,\r\n")
    assert gtd.body.endswith(b"\r\nGCI,5bb6d3b6acf711ef8000aabbccddeeff")
    assert parts[1].disposition == "recording-session"
    assert msg.headers.get("Min-SE") == "1800"
    assert msg.headers.get("Cisco-Guid") == "1571160014-2916684271-2341180526-522336076"


def test_compact_folded_lowercase_repeated_via() -> None:
    msg = parse_request(golden("compact_folded_invite.sip"))
    vias = msg.headers.get_list("Via")
    assert len(vias) == 3
    assert [v.split(";")[1] for v in vias] == [
        "branch=z9hG4bKcompact1",
        "branch=z9hG4bKupstream9",
        "branch=z9hG4bKupstream8",
    ]
    assert len(msg.headers.get_all("v")) == 2  # two header lines, the second folded
    assert msg.headers.get("CSeq") == "7 INVITE"  # folded onto a tab-indented line
    assert msg.headers.get("Subject") == "a folded subject line"
    assert NameAddress.parse(msg.headers.get("f") or "").display_name == "Compact SBC"
    assert msg.headers.get("Supported") == "timer"
    assert msg.headers.get("Max-Forwards") == "70"
    assert NameAddress.parse(msg.headers.get("m") or "").params == {"+sip.src": None}
    assert msg.headers.get("Content-Length") == str(len(msg.body))
    assert dict(msg.headers.items()).keys() >= {"Call-ID", "From", "To", "Contact", "Via"}


def test_bare_lf_is_tolerated_and_reported() -> None:
    data = golden("bare_lf_invite.sip")
    assert b"\r" not in data
    result = parse_message(data)
    assert "bare LF line ends" in result.warnings
    parts = split_body(result.message.headers, result.message.body)
    assert parts[0].body.startswith(b"v=0\no=")
    assert parts[1].body.endswith(b"</stream>\n</recording>")


def _padded(data: bytes, total: int) -> bytes:
    """``data`` with an XML comment added to its metadata so that it is ``total`` bytes."""
    head, body = data.split(b"\r\n\r\n", 1)
    for pad in range(total - len(data) - 20, total - len(data)):
        bigger = body.replace(b"</recording>", b"<!--" + b"x" * pad + b"--></recording>")
        new_head = head.replace(
            f"Content-Length: {len(body)}".encode(), f"Content-Length: {len(bigger)}".encode()
        )
        if len(new_head) + 4 + len(bigger) == total:
            return new_head + b"\r\n\r\n" + bigger
    raise AssertionError("no padding fits")


def test_60k_udp_datagram_and_the_limit() -> None:
    data = golden("udp_60k_invite.sip")
    assert len(data) > 60_000
    check_fields(parse_request(data), GOLDEN["udp_60k_invite.sip"])
    fits = _padded(data, MAX_DATAGRAM)
    check_fields(parse_request(fits), GOLDEN["udp_60k_invite.sip"])
    too_big = _padded(data, MAX_DATAGRAM + 1)
    with pytest.raises(SipProtocolError) as info:
        parse_message(too_big)
    assert (info.value.status, info.value.reason) == (513, "message larger than a UDP datagram")
    # On a stream the same message is fine (the framer bounds it instead).
    check_fields(parse_request(too_big, datagram=False), GOLDEN["udp_60k_invite.sip"])


# ----------------------------------------------------------------- malformed
@pytest.mark.parametrize(
    ("name", "status", "reason"),
    [
        ("malformed_start_line.sip", 400, "malformed request line 'INVITE sip:srs@192.0.2.1'"),
        (
            "malformed_content_length.sip",
            400,
            "Content-Length 500 is larger than the 241-byte body",
        ),
        ("malformed_sip3.sip", 505, "unsupported SIP version 'SIP/3.0'"),
    ],
)
def test_malformed_does_not_parse(name: str, status: int, reason: str) -> None:
    with pytest.raises(SipProtocolError) as info:
        parse_message(golden(name))
    assert (info.value.status, info.value.reason) == (status, reason)
    assert str(info.value) == reason


def test_bad_cseq() -> None:
    msg = parse_request(golden("malformed_cseq.sip"))  # parses: CSeq is read on demand
    for check in (lambda: msg.cseq, lambda: validate_request(msg)):
        with pytest.raises(SipProtocolError) as info:
            check()
        assert (info.value.status, info.value.reason) == (400, "malformed CSeq 'one INVITE'")


def test_missing_call_id() -> None:
    msg = parse_request(golden("malformed_no_call_id.sip"))
    with pytest.raises(SipProtocolError) as info:
        validate_request(msg)
    assert (info.value.status, info.value.reason) == (400, "Missing Call-ID header")


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"", 400, "empty message"),
        (b"\r\n\r\n", 400, "empty message"),
        (b"SIP/2.0 2000 OK\r\n\r\n", 400, "malformed status line 'SIP/2.0 2000 OK'"),
        (
            b"SIP/2.0 \xc2\xb2\xc2\xb2\xc2\xb2 OK\r\n\r\n",
            400,
            "malformed status line 'SIP/2.0 ²²² OK'",
        ),
        (b"INV(TE sip:a SIP/2.0\r\n\r\n", 400, "malformed method 'INV(TE'"),
        (b"INVITE nocolon SIP/2.0\r\n\r\n", 400, "malformed Request-URI 'nocolon'"),
        (
            b"INVITE sip:a SIP/2.0\r\nNo colon here\r\n\r\n",
            400,
            "malformed header line 'No colon here'",
        ),
        (b"INVITE sip:a SIP/2.0\r\nl: 1x\r\n\r\n", 400, "malformed Content-Length '1x'"),
        (b"INVITE sip:a SIP/2.0\r\nl: \xc2\xb2\r\n\r\nxy", 400, "malformed Content-Length '²'"),
    ],
)
def test_malformed_inline(data: bytes, status: int, reason: str) -> None:
    with pytest.raises(SipProtocolError) as info:
        parse_message(data)
    assert (info.value.status, info.value.reason) == (status, reason)


def test_unicode_digits_in_cseq_are_a_protocol_error() -> None:
    msg = parse_request(b"INVITE sip:a SIP/2.0\r\nCSeq: \xc2\xb2 INVITE\r\n\r\n")
    with pytest.raises(SipProtocolError) as info:
        msg.cseq  # noqa: B018
    assert info.value.reason == "malformed CSeq '² INVITE'"


def test_response_parses() -> None:
    data = (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: c\r\nCSeq: 3 BYE\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(data).message
    assert isinstance(msg, Response)
    assert (msg.status, msg.reason, msg.to_tag, msg.cseq) == (200, "OK", "2", (3, "BYE"))
    assert bytes(msg) == data


def test_shorter_content_length_truncates_datagram() -> None:
    data = golden("opensips_siprec_invite.sip") + b"trailing junk"
    result = parse_message(data)
    assert result.message.body.endswith(b"--OSS-unique-boundary-42--\r\n")
    assert "13 bytes after Content-Length ignored" in result.warnings


# ----------------------------------------------------------------- stream framing
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_framer_byte_by_byte(name: str) -> None:
    data = golden(name)
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(len(data)):
        out += framer.feed(data[i : i + 1])
        if i < len(data) - 1:
            assert out == []
    assert out == [data]
    assert framer.buffered == 0
    check_fields(parse_request(out[0], datagram=False), GOLDEN[name])


def test_framer_two_messages_and_a_partial_in_one_chunk() -> None:
    one, two = golden("opensips_siprec_invite.sip"), golden("compact_folded_invite.sip")
    three = golden("broadworks_invite.sip")
    framer = StreamFramer()
    assert framer.feed(one + two + three[:700]) == [one, two]
    assert framer.buffered == 700
    assert framer.feed(three[700:-1]) == []
    assert framer.feed(three[-1:]) == [three]
    assert framer.buffered == 0


def test_framer_bare_lf_then_crlf() -> None:
    lf, crlf = golden("bare_lf_invite.sip"), golden("avaya_sbce_invite.sip")
    framer = StreamFramer()
    assert framer.feed(lf + crlf) == [lf, crlf]


def test_framer_keepalive() -> None:
    one = golden("avaya_sbce_invite.sip")
    framer = StreamFramer()
    assert framer.feed(PING) == [PING]
    assert framer.feed(b"\r\n") == []  # half a ping: wait for the rest
    assert framer.feed(b"\r\n") == [PING]
    assert framer.feed(PING + one + PING + PING) == [PING, one, PING, PING]
    assert framer.buffered == 0
    # A single CRLF before a message (RFC 3261 §7.5) is skipped, not a ping.
    assert framer.feed(b"\r\n" + one) == [one]


def test_framer_errors() -> None:
    framer = StreamFramer()
    with pytest.raises(SipProtocolError) as info:
        framer.feed(b"INVITE sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n")
    assert (info.value.status, info.value.reason) == (400, "malformed Content-Length '-1'")
    framer = StreamFramer(max_message=1000)
    with pytest.raises(SipProtocolError) as info:
        framer.feed(b"INVITE sip:a SIP/2.0\r\nl: 5000\r\n\r\n")
    assert (info.value.status, info.value.reason) == (513, "message of 5033 bytes is too large")
    framer = StreamFramer()
    with pytest.raises(SipProtocolError) as info:
        framer.feed(b"INVITE sip:a SIP/2.0\r\nX: " + b"a" * 70_000)
    assert info.value.status == 513


# ----------------------------------------------------------------- multipart bodies
def _multipart_message(content_type: str, body: bytes) -> Request:
    head = (
        "INVITE sip:srs@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKm\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return parse_request(head.encode() + body)


def test_multipart_preamble_quoted_boundary_no_close_delimiter() -> None:
    body = (
        b"This is a preamble.\r\n--b 1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
        b"\r\n--b 1\r\ncontent-type: Application/RS-Metadata+XML\r\n\r\n<recording/>\r\n"
    )
    msg = _multipart_message('multipart/mixed; boundary="b 1"', body)
    parts = split_body(msg.headers, msg.body)
    assert [(p.content_type, p.body) for p in parts] == [
        ("application/sdp", b"v=0\r\n"),
        ("application/rs-metadata+xml", b"<recording/>\r\n"),
    ]


def test_multipart_without_boundary_or_parts() -> None:
    msg = _multipart_message("multipart/mixed", b"--x\r\n\r\nhello\r\n--x--\r\n")
    with pytest.raises(SipProtocolError) as info:
        split_body(msg.headers, msg.body)
    assert info.value.reason == "multipart body without a boundary parameter"
    msg = _multipart_message("multipart/mixed;boundary=zz", b"no delimiter here\r\n")
    with pytest.raises(SipProtocolError) as info:
        split_body(msg.headers, msg.body)
    assert info.value.reason == "multipart body has no part delimited by 'zz'"
