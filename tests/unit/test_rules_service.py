"""RulesService over a temporary rules directory: loading, the last good set, the
built-in fallback, hot reload through the file watcher, validated atomic edits that
keep comments, and the facts of a real SIPREC INVITE."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from siprec_appliance.appliance.rules_service import (
    FALLBACK_RULE_ID,
    ReloadResult,
    RuleFileNameError,
    RuleFileNotFoundError,
    RulesService,
)
from siprec_appliance.config import load_config
from siprec_appliance.policy import RuleNotFoundError, RuleProblem, rule_set_version
from siprec_appliance.siprec.invite_facts import InviteError
from support.rules import DEFAULT_RULES, SCHEMA, VENDORS, VIP_RULE, rules_service, write_rules

NOW = datetime(2026, 3, 4, 10, 15, tzinfo=UTC)

VIP_HEAD = """\
# VIP numbers are recorded in FLAC and kept ten years.
lists:
  vip: ["+31 20 123 4567", "+44 20 7946 0000"]   # quoted: phone numbers

rules:
  # Keep this one first.
"""
VIP_TAIL = """\
  # Internal calls are not recorded.
  - id: internal
    priority: 20   # after vip
    when: {direction: internal}
    then:
      - record: false
# end of file
"""
VIP = VIP_HEAD + VIP_RULE + VIP_TAIL
BROKEN_VIP = VIP.replace("caller.e164", "caler.e164")  # line 10, column 7


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules", {"00-default.yaml": DEFAULT_RULES, "10-vip.yaml": VIP})


def service(
    directory: Path,
    reloads: list[ReloadResult] | None = None,
    *,
    default_record: bool = True,
    channels: frozenset[str] | None = None,
) -> RulesService:
    sink = reloads if reloads is not None else []
    return rules_service(
        directory, default_record=default_record, channels=channels, on_reload=sink.append
    )


def loaded(directory: Path, reloads: list[ReloadResult] | None = None) -> RulesService:
    rules = service(directory, reloads)
    assert rules.reload().ok
    return rules


def files_of(directory: Path, *names: str) -> list[tuple[str, str]]:
    return [(name, (directory / name).read_text(encoding="utf-8")) for name in names]


# --- loading --------------------------------------------------------------------------


def test_initial_load_reads_the_yaml_files_directly_in_the_directory(rules_dir: Path) -> None:
    (rules_dir / "examples").mkdir()
    (rules_dir / "examples" / "20-example.yaml").write_text("not: [valid", encoding="utf-8")
    (rules_dir / ".10-vip.yaml.swp.yaml").write_text("broken: [", encoding="utf-8")
    (rules_dir / "README.md").write_text("# rules", encoding="utf-8")
    (rules_dir / "30-other.yml").write_text("broken: [", encoding="utf-8")
    reloads: list[ReloadResult] = []
    rules = service(rules_dir, reloads)
    assert rules.fallback and rules.loaded_at is None
    result = rules.reload()
    assert result.ok and result.changed and result.errors == ()
    assert result.files == ("00-default.yaml", "10-vip.yaml")
    assert (
        rules.version
        == result.version
        == rule_set_version(files_of(rules_dir, "00-default.yaml", "10-vip.yaml"))
    )
    assert [rule.id for rule in rules.current.rules] == ["vip", "internal", "record-everything"]
    assert rules.errors == [] and not rules.fallback
    assert rules.loaded_at is not None and rules.loaded_at.tzinfo is not None
    assert reloads == [result]
    assert result.to_dict()["files"] == ["00-default.yaml", "10-vip.yaml"]


def test_a_bad_file_keeps_the_last_good_set_until_fixed(rules_dir: Path) -> None:
    reloads: list[ReloadResult] = []
    rules = loaded(rules_dir, reloads)
    good = rules.current
    (rules_dir / "10-vip.yaml").write_text(BROKEN_VIP, encoding="utf-8")
    failed = rules.reload()
    assert not failed.ok and not failed.changed
    assert rules.current is good and failed.version == good.version
    [problem] = failed.errors
    assert (problem.file, problem.line, problem.column) == ("10-vip.yaml", 10, 7)
    assert "unknown fact 'caler.e164'" in problem.message
    assert str(problem).startswith("10-vip.yaml:10:7: ")
    assert rules.errors == [problem]
    assert reloads[-1] is failed and reloads[-1].ok is False
    assert failed.to_dict()["errors"][0]["line"] == 10
    # still deciding with the good set
    assert rules.test({"caller.e164": "+31201234567"}, NOW).record.rule == "vip"
    fixed = VIP.replace("format: flac", "format: opus")
    (rules_dir / "10-vip.yaml").write_text(fixed, encoding="utf-8")
    result = rules.reload()
    assert result.ok and result.changed and rules.errors == []
    assert result.previous_version == good.version != result.version
    assert rules.test({"caller.e164": "+31201234567"}, NOW).record.format == "opus"


def test_a_failed_first_load_records_everything(tmp_path: Path) -> None:
    (tmp_path / "10-vip.yaml").write_text(BROKEN_VIP, encoding="utf-8")
    reloads: list[ReloadResult] = []
    rules = service(tmp_path, reloads, default_record=False)
    result = rules.reload()
    assert not result.ok and rules.fallback and rules.loaded_at is None
    assert [rule.id for rule in rules.current.rules] == [FALLBACK_RULE_ID]
    decision = rules.test({}, NOW)
    assert decision.record.on and decision.record.rule == FALLBACK_RULE_ID
    assert not decision.record.default
    assert [str(p)[:16] for p in rules.errors] == ["10-vip.yaml:10:7"]
    assert reloads == [result]


def test_a_missing_directory_is_an_error_and_records_everything(tmp_path: Path) -> None:
    rules = service(tmp_path / "nowhere", default_record=False)
    result = rules.reload()
    assert not result.ok
    assert "cannot read the directory" in result.errors[0].message
    assert rules.test({}, NOW).record.on


def test_undecodable_file_is_reported(rules_dir: Path) -> None:
    (rules_dir / "20-latin1.yaml").write_bytes(b"# caf\xe9\nrules: []\n")
    rules = service(rules_dir)
    result = rules.reload()
    assert not result.ok
    assert result.errors[0].file == "20-latin1.yaml"
    assert "not UTF-8" in result.errors[0].message


def test_a_failing_callback_does_not_break_the_reload(rules_dir: Path) -> None:
    def explode(result: ReloadResult) -> None:
        raise RuntimeError("callback bug")

    rules = RulesService(rules_dir, SCHEMA, channels=None, default_record=True, on_reload=explode)
    assert rules.reload().ok
    assert not rules.fallback


def test_alert_channels_are_checked(rules_dir: Path) -> None:
    text = DEFAULT_RULES.replace(
        "      - record: true\n",
        "      - record: true\n      - alert: {channel: pager, message: hi}\n",
    )
    (rules_dir / "00-default.yaml").write_text(text, encoding="utf-8")
    rules = service(rules_dir, channels=frozenset({"ops"}))
    result = rules.reload()
    assert not result.ok
    assert "unknown alert channel 'pager'" in result.errors[0].message


def test_default_record_comes_from_the_configuration(tmp_path: Path) -> None:
    rules = service(tmp_path, default_record=False)
    assert rules.reload().ok  # an empty directory is a valid, empty policy
    decision = rules.test({}, NOW)
    assert not decision.record.on and decision.record.default
    assert load_config(None, {}).rules.default_record is True
    env = {"SIPREC_RULES_DEFAULT_RECORD": "false"}
    assert load_config(None, env).rules.default_record is False


# --- hot reload -----------------------------------------------------------------------


async def wait_for(condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``condition`` holds; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def test_the_watcher_applies_a_fixed_file_within_one_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "10-vip.yaml").write_text(BROKEN_VIP, encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)
    reloads: list[ReloadResult] = []
    rules = service(Path(".") / tmp_path.name, reloads)  # relative, as ./rules is

    async def scenario() -> None:
        await rules.start()
        try:
            assert rules.fallback and len(reloads) == 1 and not reloads[0].ok
            await asyncio.sleep(0.2)
            (tmp_path / "10-vip.yaml").write_text(VIP, encoding="utf-8")
            await wait_for(lambda: not rules.fallback, timeout=1.0)
            assert rules.test({"caller.e164": "+442079460000"}, NOW).record.rule == "vip"
            assert reloads[-1].ok and reloads[-1].changed
            # a new file in the directory is picked up too
            (tmp_path / "20-more.yaml").write_text("rules: []\n", encoding="utf-8")
            await wait_for(lambda: "20-more.yaml" in rules.current.files, timeout=1.0)
        finally:
            await rules.stop()

    asyncio.run(scenario())


def test_the_watcher_keeps_the_good_set_and_reports_a_broken_save_once(rules_dir: Path) -> None:
    reloads: list[ReloadResult] = []
    rules = service(rules_dir, reloads)

    async def scenario() -> None:
        await rules.start()
        try:
            good = rules.current
            await asyncio.sleep(0.2)
            (rules_dir / "10-vip.yaml").write_text(BROKEN_VIP, encoding="utf-8")
            await wait_for(lambda: len(reloads) == 2, timeout=1.0)
            assert not reloads[-1].ok and rules.current is good
            assert reloads[-1].errors[0].line == 10
            os.utime(rules_dir / "10-vip.yaml")  # saved again, unchanged
            await asyncio.sleep(0.6)
            assert len(reloads) == 2
        finally:
            await rules.stop()

    asyncio.run(scenario())


def test_the_watcher_ignores_subdirectories_and_temporary_files(rules_dir: Path) -> None:
    (rules_dir / "examples").mkdir()
    reloads: list[ReloadResult] = []
    rules = service(rules_dir, reloads)

    async def scenario() -> None:
        await rules.start()
        try:
            await asyncio.sleep(0.2)
            (rules_dir / "examples" / "30-x.yaml").write_text("rules: [", encoding="utf-8")
            (rules_dir / ".10-vip.yaml.swp").write_text("x", encoding="utf-8")
            (rules_dir / "10-vip.yaml~").write_text("x", encoding="utf-8")
            (rules_dir / ".#10-vip.yaml").write_text("x", encoding="utf-8")
            await asyncio.sleep(0.6)
            assert len(reloads) == 1 and reloads[0].ok
        finally:
            await rules.stop()
        assert rules.current.files == ("00-default.yaml", "10-vip.yaml")

    asyncio.run(scenario())


def test_the_watcher_waits_for_a_missing_directory(tmp_path: Path) -> None:
    directory = tmp_path / "rules"
    reloads: list[ReloadResult] = []
    rules = service(directory, reloads, default_record=False)

    async def scenario() -> None:
        await rules.start()
        try:
            assert rules.fallback and not reloads[0].ok
            await asyncio.sleep(0.3)
            staging = tmp_path / "staging"
            staging.mkdir()
            (staging / "10-vip.yaml").write_text(VIP, encoding="utf-8")
            staging.rename(directory)
            await wait_for(lambda: not rules.fallback, timeout=3.0)
            assert reloads[-1].ok and rules.current.rule("vip") is not None
            (directory / "10-vip.yaml").write_text(BROKEN_VIP, encoding="utf-8")
            await wait_for(lambda: not reloads[-1].ok, timeout=3.0)  # watched again
        finally:
            await rules.stop()
        assert len(reloads) == 3

    asyncio.run(scenario())


def test_stop_is_quick_and_idempotent(rules_dir: Path) -> None:
    rules = service(rules_dir)

    async def scenario() -> float:
        await rules.start()
        await rules.start()  # no second watcher
        started = time.monotonic()
        await rules.stop()
        await rules.stop()
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 1.0
    assert not rules.fallback


# --- validating and writing -----------------------------------------------------------


def test_validate_sees_the_other_files(rules_dir: Path) -> None:
    rules = loaded(rules_dir)
    uses_list = "rules:\n  - id: x\n    priority: 5\n    when: {callee.e164: {in: {list: vip}}}\n"
    uses_list += "    then:\n      - tag: [x]\n"
    assert rules.validate("20-x.yaml", uses_list) == []
    duplicate = uses_list.replace("id: x", "id: vip")
    [problem] = rules.validate("20-x.yaml", duplicate)
    assert problem.file == "20-x.yaml" and "duplicate rule id 'vip'" in problem.message
    assert (problem.line, problem.column) == (2, 9)
    # the file's own old text is replaced, not compared with
    assert rules.validate("10-vip.yaml", VIP) == []


def test_write_is_atomic_keeps_the_mode_and_applies_at_once(rules_dir: Path) -> None:
    reloads: list[ReloadResult] = []
    rules = loaded(rules_dir, reloads)
    target = rules_dir / "10-vip.yaml"
    target.chmod(0o640)
    before = rules.version
    text = VIP.replace("priority: 10\n", "priority: 11\n")
    result = rules.write("10-vip.yaml", text)
    assert isinstance(result, ReloadResult)
    assert result.ok and result.changed and result.previous_version == before
    assert target.read_text(encoding="utf-8") == text
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in rules_dir.iterdir()) == ["00-default.yaml", "10-vip.yaml"]
    vip = rules.current.rule("vip")
    assert vip is not None and vip.priority == 11
    assert reloads[-1] is result


def test_write_creates_a_new_file_with_crlf_kept(rules_dir: Path) -> None:
    rules = loaded(rules_dir)
    text = "rules:\r\n  - id: new\r\n    priority: 1\r\n    when: always\r\n    then:\r\n"
    text += "      - tag: [new]\r\n"
    result = rules.write("20-new.yaml", text)
    assert isinstance(result, ReloadResult) and result.ok
    assert (rules_dir / "20-new.yaml").read_bytes() == text.encode()
    assert "20-new.yaml" in rules.current.files


def test_an_invalid_write_changes_nothing(rules_dir: Path) -> None:
    rules = loaded(rules_dir)
    target = rules_dir / "10-vip.yaml"
    stamp = target.stat().st_mtime_ns
    version = rules.version
    outcome = rules.write("10-vip.yaml", BROKEN_VIP)
    assert isinstance(outcome, list)
    assert [(p.file, p.line, p.column) for p in outcome] == [("10-vip.yaml", 10, 7)]
    assert target.read_text(encoding="utf-8") == VIP
    assert target.stat().st_mtime_ns == stamp
    assert rules.version == version
    assert sorted(p.name for p in rules_dir.iterdir()) == ["00-default.yaml", "10-vip.yaml"]


@pytest.mark.parametrize(
    "name",
    [
        "../evil.yaml",
        "..",
        "sub/evil.yaml",
        "/tmp/evil.yaml",
        ".hidden.yaml",
        "evil.yml",
        "evil.yaml/",
        "",
        "evil .yaml",
        "evil.yaml\x00",
    ],
)
def test_file_names_cannot_leave_the_directory(rules_dir: Path, name: str) -> None:
    rules = loaded(rules_dir)
    with pytest.raises(RuleFileNameError):
        rules.write(name, DEFAULT_RULES.replace("record-everything", "evil"))
    with pytest.raises(RuleFileNameError):
        rules.validate(name, DEFAULT_RULES)
    with pytest.raises(RuleFileNameError):
        rules.upsert(name, {"id": "evil", "priority": 1, "when": "always", "then": []})
    with pytest.raises(RuleFileNameError):
        rules.remove(name, "vip")
    assert not (rules_dir.parent / "evil.yaml").exists()
    assert sorted(p.name for p in rules_dir.iterdir()) == ["00-default.yaml", "10-vip.yaml"]


# --- editing one rule -----------------------------------------------------------------


def test_upsert_keeps_everything_outside_the_rule_byte_for_byte(rules_dir: Path) -> None:
    rules = loaded(rules_dir)
    rule = {
        "id": "vip",
        "priority": 5,
        "when": {"caller.e164": {"in": {"list": "vip"}}},
        "then": [{"record": {"format": "wav"}}, {"tag": ["vip", "gold"]}],
    }
    result = rules.upsert("10-vip.yaml", rule)
    assert isinstance(result, ReloadResult) and result.ok and result.changed
    text = (rules_dir / "10-vip.yaml").read_text(encoding="utf-8")
    assert text.startswith(VIP_HEAD) and text.endswith(VIP_TAIL)
    assert text != VIP
    vip = rules.current.rule("vip")
    assert vip is not None and vip.priority == 5
    assert rules.test({"caller.e164": "+31201234567"}, NOW).tags == ("gold", "vip")


def test_upsert_appends_a_new_rule_and_creates_a_new_file(rules_dir: Path) -> None:
    rules = loaded(rules_dir)
    new = {"id": "sales", "priority": 30, "when": {"vendor": "cisco"}, "then": [{"tag": "sales"}]}
    result = rules.upsert("10-vip.yaml", new)
    assert isinstance(result, ReloadResult) and result.ok
    appended = "  - id: sales\n    priority: 30\n    when:\n      vendor: cisco\n"
    appended += "    then:\n      - tag: sales\n"
    expected = VIP.replace("# end of file\n", appended + "# end of file\n")
    assert (rules_dir / "10-vip.yaml").read_text(encoding="utf-8") == expected
    assert rules.current.rule("sales") is not None
    result = rules.upsert("30-new.yaml", {**new, "id": "fresh"})
    assert isinstance(result, ReloadResult) and result.ok
    fresh = rules.current.rule("fresh")
    assert fresh is not None and fresh.file == "30-new.yaml"


def test_an_invalid_upsert_writes_nothing(rules_dir: Path) -> None:
    rules = loaded(rules_dir)
    bad = {"id": "vip", "priority": 10, "when": "always", "then": [{"recrod": True}]}
    outcome = rules.upsert("10-vip.yaml", bad)
    assert isinstance(outcome, list) and outcome
    assert all(p.file == "10-vip.yaml" for p in outcome)
    assert "unknown action 'recrod'" in outcome[0].message
    assert (rules_dir / "10-vip.yaml").read_text(encoding="utf-8") == VIP
    no_id = rules.upsert("10-vip.yaml", {"priority": 1})
    assert isinstance(no_id, list) and "id" in no_id[0].message


def test_upsert_in_a_file_that_is_not_yaml_reports_the_file(rules_dir: Path) -> None:
    (rules_dir / "20-bad.yaml").write_text("rules: [\n", encoding="utf-8")
    rules = service(rules_dir)
    outcome = rules.upsert("20-bad.yaml", {"id": "a", "priority": 1, "when": "always"})
    assert isinstance(outcome, list)
    assert outcome[0].file == "20-bad.yaml" and "YAML" in outcome[0].message


def test_remove_deletes_only_the_rule(rules_dir: Path) -> None:
    rules = loaded(rules_dir)
    result = rules.remove("10-vip.yaml", "vip")
    assert isinstance(result, ReloadResult) and result.ok
    assert (rules_dir / "10-vip.yaml").read_text(encoding="utf-8") == VIP_HEAD + VIP_TAIL
    assert rules.current.rule("vip") is None
    with pytest.raises(RuleNotFoundError):
        rules.remove("10-vip.yaml", "vip")
    with pytest.raises(RuleFileNotFoundError):
        rules.remove("99-none.yaml", "vip")


# --- dry runs -------------------------------------------------------------------------


def test_facts_of_a_real_siprec_invite(rules_dir: Path) -> None:
    rules = loaded(rules_dir)
    raw = (VENDORS / "oracle_sbc_invite.sip").read_bytes()
    expected = json.loads((VENDORS / "oracle_sbc_invite.expected.json").read_text())
    facts = rules.facts_from_invite(raw, ("192.0.2.20", 5060), "tcp")
    assert facts["vendor"] == "oracle"
    assert facts["transport"] == "tcp"
    assert facts["source.address"] == "192.0.2.20"
    for key, value in expected["facts"].items():
        assert facts.get(key) == value, key
    participants = [
        {key: p[key] for key in ("aor", "name", "e164", "role", "sends", "receives")}
        for p in facts["participants"]
    ]
    assert participants == expected["participants"]
    decision = rules.test(facts, NOW)
    assert decision.record.rule == "vip" and decision.record.format == "flac"
    assert decision.matched[0].why == ("caller.e164 in list vip (+31201234567)",)


def test_facts_of_an_invite_with_bare_lf_and_a_wrong_content_length(rules_dir: Path) -> None:
    rules = loaded(rules_dir)
    raw = (VENDORS / "avaya_sbce_invite.sip").read_bytes()
    expected = rules.facts_from_invite(raw)
    pasted = raw.replace(b"\r\n", b"\n").decode()
    found = rules.invite_facts(pasted)
    assert found.facts["participants"] == expected["participants"]
    assert found.facts["vendor"] == "avaya"
    assert "bare LF line ends" in found.notes


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n",
        "BYE sip:srs@example.com SIP/2.0\r\nCall-ID: x\r\n\r\n",
        "INVITE sip:srs@example.com SIP/2.0\r\nContent-Type: multipart/mixed\r\n\r\nbody",
    ],
)
def test_not_an_invite(rules_dir: Path, text: str) -> None:
    with pytest.raises(InviteError):
        loaded(rules_dir).facts_from_invite(text)


def test_test_uses_now_and_needs_a_time_zone(rules_dir: Path) -> None:
    window = """\
rules:
  - id: office-hours
    priority: 1
    when:
      time: {timezone: Europe/Amsterdam, days: [wed], from: "08:00", to: "18:00"}
    then:
      - record: false
"""
    (rules_dir / "05-hours.yaml").write_text(window, encoding="utf-8")
    rules = loaded(rules_dir)
    assert not rules.test({}, NOW).record.on  # Wed 11:15 in Amsterdam
    assert rules.test({}, NOW.replace(hour=20)).record.on
    with pytest.raises(ValueError, match="aware"):
        rules.test({}, datetime(2026, 3, 4, 10, 15))
    assert rules.test({}).version == rules.version  # default: now


def test_describe_for_the_api(rules_dir: Path) -> None:
    rules = loaded(rules_dir)
    (rules_dir / "10-vip.yaml").write_text(BROKEN_VIP, encoding="utf-8")
    rules.reload()
    view = rules.describe()
    assert view["directory"] == str(rules_dir)
    assert view["version"] == rules.version and view["default_record"] is True
    assert view["fallback"] is False and view["loaded_at"] is not None
    assert [f["name"] for f in view["files"]] == ["00-default.yaml", "10-vip.yaml"]
    assert view["files"][1]["text"] == BROKEN_VIP  # the file as it is now
    assert datetime.fromisoformat(view["files"][1]["mtime"]).tzinfo is not None
    assert view["active_files"] == ["00-default.yaml", "10-vip.yaml"]
    assert [r["id"] for r in view["rules"]] == ["vip", "internal", "record-everything"]
    assert view["lists"]["vip"]["values"] == ["+31 20 123 4567", "+44 20 7946 0000"]
    [error] = view["errors"]
    assert {k: error[k] for k in ("file", "line", "column")} == {
        "file": "10-vip.yaml",
        "line": 10,
        "column": 7,
    }
    assert view["last_reload"]["ok"] is False
    json.dumps(view)  # all JSON


def test_reload_result_to_dict() -> None:
    problem = RuleProblem("a.yaml", 1, 2, "bad")
    result = ReloadResult(
        ok=False,
        version="v2",
        previous_version="v1",
        changed=False,
        errors=(problem,),
        files=("a.yaml",),
        rules=3,
        at=NOW,
    )
    assert result.to_dict() == {
        "ok": False,
        "version": "v2",
        "previous_version": "v1",
        "changed": False,
        "errors": [problem.to_dict()],
        "files": ["a.yaml"],
        "rules": 3,
        "at": "2026-03-04T10:15:00.000+00:00",
    }


def test_a_reload_off_the_loop_lets_the_loop_run(
    rules_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiling 10,000 rules takes ~30 s: the watcher, SIGHUP and the API reload in
    a thread, and the loop (SIP) goes on meanwhile; the new set is swapped in after."""
    reloads: list[ReloadResult] = []
    rules = service(rules_dir, reloads)
    rules.reload()
    compile_on_disk = rules._compile

    def slow_compile(*args: Any) -> Any:
        time.sleep(0.4)  # a large rule set (sleep gives the GIL up, as parsing does often)
        return compile_on_disk(*args)

    monkeypatch.setattr(rules, "_compile", slow_compile)
    more = DEFAULT_RULES.replace("record-everything", "record-more")
    (rules_dir / "20-more.yaml").write_text(more, encoding="utf-8")
    before = rules.current

    async def scenario() -> tuple[int, ReloadResult | None, bool]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        running = asyncio.create_task(ticker())
        reload = asyncio.create_task(rules.reload_off_loop())
        await asyncio.sleep(0.2)
        still_old = rules.current is before  # compiling: the last set stays active
        result = await reload
        running.cancel()
        return ticks, result, still_old

    ticks, result, still_old = asyncio.run(scenario())
    assert ticks >= 20, ticks  # 0.4 s of compiling: the loop kept ticking
    assert still_old
    assert result is not None and result.ok and rules.current is not before
    assert "20-more.yaml" in rules.current.files and rules.current.rule("record-more")
