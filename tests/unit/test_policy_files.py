"""The shipped rule files, the examples, and the fact vocabulary against the real facts."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest

from siprec_appliance.metadata.model import RecordingMetadata
from siprec_appliance.metadata.parser import parse_metadata
from siprec_appliance.policy import RuleSet, compile_rule_set
from siprec_appliance.policy.facts import KNOWN_FACTS, fact_name_problem
from siprec_appliance.sdp.model import SessionDescription
from siprec_appliance.sip.message import Request, parse_message
from siprec_appliance.sip.multipart import split_body
from siprec_appliance.siprec.detect import METADATA_TYPES
from siprec_appliance.vendors import build_call_facts

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "rules.schema.json").read_text())
RULES = ROOT / "rules"
EXAMPLES = RULES / "examples"
CORPUS = ROOT / "tests" / "data" / "sip" / "vendors"
CHANNELS = frozenset({"compliance-mail", "ops-slack"})  # the channels the examples use
NOW = datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC)  # a Monday


def read(*paths: Path) -> list[tuple[str, str]]:
    return [(path.name, path.read_text()) for path in paths]


def shipped() -> RuleSet:
    return compile_rule_set(read(*sorted(RULES.glob("*.yaml"))), schema=SCHEMA)


def examples() -> RuleSet:
    paths = sorted(RULES.glob("*.yaml")) + sorted(EXAMPLES.glob("*.yaml"))
    return compile_rule_set(read(*paths), schema=SCHEMA, channels=CHANNELS)


def corpus_facts(name: str) -> dict[str, Any]:
    """Call facts of one vendor corpus INVITE, built the way the SIP core builds them."""
    raw = (CORPUS / f"{name}.sip").read_bytes()
    request = parse_message(raw, datagram=False).message
    assert isinstance(request, Request)
    parts = split_body(request.headers, request.body)
    sdp: SessionDescription | None = None
    metadata: RecordingMetadata | None = None
    for part in parts:
        if part.content_type == "application/sdp":
            sdp = SessionDescription.parse(part.body)
        elif part.content_type in METADATA_TYPES:
            metadata = parse_metadata(part.body, content_type=part.content_type)
    facts = build_call_facts(
        headers=request.headers,
        metadata=metadata,
        sdp=sdp,
        parts=parts,
        transport="TCP",
        source_host="192.0.2.1",
        source_port=5060,
    )
    return dict(facts)


CASES = sorted(path.stem for path in CORPUS.glob("*.sip"))


def test_the_shipped_directory_holds_the_default_rule() -> None:
    rule_set = shipped()
    assert [rule.id for rule in rule_set.rules] == ["record-everything"]
    assert rule_set.files == ("00-default.yaml",)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_each_example_file_loads_on_its_own(path: Path) -> None:
    rule_set = compile_rule_set(read(path), schema=SCHEMA, channels=CHANNELS)
    assert rule_set.rules
    assert all(rule.file == path.name for rule in rule_set.rules)


def test_all_files_and_examples_load_together() -> None:
    rule_set = examples()
    assert len(rule_set.rules) == 20
    assert rule_set.rules[-1].id == "record-everything"


def test_the_examples_use_every_operator_condition_and_available_action() -> None:
    text = "\n".join(path.read_text() for path in EXAMPLES.glob("*.yaml"))
    for word in (
        "equals",
        "in",
        "prefix",
        "glob",
        "regex",
        "cidr",
        "exists",
        "lt",
        "le",
        "gt",
        "ge",
    ):
        assert re.search(rf"\b{word}:\s", text), word
    for word in ("all", "any", "not", "any_participant", "time", "list", "stop", "enabled"):
        assert re.search(rf"\b{word}:\s", text), word
    for action in ("record", "tag", "retain", "alert"):
        assert re.search(rf"- {action}:\s", text), action
    for action in ("encrypt", "transcribe", "intercept"):  # only as comments: refused
        assert re.search(rf"#\s+- {action}: ", text), action


@pytest.mark.parametrize("name", CASES)
def test_the_default_records_every_corpus_call(name: str) -> None:
    decision = shipped().evaluate(corpus_facts(name), NOW)
    assert decision.record.on is True
    assert decision.record.rule == "record-everything"
    assert decision.matched_rule_ids == ("record-everything",)


def test_the_default_records_a_call_without_any_facts() -> None:
    decision = shipped().evaluate({}, NOW)
    assert (decision.record.on, decision.record.default) == (True, False)


@pytest.mark.parametrize("name", CASES)
def test_every_fact_the_appliance_produces_can_be_named_in_a_rule(name: str) -> None:
    facts = corpus_facts(name)
    assert [key for key in facts if fact_name_problem(key) is not None] == []
    for participant in facts["participants"]:
        assert participant.keys() <= {
            "id",
            "aor",
            "name",
            "e164",
            "role",
            "sends",
            "receives",
            "ext",
        }


def test_every_key_documented_in_call_facts_md_is_known() -> None:
    text = (ROOT / "docs" / "call-facts.md").read_text()
    table = text.split("## Keys", 1)[1].split("### `participants`", 1)[0]
    documented = {
        key
        for line in table.splitlines()
        if line.startswith("| `")
        for key in re.findall(r"`([a-z0-9_.]+)`", line.split("|")[1])
    }
    assert len(documented) > 50
    assert documented - KNOWN_FACTS == set()


# --------------------------------------------------------------------------------------
# The examples do what their comments say
# --------------------------------------------------------------------------------------


def _participant(aor: str, e164: str | None, role: str) -> dict[str, Any]:
    return {
        "id": aor,
        "aor": aor,
        "name": None,
        "e164": e164,
        "role": role,
        "sends": [],
        "receives": [],
        "ext": {},
    }


def test_a_monitored_number_is_recorded_in_flac_and_kept_ten_years() -> None:
    facts = {
        "caller.e164": "+31201234567",
        "participants": [_participant("sip:+31201234567@sbc", "+31201234567", "caller")],
    }
    decision = examples().evaluate(facts, NOW)
    assert decision.record.to_dict() == {
        "on": True,
        "format": "flac",
        "layout": "both",
        "rule": "monitored-any-participant",
        "default": False,
    }
    assert decision.retain is not None and decision.retain.days == 3650
    assert {"monitored", "compliance"} <= set(decision.tags)
    assert decision.alerts[0].channel == "compliance-mail"
    assert decision.matched[0].why == ("participants[0].e164 in list monitored (+31201234567)",)


def test_the_robot_is_not_recorded_and_stops_everything() -> None:
    decision = examples().evaluate({"caller.aor": "sip:robot@monitor.example.com"}, NOW)
    assert decision.record.on is False
    assert decision.matched_rule_ids == ("test-calls-not-recorded",)
    assert decision.stopped_by == "test-calls-not-recorded"


def test_the_night_shift_window_runs_over_midnight_in_new_york() -> None:
    saturday_0130_new_york = datetime.datetime(2026, 1, 10, 6, 30, tzinfo=datetime.UTC)
    decision = examples().evaluate({}, saturday_0130_new_york)
    assert "night-shift" in decision.matched_rule_ids
    assert "weekend" in decision.matched_rule_ids
    assert decision.retain is not None and decision.retain.days == 90
