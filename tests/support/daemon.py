"""Run the real ``siprec-appliance`` daemon as a subprocess for integration tests."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


@dataclass
class Daemon:
    process: subprocess.Popen[bytes]
    sip_port: int
    http_port: int
    data_dir: Path
    log_path: Path
    token: str

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> dict[str, object]:
        request = urllib.request.Request(
            self.api + path, headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def request(self, method: str, path: str) -> tuple[int, dict[str, object]]:
        """Any API call; returns (HTTP status, JSON body) also for 4xx/5xx answers."""
        request = urllib.request.Request(
            self.api + path, method=method, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def sessions(self) -> list[dict[str, object]]:
        """``GET /api/sessions`` as a list."""
        return self.get("/api/sessions")["sessions"]  # type: ignore[return-value]

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_daemon(
    tmp: Path,
    *,
    rtp_range: tuple[int, int] = (30000, 34000),
    extra_env: dict[str, str] | None = None,
    config_text: str | None = None,
    open_files: int | None = None,
) -> Daemon:
    sip_port, http_port = free_port(), free_port()
    data_dir = tmp / "var"
    token = "test-token-0123456789"
    env = {
        **os.environ,
        "SIPREC_SIP_HOST": "127.0.0.1",
        "SIPREC_SIP_PORT": str(sip_port),
        "SIPREC_HTTP_HOST": "127.0.0.1",
        "SIPREC_HTTP_PORT": str(http_port),
        "SIPREC_DATA_DIR": str(data_dir),
        "SIPREC_RULES_DIR": str(tmp / "rules"),
        "SIPREC_RTP_PORT_MIN": str(rtp_range[0]),
        "SIPREC_RTP_PORT_MAX": str(rtp_range[1]),
        "SIPREC_API_TOKEN": token,
        **(extra_env or {}),
    }
    args = [sys.executable, "-m", "siprec_appliance"]
    if open_files is not None:  # util-linux prlimit: a lower descriptor limit for the daemon
        args = ["prlimit", f"--nofile={open_files}:{open_files}", "--", *args]
    if config_text is not None:
        config_path = tmp / "config.yaml"
        config_path.write_text(config_text)
        args += ["--config", str(config_path)]
    log_path = tmp / "daemon.log"
    with log_path.open("wb") as log_file:  # the child keeps its own descriptor
        process = subprocess.Popen(
            args,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    daemon = Daemon(process, sip_port, http_port, data_dir, log_path, token)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daemon exited with {process.returncode}:\n{daemon.log()}")
        try:
            daemon.get("/api/health")
            return daemon
        except OSError:
            time.sleep(0.1)
    daemon.stop()
    raise RuntimeError(f"daemon did not become healthy:\n{daemon.log()}")


@contextmanager
def running_daemon(tmp: Path, **options: object) -> Iterator[Daemon]:
    """``start_daemon`` for a ``with`` block; on leaving, SIGTERM and expect exit 0."""
    started = start_daemon(tmp, **options)  # type: ignore[arg-type]
    try:
        yield started
    except BaseException:
        started.stop()
        raise
    code = started.stop()
    assert code == 0, f"daemon exited with {code}:\n{started.log()[-4000:]}"


# --------------------------------------------------------------------------------------
# A minimal Session Recording Client on real sockets (UDP, TCP, TLS), for daemon tests.
# It parses what comes back itself, so the appliance is never checked against its own
# parser.
# --------------------------------------------------------------------------------------

_branches = itertools.count(1)


@dataclass
class SipMessage:
    """One SIP message as received: start line, headers (lower-case names), body."""

    start_line: str
    headers: list[tuple[str, str]]
    body: bytes
    raw: bytes

    @property
    def is_response(self) -> bool:
        return self.start_line.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        return int(self.start_line.split(" ", 2)[1]) if self.is_response else 0

    @property
    def reason(self) -> str:
        parts = self.start_line.split(" ", 2)
        return parts[2] if self.is_response and len(parts) == 3 else ""

    @property
    def method(self) -> str:
        return "" if self.is_response else self.start_line.split(" ", 1)[0]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name.lower()]

    @property
    def cseq(self) -> str:
        return self.header("cseq") or ""

    def text(self) -> str:
        return self.raw.decode(errors="replace")


def parse_sip(data: bytes) -> SipMessage:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("utf-8", "replace").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return SipMessage(lines[0], headers, body, data)


def build_request(
    method: str,
    *,
    target_port: int,
    transport: str,
    local_port: int,
    call_id: str,
    from_tag: str,
    cseq: int,
    to_tag: str | None = None,
    request_uri: str | None = None,
    body: bytes = b"",
    content_type: str | None = None,
    extra: list[tuple[str, str]] | None = None,
    cseq_line: str | None = None,
) -> bytes:
    """A request from an SRC at 127.0.0.1:``local_port`` to the recorder."""
    to = f"<sip:srs@127.0.0.1:{target_port}>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {request_uri or f'sip:srs@127.0.0.1:{target_port}'} SIP/2.0",
        f"Via: SIP/2.0/{transport} 127.0.0.1:{local_port}"
        f";branch=z9hG4bK-py{os.getpid()}-{next(_branches)};rport",
        "Max-Forwards: 70",
        f"From: <sip:src@127.0.0.1:{local_port}>;tag={from_tag}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        cseq_line or f"CSeq: {cseq} {method}",
        f"Contact: <sip:src@127.0.0.1:{local_port};transport={transport.lower()}>;+sip.src",
        "User-Agent: siprec-appliance integration tests",
    ]
    lines += [f"{name}: {value}" for name, value in extra or []]
    if body:
        lines.append(f"Content-Type: {content_type or 'application/sdp'}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class SipClient:
    """An SRC on one socket: UDP, or one TCP/TLS connection framed by Content-Length."""

    def __init__(
        self, target_port: int, *, transport: str = "UDP", tls: ssl.SSLContext | None = None
    ) -> None:
        self.target_port = target_port
        self.transport = transport
        self._buffer = b""
        self.received: list[SipMessage] = []
        if transport == "UDP":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            self.sock.bind(("127.0.0.1", 0))
        else:
            raw = socket.create_connection(("127.0.0.1", target_port), timeout=5)
            self.sock = (
                tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls is not None else raw
            )
        self.local_port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        if self.transport == "UDP":
            self.sock.sendto(data, ("127.0.0.1", self.target_port))
        else:
            self.sock.sendall(data)

    def request(self, method: str, **fields: object) -> bytes:
        """Build (``build_request``) and send a request; returns the bytes sent."""
        data = build_request(
            method,
            target_port=self.target_port,
            transport=self.transport,
            local_port=self.local_port,
            **fields,  # type: ignore[arg-type]
        )
        self.send(data)
        return data

    def recv(self, timeout: float = 5.0) -> SipMessage:
        """The next message; raises ``TimeoutError`` when none comes in time."""
        self.sock.settimeout(timeout)
        if self.transport == "UDP":
            data, _ = self.sock.recvfrom(65535)
            message = parse_sip(data)
        else:
            message = self._recv_stream(timeout)
        self.received.append(message)
        return message

    def _recv_stream(self, timeout: float) -> SipMessage:
        deadline = time.monotonic() + timeout
        while True:
            self._buffer = self._buffer.lstrip(b"\r\n")
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end >= 0:
                head = parse_sip(self._buffer[: head_end + 4])
                length = int(head.header("content-length") or head.header("l") or 0)
                total = head_end + 4 + length
                if len(self._buffer) >= total:
                    data, self._buffer = self._buffer[:total], self._buffer[total:]
                    return parse_sip(data)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete SIP message")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("connection closed by the appliance")
            self._buffer += chunk

    def wait_for(self, predicate: Callable[[SipMessage], bool], timeout: float = 5.0) -> SipMessage:
        """The first message matching ``predicate`` (others are kept in ``received``)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = "\n".join(m.start_line + " / " + m.cseq for m in self.received)
                raise TimeoutError(f"no matching SIP message; received:\n{seen}")
            message = self.recv(remaining)
            if predicate(message):
                return message

    def final_response(self, cseq: str, timeout: float = 5.0) -> SipMessage:
        """The first final (>= 200) response whose CSeq is ``cseq`` (e.g. "1 INVITE")."""
        return self.wait_for(
            lambda m: m.is_response and m.status >= 200 and m.cseq == cseq, timeout
        )

    def answer(self, request: SipMessage, status: int = 200, reason: str = "OK") -> None:
        """Respond to a request the appliance sent us (RFC 3261 §8.2.6)."""
        lines = [f"SIP/2.0 {status} {reason}"]
        for name in ("via", "from", "to", "call-id", "cseq"):
            lines += [f"{name.title()}: {value}" for value in request.all(name)]
        lines.append("Content-Length: 0")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode())


@dataclass
class Call:
    """One recording session set up by :func:`establish_call`."""

    client: SipClient
    call_id: str
    from_tag: str
    to_tag: str
    answer: SipMessage
    cseq: int = 1
    sent: list[bytes] = field(default_factory=list)

    def in_dialog(self, method: str, **fields: object) -> bytes:
        if method != "ACK":
            self.cseq += 1
        data = self.client.request(
            method,
            call_id=self.call_id,
            from_tag=self.from_tag,
            to_tag=self.to_tag,
            cseq=self.cseq,
            **fields,
        )
        self.sent.append(data)
        return data

    def bye(self) -> SipMessage:
        self.in_dialog("BYE")
        return self.client.final_response(f"{self.cseq} BYE")


def establish_call(
    client: SipClient,
    body: bytes,
    content_type: str,
    *,
    call_id: str,
    extra: list[tuple[str, str]] | None = None,
    timeout: float = 5.0,
) -> Call:
    """INVITE, wait for 200 (asserting it), ACK: an established recording session."""
    from_tag = f"src-{call_id}"
    client.request(
        "INVITE",
        call_id=call_id,
        from_tag=from_tag,
        cseq=1,
        body=body,
        content_type=content_type,
        extra=[("Require", "siprec"), *(extra or [])],
    )
    answer = client.final_response("1 INVITE", timeout)
    assert answer.status == 200, answer.text()
    to_tag = (answer.header("to") or "").rsplit("tag=", 1)[-1]
    call = Call(client, call_id, from_tag, to_tag, answer)
    call.in_dialog("ACK")
    return call
