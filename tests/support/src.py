"""An in-memory Session Recording Client for driving ``SrsCore`` without sockets.

Builds the requests an SBC would send and collects what the core answers; the
clock is a number the test moves.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from siprec_appliance.errors import SipProtocolError
from siprec_appliance.sip.message import Request, Response, parse_message
from siprec_appliance.sip.transport import Outgoing, Peer
from siprec_appliance.siprec.ports import PortPool
from siprec_appliance.siprec.settings import SrsSettings
from siprec_appliance.siprec.srs import SrsCore

BOUNDARY = "OSS-unique-boundary-42"

METADATA = b"""<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <datamode>complete</datamode>
  <session session_id="0000-1111"><sipSessionID>abc</sipSessionID></session>
  <participant participant_id="p1"><nameID aor="sip:alice@example.com"/></participant>
  <participant participant_id="p2"><nameID aor="sip:bob@example.com"/></participant>
  <stream stream_id="s1" session_id="0000-1111"><label>1</label></stream>
  <stream stream_id="s2" session_id="0000-1111"><label>2</label></stream>
</recording>
"""


def sdp(
    direction: str = "sendonly", *, streams: int = 2, port: int = 40000, extra: str = ""
) -> bytes:
    lines = [
        "v=0",
        "o=SRC 1 1 IN IP4 127.0.0.1",
        "s=SIPREC",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
    ]
    for n in range(streams):
        lines += [
            f"m=audio {port + 2 * n} RTP/AVP 0 8 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-15",
            f"a=label:{n + 1}",
            f"a={direction}",
        ]
    body = "\r\n".join(lines) + "\r\n" + extra
    return body.encode()


def multipart(
    sdp_body: bytes, metadata: bytes = METADATA, *, metadata_first: bool = False
) -> bytes:
    sdp_part = b"Content-Type: application/sdp\r\n\r\n" + sdp_body
    md_part = (
        b"Content-Type: application/rs-metadata+xml\r\n"
        b"Content-Disposition: recording-session\r\n\r\n" + metadata
    )
    parts = [md_part, sdp_part] if metadata_first else [sdp_part, md_part]
    delim = f"--{BOUNDARY}\r\n".encode()
    return b"".join(delim + p + b"\r\n" for p in parts) + f"--{BOUNDARY}--\r\n".encode()


@dataclass
class Src:
    """One SRC talking to one core; ``sent``/``received`` keep the whole exchange."""

    core: SrsCore
    transport: str = "UDP"
    host: str = "127.0.0.1"
    port: int = 5070
    call_id: str = "call-1@src"
    from_tag: str = "srctag"
    cseq: int = 1
    to_tag: str | None = None
    received: list[Outgoing] = field(default_factory=list)
    branch_counter: int = 0
    # Where the Via says we are (NAT: differs from host/port), and whether to ask for rport.
    via_host: str | None = None
    via_port: int | None = None
    rport: bool = True
    contact: str | None = None  # the whole Contact value; default carries +sip.src
    last_branch: str = ""  # branch of the last request built (for CANCEL and non-2xx ACK)

    @property
    def peer(self) -> Peer:
        return Peer(
            self.transport,
            self.host,
            self.port,
            "127.0.0.1",
            5060,
            7 if self.transport != "UDP" else None,
        )

    def branch(self) -> str:
        self.branch_counter += 1
        return f"z9hG4bK-{self.call_id}-{self.branch_counter}"

    def request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
        cseq: int | None = None,
        branch: str | None = None,
        in_dialog: bool = True,
    ) -> bytes:
        if cseq is None:
            if method not in ("ACK", "CANCEL"):
                self.cseq += 1
            cseq = self.cseq
        to = "<sip:srs@127.0.0.1>"
        if in_dialog and self.to_tag:
            to += f";tag={self.to_tag}"
        self.last_branch = branch or self.branch()
        sent_by = f"{self.via_host or self.host}:{self.via_port or self.port}"
        rport = ";rport" if self.rport else ""
        contact = self.contact or f"<sip:src@{self.host}:{self.port}>;+sip.src"
        lines = [
            f"{method} sip:srs@127.0.0.1:5060 SIP/2.0",
            f"Via: SIP/2.0/{self.transport} {sent_by};branch={self.last_branch}{rport}",
            "Max-Forwards: 70",
            f"From: <sip:src@{self.host}>;tag={self.from_tag}",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: {contact}",
        ]
        for name, value in extra or []:
            lines.append(f"{name}: {value}")
        if body:
            lines.append(f"Content-Type: {content_type or 'application/sdp'}")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def invite(
        self, body: bytes | None = None, *, extra: list[tuple[str, str]] | None = None
    ) -> bytes:
        payload = multipart(sdp()) if body is None else body
        ctype = (
            f"multipart/mixed;boundary={BOUNDARY}"
            if payload.startswith(b"--")
            else "application/sdp"
        )
        headers = [("Require", "siprec"), ("Supported", "timer"), *(extra or [])]
        return self.request(
            "INVITE", body=payload, content_type=ctype, extra=headers, in_dialog=False
        )

    def send(self, data: bytes, now: float) -> list[Response | Request]:
        """Feed bytes; return the messages the core sent back (parsed from the wire)."""
        self.core.receive(data, self.peer, now)
        return self.drain()

    def drain(self) -> list[Response | Request]:
        out = self.core.messages_to_send()
        self.received.extend(out)
        messages = [parse_message(o.data).message for o in out]
        for message in messages:
            if isinstance(message, Response) and message.status >= 101:
                try:
                    tag = message.to_tag
                except SipProtocolError:  # a 400 echoing the broken To it complains about
                    tag = None
                self.to_tag = self.to_tag or tag
        return messages

    def tick(self, now: float) -> list[Response | Request]:
        self.core.handle_timer(now)
        return self.drain()

    def ack(
        self, now: float, *, cseq: int | None = None, body: bytes = b""
    ) -> list[Response | Request]:
        return self.send(self.request("ACK", cseq=cseq or self.cseq, body=body), now)


def response_to(request: Request, status: int, reason: str = "OK") -> bytes:
    """What the SRC answers to a request of ours (BYE, UPDATE): RFC 3261 §8.2.6."""
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {via}" for via in request.headers.get_list("Via")]
    for name in ("From", "To", "Call-ID", "CSeq"):
        lines.append(f"{name}: {request.headers.get(name)}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def make_core(
    *, seed: int = 1, ports: tuple[int, int] = (20000, 20100), **settings: object
) -> SrsCore:
    pool = PortPool(ports[0], ports[1], cooldown=10.0)
    return SrsCore(SrsSettings(**settings), pool, rng=random.Random(seed))  # type: ignore[arg-type]


def accept_all(core: SrsCore, now: float) -> None:
    """What the appliance does: accept every offered session at once."""
    from siprec_appliance.siprec.events import SessionOffered

    while (event := core.next_event()) is not None:
        if isinstance(event, SessionOffered):
            core.accept(event.session_id, now)


def statuses(messages: list[Response | Request]) -> list[int]:
    return [m.status for m in messages if isinstance(m, Response)]
