"""Precedence, stop, the default, decisions as JSON, versions and the action plug-ins."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from siprec_appliance.policy import (
    DEFAULT_REGISTRY,
    Action,
    ActionContext,
    ActionError,
    Decision,
    DecisionBuilder,
    RulesError,
    RuleSet,
    compile_rule_set,
    rule_set_version,
)
from siprec_appliance.policy.decision import Json

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "rules.schema.json").read_text())
NOW = datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC)


def rule(
    rule_id: str, priority: int, *then: Any, when: Any = "always", **extra: Any
) -> dict[str, Any]:
    return {"id": rule_id, "priority": priority, "when": when, "then": list(then), **extra}


def file(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)})


def compiled(files: Sequence[tuple[str, str]], **options: Any) -> RuleSet:
    return compile_rule_set(files, schema=SCHEMA, **options)


def decide(
    files: Sequence[tuple[str, str]], facts: Mapping[str, Any] | None = None, **options: Any
) -> Decision:
    return compiled(files, **options).evaluate(facts or {}, NOW)


# --------------------------------------------------------------------------------------
# Precedence
# --------------------------------------------------------------------------------------


def test_the_first_matching_rule_that_sets_record_decides() -> None:
    text = file(
        rule("general", 100, {"record": True}),
        rule(
            "specific",
            10,
            {"record": {"format": "flac", "layout": "both"}},
            when={"vendor": "oracle"},
        ),
        rule("tag-only", 5, {"tag": "x"}),
    )
    decision = decide([("a.yaml", text)], {"vendor": "oracle"})
    assert decision.record.to_dict() == {
        "on": True,
        "format": "flac",
        "layout": "both",
        "rule": "specific",
        "default": False,
    }
    assert decision.matched_rule_ids == ("tag-only", "specific", "general")
    other = decide([("a.yaml", text)], {"vendor": "cisco"})
    assert other.record.rule == "general"
    assert other.record.format is None


def test_record_false_in_a_specific_rule_wins_over_record_everything() -> None:
    text = file(
        rule("everything", 1000, {"record": True}),
        rule("robot", 1, {"record": False}, when={"caller.aor": {"glob": "sip:robot@*"}}),
    )
    decision = decide([("a.yaml", text)], {"caller.aor": "sip:robot@x"})
    assert decision.record.on is False
    assert decision.record.rule == "robot"


def test_priority_ties_are_broken_by_file_name_then_position() -> None:
    first = file(rule("b-1", 5, {"record": {"format": "mp3"}}), rule("b-2", 5, {"record": False}))
    second = file(rule("a-1", 5, {"record": {"format": "opus"}}))
    rule_set = compiled([("20-b.yaml", first), ("10-a.yaml", second)])
    assert [r.id for r in rule_set.rules] == ["a-1", "b-1", "b-2"]
    assert rule_set.evaluate({}, NOW).record.format == "opus"
    renamed = compiled([("00-b.yaml", first), ("10-a.yaml", second)])
    assert [r.id for r in renamed.rules] == ["b-1", "b-2", "a-1"]
    assert renamed.evaluate({}, NOW).record.format == "mp3"


def test_a_lower_priority_number_beats_file_order() -> None:
    rule_set = compiled(
        [
            ("00-a.yaml", file(rule("late", 50, {"tag": "a"}))),
            ("99-z.yaml", file(rule("early", 1, {"tag": "z"}))),
        ]
    )
    assert [r.id for r in rule_set.rules] == ["early", "late"]


def test_tags_are_a_union_and_sorted() -> None:
    text = file(
        rule("a", 1, {"tag": ["vip", "sales"]}),
        rule("b", 2, {"tag": "vip"}),
        rule("c", 3, {"tag": "team=emea"}),
    )
    assert decide([("a.yaml", text)]).tags == ("sales", "team=emea", "vip")


def test_the_longest_retention_wins_and_names_its_rule() -> None:
    text = file(
        rule("short", 1, {"retain": 30}),
        rule("long", 2, {"retain": {"days": 3650}}),
        rule("same", 3, {"retain": 3650}),
        rule("shorter", 4, {"retain": 1}),
    )
    retain = decide([("a.yaml", text)]).retain
    assert retain is not None
    assert retain.to_dict() == {"days": 3650, "rule": "long"}
    assert decide([("a.yaml", file(rule("none", 1, {"tag": "x"})))]).retain is None


def test_every_alert_fires_in_rule_order() -> None:
    text = file(
        rule("b", 2, {"alert": {"channel": "ops", "message": "second {{ facts['vendor'] }}"}}),
        rule(
            "a",
            1,
            {"alert": {"channel": "mail", "severity": "critical", "message": "first"}},
            {"alert": {"channel": "ops", "severity": "info", "message": "also first"}},
        ),
    )
    alerts = decide([("a.yaml", text)], channels=frozenset({"ops", "mail"})).alerts
    assert [alert.to_dict() for alert in alerts] == [
        {"channel": "mail", "severity": "critical", "message": "first", "rule": "a"},
        {"channel": "ops", "severity": "info", "message": "also first", "rule": "a"},
        {
            "channel": "ops",
            "severity": "warning",
            "message": "second {{ facts['vendor'] }}",
            "rule": "b",
        },
    ]


def test_stop_ends_the_evaluation_after_a_matching_rule() -> None:
    text = file(
        rule("first", 1, {"tag": "one"}),
        rule("stopper", 2, {"tag": "two"}, when={"vendor": "oracle"}, stop=True),
        rule("after", 3, {"tag": "three"}, {"record": False}),
    )
    stopped = decide([("a.yaml", text)], {"vendor": "oracle"})
    assert stopped.matched_rule_ids == ("first", "stopper")
    assert stopped.stopped_by == "stopper"
    assert stopped.tags == ("one", "two")
    assert stopped.record.default is True
    # A stop rule that does not match stops nothing.
    passed = decide([("a.yaml", text)], {"vendor": "cisco"})
    assert passed.matched_rule_ids == ("first", "after")
    assert passed.stopped_by is None
    assert passed.record.on is False


def test_disabled_rules_never_match_but_are_still_checked() -> None:
    text = file(rule("off", 1, {"record": False}, enabled=False), rule("on", 2, {"tag": "x"}))
    decision = decide([("a.yaml", text)])
    assert decision.matched_rule_ids == ("on",)
    assert decision.record.on is True
    broken = file(rule("off", 1, {"encrypt": {}}, enabled=False))
    with pytest.raises(RulesError, match="action 'encrypt' is not available in this build"):
        compiled([("a.yaml", broken)])


# --------------------------------------------------------------------------------------
# The default
# --------------------------------------------------------------------------------------


def test_the_default_records_when_no_rule_decides_and_says_so() -> None:
    decision = decide([("a.yaml", file(rule("tagger", 1, {"tag": "x"})))])
    assert decision.record.to_dict() == {
        "on": True,
        "format": None,
        "layout": None,
        "rule": None,
        "default": True,
    }
    assert decide([]).record.default is True


def test_the_default_is_configurable() -> None:
    off = decide([("a.yaml", file(rule("tagger", 1, {"tag": "x"})))], default_record=False)
    assert off.record.on is False
    assert off.record.default is True
    decided = decide([("a.yaml", file(rule("rec", 1, {"record": True})))], default_record=False)
    assert decided.record.on is True
    assert decided.record.default is False


# --------------------------------------------------------------------------------------
# Decisions as JSON, versions and the API view
# --------------------------------------------------------------------------------------


def test_a_decision_is_json_and_reads_back() -> None:
    text = file(
        rule(
            "vip",
            1,
            {"record": {"format": "wav"}},
            {"tag": "vip"},
            {"retain": 10},
            {"alert": {"channel": "ops", "message": "hi"}},
            when={"vendor": "oracle"},
            stop=True,
        ),
    )
    decision = decide([("a.yaml", text)], {"vendor": "oracle"})
    stored = json.loads(json.dumps(decision.to_dict()))
    assert stored == {
        "version": rule_set_version([("a.yaml", text)]),
        "evaluated_at": "2026-01-05T12:00:00+00:00",
        "record": {"on": True, "format": "wav", "layout": None, "rule": "vip", "default": False},
        "tags": ["vip"],
        "retain": {"days": 10, "rule": "vip"},
        "alerts": [{"channel": "ops", "severity": "warning", "message": "hi", "rule": "vip"}],
        "matched_rule_ids": ["vip"],
        "matched": [
            {
                "rule": "vip",
                "file": "a.yaml",
                "priority": 1,
                "why": ["vendor equals oracle"],
                "actions": [
                    {"record": {"format": "wav", "layout": None}},
                    {"tag": ["vip"]},
                    {"retain": {"days": 10}},
                    {"alert": {"channel": "ops", "severity": "warning", "message": "hi"}},
                ],
                "stop": True,
            }
        ],
        "stopped_by": "vip",
        "extra": {},
    }
    assert Decision.from_dict(stored) == decision


def test_the_version_is_a_short_hash_of_names_and_texts_in_any_order() -> None:
    files = [
        ("b.yaml", file(rule("b", 1, {"tag": "b"}))),
        ("a.yaml", file(rule("a", 1, {"tag": "a"}))),
    ]
    version = compiled(files).version
    assert len(version) == 12
    assert int(version, 16) >= 0
    assert compiled(list(reversed(files))).version == version
    assert compiled([files[0], ("c.yaml", files[1][1])]).version != version
    assert compiled([files[0], (files[1][0], files[1][1] + "\n")]).version != version


def test_the_rule_set_shows_rules_in_order_with_their_lines_and_lists() -> None:
    text = (
        "# comment\n"
        "lists:\n"
        "  vip: ['+31 20 123 4567']\n"
        "rules:\n"
        "  - id: second\n"
        "    priority: 20\n"
        "    when: always\n"
        "    then: [{tag: x}]\n"
        "  - id: first\n"
        "    description: The first one\n"
        "    enabled: false\n"
        "    priority: 10\n"
        "    when: {caller.e164: {in: {list: vip}}}\n"
        "    then: [{record: true}]\n"
        "    stop: true\n"
    )
    view = compiled([("10-x.yaml", text)]).to_dict()
    assert json.loads(json.dumps(view)) == view
    assert view["files"] == ["10-x.yaml"]
    assert view["default_record"] is True
    assert view["rules"] == [
        {
            "id": "first",
            "file": "10-x.yaml",
            "line": 9,
            "priority": 10,
            "enabled": False,
            "description": "The first one",
            "stop": True,
            "rule": {
                "id": "first",
                "description": "The first one",
                "enabled": False,
                "priority": 10,
                "when": {"caller.e164": {"in": {"list": "vip"}}},
                "then": [{"record": True}],
                "stop": True,
            },
        },
        {
            "id": "second",
            "file": "10-x.yaml",
            "line": 5,
            "priority": 20,
            "enabled": True,
            "description": "",
            "stop": False,
            "rule": {"id": "second", "priority": 20, "when": "always", "then": [{"tag": "x"}]},
        },
    ]
    assert view["lists"] == {
        "vip": {"name": "vip", "file": "10-x.yaml", "line": 3, "values": ["+31 20 123 4567"]}
    }


def test_rule_lookup_by_id() -> None:
    rule_set = compiled([("a.yaml", file(rule("a", 1, {"tag": "x"})))])
    found = rule_set.rule("a")
    assert found is not None
    assert found.file == "a.yaml"
    assert rule_set.rule("b") is None


# --------------------------------------------------------------------------------------
# The action registry
# --------------------------------------------------------------------------------------


class EscalateAction(Action):
    """A third-party plug-in: escalates to a queue, recorded under ``extra``."""

    params_schema: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "required": ["queue"],
        "additionalProperties": False,
        "properties": {"queue": {"type": "string"}},
    }

    def __init__(self, queue: str) -> None:
        self.queue = queue

    @classmethod
    def from_params(cls, params: Any, context: ActionContext) -> EscalateAction:
        if params["queue"] == "nowhere":
            raise ActionError.at("queue 'nowhere' does not exist", "queue")
        return cls(params["queue"])

    def contribute(self, decision: DecisionBuilder, rule: str) -> None:
        decision.add_extra("escalate", {"queue": self.queue, "rule": rule})

    def to_json(self) -> Json:
        return {"queue": self.queue}


NotAnAction = object()

REGISTRY = dict(DEFAULT_REGISTRY) | {
    "escalate": f"{__name__}:EscalateAction",
    "missing": f"{__name__}:NoSuchClass",
    "wrong": f"{__name__}:NotAnAction",
}


def test_a_registered_plug_in_validates_and_contributes() -> None:
    text = file(rule("esc", 1, {"escalate": {"queue": "tier2"}}))
    decision = decide([("a.yaml", text)], registry=REGISTRY)
    assert decision.extra == {"escalate": ({"queue": "tier2", "rule": "esc"},)}
    assert decision.matched[0].actions == ({"escalate": {"queue": "tier2"}},)
    assert Decision.from_dict(json.loads(json.dumps(decision.to_dict()))) == decision


def test_plug_in_problems_are_located_in_the_rule() -> None:
    text = (
        "rules:\n  - id: esc\n    priority: 1\n    when: always\n    then:\n"
        "      - escalate: {queue: nowhere}\n"
        "      - escalate: {queue: 7, extra: 1}\n"
        "      - missing: {}\n"
        "      - wrong: {}\n"
    )
    with pytest.raises(RulesError) as caught:
        compiled([("a.yaml", text)], registry=REGISTRY)
    assert [str(problem) for problem in caught.value.errors] == [
        "a.yaml:6:27: rules[0].then[0].escalate.queue: queue 'nowhere' does not exist",
        "a.yaml:7:27: rules[0].then[1].escalate.queue: expected a string, got 7",
        "a.yaml:7:30: rules[0].then[1].escalate.extra: unknown key 'extra' (allowed: queue)",
        f"a.yaml:8:9: rules[0].then[2]: action 'missing' cannot be used: {__name__}:NoSuchClass "
        "is not an Action plug-in class",
        f"a.yaml:9:9: rules[0].then[3]: action 'wrong' cannot be used: {__name__}:NotAnAction "
        "is not an Action plug-in class",
    ]


def test_an_action_missing_from_the_registry_is_unknown() -> None:
    text = file(rule("esc", 1, {"escalate": {"queue": "tier2"}}))
    with pytest.raises(RulesError) as caught:
        compiled([("a.yaml", text)])
    assert [problem.message for problem in caught.value.errors] == [
        "rules[0].then[0]: unknown action 'escalate' (known: alert, encrypt, intercept, record, "
        "retain, tag, transcribe)"
    ]


@pytest.mark.parametrize(
    ("name", "import_string"),
    [
        ("encrypt", "siprec_appliance.policy.plugins.encrypt:EncryptAction"),
        ("transcribe", "siprec_appliance.policy.plugins.transcribe:TranscribeAction"),
        ("intercept", "siprec_appliance.policy.plugins.intercept:InterceptAction"),
    ],
)
def test_unavailable_actions_are_refused_with_a_clear_message(
    name: str, import_string: str
) -> None:
    assert DEFAULT_REGISTRY[name] == import_string
    text = file(rule("r", 1, {"record": True}, {name: {}}))
    with pytest.raises(RulesError) as caught:
        compiled([("a.yaml", text)])
    assert [problem.message for problem in caught.value.errors] == [
        f"rules[0].then[1]: action {name!r} is not available in this build (plug-in "
        f"{import_string} is not installed); remove it from the rule"
    ]


def test_record_tag_retain_alert_normalise_their_parameters() -> None:
    text = file(
        rule(
            "r",
            1,
            {"record": False},
            {"record": {"layout": "per-leg"}},
            {"tag": "solo"},
            {"tag": ["a", "a", "b"]},
            {"retain": 7},
            {"alert": {"channel": "ops", "message": "{% if facts %}x{% endif %}"}},
        ),
    )
    rule_set = compiled([("a.yaml", text)])
    assert rule_set.rules[0].actions_json() == (
        {"record": False},
        {"record": {"format": None, "layout": "per-leg"}},
        {"tag": ["solo"]},
        {"tag": ["a", "b"]},
        {"retain": {"days": 7}},
        {
            "alert": {
                "channel": "ops",
                "severity": "warning",
                "message": "{% if facts %}x{% endif %}",
            }
        },
    )


def test_evaluation_is_fast() -> None:
    """20 rules with lists, windows and participants: well under a millisecond each time."""
    rules = [
        rule(
            f"r{i}",
            i,
            {"tag": f"t{i}"},
            when={
                "any": [
                    {"participants.e164": {"in": ["+3120123456" + str(i % 10)]}},
                    {"source.address": {"cidr": "192.0.2.0/24"}},
                ],
                "time": {
                    "timezone": "Europe/Amsterdam",
                    "days": ["mon", "tue"],
                    "from": "08:00",
                    "to": "18:00",
                },
                "headers.x-id": {"regex": "^abc"},
            },
        )
        for i in range(20)
    ]
    rule_set = compiled([("a.yaml", file(*rules))])
    facts = {
        "source.address": "198.51.100.1",
        "participants": [
            {"id": "a", "e164": "+31201234567", "ext": {}},
            {"id": "b", "e164": None, "ext": {}},
        ],
    }
    start = time.perf_counter()
    for _ in range(200):
        rule_set.evaluate(facts, NOW)
    per_call = (time.perf_counter() - start) / 200
    assert per_call < 0.001
