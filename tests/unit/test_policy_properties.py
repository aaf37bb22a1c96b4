"""Property tests of the matcher and the evaluation order (Hypothesis).

Conditions are generated over a small vocabulary of facts and checked against a
reference interpreter written independently here, and against the algebra of
``all``/``any``/``not``. Rule sets split over files must decide the same whatever
order the files are passed in.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from siprec_appliance.policy import Decision, compile_rule_set
from siprec_appliance.policy.conditions import Condition

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "rules.schema.json").read_text())
NOW = datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC)

VENDORS = ["oracle", "cisco", "avaya"]
CODECS = ["pcmu", "pcma", "opus", "telephone-event"]
NETWORKS = ["192.0.2.0/24", "198.51.100.0/25", "2001:db8::/32"]
ADDRESSES = ["192.0.2.7", "198.51.100.200", "2001:db8::1", "203.0.113.5"]
NUMBERS = ["+31201234567", "+442079460000", "+14155550100"]
ROLES = ["caller", "callee", "other"]


def compile_when(*whens: Any) -> list[Condition]:
    """Each condition compiled through the whole loader, as the rules of one file."""
    document = {
        "rules": [
            {"id": f"r{index}", "priority": index, "when": when, "then": [{"tag": "t"}]}
            for index, when in enumerate(whens)
        ]
    }
    rule_set = compile_rule_set([("t.yaml", json.dumps(document))], schema=SCHEMA)
    return [rule.when for rule in rule_set.rules]


def matches(facts: dict[str, Any], *whens: Any) -> list[bool]:
    """Whether each condition matches ``facts``."""
    return [when.matches(facts, NOW) for when in compile_when(*whens)]


# --------------------------------------------------------------------------------------
# Generated facts and conditions, and a reference interpreter for them
# --------------------------------------------------------------------------------------

participants: st.SearchStrategy[list[dict[str, Any]]] = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.sampled_from(["a", "b", "c"]),
            "aor": st.none(),
            "name": st.none(),
            "e164": st.none() | st.sampled_from(NUMBERS),
            "role": st.sampled_from(ROLES),
            "sends": st.just([]),
            "receives": st.just([]),
            "ext": st.just({}),
        }
    ),
    max_size=3,
)
facts_strategy = st.fixed_dictionaries(
    {},
    optional={
        "vendor": st.sampled_from(VENDORS),
        "source.port": st.integers(5000, 5100),
        "source.address": st.sampled_from(ADDRESSES),
        "media.codecs": st.lists(st.sampled_from(CODECS), max_size=3),
        "caller.e164": st.sampled_from(NUMBERS),
        "participants": participants,
    },
)

leaves = st.one_of(
    st.builds(lambda v: {"vendor": v}, st.sampled_from(VENDORS)),
    st.builds(lambda vs: {"vendor": {"in": vs}}, st.lists(st.sampled_from(VENDORS), min_size=1)),
    st.builds(
        lambda op, n: {"source.port": {op: n}},
        st.sampled_from(["lt", "le", "gt", "ge"]),
        st.integers(5000, 5100),
    ),
    st.builds(lambda net: {"source.address": {"cidr": net}}, st.sampled_from(NETWORKS)),
    st.builds(lambda c: {"media.codecs": {"in": c}}, st.lists(st.sampled_from(CODECS), min_size=1)),
    st.builds(lambda flag: {"caller.e164": {"exists": flag}}, st.booleans()),
    st.builds(lambda p: {"caller.e164": {"prefix": p}}, st.sampled_from(["+31", "+4420", "+1"])),
    st.builds(lambda r: {"participants.role": r}, st.sampled_from(ROLES)),
    st.builds(
        lambda r, n: {"any_participant": {"role": r, "e164": n}},
        st.sampled_from(ROLES),
        st.sampled_from(NUMBERS),
    ),
)
conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(lambda parts: {"all": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda parts: {"any": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda part: {"not": part}, inner),
    ),
    max_leaves=6,
)


def reference(when: dict[str, Any], facts: dict[str, Any]) -> bool:
    """What the language reference (docs/policy.md) says, for the generated shapes."""
    (key, value), *rest = when.items()
    if rest:
        return all(reference({k: v}, facts) for k, v in when.items())
    if key == "all":
        return all(reference(part, facts) for part in value)
    if key == "any":
        return any(reference(part, facts) for part in value)
    if key == "not":
        return not reference(value, facts)
    if key == "any_participant":
        return any(
            all(p.get(k) == v for k, v in value.items()) for p in facts.get("participants", [])
        )
    if key == "participants.role":
        return any(p["role"] == value for p in facts.get("participants", []))
    return _reference_fact(facts.get(key), value)


def _reference_fact(fact: Any, test: Any) -> bool:
    if not isinstance(test, dict):
        return fact is not None and fact == test
    ((op, operand),) = test.items()
    if op == "exists":
        return (fact is not None) is operand
    if fact is None:
        return False
    values = fact if isinstance(fact, list) else [fact]
    checks: dict[str, Callable[[Any], bool]] = {
        "in": lambda v: v in operand,
        "lt": lambda v: v < operand,
        "le": lambda v: v <= operand,
        "gt": lambda v: v > operand,
        "ge": lambda v: v >= operand,
        "prefix": lambda v: v.startswith(operand),
        "cidr": lambda v: ipaddress.ip_address(v) in ipaddress.ip_network(operand),
    }
    return any(checks[op](v) for v in values)


@given(when=conditions, facts=facts_strategy)
def test_the_engine_agrees_with_the_reference(when: dict[str, Any], facts: dict[str, Any]) -> None:
    (compiled,) = compile_when(when)
    expected = reference(when, facts)
    assert compiled.matches(facts, NOW) is expected
    if expected:
        reasons = compiled.explain(facts, NOW)
        assert reasons
        assert all(isinstance(reason, str) and reason for reason in reasons)


@given(when=conditions, facts=facts_strategy)
def test_not_inverts(when: dict[str, Any], facts: dict[str, Any]) -> None:
    alone, negated, twice = matches(facts, when, {"not": when}, {"not": {"not": when}})
    assert negated is not alone
    assert twice is alone


@given(when=conditions, facts=facts_strategy)
def test_all_or_any_of_one_is_that_one(when: dict[str, Any], facts: dict[str, Any]) -> None:
    alone, all_of_one, any_of_one = matches(facts, when, {"all": [when]}, {"any": [when]})
    assert all_of_one is alone
    assert any_of_one is alone


@given(a=conditions, b=conditions, facts=facts_strategy)
def test_all_is_and_and_any_is_or(
    a: dict[str, Any], b: dict[str, Any], facts: dict[str, Any]
) -> None:
    first, second, both, either, neither, de_morgan = matches(
        facts,
        a,
        b,
        {"all": [a, b]},
        {"any": [a, b]},
        {"not": {"any": [a, b]}},
        {"all": [{"not": a}, {"not": b}]},
    )
    assert both is (first and second)
    assert either is (first or second)
    assert neither is de_morgan


@given(a=leaves, b=leaves, facts=facts_strategy)
def test_a_mapping_of_tests_is_all_of_them(
    a: dict[str, Any], b: dict[str, Any], facts: dict[str, Any]
) -> None:
    if a.keys() & b.keys():
        return
    merged, both = matches(facts, a | b, {"all": [a, b]})
    assert merged is both


@given(
    number=st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True),
    international=st.sampled_from(["+", "00"]),
    separators=st.lists(st.sampled_from([" ", "-", ".", ""]), min_size=15, max_size=15),
)
def test_any_way_of_writing_a_number_matches_its_e164_form(
    number: str, international: str, separators: list[str]
) -> None:
    written = international + "".join(d + s for d, s in zip(number, separators, strict=False))
    written = written.rstrip(" -.")
    equals, in_list = compile_when(
        {"caller.e164": written}, {"participants.e164": {"in": [written]}}
    )
    assert equals.matches({"caller.e164": "+" + number}, NOW)
    assert in_list.matches({"participants": [{"e164": "+" + number}]}, NOW)
    assert not equals.matches({"caller.e164": "+" + number + "0"}, NOW)


# --------------------------------------------------------------------------------------
# Evaluation order across files
# --------------------------------------------------------------------------------------

rules_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "priority": st.integers(0, 3),  # few values: many ties
            "when": conditions,
            "then": st.lists(
                st.one_of(
                    st.builds(lambda on: {"record": on}, st.booleans()),
                    st.builds(lambda f: {"record": {"format": f}}, st.sampled_from(["wav", "mp3"])),
                    st.builds(lambda t: {"tag": t}, st.sampled_from(["a", "b", "c"])),
                    st.builds(lambda d: {"retain": d}, st.integers(1, 5)),
                ),
                min_size=1,
                max_size=2,
            ),
            "stop": st.booleans(),
        }
    ),
    min_size=1,
    max_size=6,
)


def split_into_files(rules: list[dict[str, Any]], names: list[str]) -> list[tuple[str, str]]:
    files: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for index, rule in enumerate(rules):
        files[names[index % len(names)]].append({"id": f"r{index}", **rule})
    return [(name, json.dumps({"rules": body})) for name, body in files.items()]


def decide(files: list[tuple[str, str]], facts: dict[str, Any]) -> Decision:
    return compile_rule_set(files, schema=SCHEMA).evaluate(facts, NOW)


@settings(max_examples=50)
@given(rules=rules_strategy, facts=facts_strategy, order=st.randoms(use_true_random=False))
def test_the_order_files_are_passed_in_does_not_matter(
    rules: list[dict[str, Any]], facts: dict[str, Any], order: Any
) -> None:
    files = split_into_files(rules, ["10-a.yaml", "20-b.yaml", "30-c.yaml"])
    shuffled = list(files)
    order.shuffle(shuffled)
    assert decide(shuffled, facts).to_dict() == decide(files, facts).to_dict()


@settings(max_examples=50)
@given(rules=rules_strategy, facts=facts_strategy)
def test_evaluation_follows_priority_then_file_name_then_position(
    rules: list[dict[str, Any]], facts: dict[str, Any]
) -> None:
    names = ["b.yaml", "a.yaml"]
    files = split_into_files(rules, names)
    decision = decide(files, facts)
    # Reference: sort by (priority, file name, position), walk until stop.
    placed = []
    for name, text in files:
        for position, rule in enumerate(json.loads(text)["rules"]):
            placed.append((rule["priority"], name, position, rule))
    expected_ids, record = [], None
    for _, _, _, rule in sorted(placed, key=lambda item: item[:3]):
        if not reference(rule["when"], facts):
            continue
        expected_ids.append(rule["id"])
        for action in rule["then"]:
            if "record" in action and record is None:
                record = (rule["id"], action["record"] is not False)
        if rule["stop"]:
            break
    assert list(decision.matched_rule_ids) == expected_ids
    if record is None:
        assert decision.record.default and decision.record.on
    else:
        assert (decision.record.rule, decision.record.on) == record
    assert Decision.from_dict(json.loads(json.dumps(decision.to_dict()))) == decision
