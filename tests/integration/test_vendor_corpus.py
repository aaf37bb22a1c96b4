"""Every vendor corpus INVITE, sent to the running appliance, is recorded with the
expected vendor, participants-to-streams mapping and call facts (through the API).

The corpus carries the vendors' own addresses (documentation ranges) in Via and
Contact, so every exchange runs over one loopback TCP connection: responses and any
in-dialog request of ours go back on it, and the test ends each call with its own
BYE, so the appliance never has a reason to open a connection elsewhere.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from siprec_appliance.sip.framing import PING, StreamFramer
from siprec_appliance.sip.message import Request, Response, parse_message
from siprec_appliance.sip.multipart import split_body
from support.daemon import Daemon, running_daemon

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "data" / "sip" / "vendors"
INVITES = sorted(
    p
    for p in CORPUS.glob("*.sip")
    if p.with_suffix(".expected.json").exists()
    and parse_message(p.read_bytes()).message.method == "INVITE"  # type: ignore[union-attr]
    and not parse_message(p.read_bytes()).message.to_tag
)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    grace = {"SIPREC_SIP_SHUTDOWN_GRACE": "1"}
    with running_daemon(tmp_path_factory.mktemp("corpus"), extra_env=grace) as running:
        yield running


class TcpPeer:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.framer = StreamFramer()
        self.pending: list[Request | Response] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def final(self, cseq: str) -> Response:
        while True:
            while self.pending:
                message = self.pending.pop(0)
                if (
                    isinstance(message, Response)
                    and message.status >= 200
                    and message.headers.get("CSeq") == cseq
                ):
                    return message
            data = self.sock.recv(65536)
            assert data, "connection closed before the final response"
            for raw in self.framer.feed(data):
                if raw != PING:
                    self.pending.append(parse_message(raw, datagram=False).message)

    def close(self) -> None:
        self.sock.close()


def in_dialog(invite: Request, method: str, number: int, to_tag: str) -> bytes:
    """ACK or BYE for ``invite``'s dialog (RFC 3261 §12.2.1.1), on the same connection."""
    via = f"SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-{method}-{number}-{invite.call_id[:12]}"
    lines = [
        f"{method} {invite.uri} SIP/2.0",
        f"Via: {via}",
        "Max-Forwards: 70",
        f"From: {invite.headers.get('From')}",
        f"To: {invite.headers.get('To')};tag={to_tag}",
        f"Call-ID: {invite.call_id}",
        f"CSeq: {number} {method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def subset_mismatches(expected: dict[str, object], actual: dict[str, object]) -> list[str]:
    return [
        f"{key}: expected {value!r}, got {actual.get(key)!r}"
        for key, value in expected.items()
        if actual.get(key) != value
    ]


@pytest.mark.parametrize("path", INVITES, ids=[p.stem for p in INVITES])
def test_corpus_invite_is_recorded_with_its_facts(daemon: Daemon, path: Path) -> None:
    expected = json.loads(path.with_suffix(".expected.json").read_text())
    data = path.read_bytes()
    invite = parse_message(data).message
    assert isinstance(invite, Request)
    sdp_part = next(
        part
        for part in split_body(invite.headers, invite.body)
        if part.content_type == "application/sdp"
    )
    offered = sdp_part.body.count(b"\nm=")
    peer = TcpPeer(daemon.sip_port)
    try:
        peer.send(data)
        ok = peer.final(invite.headers.get("CSeq") or "")
        assert ok.status == 200, f"{ok.status} {ok.reason}"
        assert ok.content_type == "application/sdp"
        assert ok.body.count(b"\nm=") == offered
        assert "+sip.srs" in (ok.headers.get("Contact") or "")

        sessions = [s for s in daemon.sessions() if s["call_id"] == invite.call_id]
        assert len(sessions) == 1
        view = sessions[0]
        facts = view["facts"]
        assert isinstance(facts, dict)
        assert facts["vendor"] == expected["vendor"], facts.get("vendor_evidence")
        assert float(facts["vendor_confidence"]) >= expected.get("min_confidence", 0.0)
        assert subset_mismatches(expected["facts"], facts) == []
        wanted = [
            {k: v for k, v in p.items() if k in ("aor", "sends", "receives", "role")}
            for p in expected["participants"]
        ]
        got = [
            {k: v for k, v in p.items() if k in ("aor", "sends", "receives", "role")}
            for p in facts["participants"]  # type: ignore[union-attr]
        ]
        assert got == wanted
        api_participants = [(p["aor"], p["sends"]) for p in view["participants"]]  # type: ignore[index, union-attr]
        assert api_participants == [(p["aor"], p["sends"]) for p in expected["participants"]]

        to_tag = ok.to_tag or ""
        number = int((invite.headers.get("CSeq") or "1").split()[0])
        peer.send(in_dialog(invite, "ACK", number, to_tag))
        peer.send(in_dialog(invite, "BYE", number + 1, to_tag))
        assert peer.final(f"{number + 1} BYE").status == 200
    finally:
        peer.close()
