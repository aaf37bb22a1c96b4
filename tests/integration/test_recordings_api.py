"""The recordings API: over hand-written recordings, and end to end with a real call."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import itertools
import json
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from siprec_appliance.appliance.api import byte_range, create_app, start_api
from siprec_appliance.appliance.catalog import Catalog
from siprec_appliance.cli import main
from support.catalog_data import participant, sha256, write_recording
from support.daemon import SipClient, establish_call, running_daemon
from support.fake_control import FakeControl
from support.recorded import SIPREC_TYPE, answered_ports
from support.rtp_sender import g711_stream, send_paced
from support.src import multipart, sdp

pytestmark = pytest.mark.integration

TOKEN = "recordings-token-0123456789abcdef"
_names = itertools.count()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


def fetch(
    port: int, path: str, *, token: str | None = TOKEN, headers: dict[str, str] | None = None
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    try:
        connection.request("GET", path, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        got = {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()
    return Reply(response.status, got, raw)


def assert_json_error(reply: Reply, status: int) -> str:
    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    assert reply.body["error"]["status"] == status
    return str(reply.body["error"]["message"])


def with_api(data_dir: Path, scenario: Callable[[int], Any]) -> Any:
    """Catalog over ``data_dir`` (rebuilt from disk) behind the API; run ``scenario(port)``
    in a thread."""

    async def run() -> Any:
        catalog = await Catalog.open(data_dir)
        await catalog.rebuild()
        app = create_app(
            FakeControl(catalog=catalog), token=TOKEN, version="0", name=f"rec_{next(_names)}"
        )
        server = await start_api(app, "127.0.0.1", 0)
        try:
            return await asyncio.to_thread(scenario, server.port)
        finally:
            await server.close()
            await catalog.close()

    return asyncio.run(run())


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    base = 1_714_557_600.0
    alice = participant("sip:alice@example.com", name="Alice", e164="+14155550100")
    bob = participant("sip:bob@example.com")
    root = tmp_path / "var"
    write_recording(
        root, "r1", started_at=base, participants=[alice, bob], seconds=1.0,
        facts={"vendor": "avaya", "ucid": "00112238841573563457"},
    )  # fmt: skip
    write_recording(root, "r2", started_at=base + 60, participants=[bob], labels=("a_leg",))
    return root


# --- against hand-written recordings --------------------------------------------------


def test_list_filters_and_pagination(data_dir: Path) -> None:
    def scenario(port: int) -> None:
        reply = fetch(port, "/api/recordings")
        assert reply.status == 200
        assert [r["id"] for r in reply.body["recordings"]] == ["r2", "r1"]
        assert (reply.body["total"], reply.body["limit"], reply.body["offset"]) == (2, 50, 0)
        assert reply.body["recordings"][1]["participants"][0]["e164"] == "+14155550100"
        checks = {
            "participant=ALICE": ["r1"],
            "participant=%2B1415": ["r1"],
            "participant=bob": ["r2", "r1"],
            "vendor=avaya": ["r1"],
            "correlation_id=00112238841573563457": ["r1"],
            "call_id=r2%40src": ["r2"],
            "since=2024-05-01T10:00:30Z": ["r2"],
            "until=1714557630": ["r1"],
            "status=failed": [],
            "limit=1&offset=1": ["r1"],
        }
        for query, expected in checks.items():
            body = fetch(port, f"/api/recordings?{query}").body
            assert [r["id"] for r in body["recordings"]] == expected, query
        assert fetch(port, "/api/recordings?limit=1").body["total"] == 2

    with_api(data_dir, scenario)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("limit=", "limit"),
        ("offset=-2", "offset"),
        ("since=last+week", "since"),
        ("status=done", "status"),
        ("colour=red", "colour"),
    ],
)
def test_bad_parameters_are_400_naming_them(data_dir: Path, query: str, parameter: str) -> None:
    reply = with_api(data_dir, lambda port: fetch(port, f"/api/recordings?{query}"))
    assert repr(parameter) in assert_json_error(reply, 400)


def test_every_recordings_route_needs_the_token(data_dir: Path) -> None:
    def scenario(port: int) -> list[Reply]:
        paths = ["/api/recordings", "/api/recordings/r1", "/api/recordings/r1/audio"]
        return [fetch(port, path, token=None) for path in paths] + [
            fetch(port, "/api/recordings/r1/audio", token="wrong")
        ]

    for reply in with_api(data_dir, scenario):
        assert_json_error(reply, 401)
        assert reply.headers["www-authenticate"].startswith("Bearer")


def test_get_and_unknown(data_dir: Path) -> None:
    def scenario(port: int) -> tuple[Reply, Reply, Reply]:
        return (
            fetch(port, "/api/recordings/r1"),
            fetch(port, "/api/recordings/nope"),
            fetch(port, "/api/recordings/nope/audio"),
        )

    found, missing, no_audio = with_api(data_dir, scenario)
    body = found.body
    assert body["status"] == "complete"
    assert [f["label"] for f in body["files"]] == ["1", "2"]
    for entry in body["files"]:
        assert entry["sha256"] == sha256((data_dir / entry["path"]).read_bytes())
    assert body["streams"][0]["dtmf"] == [{"digit": "5", "at": 0.1}]
    assert assert_json_error(missing, 404) == "no recording 'nope'"
    assert assert_json_error(no_audio, 404) == "no recording 'nope'"


def test_audio_legs_and_ranges(data_dir: Path) -> None:
    first = (data_dir / "recordings/2024-05-01/r1/stream-0-1.wav").read_bytes()
    second = (data_dir / "recordings/2024-05-01/r1/stream-1-2.wav").read_bytes()
    only = (data_dir / "recordings/2024-05-01/r2/stream-0-a_leg.wav").read_bytes()
    size = len(first)

    def scenario(port: int) -> dict[str, Reply]:
        audio = "/api/recordings/r1/audio"
        return {
            "full": fetch(port, audio),
            "leg2": fetch(port, audio + "?leg=2"),
            "leg1": fetch(port, audio + "?leg=1"),
            "index0": fetch(port, "/api/recordings/r2/audio?leg=0"),
            "badleg": fetch(port, audio + "?leg=9"),
            "head": fetch(port, audio, headers={"Range": "bytes=0-99"}),
            "middle": fetch(port, audio, headers={"Range": "bytes=1000-1999"}),
            "open": fetch(port, audio, headers={"Range": f"bytes={size - 10}-"}),
            "suffix": fetch(port, audio, headers={"Range": "bytes=-5"}),
            "past_end": fetch(port, audio, headers={"Range": f"bytes=0-{size * 2}"}),
            "unsatisfiable": fetch(port, audio, headers={"Range": f"bytes={size}-"}),
            "multi": fetch(port, audio, headers={"Range": "bytes=0-1,5-6"}),
            "garbage": fetch(port, audio, headers={"Range": "pages=1-2"}),
        }

    r = with_api(data_dir, scenario)
    assert (r["full"].status, r["full"].raw) == (200, first)
    assert r["full"].headers["content-type"] == "audio/wav"
    assert r["full"].headers["accept-ranges"] == "bytes"
    assert r["full"].headers["content-length"] == str(size)
    assert "content-range" not in r["full"].headers
    assert r["leg2"].raw == second
    assert r["leg1"].raw == first, "label '1' wins over stream index 1"
    assert r["index0"].raw == only, "r2 has no label '0': stream index 0"
    assert "no leg '9'" in assert_json_error(r["badleg"], 404)
    expected = {
        "head": (0, 99),
        "middle": (1000, 1999),
        "open": (size - 10, size - 1),
        "suffix": (size - 5, size - 1),
        "past_end": (0, size - 1),
    }
    for name, (start, end) in expected.items():
        reply = r[name]
        assert reply.status == 206, name
        assert reply.raw == first[start : end + 1], name
        assert reply.headers["content-range"] == f"bytes {start}-{end}/{size}", name
        assert reply.headers["content-length"] == str(end - start + 1), name
    assert_json_error(r["unsatisfiable"], 416)
    assert r["unsatisfiable"].headers["content-range"] == f"bytes */{size}"
    assert (r["multi"].status, r["multi"].raw) == (200, first)
    assert (r["garbage"].status, r["garbage"].raw) == (200, first)


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, (0, 0)),
        ("BYTES=2-", 10, (2, 9)),
        ("bytes=-20", 10, (0, 9)),
        ("bytes=5-2", 10, None),
        ("bytes=-", 10, None),
        ("bytes=1-2, 4-5", 10, None),
        ("bytes=a-b", 10, None),
    ],
)
def test_byte_range(header: str | None, size: int, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=-1", 0)])
def test_byte_range_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(Exception, match="not satisfiable") as caught:
        byte_range(header, size)
    assert caught.value.headers == {"Content-Range": f"bytes */{size}"}  # type: ignore[attr-defined]


# --- end to end: a real call through the daemon ---------------------------------------


def _wait_for_status(
    port: int, token: str, call_id: str, status: str, timeout: float = 10.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        query = urllib.parse.urlencode({"call_id": call_id})
        recordings = fetch(port, token=token, path=f"/api/recordings?{query}").body["recordings"]
        if recordings and recordings[0]["status"] == status:
            return dict(recordings[0])
        assert time.monotonic() < deadline, f"recording never {status}: {recordings}"
        time.sleep(0.05)


def test_real_call_is_cataloged_served_and_downloaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_daemon(tmp_path) as daemon:
        port, token = daemon.http_port, daemon.token
        client = SipClient(daemon.sip_port)
        try:
            call = establish_call(client, multipart(sdp()), SIPREC_TYPE, call_id="cat-1")
            ports = answered_ports(call.answer.body)
            assert len(ports) == 2
            assert _wait_for_status(port, token, "cat-1", "recording")["participants"]
            send_paced(
                [
                    g711_stream(("127.0.0.1", ports[0]), 440, 1.0, ssrc=0x1111),
                    g711_stream(("127.0.0.1", ports[1]), 1000, 1.0, ssrc=0x2222),
                ]
            )
            time.sleep(0.2)
            assert call.bye().status == 200
        finally:
            client.close()
        summary = _wait_for_status(port, token, "cat-1", "complete")

        found = fetch(port, token=token, path="/api/recordings?participant=ALICE%40example").body
        assert [r["id"] for r in found["recordings"]] == [summary["id"]]
        assert (
            fetch(port, token=token, path="/api/recordings?participant=nobody").body["total"] == 0
        )
        recording_id = summary["id"]

        body = fetch(port, token=token, path=f"/api/recordings/{recording_id}").body
        assert body["call_id"] == "cat-1"
        assert body["reason"] == "BYE from the SRC"
        # The combined file (stream index -1) comes first and is the default audio.
        assert [f["label"] for f in body["files"]] == ["combined", "1", "2"]
        combined, *contents = [(daemon.data_dir / f["path"]).read_bytes() for f in body["files"]]
        assert (body["files"][0]["channels"], body["files"][0]["format"]) == (2, "wav")
        for entry, data in zip(body["files"], [combined, *contents], strict=True):
            assert entry["sha256"] == hashlib.sha256(data).hexdigest()
            assert entry["size"] == len(data)
            assert entry["duration"] == pytest.approx(1.0, abs=0.05)
        assert [s["received"] for s in body["streams"]] == [50, 50]
        assert {p["aor"] for p in body["participants"]} == {
            "sip:alice@example.com",
            "sip:bob@example.com",
        }

        audio = f"/api/recordings/{recording_id}/audio"
        full = fetch(port, token=token, path=audio)
        assert (full.status, full.raw) == (200, combined)
        assert fetch(port, token=token, path=audio + "?leg=1").raw == contents[0]
        assert fetch(port, token=token, path=audio + "?leg=2").raw == contents[1]
        head = fetch(port, token=token, path=audio, headers={"Range": "bytes=0-99"})
        assert (head.status, len(head.raw), head.raw) == (206, 100, combined[:100])
        assert head.headers["content-range"] == f"bytes 0-99/{len(combined)}"
        too_far = fetch(
            port, token=token, path=audio, headers={"Range": f"bytes={len(combined) + 1}-"}
        )
        assert_json_error(too_far, 416)
        assert "'limit'" in assert_json_error(
            fetch(port, token=token, path="/api/recordings?limit=5000"), 400
        )

        target = tmp_path / "out.wav"
        argv = ["--url", daemon.api, "--token", daemon.token, "recordings", "download"]
        assert main([*argv, recording_id, "--leg", "2", "-o", str(target)]) == 0
        assert target.read_bytes() == contents[1]
        assert capsys.readouterr().out == f"wrote {len(contents[1])} bytes to {target}\n"
        assert not target.with_name("out.wav.part").exists()

    # The catalog is an index: without it, the restarted daemon rebuilds it from disk.
    for leftover in daemon.data_dir.glob("catalog.sqlite3*"):
        leftover.unlink()
    with running_daemon(tmp_path) as restarted:
        again = _wait_for_status(restarted.http_port, restarted.token, "cat-1", "complete")
        assert again["id"] == recording_id
