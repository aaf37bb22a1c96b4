"""The REST API over real HTTP on 127.0.0.1, served inside a loop the test drives."""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import pytest

from siprec_appliance.appliance.api import create_app, snapshot_to_json, start_api
from siprec_appliance.appliance.control import ApplianceControl
from siprec_appliance.siprec.model import SessionSnapshot, StreamInfo
from support.fake_control import FakeControl

pytestmark = pytest.mark.integration

TOKEN = "test-token-0123456789abcdef"
VERSION = "9.8.7"
_names = itertools.count()
T = TypeVar("T")


def make_session(session_id: str, *, started_at: float = 1_700_000_000.25) -> SessionSnapshot:
    return SessionSnapshot(
        id=session_id,
        call_id=f"{session_id}@src.example.com",
        state="recording",
        src_address="192.0.2.1:5060",
        transport="udp",
        streams=(
            StreamInfo(
                index=0,
                label="1",
                port=10000,
                rtcp_port=10001,
                codecs=("PCMU", "telephone-event"),
                direction="recvonly",
                paused=False,
                packets=1500,
            ),
            StreamInfo(
                index=1,
                label="2",
                port=10002,
                rtcp_port=None,
                codecs=("PCMA",),
                direction="recvonly",
                paused=True,
            ),
        ),
        started_at=started_at,
        is_siprec=True,
        metadata_parts=1,
        warnings=("no participant for stream 2",),
    )


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes


def fetch(
    port: int, method: str, path: str, token: str | None = None, auth: str | None = None
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if auth is not None:
        headers["Authorization"] = auth
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        reply_headers = {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()
    body = json.loads(raw) if raw else None
    return Reply(response.status, reply_headers, body, raw)


def serve(
    control: ApplianceControl, scenario: Callable[[int], Awaitable[T]], name: str | None = None
) -> T:
    """Start the API in a fresh loop, run ``scenario(port)``, close the API."""

    async def main() -> T:
        app = create_app(control, token=TOKEN, version=VERSION, name=name or f"api_{next(_names)}")
        server = await start_api(app, "127.0.0.1", 0)
        try:
            return await scenario(server.port)
        finally:
            await server.close()

    return asyncio.run(main())


def request(
    control: ApplianceControl,
    method: str,
    path: str,
    token: str | None = None,
    auth: str | None = None,
) -> Reply:
    async def scenario(port: int) -> Reply:
        return await asyncio.to_thread(fetch, port, method, path, token, auth)

    return serve(control, scenario)


def assert_json_error(reply: Reply, status: int) -> str:
    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    assert set(reply.body) == {"error"}
    assert reply.body["error"]["status"] == status
    message = reply.body["error"]["message"]
    assert isinstance(message, str) and message
    assert b"<html" not in reply.raw.lower()
    assert b"Traceback" not in reply.raw
    return message


# --- health ---------------------------------------------------------------------------


def test_health_needs_no_token() -> None:
    control = FakeControl(sessions={"a": make_session("a")})
    reply = request(control, "GET", "/api/health")
    assert reply.status == 200
    assert reply.body["status"] == "ok"
    assert reply.body["version"] == VERSION
    assert reply.body["active_sessions"] == 1
    assert 4.5 <= reply.body["uptime_seconds"] < 60
    assert isinstance(reply.body["uptime_seconds"], float)


def test_health_reports_draining() -> None:
    reply = request(FakeControl(draining=True), "GET", "/api/health")
    assert reply.body["status"] == "draining"


# --- authentication -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "auth"),
    [
        (None, None),
        ("wrong-token", None),
        (None, f"Basic {TOKEN}"),
        (None, TOKEN),
        (TOKEN + "x", None),
    ],
)
def test_sessions_need_the_token(token: str | None, auth: str | None) -> None:
    control = FakeControl(sessions={"a": make_session("a")})
    for method, path in [
        ("GET", "/api/sessions"),
        ("GET", "/api/sessions/a"),
        ("DELETE", "/api/sessions/a"),
        ("POST", "/api/sessions/a/pause"),
        ("POST", "/api/sessions/a/resume"),
    ]:
        reply = request(control, method, path, token=token, auth=auth)
        assert assert_json_error(reply, 401) == "missing or invalid API token"
        assert reply.headers["www-authenticate"] == "Bearer"
    assert control.terminate_calls == []
    assert "a" in control.sessions


def test_scheme_is_case_insensitive() -> None:
    reply = request(FakeControl(), "GET", "/api/sessions", auth=f"bearer {TOKEN}")
    assert reply.status == 200


# --- sessions -------------------------------------------------------------------------


def test_list_sessions() -> None:
    control = FakeControl(
        sessions={
            "late": make_session("late", started_at=1_700_000_100.0),
            "early": make_session("early"),
        }
    )
    reply = request(control, "GET", "/api/sessions", token=TOKEN)
    assert reply.status == 200
    assert [s["id"] for s in reply.body["sessions"]] == ["early", "late"]
    first = reply.body["sessions"][0]
    assert set(first) == {
        "id", "call_id", "state", "src_address", "transport", "streams", "started_at",
        "started_at_unix", "is_siprec", "metadata_parts", "ended_at", "ended_at_unix",
        "end_reason", "warnings", "participants", "facts", "metadata_versions",
        "metadata_problems", "recording_paused", "decision",
    }  # fmt: skip
    assert first["call_id"] == "early@src.example.com"
    assert first["started_at"] == "2023-11-14T22:13:20.250Z"
    assert first["started_at_unix"] == 1_700_000_000.25
    assert datetime.fromisoformat(first["started_at"]).timestamp() == 1_700_000_000.25
    assert first["ended_at"] is None
    assert first["warnings"] == ["no participant for stream 2"]
    assert first["streams"][0] == {
        "index": 0,
        "label": "1",
        "port": 10000,
        "rtcp_port": 10001,
        "codecs": ["PCMU", "telephone-event"],
        "direction": "recvonly",
        "paused": False,
        "packets": 1500,
    }
    assert first["streams"][1]["rtcp_port"] is None
    assert first["streams"][1]["paused"] is True


def test_list_without_sessions() -> None:
    reply = request(FakeControl(), "GET", "/api/sessions", token=TOKEN)
    assert reply.body == {"sessions": []}


def test_get_session() -> None:
    control = FakeControl(sessions={"a": make_session("a")})
    reply = request(control, "GET", "/api/sessions/a", token=TOKEN)
    assert reply.status == 200
    assert reply.body == snapshot_to_json(make_session("a"))


def test_get_terminated_session_shows_end() -> None:
    ended = SessionSnapshot(
        id="old",
        call_id="c",
        state="terminated",
        src_address="192.0.2.1:5060",
        transport="tcp",
        streams=(),
        started_at=1_700_000_000.0,
        ended_at=1_700_000_060.5,
        end_reason="BYE from SRC",
        is_siprec=False,
    )
    reply = request(FakeControl(ended={"old": ended}), "GET", "/api/sessions/old", token=TOKEN)
    assert reply.body["ended_at"] == "2023-11-14T22:14:20.500Z"
    assert reply.body["ended_at_unix"] == 1_700_000_060.5
    assert reply.body["end_reason"] == "BYE from SRC"


def test_get_unknown_session_is_json_404() -> None:
    reply = request(FakeControl(), "GET", "/api/sessions/nope", token=TOKEN)
    assert assert_json_error(reply, 404) == "no session 'nope'"


def test_delete_terminates_through_the_control() -> None:
    control = FakeControl(sessions={"a": make_session("a"), "b": make_session("b")})
    reply = request(control, "DELETE", "/api/sessions/a", token=TOKEN)
    assert reply.status == 202
    assert reply.body == {"id": "a", "state": "terminating"}
    assert control.terminate_calls == ["a"]
    assert set(control.sessions) == {"b"}


def test_delete_unknown_session_is_404_after_asking_the_control() -> None:
    control = FakeControl()
    reply = request(control, "DELETE", "/api/sessions/gone", token=TOKEN)
    assert assert_json_error(reply, 404) == "no active session 'gone'"
    assert control.terminate_calls == ["gone"]


def test_pause_and_resume_through_the_control() -> None:
    control = FakeControl(sessions={"a": make_session("a")})
    reply = request(control, "POST", "/api/sessions/a/pause", token=TOKEN)
    assert (reply.status, reply.body) == (202, {"id": "a", "paused": True})
    assert control.sessions["a"].recording_paused
    reply = request(control, "GET", "/api/sessions/a", token=TOKEN)
    assert reply.body["recording_paused"] is True
    reply = request(control, "POST", "/api/sessions/a/pause", token=TOKEN)
    assert assert_json_error(reply, 409) == "session 'a' is already paused"
    reply = request(control, "POST", "/api/sessions/a/resume", token=TOKEN)
    assert (reply.status, reply.body) == (202, {"id": "a", "paused": False})
    reply = request(control, "POST", "/api/sessions/a/resume", token=TOKEN)
    assert assert_json_error(reply, 409) == "session 'a' is not paused"
    reply = request(control, "POST", "/api/sessions/gone/pause", token=TOKEN)
    assert assert_json_error(reply, 404) == "no active session 'gone'"


def test_session_id_is_url_decoded() -> None:
    control = FakeControl(sessions={"a b": make_session("a b")})
    reply = request(control, "DELETE", "/api/sessions/a%20b", token=TOKEN)
    assert reply.status == 202
    assert control.terminate_calls == ["a b"]


# --- errors are JSON ------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, TOKEN])
def test_unknown_route_is_json_404(token: str | None) -> None:
    for path in ["/", "/api/nothing", "/api/sessions/a/b", "/index.html"]:
        assert_json_error(request(FakeControl(), "GET", path, token=token), 404)


def test_wrong_method_is_json_405_with_allow() -> None:
    reply = request(FakeControl(), "POST", "/api/sessions", token=TOKEN)
    assert_json_error(reply, 405)
    assert reply.headers["allow"] == "GET"
    reply = request(FakeControl(), "PUT", "/api/health")
    assert_json_error(reply, 405)


def test_crash_is_json_500_without_details(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        reply = request(FakeControl(fail=True), "GET", "/api/sessions", token=TOKEN)
    assert assert_json_error(reply, 500) == "internal server error"
    assert b"secret internal detail" not in reply.raw
    assert "secret internal detail" in caplog.text  # logged for the operator
    assert TOKEN not in caplog.text


def test_malformed_request_is_json_400() -> None:
    async def scenario(port: int) -> bytes:
        def send() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /api/health HTTP/1.1\r\nContent-Length: x\r\n\r\n")
                chunks = []
                while chunk := sock.recv(4096):
                    chunks.append(chunk)
                return b"".join(chunks)

        return await asyncio.to_thread(send)

    raw = serve(FakeControl(), scenario)
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"]["status"] == 400


# --- lifecycle ------------------------------------------------------------------------


def test_same_name_can_be_reused_after_close() -> None:
    async def scenario(port: int) -> int:
        return (await asyncio.to_thread(fetch, port, "GET", "/api/health")).status

    assert serve(FakeControl(), scenario, name="reused_name") == 200
    assert serve(FakeControl(), scenario, name="reused_name") == 200


def test_close_with_idle_keep_alive_connection_and_port_is_released() -> None:
    async def scenario(port: int) -> tuple[int, int]:
        def keep_open() -> tuple[int, http.client.HTTPConnection]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/api/health")
            response = connection.getresponse()
            response.read()
            return response.status, connection  # left open (keep-alive)

        status, connection = await asyncio.to_thread(keep_open)
        held.append(connection)
        return port, status

    held: list[http.client.HTTPConnection] = []
    started = time.monotonic()
    port, status = serve(FakeControl(), scenario)
    assert status == 200
    assert time.monotonic() - started < 4.0  # idle connections do not hold up close()
    for connection in held:
        connection.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_busy_port_fails_fast() -> None:
    async def main() -> None:
        first = await start_api(create_app(FakeControl(), token=TOKEN, version=VERSION,
                                           name="busy_1"), "127.0.0.1", 0)  # fmt: skip
        try:
            app = create_app(FakeControl(), token=TOKEN, version=VERSION, name="busy_2")
            with pytest.raises(OSError):
                await start_api(app, "127.0.0.1", first.port)
            # the failed app released its name
            create_app(FakeControl(), token=TOKEN, version=VERSION, name="busy_2")
        finally:
            await first.close()

    asyncio.run(main())


def test_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        create_app(FakeControl(), token="", version=VERSION, name="empty_token")
