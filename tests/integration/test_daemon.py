"""The daemon process on real sockets, driven from Python: OPTIONS, shutdown, the API's
BYE, TLS, the source allow-list and hostile input.

Each test starts ``python -m siprec_appliance`` and talks SIP to it with the small
client in ``support.daemon``, which parses answers itself.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.daemon import (
    Call,
    Daemon,
    SipClient,
    SipMessage,
    establish_call,
    free_port,
    running_daemon,
    start_daemon,
)
from support.src import BOUNDARY, multipart, sdp
from support.tls import self_signed_certificate

pytestmark = pytest.mark.integration

RTP_RANGE = (24000, 25999)  # outside Linux's ephemeral port range
SIPREC_TYPE = f"multipart/mixed;boundary={BOUNDARY}"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    grace = {"SIPREC_SIP_SHUTDOWN_GRACE": "1"}
    with running_daemon(tmp_path, rtp_range=RTP_RANGE, extra_env=grace) as started:
        yield started


@pytest.fixture
def client(daemon: Daemon) -> Iterator[SipClient]:
    udp = SipClient(daemon.sip_port)
    yield udp
    udp.close()


def options(client: SipClient, call_id: str) -> SipMessage:
    client.request("OPTIONS", call_id=call_id, from_tag="ping", cseq=1)
    return client.final_response("1 OPTIONS")


def siprec_call(client: SipClient, call_id: str) -> Call:
    return establish_call(client, multipart(sdp(port=40000)), SIPREC_TYPE, call_id=call_id)


def session_of(daemon: Daemon, call_id: str) -> dict[str, object]:
    matching = [s for s in daemon.sessions() if s["call_id"] == call_id]
    assert len(matching) == 1, daemon.sessions()
    return matching[0]


def is_bye_for(call_id: str) -> Callable[[SipMessage], bool]:
    return lambda m: not m.is_response and m.method == "BYE" and m.header("call-id") == call_id


def tokens(value: str | None) -> set[str]:
    return {item.strip().lower() for item in (value or "").split(",") if item.strip()}


# ------------------------------------------------------------------- OPTIONS


def test_options_over_udp(client: SipClient) -> None:
    """OPTIONS -> 200 with Allow, Accept and Supported (SBC keep-alives, RFC 3261 §11)."""
    answer = options(client, "options-1@127.0.0.1")
    assert answer.status == 200, answer.text()
    assert {"invite", "ack", "bye", "cancel", "options"} <= tokens(answer.header("allow"))
    accept = tokens(answer.header("accept"))
    assert {"application/sdp", "application/rs-metadata+xml", "multipart/mixed"} <= accept
    assert "siprec" in tokens(answer.header("supported"))
    # The response belongs to our request (RFC 3261 §8.2.6.2).
    assert answer.header("call-id") == "options-1@127.0.0.1"
    assert f"rport={client.local_port}" in (answer.header("via") or "")


# ------------------------------------------------------------------ shutdown


def test_sigterm_drains_with_503_then_byes_and_exits_0(tmp_path: Path) -> None:
    """SIGTERM: new OPTIONS/INVITE get 503 during the grace, then BYE to the SRC, exit 0."""
    daemon = start_daemon(tmp_path, rtp_range=RTP_RANGE, config_text="sip:\n  shutdown_grace: 3\n")
    src = SipClient(daemon.sip_port)
    other = SipClient(daemon.sip_port)
    try:
        call = siprec_call(src, "drain-1@127.0.0.1")
        signalled = time.monotonic()
        daemon.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)

        refused = options(other, "drain-options@127.0.0.1")
        assert refused.status == 503, refused.text()
        assert refused.header("retry-after"), refused.text()
        assert daemon.get("/api/health")["status"] == "draining"

        other.request(
            "INVITE",
            call_id="drain-2@127.0.0.1",
            from_tag="late",
            cseq=1,
            body=multipart(sdp(port=40010)),
            content_type=SIPREC_TYPE,
            extra=[("Require", "siprec")],
        )
        late = other.final_response("1 INVITE")
        assert late.status == 503, late.text()
        assert late.header("retry-after"), late.text()
        other.request(  # ACK the 503 (RFC 3261 §17.1.1.3) so it is not retransmitted
            "ACK",
            call_id="drain-2@127.0.0.1",
            from_tag="late",
            to_tag=(late.header("to") or "").rsplit("tag=", 1)[-1],
            cseq=1,
        )

        bye = src.wait_for(is_bye_for(call.call_id), timeout=8)
        waited = time.monotonic() - signalled
        src.answer(bye)
        assert waited >= 2.5, f"BYE after {waited:.1f}s: the 3 s grace was not given"
        assert (bye.header("from") or "").endswith(f"tag={call.to_tag}")
        assert (bye.header("to") or "").endswith(f"tag={call.from_tag}")
        assert daemon.process.wait(10) == 0, daemon.log()[-4000:]
    finally:
        src.close()
        other.close()
        daemon.stop()


# ------------------------------------------------------------- API terminate


@pytest.mark.parametrize("transport", ["UDP", "TCP"])
def test_api_delete_sends_bye_and_session_shows_terminated(daemon: Daemon, transport: str) -> None:
    client = SipClient(daemon.sip_port, transport=transport)
    try:
        _delete_and_expect_bye(daemon, client)
    finally:
        client.close()


def _delete_and_expect_bye(daemon: Daemon, client: SipClient) -> None:
    call = siprec_call(client, f"api-delete-{client.transport}@127.0.0.1")
    assert session_of(daemon, call.call_id)["transport"] == client.transport.lower()
    session = session_of(daemon, call.call_id)
    assert session["state"] == "active"
    session_id = str(session["id"])

    status, body = daemon.request("DELETE", f"/api/sessions/{session_id}")
    assert status == 202, body
    assert body == {"id": session_id, "state": "terminating"}

    bye = client.wait_for(is_bye_for(call.call_id))
    client.answer(bye)
    assert bye.cseq.endswith(" BYE")
    # The BYE goes to the SRC's Contact, inside the dialog (RFC 3261 §12.2.1.1).
    assert bye.start_line.startswith(f"BYE sip:src@127.0.0.1:{client.local_port}")

    status, view = daemon.request("GET", f"/api/sessions/{session_id}")
    assert status == 200, view
    assert view["state"] == "terminated"
    assert view["ended_at"] is not None
    assert all(s["call_id"] != call.call_id for s in daemon.sessions())
    status, body = daemon.request("DELETE", f"/api/sessions/{session_id}")
    assert status == 404, body


# ----------------------------------------------------------------------- TLS


def test_siprec_call_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path, "sip", "siprec test recorder")
    tls_port = free_port()
    env = {
        "SIPREC_SIP_TLS_CERT": str(cert),
        "SIPREC_SIP_TLS_KEY": str(key),
        "SIPREC_SIP_TLS_PORT": str(tls_port),
        "SIPREC_SIP_SHUTDOWN_GRACE": "1",
    }
    with running_daemon(tmp_path, rtp_range=RTP_RANGE, extra_env=env) as daemon:
        context = ssl.create_default_context(cafile=str(cert))  # verifies our own cert
        client = SipClient(tls_port, transport="TLS", tls=context)
        try:
            call = siprec_call(client, "tls-1@127.0.0.1")
            contact = call.answer.header("contact") or ""
            assert ";transport=tls" in contact.lower(), call.answer.text()
            assert "+sip.srs" in contact
            assert f":{tls_port}" in contact, "Contact must name the TLS port"
            assert session_of(daemon, call.call_id)["transport"] == "tls"
            assert call.bye().status == 200
        finally:
            client.close()


# ----------------------------------------------------------------- allow-list


def test_source_outside_allow_list_gets_403(tmp_path: Path) -> None:
    config = 'sip:\n  allowed_sources: ["10.0.0.0/8"]\n  shutdown_grace: 1\n'
    with running_daemon(tmp_path, rtp_range=RTP_RANGE, config_text=config) as daemon:
        client = SipClient(daemon.sip_port)
        try:
            client.request(
                "INVITE",
                call_id="denied@127.0.0.1",
                from_tag="denied",
                cseq=1,
                body=multipart(sdp(port=40000)),
                content_type=SIPREC_TYPE,
                extra=[("Require", "siprec")],
            )
            answer = client.final_response("1 INVITE")
            assert answer.status == 403, answer.text()
            assert options(client, "denied-options@127.0.0.1").status == 403
            assert daemon.sessions() == []
        finally:
            client.close()


# ------------------------------------------------------------ hostile input


@pytest.mark.parametrize(
    "cseq_line",
    ["CSeq: abc INVITE", "CSeq: 1 BYE", "CSeq: 1", "CSeq: -5 INVITE"],
    ids=["not-a-number", "wrong-method", "no-method", "negative"],
)
def test_bad_cseq_gets_400_with_reason(client: SipClient, cseq_line: str) -> None:
    client.request(
        "INVITE",
        call_id=f"bad-cseq-{cseq_line}@127.0.0.1",
        from_tag="bad",
        cseq=1,
        cseq_line=cseq_line,
        body=multipart(sdp(port=40000)),
        content_type=SIPREC_TYPE,
    )
    try:
        answer = client.recv(timeout=2)
    except TimeoutError:
        pytest.fail(f"no answer at all to an INVITE with {cseq_line!r} (RFC 3261 §8.2: 400)")
    assert answer.status == 400, answer.text()
    assert answer.reason.strip(), f"400 without a reason phrase: {answer.start_line!r}"
    assert answer.header("call-id") == f"bad-cseq-{cseq_line}@127.0.0.1"


def test_garbage_datagrams_do_not_hurt(daemon: Daemon, client: SipClient) -> None:
    rng = random.Random(7866)
    garbage = [
        b"",
        b"\r\n\r\n",
        b"\x00" * 1500,
        bytes(rng.getrandbits(8) for _ in range(1200)),
        b"INVITE sip:srs@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP",
        b"SIP/2.0 200 OK\r\nCSeq: 1 BYE\r\n\r\n",
        b"OPTIONS \xff\xfe SIP/2.0\r\n\r\n",
        "INVITE sip:😀@127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n\r\nx".encode(),
    ]
    garbage += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4000))) for _ in range(50)]
    for data in garbage:
        client.send(data)
    answer = options(client, "after-garbage@127.0.0.1")
    assert answer.status == 200, answer.text()
    assert daemon.process.poll() is None
    assert daemon.get("/api/health")["status"] == "ok"


def test_garbage_on_tcp_closes_only_that_connection(daemon: Daemon) -> None:
    with socket.create_connection(("127.0.0.1", daemon.sip_port), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01\x02\x00" + os.urandom(600) + b"\r\n\r\n")
        raw.sendall(b"NOT SIP AT ALL\r\nContent-Length: banana\r\n\r\n")
    tcp = SipClient(daemon.sip_port, transport="TCP")
    try:
        answer = options(tcp, "tcp-after-garbage@127.0.0.1")
        assert answer.status == 200, answer.text()
    finally:
        tcp.close()
    assert daemon.process.poll() is None
