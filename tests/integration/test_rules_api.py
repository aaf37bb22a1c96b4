"""The rules routes of the REST API over real HTTP on 127.0.0.1, with a real
RulesService on a temporary rules directory behind a small ApplianceControl."""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from siprec_appliance.appliance.api import create_app, start_api
from siprec_appliance.appliance.rules_service import ReloadResult
from support.fake_control import FakeControl
from support.rules import DEFAULT_RULES, VENDORS, VIP_RULE, rules_service, write_rules

pytestmark = pytest.mark.integration

TOKEN = "rules-token-0123456789abcdef"
_names = itertools.count()
T = TypeVar("T")

VIP = (
    """\
# VIP callers.
lists:
  vip: ["+31 20 123 4567"]   # quoted

rules:
"""
    + VIP_RULE
    + """\
  # Office hours in Amsterdam are tagged.
  - id: office
    priority: 20
    when:
      time: {timezone: Europe/Amsterdam, days: [wed], from: "08:00", to: "18:00"}
    then:
      - tag: [office]
"""
)
BROKEN = VIP.replace("caller.e164", "caler.e164")  # line 9, column 7


@dataclass
class RulesControl(FakeControl):
    """:class:`FakeControl` with real rules; ``reloads`` are the rules' reload results."""

    reloads: list[ReloadResult] = field(default_factory=list)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes


def fetch(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = TOKEN,
    raw_body: bytes | None = None,
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw_body if raw_body is not None else None if body is None else json.dumps(body)
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        got = {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()
    return Reply(response.status, got, json.loads(raw) if raw else None, raw)


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules", {"00-default.yaml": DEFAULT_RULES, "10-vip.yaml": VIP})


@pytest.fixture
def control(rules_dir: Path) -> RulesControl:
    reloads: list[ReloadResult] = []
    rules = rules_service(rules_dir, on_reload=reloads.append)
    assert rules.reload().ok
    return RulesControl(rules=rules, reloads=reloads)


def serve(control: RulesControl, scenario: Callable[[int], T]) -> T:
    """The API in a fresh loop; ``scenario(port)`` runs in a thread (blocking HTTP)."""

    async def main() -> T:
        app = create_app(control, token=TOKEN, version="0", name=f"rules_{next(_names)}")
        server = await start_api(app, "127.0.0.1", 0)
        try:
            return await asyncio.to_thread(scenario, server.port)
        finally:
            await server.close()

    return asyncio.run(main())


def call(control: RulesControl, method: str, path: str, body: Any = None, **kw: Any) -> Reply:
    return serve(control, lambda port: fetch(port, method, path, body, **kw))


def assert_json_error(reply: Reply, status: int) -> str:
    assert reply.status == status, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert reply.body["error"]["status"] == status
    assert b"Traceback" not in reply.raw
    return str(reply.body["error"]["message"])


ROUTES = [
    ("GET", "/api/rules", None),
    ("POST", "/api/rules/validate", {"file": "20-x.yaml", "text": "rules: []\n"}),
    ("PUT", "/api/rules/20-x.yaml", {"text": "rules: []\n"}),
    ("DELETE", "/api/rules/10-vip.yaml/vip", None),
    ("POST", "/api/rules/test", {"facts": {}}),
    ("POST", "/api/rules/reload", None),
    ("GET", "/api/alerts", None),
    ("POST", "/api/alerts/test", {"channel": "x"}),
]


def test_every_route_needs_the_token(control: RulesControl, rules_dir: Path) -> None:
    def scenario(port: int) -> list[Reply]:
        return [fetch(port, m, p, b, token=t) for m, p, b in ROUTES for t in (None, "wrong")]

    for reply in serve(control, scenario):
        assert assert_json_error(reply, 401) == "missing or invalid API token"
    assert not (rules_dir / "20-x.yaml").exists()
    assert "id: vip" in (rules_dir / "10-vip.yaml").read_text(encoding="utf-8")
    assert len(control.reloads) == 1


# --- GET /api/rules -------------------------------------------------------------------


def test_get_rules(control: RulesControl, rules_dir: Path) -> None:
    reply = call(control, "GET", "/api/rules")
    assert reply.status == 200
    body = reply.body
    assert body["directory"] == str(rules_dir)
    assert body["version"] == control.rules.version
    assert body["default_record"] is True and body["fallback"] is False
    assert [(f["name"], f["text"]) for f in body["files"]] == [
        ("00-default.yaml", DEFAULT_RULES),
        ("10-vip.yaml", VIP),
    ]
    assert all(f["mtime"] for f in body["files"])
    assert [r["id"] for r in body["rules"]] == ["vip", "office", "record-everything"]
    assert body["rules"][0]["rule"]["then"] == [{"record": {"format": "flac"}}, {"tag": ["vip"]}]
    assert body["lists"]["vip"]["values"] == ["+31 20 123 4567"]
    assert body["errors"] == [] and body["loaded_at"]


def test_get_rules_shows_the_last_errors(control: RulesControl, rules_dir: Path) -> None:
    (rules_dir / "10-vip.yaml").write_text(BROKEN, encoding="utf-8")
    control.rules.reload()
    body = call(control, "GET", "/api/rules").body
    [error] = body["errors"]
    assert (error["file"], error["line"], error["column"]) == ("10-vip.yaml", 9, 7)
    assert "caler.e164" in error["message"]
    assert body["files"][1]["text"] == BROKEN
    assert [r["id"] for r in body["rules"]] == ["vip", "office", "record-everything"]


# --- validate -------------------------------------------------------------------------


def test_validate(control: RulesControl, rules_dir: Path) -> None:
    def scenario(port: int) -> tuple[Reply, Reply]:
        good = fetch(port, "POST", "/api/rules/validate", {"file": "10-vip.yaml", "text": VIP})
        bad = fetch(port, "POST", "/api/rules/validate", {"file": "10-vip.yaml", "text": BROKEN})
        return good, bad

    good, bad = serve(control, scenario)
    assert (good.status, good.body) == (200, {"file": "10-vip.yaml", "valid": True, "errors": []})
    assert bad.status == 200 and bad.body["valid"] is False
    [error] = bad.body["errors"]
    assert error["text"].startswith("10-vip.yaml:9:7: rules[0].when.caler.e164: unknown fact")
    assert (rules_dir / "10-vip.yaml").read_text(encoding="utf-8") == VIP  # not saved
    assert len(control.reloads) == 1


@pytest.mark.parametrize(
    ("body", "raw", "expected"),
    [
        (None, b"{not json", "JSON object"),
        (None, b"", "JSON object"),
        (["a"], None, "JSON object"),
        ({"file": "x.yaml"}, None, "'text' must be a string"),
        ({"text": "rules: []"}, None, "'file' must be a string"),
        ({"file": "../x.yaml", "text": "rules: []"}, None, "invalid rule file name"),
    ],
)
def test_validate_malformed_requests_are_400(
    control: RulesControl, body: Any, raw: bytes | None, expected: str
) -> None:
    reply = call(control, "POST", "/api/rules/validate", body, raw_body=raw)
    assert expected in assert_json_error(reply, 400)


# --- PUT and DELETE -------------------------------------------------------------------


def test_put_a_whole_file_applies_it(control: RulesControl, rules_dir: Path) -> None:
    text = "rules:\n  - id: sales\n    priority: 5\n    when: {vendor: cisco}\n"
    text += "    then:\n      - record: false\n"
    before = control.rules.version
    reply = call(control, "PUT", "/api/rules/20-sales.yaml", {"text": text})
    assert reply.status == 200
    assert reply.body["file"] == "20-sales.yaml" and reply.body["applied"] is True
    assert reply.body["version"] == control.rules.version != before
    assert reply.body["reload"]["ok"] is True and reply.body["reload"]["changed"] is True
    assert (rules_dir / "20-sales.yaml").read_text(encoding="utf-8") == text
    assert not control.rules.test({"vendor": "cisco"}).record.on


def test_put_an_invalid_file_is_422_and_writes_nothing(
    control: RulesControl, rules_dir: Path
) -> None:
    version = control.rules.version
    reply = call(control, "PUT", "/api/rules/10-vip.yaml", {"text": BROKEN})
    assert "nothing was written" in assert_json_error(reply, 422)
    [error] = reply.body["errors"]
    assert (error["file"], error["line"], error["column"]) == ("10-vip.yaml", 9, 7)
    assert (rules_dir / "10-vip.yaml").read_text(encoding="utf-8") == VIP
    assert control.rules.version == version


def test_put_one_rule_keeps_the_comments(control: RulesControl, rules_dir: Path) -> None:
    rule = {
        "id": "vip",
        "priority": 10,
        "when": {"caller.e164": {"in": {"list": "vip"}}},
        "then": [{"record": {"format": "opus"}}],
    }
    reply = call(control, "PUT", "/api/rules/10-vip.yaml", {"rule": rule})
    assert reply.status == 200 and reply.body["applied"] is True
    text = (rules_dir / "10-vip.yaml").read_text(encoding="utf-8")
    head = VIP.split("  - id: vip\n", maxsplit=1)[0]
    tail = VIP.split("      - tag: [vip]\n", maxsplit=1)[1]
    assert text.startswith(head) and text.endswith(tail)
    assert "# Office hours in Amsterdam are tagged." in text
    assert control.rules.test({"caller.e164": "+31201234567"}).record.format == "opus"


def test_put_an_invalid_rule_is_422(control: RulesControl, rules_dir: Path) -> None:
    rule = {"id": "vip", "priority": 10, "when": {"caler.e164": "x"}, "then": [{"tag": "a"}]}
    reply = call(control, "PUT", "/api/rules/10-vip.yaml", {"rule": rule})
    assert_json_error(reply, 422)
    assert "unknown fact 'caler.e164'" in reply.body["errors"][0]["message"]
    assert reply.body["errors"][0]["file"] == "10-vip.yaml"
    assert (rules_dir / "10-vip.yaml").read_text(encoding="utf-8") == VIP


def test_put_with_another_file_broken_is_written_but_not_applied(
    control: RulesControl, rules_dir: Path
) -> None:
    (rules_dir / "30-broken.yaml").write_text("rules: [\n", encoding="utf-8")
    version = control.rules.version
    reply = call(control, "PUT", "/api/rules/20-ok.yaml", {"text": "rules: []\n"})
    assert reply.status == 200
    assert reply.body["applied"] is False and reply.body["version"] == version
    assert reply.body["reload"]["errors"][0]["file"] == "30-broken.yaml"
    assert (rules_dir / "20-ok.yaml").exists()


def test_a_file_that_cannot_be_written_is_a_json_500(
    control: RulesControl, rules_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (rules_dir / "20-x.yaml").mkdir()  # in the way, even for root
    reply = call(control, "PUT", "/api/rules/20-x.yaml", {"text": "rules: []\n"})
    assert assert_json_error(reply, 500) == "cannot write the rule file: Is a directory"
    assert sorted(p.name for p in rules_dir.iterdir()) == [
        "00-default.yaml",
        "10-vip.yaml",
        "20-x.yaml",
    ]  # no temporary file left behind
    assert "cannot write the rule file" in caplog.text


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/api/rules/..%2Fevil.yaml", {"text": "rules: []\n"}, "invalid rule file name"),
        ("/api/rules/%2Fetc%2Fevil.yaml", {"text": "rules: []\n"}, "invalid rule file name"),
        ("/api/rules/.evil.yaml", {"text": "rules: []\n"}, "invalid rule file name"),
        ("/api/rules/evil.txt", {"text": "rules: []\n"}, "invalid rule file name"),
        ("/api/rules/20-x.yaml", {}, "either 'text'"),
        ("/api/rules/20-x.yaml", {"text": "", "rule": {}}, "either 'text'"),
        ("/api/rules/20-x.yaml", {"text": 5}, "'text' must be a string"),
        ("/api/rules/20-x.yaml", {"rule": [1]}, "'rule' must be an object"),
    ],
)
def test_put_refuses_bad_requests(
    control: RulesControl, rules_dir: Path, path: str, body: Any, expected: str
) -> None:
    reply = call(control, "PUT", path, body)
    assert expected in assert_json_error(reply, 400)
    assert sorted(p.name for p in rules_dir.parent.rglob("*.yaml")) == [
        "00-default.yaml",
        "10-vip.yaml",
    ]


def test_delete_a_rule(control: RulesControl, rules_dir: Path) -> None:
    def scenario(port: int) -> tuple[Reply, Reply, Reply, Reply]:
        return (
            fetch(port, "DELETE", "/api/rules/10-vip.yaml/office"),
            fetch(port, "DELETE", "/api/rules/10-vip.yaml/office"),
            fetch(port, "DELETE", "/api/rules/99-none.yaml/vip"),
            fetch(port, "DELETE", "/api/rules/..%2F10-vip.yaml/vip"),
        )

    removed, again, no_file, bad_name = serve(control, scenario)
    assert removed.status == 200 and removed.body["applied"] is True
    text = (rules_dir / "10-vip.yaml").read_text(encoding="utf-8")
    kept = VIP.split("  # Office hours", maxsplit=1)[0]
    assert text == kept + "  # Office hours in Amsterdam are tagged.\n"
    assert control.rules.current.rule("office") is None
    assert "no rule with id 'office'" in assert_json_error(again, 404)
    assert "no rule file '99-none.yaml'" in assert_json_error(no_file, 404)
    assert_json_error(bad_name, 400)


def test_delete_leaving_an_invalid_file_is_422(control: RulesControl, rules_dir: Path) -> None:
    bad = "rules:\n  - id: fine\n    priority: 1\n    when: always\n    then:\n      - tag: [a]\n"
    bad += "  - id: typo\n    priority: 2\n    when: {caler.e164: x}\n    then:\n      - tag: [b]\n"
    (rules_dir / "30-bad.yaml").write_text(bad, encoding="utf-8")
    reply = call(control, "DELETE", "/api/rules/30-bad.yaml/fine")
    assert "nothing was written" in assert_json_error(reply, 422)
    [error] = reply.body["errors"]
    assert error["file"] == "30-bad.yaml" and "unknown fact 'caler.e164'" in error["message"]
    assert (rules_dir / "30-bad.yaml").read_text(encoding="utf-8") == bad


# --- test -----------------------------------------------------------------------------


def test_dry_run_with_facts(control: RulesControl) -> None:
    body = {"facts": {"caller.e164": "+31201234567"}, "now": "2026-03-04T11:15:00+01:00"}
    reply = call(control, "POST", "/api/rules/test", body)
    assert reply.status == 200
    decision = reply.body["decision"]
    assert decision["record"] == {
        "on": True,
        "format": "flac",
        "layout": None,
        "rule": "vip",
        "default": False,
    }
    assert decision["tags"] == ["office", "vip"]
    assert decision["matched_rule_ids"] == ["vip", "office", "record-everything"]
    assert decision["evaluated_at"].startswith("2026-03-04T11:15:00")
    assert decision["version"] == control.rules.version
    assert reply.body["facts"] == {"caller.e164": "+31201234567"}
    outside = call(control, "POST", "/api/rules/test", {**body, "now": "2026-03-04T20:00:00Z"})
    assert outside.body["decision"]["tags"] == ["vip"]


def test_dry_run_with_a_real_invite(control: RulesControl) -> None:
    invite = (VENDORS / "oracle_sbc_invite.sip").read_bytes().decode()
    reply = call(control, "POST", "/api/rules/test", {"invite": invite})
    assert reply.status == 200
    facts = reply.body["facts"]
    assert facts["vendor"] == "oracle" and facts["caller.e164"] == "+31201234567"
    assert [p["role"] for p in facts["participants"]] == ["caller", "callee"]
    decision = reply.body["decision"]
    assert decision["record"]["rule"] == "vip"
    assert decision["matched"][0]["why"] == ["caller.e164 in list vip (+31201234567)"]
    assert reply.body["notes"] == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, "either 'facts'"),
        ({"facts": {}, "invite": "INVITE"}, "either 'facts'"),
        ({"facts": [1]}, "'facts' must be an object"),
        ({"invite": 5}, "'invite' must be a string"),
        ({"invite": "hello there"}, "invite: "),
        ({"invite": "SIP/2.0 200 OK\r\nCall-ID: a\r\n\r\n"}, "not a SIP INVITE"),
        ({"facts": {}, "now": "yesterday"}, "ISO 8601"),
        ({"facts": {}, "now": 5}, "ISO 8601"),
        ({"facts": {}, "now": "2026-03-04T10:00:00"}, "time zone"),
    ],
)
def test_dry_run_bad_requests_are_400(control: RulesControl, body: Any, expected: str) -> None:
    reply = call(control, "POST", "/api/rules/test", body)
    assert expected in assert_json_error(reply, 400)


# --- reload ---------------------------------------------------------------------------


def test_reload(control: RulesControl, rules_dir: Path) -> None:
    good = control.rules.version
    (rules_dir / "10-vip.yaml").write_text(BROKEN, encoding="utf-8")
    failed = call(control, "POST", "/api/rules/reload")
    assert failed.status == 200
    assert failed.body["ok"] is False and failed.body["version"] == good
    assert failed.body["errors"][0]["text"].startswith("10-vip.yaml:9:7: ")
    assert control.reloads[-1].ok is False
    (rules_dir / "10-vip.yaml").write_text(VIP.replace("flac", "wav"), encoding="utf-8")
    fixed = call(control, "POST", "/api/rules/reload")
    assert fixed.body["ok"] is True and fixed.body["changed"] is True
    assert fixed.body["version"] == control.rules.version != good
    assert fixed.body["files"] == ["00-default.yaml", "10-vip.yaml"]
    assert len(control.reloads) == 3


# --- alerts without alerting ----------------------------------------------------------


def test_alert_routes_without_alerting_are_503(control: RulesControl) -> None:
    def scenario(port: int) -> tuple[Reply, Reply]:
        return (
            fetch(port, "GET", "/api/alerts"),
            fetch(port, "POST", "/api/alerts/test", {"channel": "ops"}),
        )

    for reply in serve(control, scenario):
        assert assert_json_error(reply, 503) == "alerting is not running"


def test_wrong_methods_are_405(control: RulesControl) -> None:
    def scenario(port: int) -> list[Reply]:
        return [
            fetch(port, "POST", "/api/rules"),
            fetch(port, "GET", "/api/rules/validate"),
            fetch(port, "POST", "/api/rules/10-vip.yaml"),
        ]

    for reply in serve(control, scenario):
        assert_json_error(reply, 405)
