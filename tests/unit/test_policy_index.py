"""The rule index (policy/index.py): it narrows the scan, it never changes a decision.

Each index kind has a test with a call the rule must match through the index (and
the rule is checked to be indexed, not a candidate for every call), so dropping a
candidate fails. Hypothesis then checks, for generated rule sets over several
files and generated calls, that every rule the linear scan matches is a candidate
and that the indexed decision equals the linear one.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siprec_appliance.policy import RuleSet, compile_rule_set

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "rules.schema.json").read_text())
NOW = datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC)  # a Monday

LISTS: dict[str, list[Any]] = {
    "monitored": ["0031 20 123 4567", "+44 20 7946 0000"],
    "sbcs": ["192.0.2.0/24", "2001:db8::/32"],
    "ranges": ["+31 20", "0044"],
    "vendors": ["oracle", "cisco"],
    "empty": [],
}


def rule_set(*whens: Any, lists: dict[str, list[Any]] | None = None) -> RuleSet:
    """One file, one rule per condition (``r0``, ``r1``, … in that order)."""
    document = {
        "lists": LISTS if lists is None else lists,
        "rules": [
            {"id": f"r{index}", "priority": index, "when": when, "then": [{"tag": f"t{index}"}]}
            for index, when in enumerate(whens)
        ],
    }
    return compile_rule_set([("t.yaml", json.dumps(document))], schema=SCHEMA)


def matched(rules: RuleSet, facts: dict[str, Any]) -> list[str]:
    """The ids matched with the index; checked against the linear scan."""
    decision = rules.evaluate(facts, NOW)
    assert decision == rules.linear().evaluate(facts, NOW)
    return list(decision.matched_rule_ids)


def indexed_rule_ids(rules: RuleSet) -> set[str]:
    """The enabled rules found through look-ups (not candidates for every call)."""
    assert rules.index is not None
    active = [rule for rule in rules.rules if rule.enabled]
    return {rule.id for position, rule in enumerate(active) if position not in rules.index.always}


def participant(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": "p", "aor": None, "name": None, "e164": None, "role": "other"}
    return base | fields


# --------------------------------------------------------------------------------------
# Text look-ups: equals, in, named lists
# --------------------------------------------------------------------------------------


def test_equals_is_looked_up_with_the_operators_text_form() -> None:
    rules = rule_set({"source.port": "5060"}, {"media.mixed": False}, {"vendor": "oracle"})
    assert indexed_rule_ids(rules) == {"r0", "r1", "r2"}
    assert matched(rules, {"source.port": 5060}) == ["r0"]
    assert matched(rules, {"source.port": 5060.0}) == ["r0"]
    assert matched(rules, {"source.port": "5060"}) == ["r0"]
    assert matched(rules, {"media.mixed": False}) == ["r1"]
    assert matched(rules, {"vendor": "oracle"}) == ["r2"]
    assert matched(rules, {"vendor": "Oracle"}) == []  # values are case-sensitive
    assert matched(rules, {"vendor": None, "source.port": [5061, None, "5060"]}) == ["r0"]


def test_e164_numbers_are_indexed_normalised() -> None:
    rules = rule_set(
        {"participants.e164": "0031 20 123 4567"},
        {"callee.e164": {"in": ["+44-20-7946-0000", "001 415 555 0100"]}},
        {"caller.e164": {"in": {"list": "monitored"}}},
    )
    assert indexed_rule_ids(rules) == {"r0", "r1", "r2"}
    facts = {"participants": [participant(e164="+31201234567")], "caller.e164": "+31201234567"}
    assert matched(rules, facts) == ["r0", "r2"]
    assert matched(rules, {"callee.e164": "+14155550100"}) == ["r1"]
    assert matched(rules, {"caller.e164": "+442079460000"}) == ["r2"]
    assert matched(rules, {"caller.e164": "0031 20 123 4567"}) == []  # facts are E.164


def test_header_names_are_lower_cased_and_list_facts_read_per_element() -> None:
    rules = rule_set({"headers.X-Tenant": "T-1"}, {"media.codecs": {"in": ["opus"]}})
    assert indexed_rule_ids(rules) == {"r0", "r1"}
    assert matched(rules, {"headers.x-tenant": "T-1"}) == ["r0"]
    assert matched(rules, {"headers.x-tenant": "t-1"}) == []
    assert matched(rules, {"media.codecs": ["pcmu", None, "opus"]}) == ["r1"]
    assert matched(rules, {"media.codecs": [["opus"]]}) == []  # no text form


def test_an_all_is_found_through_its_rarest_test() -> None:
    tenants = [{"vendor": "cisco", "headers.x-tenant": f"t{index}"} for index in range(5)]
    rules = rule_set(*tenants)
    assert indexed_rule_ids(rules) == {f"r{index}" for index in range(5)}
    assert rules.index is not None
    # A cisco call of tenant t3 is a candidate for r3 only, not for every cisco rule.
    assert list(rules.index.candidates({"vendor": "cisco", "headers.x-tenant": "t3"})) == [3]
    assert matched(rules, {"vendor": "cisco", "headers.x-tenant": "t3"}) == ["r3"]
    assert matched(rules, {"vendor": "oracle", "headers.x-tenant": "t3"}) == []


def test_an_any_is_found_through_each_of_its_parts() -> None:
    rules = rule_set(
        {"any": [{"caller.e164": "+31201234567"}, {"source.address": {"cidr": "192.0.2.0/24"}}]}
    )
    assert indexed_rule_ids(rules) == {"r0"}
    assert matched(rules, {"caller.e164": "+31201234567"}) == ["r0"]
    assert matched(rules, {"source.address": "192.0.2.9"}) == ["r0"]
    assert matched(rules, {"source.address": "198.51.100.1"}) == []


# --------------------------------------------------------------------------------------
# Prefixes and networks
# --------------------------------------------------------------------------------------


def test_prefixes_of_every_length_are_looked_up() -> None:
    rules = rule_set(
        {"caller.e164": {"prefix": "+31 20"}},
        {"caller.e164": {"prefix": {"list": "ranges"}}},
        {"caller.aor": {"prefix": ["sip:", "sips:robot"]}},
        {"caller.e164": {"prefix": "+3120123456"}},
    )
    assert indexed_rule_ids(rules) == {"r0", "r1", "r2", "r3"}
    assert matched(rules, {"caller.e164": "+31201234567"}) == ["r0", "r1", "r3"]
    assert matched(rules, {"caller.e164": "+442079460000"}) == ["r1"]  # 0044 is +44
    assert matched(rules, {"caller.e164": "+3120"}) == ["r0", "r1"]
    assert matched(rules, {"caller.aor": "sips:robot7@example.com"}) == ["r2"]
    assert matched(rules, {"caller.e164": "+312"}) == []


def test_networks_of_every_length_and_both_families() -> None:
    rules = rule_set(
        {"source.address": {"cidr": "192.0.2.0/24"}},
        {"source.address": {"cidr": "192.0.2.7/32"}},
        {"source.address": {"cidr": {"list": "sbcs"}}},
        {"source.address": {"cidr": "0.0.0.0/0"}},
        {"source.address": {"cidr": "2001:db8:1::/48"}},
    )
    assert indexed_rule_ids(rules) == {"r0", "r1", "r2", "r3", "r4"}
    assert matched(rules, {"source.address": "192.0.2.7"}) == ["r0", "r1", "r2", "r3"]
    assert matched(rules, {"source.address": " 192.0.2.8 "}) == ["r0", "r2", "r3"]
    # An IPv4-mapped IPv6 address is also tested as IPv4.
    assert matched(rules, {"source.address": "::ffff:192.0.2.7"}) == ["r0", "r1", "r2", "r3"]
    assert matched(rules, {"source.address": "2001:db8:1::5"}) == ["r2", "r4"]
    assert matched(rules, {"source.address": "2001:db9::5"}) == []
    assert matched(rules, {"source.address": "not an address"}) == []
    assert matched(rules, {"source.address": 3221225991}) == []  # only text is an address


# --------------------------------------------------------------------------------------
# Participants
# --------------------------------------------------------------------------------------


def test_participant_fields_are_looked_up_in_every_participant() -> None:
    rules = rule_set(
        {"any_participant": {"role": "other", "e164": {"in": {"list": "monitored"}}}},
        {"participants.ext.apkt.callingParty": True},
        {"participants.role": "callee"},
    )
    assert indexed_rule_ids(rules) == {"r0", "r1", "r2"}
    third = participant(role="other", e164="+442079460000")
    assert matched(rules, {"participants": [participant(role="callee"), third]}) == ["r0", "r2"]
    assert (
        matched(rules, {"participants": [participant(role="caller", e164="+442079460000")]}) == []
    )
    flagged = participant(ext={"apkt.callingParty": "true"})
    assert matched(rules, {"participants": [None, flagged]}) == ["r1"]
    assert matched(rules, {"participants": {"role": "callee"}}) == []  # not a list


# --------------------------------------------------------------------------------------
# What is evaluated for every call, and the evaluation order
# --------------------------------------------------------------------------------------


def test_rules_without_a_look_up_are_candidates_for_every_call() -> None:
    rules = rule_set(
        "always",
        {"caller.aor": {"regex": "robot"}},
        {"caller.aor": {"glob": "sip:*@example.com"}},
        {"not": {"vendor": "cisco"}},
        {"caller.e164": {"exists": False}},
        {"source.port": {"ge": 5060}},
        {"time": {"timezone": "UTC", "days": ["mon"]}},
        {"any": [{"vendor": "oracle"}, {"caller.aor": {"regex": "^x"}}]},
        {"all": [{"vendor": "oracle"}, {"caller.aor": {"regex": "^x"}}]},
    )
    assert indexed_rule_ids(rules) == {"r8"}
    facts = {"caller.aor": "sip:robot@example.com", "source.port": 5060, "vendor": "avaya"}
    assert matched(rules, facts) == ["r0", "r1", "r2", "r3", "r4", "r5", "r6"]
    oracle = {"vendor": "oracle", "caller.aor": "x"}
    assert matched(rules, oracle) == ["r0", "r3", "r4", "r6", "r7", "r8"]


def test_a_rule_that_can_never_match_is_never_a_candidate() -> None:
    rules = rule_set({"vendor": {"in": {"list": "empty"}}}, "always")
    assert rules.index is not None
    assert list(rules.index.candidates({"vendor": "oracle"})) == [1]
    assert matched(rules, {"vendor": "oracle"}) == ["r1"]


def test_candidates_keep_the_order_priorities_and_stop_across_files() -> None:
    first = {
        "rules": [
            {"id": "late", "priority": 9, "when": {"vendor": "oracle"}, "then": [{"tag": "late"}]},
            {
                "id": "stopper",
                "priority": 5,
                "when": {"caller.e164": "+31201234567"},
                "then": [{"record": False}],
                "stop": True,
            },
            {
                "id": "off",
                "priority": 1,
                "enabled": False,
                "when": {"vendor": "oracle"},
                "then": [{"record": True}],
            },
        ]
    }
    second = {
        "rules": [
            {"id": "early", "priority": 5, "when": {"vendor": "oracle"}, "then": [{"tag": "a"}]},
            {"id": "always", "priority": 7, "when": "always", "then": [{"tag": "all"}]},
        ]
    }
    files = [("b.yaml", json.dumps(first)), ("a.yaml", json.dumps(second))]
    rules = compile_rule_set(files, schema=SCHEMA)
    assert matched(rules, {"vendor": "oracle"}) == ["early", "always", "late"]
    stopped = rules.evaluate({"vendor": "oracle", "caller.e164": "+31201234567"}, NOW)
    assert stopped.matched_rule_ids == ("early", "stopper")
    assert stopped.stopped_by == "stopper"
    assert not stopped.record.on
    assert matched(rules, {"caller.e164": "+31201234567"}) == ["stopper"]


# --------------------------------------------------------------------------------------
# Property: indexed == linear
# --------------------------------------------------------------------------------------

NUMBERS = ["+31201234567", "+442079460000", "+14155550100", "+31201234500"]
WRITTEN = ["0031 20 123 4567", "+44-20-7946-0000", "+1 (415) 555-0100", "+31201234500"]
PREFIXES = ["+31", "+31 20", "0044", "+4420 79", "+1", "+3120123456"]
NETWORKS = ["192.0.2.0/24", "192.0.2.7/32", "198.51.100.0/25", "0.0.0.0/0", "2001:db8::/32"]
NETWORKS += ["2001:db8:1::/48", "::ffff:192.0.2.0/120", "10.0.0.0/8"]
ADDRESSES = ["192.0.2.7", "198.51.100.200", "2001:db8:1::1", "::ffff:192.0.2.9", "10.1.2.3"]
ADDRESSES += [" 192.0.2.7", "203.0.113.5", "bogus", "2001:db8::1%eth0"]
E164_FACTS = ["caller.e164", "callee.e164", "participants.e164"]
GENERATED_LISTS: dict[str, list[Any]] = {
    "monitored": ["0031 20 123 4567", "+1 415 555 0100"],
    "ranges": ["+31 20", "0044"],
    "sbcs": ["192.0.2.0/24", "2001:db8::/32"],
    "vendors": ["oracle", "Cisco"],
    "empty": [],
}


def _operand(values: list[str], list_names: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(values),
        st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True),
        st.sampled_from([{"list": name} for name in list_names]),
    )


# Fact tests the index looks up (equals, in, prefix, cidr, participants) ...
indexed_leaves = st.one_of(
    st.builds(lambda f, v: {f: v}, st.sampled_from(E164_FACTS), st.sampled_from(WRITTEN)),
    st.builds(
        lambda f, v: {f: {"in": v}},
        st.sampled_from(E164_FACTS),
        _operand(WRITTEN, ["monitored"]).map(lambda v: v if not isinstance(v, str) else [v]),
    ),
    st.builds(
        lambda f, v: {f: {"prefix": v}},
        st.sampled_from(E164_FACTS),
        _operand(PREFIXES, ["ranges"]),
    ),
    st.builds(lambda v: {"source.address": {"cidr": v}}, _operand(NETWORKS, ["sbcs"])),
    st.builds(lambda v: {"vendor": v}, st.sampled_from(["oracle", "Oracle", "cisco"])),
    st.builds(lambda v: {"vendor": {"in": v}}, st.just({"list": "vendors"})),
    st.builds(lambda v: {"source.port": v}, st.sampled_from([5060, "5060", 5061])),
    st.builds(lambda v: {"media.mixed": v}, st.booleans()),
    st.builds(
        lambda name, v: {f"headers.{name}": v},
        st.sampled_from(["X-Tenant", "x-tenant"]),
        st.sampled_from(["t1", "T1"]),
    ),
    st.builds(
        lambda v: {"media.codecs": {"in": v}},
        st.lists(st.sampled_from(["opus", "pcmu"]), min_size=1),
    ),
    st.builds(lambda v: {"caller.aor": {"prefix": v}}, st.sampled_from(["sip:", "sip:+31"])),
    st.builds(
        lambda role, number: {"any_participant": {"role": role, "e164": number}},
        st.sampled_from(["caller", "callee", "other"]),
        st.sampled_from(WRITTEN),
    ),
    st.builds(lambda role: {"participants.role": role}, st.sampled_from(["callee", "other"])),
    st.builds(lambda v: {"participants.ext.flag": v}, st.sampled_from([True, "1", 1])),
)
# ... and those it cannot (every call is a candidate).
other_leaves = st.one_of(
    st.builds(lambda v: {"caller.aor": {"regex": v}}, st.sampled_from(["robot", "^sip:\\+31"])),
    st.builds(lambda v: {"caller.aor": {"glob": v}}, st.sampled_from(["sip:*", "*@x"])),
    st.builds(lambda f, b: {f: {"exists": b}}, st.sampled_from(E164_FACTS[:2]), st.booleans()),
    st.builds(lambda n: {"source.port": {"ge": n}}, st.integers(5059, 5062)),
    st.builds(
        lambda d: {"time": {"timezone": "UTC", "days": [d]}}, st.sampled_from(["mon", "tue"])
    ),
    st.just("always"),
)
fact_leaves = st.one_of(indexed_leaves, indexed_leaves, indexed_leaves, other_leaves)


def _compound(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    mappings = inner.filter(lambda when: isinstance(when, dict))
    return st.one_of(
        st.builds(lambda parts: {"all": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda parts: {"any": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda part: {"not": part}, inner),
        # Several tests in one mapping (an implicit all), on different keys.
        st.builds(lambda a, b: a | b if not a.keys() & b.keys() else a, mappings, mappings),
    )


conditions = st.recursive(fact_leaves, _compound, max_leaves=5)

rules_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "priority": st.integers(0, 3),  # few values: ties broken by file and position
            "when": conditions,
            "then": st.lists(
                st.one_of(
                    st.builds(lambda on: {"record": on}, st.booleans()),
                    st.builds(lambda t: {"tag": t}, st.sampled_from(["a", "b", "c"])),
                    st.builds(lambda d: {"retain": d}, st.integers(1, 5)),
                ),
                min_size=1,
                max_size=2,
            ),
            "stop": st.booleans(),
            "enabled": st.sampled_from([None, None, True, False]),  # None: not written
        }
    ),
    min_size=1,
    max_size=8,
)

participant_facts = st.fixed_dictionaries(
    {
        "id": st.just("p"),
        "e164": st.none() | st.sampled_from([*NUMBERS, "0031 20 123 4567"]),
        "role": st.sampled_from(["caller", "callee", "other"]),
    },
    optional={"ext": st.just({}) | st.builds(lambda v: {"flag": v}, st.sampled_from([True, 1]))},
)
facts_strategy = st.fixed_dictionaries(
    {  # always there (None at times): most calls give the look-ups something to find
        "source.address": st.sampled_from(ADDRESSES) | st.just(3221225991) | st.none(),
        "caller.e164": st.none() | st.sampled_from([*NUMBERS, "+3120", "0031201234567"]),
        "callee.e164": st.none() | st.sampled_from(NUMBERS),
        "participants": st.lists(participant_facts | st.none(), max_size=3)
        | st.just({"role": "callee"}),
    },
    optional={
        "vendor": st.sampled_from(["oracle", "Oracle", "cisco", "Cisco"]),
        "source.port": st.sampled_from([5060, "5060", 5060.0, 5061, True]),
        "media.mixed": st.booleans() | st.just("false"),
        "media.codecs": st.lists(st.none() | st.sampled_from(["opus", "pcmu"]), max_size=3),
        "caller.aor": st.sampled_from(["sip:+31201234567@x", "sip:robot@x", "tel:1"]),
        "headers.x-tenant": st.sampled_from(["t1", "T1"]),
    },
)


def _files(rules: list[dict[str, Any]], names: list[str]) -> list[tuple[str, str]]:
    """The rules dealt over ``names`` (ids r0, r1, …), the named lists in their own file."""
    by_file: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for index, rule in enumerate(rules):
        written = {key: value for key, value in rule.items() if value is not None}
        by_file[names[index % len(names)]].append({"id": f"r{index}", **written})
    files = [(name, json.dumps({"rules": body})) for name, body in by_file.items()]
    return [*files, ("lists.yaml", json.dumps({"lists": GENERATED_LISTS}))]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=rules_strategy,
    calls=st.lists(facts_strategy, min_size=1, max_size=6),
    now=st.sampled_from([NOW, NOW + datetime.timedelta(days=1)]),
    file_count=st.integers(1, 3),
)
def test_the_index_decides_as_the_linear_scan(
    rules: list[dict[str, Any]],
    calls: list[dict[str, Any]],
    now: datetime.datetime,
    file_count: int,
) -> None:
    indexed = compile_rule_set(
        _files(rules, ["c.yaml", "a.yaml", "b.yaml"][:file_count]), schema=SCHEMA
    )
    scan = indexed.linear()
    active = [rule for rule in indexed.rules if rule.enabled]
    assert indexed.index is not None
    for facts in calls:
        candidates = list(indexed.index.candidates(facts))
        assert candidates == sorted(set(candidates))
        must = [position for position, rule in enumerate(active) if rule.when.matches(facts, now)]
        assert set(must) <= set(candidates), "the index dropped a rule that matches"
        assert indexed.evaluate(facts, now) == scan.evaluate(facts, now)


@settings(max_examples=400, deadline=None)
@given(when=indexed_leaves, calls=st.lists(facts_strategy, min_size=1, max_size=8))
def test_every_indexed_fact_test_finds_the_calls_it_matches(
    when: Any, calls: list[dict[str, Any]]
) -> None:
    rules = rule_set(when, lists=GENERATED_LISTS)
    assert indexed_rule_ids(rules) == {"r0"}
    assert rules.index is not None
    (compiled,) = (rule.when for rule in rules.rules)
    for facts in calls:
        if compiled.matches(facts, NOW):
            assert list(rules.index.candidates(facts)) == [0], facts


def _every_indexed_leaf() -> list[Any]:
    """Each indexed fact test of the generators above, with each of its operands."""
    leaves: list[Any] = []
    for fact in E164_FACTS:
        leaves += [{fact: number} for number in WRITTEN]
        leaves += [{fact: {"in": WRITTEN}}, {fact: {"in": {"list": "monitored"}}}]
        leaves += [{fact: {"prefix": prefix}} for prefix in PREFIXES]
        leaves.append({fact: {"prefix": {"list": "ranges"}}})
    leaves += [{"source.address": {"cidr": network}} for network in NETWORKS]
    leaves.append({"source.address": {"cidr": {"list": "sbcs"}}})
    leaves += [{"vendor": vendor} for vendor in ["oracle", "Oracle", "cisco"]]
    leaves.append({"vendor": {"in": {"list": "vendors"}}})
    leaves += [{"source.port": port} for port in [5060, "5060", 5061]]
    leaves += [{"media.mixed": flag} for flag in [True, False]]
    leaves += [{"headers.X-Tenant": "t1"}, {"headers.x-tenant": "T1"}]
    leaves += [{"media.codecs": {"in": [codec]}} for codec in ["opus", "pcmu"]]
    leaves += [{"caller.aor": {"prefix": prefix}} for prefix in ["sip:", "sip:+31"]]
    leaves += [
        {"any_participant": {"role": role, "e164": number}}
        for role in ["caller", "other"]
        for number in WRITTEN
    ]
    leaves += [{"participants.role": role} for role in ["callee", "other"]]
    leaves += [{"participants.ext.flag": flag} for flag in [True, "1", 1]]
    return leaves


def _every_call() -> list[dict[str, Any]]:
    """Calls that vary one fact at a time over the values the generators use."""
    numbers = [*NUMBERS, "+3120", "+31", "+312", "0031201234567", None]
    calls: list[dict[str, Any]] = [{}]
    calls += [{"source.address": address} for address in [*ADDRESSES, 3221225991]]
    for fact in ("caller.e164", "callee.e164"):
        calls += [{fact: number} for number in numbers]
        calls.append({fact: ["x", None, "+31201234567"]})
    for index, (number, role) in enumerate(
        (number, role) for number in numbers for role in ["caller", "callee", "other"]
    ):
        flag = [True, 1, "1", None][index % 4]
        other = {"id": "b", "role": role, "e164": number, "ext": {"flag": flag}}
        calls.append({"participants": [None, "p", {"id": "a", "role": "caller"}, other]})
    calls += [{"vendor": vendor} for vendor in ["oracle", "Oracle", "cisco", "Cisco"]]
    calls += [{"source.port": port} for port in [5060, "5060", 5060.0, 5061, True]]
    calls += [{"media.mixed": flag} for flag in [False, True, "false"]]
    calls += [{"headers.x-tenant": tenant} for tenant in ["t1", "T1"]]
    calls += [{"media.codecs": codecs} for codecs in [["pcmu", "opus"], [None, "pcmu"]]]
    calls += [{"caller.aor": aor} for aor in ["sip:+31201234567@x", "tel:1"]]
    return calls


def test_every_indexed_fact_test_against_every_value() -> None:
    rules = rule_set(*_every_indexed_leaf(), lists=GENERATED_LISTS)
    assert rules.index is not None
    assert not rules.index.always
    found = 0
    for facts in _every_call():
        candidates = set(rules.index.candidates(facts))
        for position, rule in enumerate(rules.rules):
            if rule.when.matches(facts, NOW):
                found += 1
                assert position in candidates, (rule.data["when"], facts)
        assert rules.evaluate(facts, NOW) == rules.linear().evaluate(facts, NOW)
    assert found > 200  # the calls do match many of the rules
