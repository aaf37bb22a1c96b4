"""``siprecctl`` against a real API served from a background thread with its own loop."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from siprec_appliance.appliance.api import create_app, start_api
from siprec_appliance.appliance.catalog import Catalog
from siprec_appliance.cli import main
from siprec_appliance.siprec.model import SessionSnapshot, StreamInfo
from support.alerts import webhook_alerts
from support.catalog_data import participant, sha256, write_recording
from support.daemon import free_port
from support.fake_control import FakeControl
from support.rules import VENDORS, VIP_RULE, rules_service, write_rules
from support.webhook import Receiver, webhook_receiver

pytestmark = pytest.mark.integration

TOKEN = "cli-test-token-0123456789abcdef"
_names = itertools.count()


def make_session(session_id: str) -> SessionSnapshot:
    return SessionSnapshot(
        id=session_id,
        call_id=f"call-{session_id}@pbx.example.com",
        state="recording",
        src_address="198.51.100.7:5060",
        transport="tls",
        streams=(
            StreamInfo(
                index=0,
                label="inbound",
                port=10000,
                rtcp_port=10001,
                codecs=("PCMU",),
                direction="recvonly",
                paused=False,
                packets=321,
            ),
        ),
        started_at=1_700_000_000.0,
        is_siprec=True,
    )


class ApiThread:
    """The API in a thread with its own event loop, like the appliance runs it."""

    def __init__(self, control: FakeControl) -> None:
        self.control = control
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10), "API did not start"
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        alerts = self.control.alerts
        if alerts is not None:
            await alerts.start()  # in the API's loop, as the appliance does
        app = create_app(self.control, token=TOKEN, version="1.2.3", name=f"cli_{next(_names)}")
        server = await start_api(app, "127.0.0.1", 0)
        self.port = server.port
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.close()
            if alerts is not None:
                await alerts.stop()


@contextmanager
def serving(**fields: Any) -> Iterator[ApiThread]:
    """The API over a :class:`FakeControl` with ``fields`` (up 1h02m05s), while inside."""
    server = ApiThread(FakeControl(uptime=3725.0, **fields))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("SIPREC_API_URL", "SIPREC_API_TOKEN", "SIPREC_HTTP_PORT", "SIPREC_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./var/api-token here
    return tmp_path


@pytest.fixture
def api(clean_env: Path) -> Iterator[ApiThread]:
    with serving(sessions={"s-1": make_session("s-1"), "s-2": make_session("s-2")}) as server:
        yield server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- success --------------------------------------------------------------------------


def test_health_human(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--url", api.url, "health")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["status:", "ok"]
    assert lines[1].split() == ["version:", "1.2.3"]
    assert lines[2].split()[1].startswith("1h02m0")
    assert lines[3].split() == ["active", "sessions:", "2"]


def test_health_json(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--url", api.url, "--json", "health")
    assert code == 0
    body = json.loads(out)
    assert body["status"] == "ok"
    assert body["version"] == "1.2.3"
    assert body["active_sessions"] == 2


def test_sessions_list_table(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--url", api.url, "--token", TOKEN, "sessions", "list")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "ID", "STATE", "SOURCE", "TRANSPORT", "STREAMS", "SIPREC", "STARTED", "CALL-ID"
    ]  # fmt: skip
    assert [row.split()[0] for row in rows] == ["s-1", "s-2"]
    assert rows[0].split() == [
        "s-1", "recording", "198.51.100.7:5060", "tls", "1", "yes",
        "2023-11-14", "22:13:20Z", "call-s-1@pbx.example.com",
    ]  # fmt: skip


def test_sessions_list_json(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--url", api.url, "--token", TOKEN, "--json", "sessions", "list")
    assert code == 0
    assert [s["id"] for s in json.loads(out)["sessions"]] == ["s-1", "s-2"]


def test_sessions_list_empty(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serving() as server:
        code, out, _ = run(capsys, "--url", server.url, "--token", TOKEN, "sessions", "list")
    assert (code, out) == (0, "no active sessions\n")


def test_sessions_get(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--url", api.url, "--token", TOKEN, "sessions", "get", "s-2")
    assert code == 0
    assert "call-s-2@pbx.example.com" in out
    assert "started:" in out and "2023-11-14 22:13:20Z" in out
    stream_header = next(line for line in out.splitlines() if line.startswith("#"))
    assert stream_header.split() == [
        "#", "LABEL", "PORT", "RTCP", "CODECS", "DIRECTION", "PAUSED", "PACKETS"
    ]  # fmt: skip
    assert out.splitlines()[-1].split() == [
        "0", "inbound", "10000", "10001", "PCMU", "recvonly", "no", "321"
    ]  # fmt: skip


def test_sessions_terminate(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--url", api.url, "--token", TOKEN, "sessions", "terminate", "s-1")
    assert (code, out) == (0, "session s-1: terminating\n")
    assert api.control.terminate_calls == ["s-1"]
    assert "s-1" not in api.control.sessions


def test_pause_and_resume(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("--url", api.url, "--token", TOKEN)
    code, out, _ = run(capsys, *base, "pause", "s-1")
    assert (code, out) == (0, "session s-1: recording paused\n")
    assert api.control.sessions["s-1"].recording_paused
    code, _, err = run(capsys, *base, "pause", "s-1")
    assert code == 1 and "409" in err and "already paused" in err
    code, out, _ = run(capsys, *base, "resume", "s-1")
    assert (code, out) == (0, "session s-1: recording resumed\n")
    code, _, err = run(capsys, *base, "pause", "nope")
    assert code == 1 and "404" in err


def test_session_id_is_quoted(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(capsys, "--url", api.url, "--token", TOKEN, "sessions", "terminate", "x/y z")
    assert code == 1
    assert api.control.terminate_calls == ["x/y z"]


# --- where URL and token come from ----------------------------------------------------


def test_token_and_url_from_environment(
    api: ApiThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIPREC_API_URL", api.url)
    monkeypatch.setenv("SIPREC_API_TOKEN", TOKEN)
    code, out, _ = run(capsys, "sessions", "list")
    assert code == 0
    assert "s-1" in out


def test_default_url_uses_http_port(
    api: ApiThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIPREC_HTTP_PORT", str(api.port))
    assert run(capsys, "health")[0] == 0


def test_token_from_data_dir_file(
    api: ApiThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = Path("state")
    data_dir.mkdir()
    (data_dir / "api-token").write_text(TOKEN + "\n", encoding="utf-8")
    monkeypatch.setenv("SIPREC_DATA_DIR", str(data_dir))
    assert run(capsys, "--url", api.url, "sessions", "list")[0] == 0


def test_token_from_default_var_dir(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    Path("var").mkdir()
    Path("var/api-token").write_text(TOKEN, encoding="utf-8")
    assert run(capsys, "--url", api.url, "sessions", "list")[0] == 0


def test_token_file_option(
    api: ApiThread, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    args = ("--url", api.url, "--token-file", str(token_file), "sessions", "list")
    assert run(capsys, *args)[0] == 0


def test_token_option_beats_environment(
    api: ApiThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIPREC_API_TOKEN", "wrong-token-from-env")
    assert run(capsys, "--url", api.url, "--token", TOKEN, "sessions", "list")[0] == 0
    assert run(capsys, "--url", api.url, "sessions", "list")[0] == 1


# --- failures -------------------------------------------------------------------------


def test_unknown_session_exits_1_with_api_message(
    api: ApiThread, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--url", api.url, "--token", TOKEN, "sessions", "get", "nope")
    assert (code, out) == (1, "")
    assert err == "siprecctl: no session 'nope' (HTTP 404)\n"


def test_wrong_token_exits_1_with_hint(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--url", api.url, "--token", "bad", "sessions", "list")
    assert code == 1
    assert err.startswith("siprecctl: missing or invalid API token (HTTP 401)\nhint: ")
    assert "bad" not in err.replace("--token", "")


def test_no_token_anywhere_exits_1(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--url", api.url, "sessions", "list")
    assert code == 1
    assert "HTTP 401" in err


def test_closed_port_exits_3_naming_the_url(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = run(capsys, "--url", url, "health")
    assert (code, out) == (3, "")
    assert err == f"siprecctl: cannot connect to {url}: Connection refused\n"


def test_default_url_is_port_8080_or_env(
    clean_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("SIPREC_HTTP_PORT", str(port))
    code, _, err = run(capsys, "health")
    assert code == 3
    assert f"http://127.0.0.1:{port}" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["sessions"],
        ["sessions", "get"],
        ["sessions", "frobnicate"],
        ["reboot"],
        ["--url", "not-a-url", "health"],
        ["--token-file", "/nonexistent/token", "health"],
        ["--timeout", "soon", "health"],
    ],
)
def test_usage_errors_exit_2(
    clean_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.strip()


def test_help_exits_0(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "sessions" in out and "health" in out


# --- recordings -----------------------------------------------------------------------


@pytest.fixture
def recordings_api(clean_env: Path) -> Iterator[tuple[ApiThread, Path]]:
    data_dir = clean_env / "var-recordings"
    alice = participant("sip:alice@example.com", name="Alice", e164="+14155550100")
    write_recording(data_dir, "r1", participants=[alice], seconds=0.25, facts={"vendor": "avaya"})
    write_recording(
        data_dir, "r2", started_at=1_714_557_660.0, participants=[participant("sip:bob@x")]
    )
    catalog = asyncio.run(Catalog.open(data_dir))
    asyncio.run(catalog.rebuild())
    try:
        with serving(catalog=catalog) as server:
            yield server, data_dir
    finally:
        asyncio.run(catalog.close())


def test_recordings_list_table(
    recordings_api: tuple[ApiThread, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = recordings_api
    code, out, _ = run(capsys, "--url", api.url, "--token", TOKEN, "recordings", "list")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "ID", "STATUS", "STARTED", "DURATION", "VENDOR", "PARTICIPANTS", "CALL-ID"
    ]  # fmt: skip
    assert rows[1].split() == [
        "r1", "complete", "2024-05-01", "10:00:00Z", "0h00m00s", "avaya", "+14155550100",
        "r1@src",
    ]  # fmt: skip
    assert [row.split()[0] for row in rows] == ["r2", "r1"]


def test_recordings_list_filters_paging_and_json(
    recordings_api: tuple[ApiThread, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = recordings_api
    base = ("--url", api.url, "--token", TOKEN)
    code, out, _ = run(capsys, *base, "--json", "recordings", "list", "--participant", "ALICE")
    assert code == 0
    assert [r["id"] for r in json.loads(out)["recordings"]] == ["r1"]
    code, out, _ = run(capsys, *base, "recordings", "list", "--limit", "1", "--offset", "1")
    assert code == 0
    assert out.splitlines()[1].startswith("r1 ")
    assert out.splitlines()[-1] == "2-2 of 2 recordings"
    code, out, _ = run(capsys, *base, "recordings", "list", "--vendor", "cisco")
    assert (code, out) == (0, "no recordings\n")
    code, _, err = run(capsys, *base, "recordings", "list", "--since", "last week")
    assert code == 1
    assert err.startswith("siprecctl: invalid parameter 'since'")


def test_recordings_get(
    recordings_api: tuple[ApiThread, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, data_dir = recordings_api
    code, out, _ = run(capsys, "--url", api.url, "--token", TOKEN, "recordings", "get", "r1")
    assert code == 0
    assert "status:" in out and "complete" in out
    assert "correlation:" in out and "call_id=r1@src" in out
    first = data_dir / "recordings/2024-05-01/r1/stream-0-1.wav"
    row = out.splitlines()[-2].split()
    assert row == ["0", "1", str(first.stat().st_size), "0.25", "25", "0", "4.4", "5",
                   sha256(first.read_bytes())]  # fmt: skip


def test_recordings_download(
    recordings_api: tuple[ApiThread, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, data_dir = recordings_api
    base = ("--url", api.url, "--token", TOKEN, "recordings", "download")
    code, out, _ = run(capsys, *base, "r1")
    expected = (data_dir / "recordings/2024-05-01/r1/stream-0-1.wav").read_bytes()
    assert (code, out) == (0, f"wrote {len(expected)} bytes to r1.wav\n")
    assert Path("r1.wav").read_bytes() == expected
    code, _, _ = run(capsys, *base, "r1", "--leg", "2")
    assert code == 0
    second = (data_dir / "recordings/2024-05-01/r1/stream-1-2.wav").read_bytes()
    assert Path("r1-2.wav").read_bytes() == second
    code, out, _ = run(capsys, "--json", *base, "r1", "-o", "copy.wav")
    assert json.loads(out) == {"path": "copy.wav", "bytes": len(expected)}


def test_recordings_download_failures(
    recordings_api: tuple[ApiThread, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = recordings_api
    base = ("--url", api.url, "--token", TOKEN, "recordings", "download")
    code, out, err = run(capsys, *base, "nope", "-o", "nope.wav")
    assert (code, out, err) == (1, "", "siprecctl: no recording 'nope' (HTTP 404)\n")
    assert not list(Path().glob("nope.wav*"))
    code, _, err = run(capsys, *base, "r1", "-o", "no/such/dir/x.wav")
    assert code == 2
    assert err.startswith("siprecctl: cannot write no/such/dir/x.wav")


@pytest.mark.parametrize(
    "argv",
    [
        ["recordings"],
        ["recordings", "download"],
        ["recordings", "list", "--limit", "many"],
        ["recordings", "list", "--offset", "-1"],
        ["rules"],
        ["rules", "validate"],
        ["alerts"],
        ["alerts", "test"],
        ["alerts", "list", "--limit", "x"],
    ],
)
def test_recordings_usage_errors_exit_2(
    clean_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert run(capsys, *argv)[0] == 2


# --- rules ----------------------------------------------------------------------------

VIP_RULES = (
    """\
lists:
  vip: ["+31 20 123 4567"]
rules:
"""
    + VIP_RULE
    + """\
  - id: record-everything
    priority: 1000
    when: always
    then:
      - record: true
"""
)


@pytest.fixture
def rules_api(clean_env: Path) -> Iterator[tuple[ApiThread, Path]]:
    rules_dir = write_rules(clean_env / "server-rules", {"10-vip.yaml": VIP_RULES})
    rules = rules_service(rules_dir)
    assert rules.reload().ok
    with serving(rules=rules) as server:
        yield server, rules_dir


def test_rules_validate(
    rules_api: tuple[ApiThread, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, rules_dir = rules_api
    local = Path("local")
    local.mkdir()
    (local / "20-ok.yaml").write_text("rules: []\n", encoding="utf-8")
    broken = VIP_RULES.replace("caller.e164", "caler.e164").replace("id: vip", "id: vip2")
    broken = broken.replace("id: record-everything", "id: record-all").replace("vip:", "vip2:")
    (local / "30-bad.yaml").write_text(broken, encoding="utf-8")
    (local / "40-dup.yaml").write_text(
        VIP_RULES.split("  - id: record", maxsplit=1)[0], encoding="utf-8"
    )
    base = ("--url", api.url, "--token", TOKEN, "rules", "validate")
    code, out, err = run(capsys, *base, "local/20-ok.yaml")
    assert (code, out, err) == (0, "local/20-ok.yaml: ok\n", "")
    code, out, _ = run(capsys, *base, "local/20-ok.yaml", "local/30-bad.yaml", "local/40-dup.yaml")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "local/20-ok.yaml: ok"
    assert lines[1].startswith("local/30-bad.yaml:7:7: rules[0].when.caler.e164: unknown fact")
    assert any(line.startswith("local/40-dup.yaml:2:3: lists.vip: list 'vip'") for line in lines)
    assert any("duplicate rule id 'vip'" in line for line in lines)
    assert sorted(p.name for p in rules_dir.iterdir()) == ["10-vip.yaml"]  # nothing saved
    code, out, _ = run(capsys, "--json", *base, "local/30-bad.yaml")
    assert code == 1
    assert json.loads(out)["files"][0]["valid"] is False
    code, _, err = run(capsys, *base, "local/missing.yaml")
    assert code == 2 and err.startswith("siprecctl: cannot read local/missing.yaml")
    (local / "notes.txt").write_text("x", encoding="utf-8")
    code, _, err = run(capsys, *base, "local/notes.txt")
    assert code == 1 and "invalid rule file name" in err and "(HTTP 400)" in err


def test_rules_test_with_facts_and_with_an_invite(
    rules_api: tuple[ApiThread, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, _ = rules_api
    Path("facts.json").write_text(json.dumps({"caller.e164": "+31201234567"}), encoding="utf-8")
    base = ("--url", api.url, "--token", TOKEN, "rules", "test")
    code, out, err = run(capsys, *base, "--facts", "facts.json", "--now", "2026-03-04T10:00:00Z")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["record:", "yes", "(rule", "vip)"]
    assert lines[1].split() == ["format:", "flac"]
    assert "tags:" in out and "vip" in out
    assert "matched rules:" in lines
    assert "  vip (10-vip.yaml, priority 10)" in lines
    assert "    caller.e164 in list vip (+31201234567)" in lines
    assert "  record-everything (10-vip.yaml, priority 1000)" in lines
    code, out, _ = run(capsys, *base, "--invite", str(VENDORS / "oracle_sbc_invite.sip"))
    assert code == 0
    assert out.splitlines()[0].split() == ["record:", "yes", "(rule", "vip)"]
    assert any(line.split() == ["vendor:", "oracle"] for line in out.splitlines())
    assert any(line.split() == ["caller:", "+31201234567"] for line in out.splitlines())
    Path("other.json").write_text(json.dumps({"caller.e164": "+1"}), encoding="utf-8")
    code, out, _ = run(capsys, "--json", *base, "--facts", "other.json")
    decision = json.loads(out)["decision"]
    assert code == 0 and decision["record"]["rule"] == "record-everything"


@pytest.mark.parametrize(
    ("files", "argv", "expected"),
    [
        ({}, [], (2, "needs --facts FILE.json or --invite FILE.sip")),
        ({"f.json": "{}", "i.sip": "x"}, ["--facts", "f.json", "--invite", "i.sip"], (2, "needs")),
        ({"f.json": "{nope"}, ["--facts", "f.json"], (2, "f.json is not JSON")),
        ({}, ["--facts", "absent.json"], (2, "cannot read absent.json")),
        ({"i.sip": "hello"}, ["--invite", "i.sip"], (1, "invite: ")),
        ({"f.json": "{}"}, ["--facts", "f.json", "--now", "soon"], (1, "ISO 8601 time")),
    ],
)
def test_rules_test_failures(
    rules_api: tuple[ApiThread, Path],
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    argv: list[str],
    expected: tuple[int, str],
) -> None:
    api, _ = rules_api
    for name, text in files.items():
        Path(name).write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "--url", api.url, "--token", TOKEN, "rules", "test", *argv)
    assert (code, out) == (expected[0], "")
    assert expected[1] in err


def test_rules_reload(
    rules_api: tuple[ApiThread, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    api, rules_dir = rules_api
    base = ("--url", api.url, "--token", TOKEN, "rules", "reload")
    version = api.control.rules.version
    code, out, _ = run(capsys, *base)
    assert (code, out) == (0, f"rules {version} unchanged: 2 rules from 1 files\n")
    (rules_dir / "10-vip.yaml").write_text(VIP_RULES.replace("caller.e164", "caler.e164"))
    code, out, _ = run(capsys, *base)
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"rules not reloaded; {version} stays active"
    assert lines[1].startswith("10-vip.yaml:7:7: rules[0].when.caler.e164: unknown fact")
    (rules_dir / "20-more.yaml").write_text("rules: []\n", encoding="utf-8")
    (rules_dir / "10-vip.yaml").write_text(VIP_RULES, encoding="utf-8")
    code, out, _ = run(capsys, *base)
    new = api.control.rules.version
    assert (code, out) == (0, f"rules {new} loaded: 2 rules from 2 files\n")
    assert new != version


# --- alerts ---------------------------------------------------------------------------

HOOK_SECRET = "whsec-cli-test-0a1b2c3d"


@pytest.fixture
def alerts_api(clean_env: Path) -> Iterator[tuple[ApiThread, Receiver]]:
    with webhook_receiver(HOOK_SECRET) as receiver:
        alerts = webhook_alerts(
            receiver.url, clean_env / "var", HOOK_SECRET, appliance_name="srs-cli", routed=False
        )
        with serving(alerts=alerts) as server:
            yield server, receiver


def test_alerts_list_and_test(
    alerts_api: tuple[ApiThread, Receiver], capsys: pytest.CaptureFixture[str]
) -> None:
    api, receiver = alerts_api
    base = ("--url", api.url, "--token", TOKEN, "alerts")
    code, out, _ = run(capsys, *base, "list")
    assert (code, out) == (0, "no alerts\nchannels: hook (webhook)\n")
    code, out, err = run(capsys, *base, "test", "hook")
    assert (code, err) == (0, "")
    assert out.startswith("channel hook (webhook): test alert delivered in ")
    [request] = receiver.requests
    assert request.verified and request.headers["X-Siprec-Event"] == "test"
    code, out, _ = run(capsys, *base, "list", "--limit", "5")
    assert code == 0
    header, row, blank, footer = out.splitlines()
    assert header.split() == ["CREATED", "SEVERITY", "TYPE", "STATE", "SEEN", "TITLE"]
    assert row.split()[2:6] == ["info", "test", "delivered", "1"]
    assert (blank, footer) == ("", "channels: hook (webhook)")
    code, out, _ = run(capsys, "--json", *base, "list")
    assert json.loads(out)["alerts"][0]["id"] == request.headers["X-Siprec-Alert-Id"]


def test_alerts_test_failures(
    alerts_api: tuple[ApiThread, Receiver], capsys: pytest.CaptureFixture[str]
) -> None:
    api, receiver = alerts_api
    base = ("--url", api.url, "--token", TOKEN, "alerts")
    code, out, err = run(capsys, *base, "test", "pager")
    assert (code, out) == (1, "")
    assert err == "siprecctl: no alert channel 'pager' (configured: hook) (HTTP 404)\n"
    receiver.answers = [(500, {})]
    code, out, _ = run(capsys, *base, "test", "hook")
    assert code == 1
    assert out.startswith("channel hook (webhook): test alert failed: ")
    assert "500" in out
    code, _, err = run(capsys, *base, "list", "--limit", "0")
    assert code == 1 and "limit must be an integer from 1 to 500 (HTTP 400)" in err


def test_alerts_without_alerting_exit_1(api: ApiThread, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--url", api.url, "--token", TOKEN, "alerts", "list")
    assert (code, err) == (1, "siprecctl: alerting is not running (HTTP 503)\n")
