"""Each operator on each kind of fact, and the explanation each match gives."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from siprec_appliance.policy import compile_rule_set
from siprec_appliance.policy.conditions import Condition

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "rules.schema.json").read_text())
NOW = datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC)

LISTS = {
    "monitored": ["0031 20 123 4567", "+44 20 7946 0000"],
    "sbcs": ["192.0.2.0/24", "2001:db8::/32"],
    "directions": ["inbound"],
    "domains": ["*@example.com", "*@example.org"],
    "ranges": ["+31 20", "0044"],
}


def condition(when: Any, lists: dict[str, list[Any]] | None = None) -> Condition:
    """``when`` compiled through the whole loader (YAML is a superset of JSON)."""
    document = {
        "lists": LISTS if lists is None else lists,
        "rules": [{"id": "r", "priority": 1, "when": when, "then": [{"tag": "t"}]}],
    }
    rule_set = compile_rule_set([("t.yaml", json.dumps(document))], schema=SCHEMA)
    return rule_set.rules[0].when


def why(when: Any, facts: dict[str, Any]) -> list[str] | None:
    """The explanation when ``when`` matches ``facts``, None when it does not."""
    compiled = condition(when)
    if not compiled.matches(facts, NOW):
        return None
    return compiled.explain(facts, NOW)


def participant(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "p",
        "aor": None,
        "name": None,
        "e164": None,
        "role": "other",
        "sends": [],
        "receives": [],
        "ext": {},
    }
    return base | fields


# --------------------------------------------------------------------------------------
# Operators
# --------------------------------------------------------------------------------------


def test_equals_compares_text_exactly() -> None:
    assert why({"vendor": "oracle"}, {"vendor": "oracle"}) == ["vendor equals oracle"]
    assert why({"vendor": {"equals": "oracle"}}, {"vendor": "oracle"}) == ["vendor equals oracle"]
    assert why({"vendor": "oracle"}, {"vendor": "Oracle"}) is None
    assert why({"vendor": "oracle"}, {}) is None
    assert why({"vendor": "oracle"}, {"vendor": None}) is None


def test_equals_on_numbers_and_booleans_uses_their_text() -> None:
    assert why({"source.port": 5060}, {"source.port": 5060}) == ["source.port equals 5060"]
    assert why({"source.port": "5060"}, {"source.port": 5060}) == ["source.port equals 5060"]
    assert why({"ext.apkt.callingParty": True}, {"ext.apkt.callingParty": "true"}) == [
        "ext.apkt.callingParty equals true"
    ]
    assert why({"media.mixed": False}, {"media.mixed": False}) == ["media.mixed equals false"]
    assert why({"media.mixed": False}, {"media.mixed": True}) is None


def test_in_takes_values_or_a_named_list() -> None:
    assert why({"direction": {"in": ["inbound", "outbound"]}}, {"direction": "inbound"}) == [
        "direction in [inbound, outbound] (inbound)"
    ]
    assert why({"direction": {"in": {"list": "directions"}}}, {"direction": "inbound"}) == [
        "direction in list directions (inbound)"
    ]
    assert why({"direction": {"in": {"list": "directions"}}}, {"direction": "unknown"}) is None
    assert why({"source.port": {"in": [5060, 5061]}}, {"source.port": 5061}) == [
        "source.port in [5060, 5061] (5061)"
    ]


def test_prefix_takes_one_or_several_prefixes() -> None:
    facts = {"caller.aor": "sip:4021@pbx.example.com"}
    assert why({"caller.aor": {"prefix": "sip:40"}}, facts) == [
        "caller.aor has prefix sip:40 (sip:4021@pbx.example.com)"
    ]
    assert why({"caller.aor": {"prefix": ["sip:41", "sip:40"]}}, facts) == [
        "caller.aor has a prefix in [sip:41, sip:40] (sip:4021@pbx.example.com)"
    ]
    assert why({"caller.aor": {"prefix": "sip:41"}}, facts) is None


def test_glob_matches_the_whole_value_case_sensitively() -> None:
    facts = {"callee.aor": "sip:sales@example.com"}
    assert why({"callee.aor": {"glob": "sip:*@example.com"}}, facts) == [
        "callee.aor matches glob sip:*@example.com (sip:sales@example.com)"
    ]
    assert why({"callee.aor": {"glob": "sip:sale?@example.*"}}, facts) is not None
    assert why({"callee.aor": {"glob": "sales"}}, facts) is None  # not a substring search
    assert why({"callee.aor": {"glob": "SIP:*"}}, facts) is None
    assert why({"callee.aor": {"glob": {"list": "domains"}}}, {"callee.aor": "x@example.org"}) == [
        "callee.aor matches a glob in list domains (x@example.org)"
    ]


def test_regex_searches_anywhere_unless_anchored() -> None:
    facts = {"cs_call_id": "a84b4c76e66710@pc33.atlanta.example.com"}
    assert why({"cs_call_id": {"regex": r"atlanta\.example"}}, facts) == [
        r"cs_call_id matches regex atlanta\.example (a84b4c76e66710@pc33.atlanta.example.com)"
    ]
    assert why({"cs_call_id": {"regex": "^atlanta"}}, facts) is None
    assert why({"cs_call_id": {"regex": "(?i)ATLANTA"}}, facts) is not None


def test_cidr_on_the_source_address() -> None:
    assert why({"source.address": {"cidr": "192.0.2.0/24"}}, {"source.address": "192.0.2.20"}) == [
        "source.address in network 192.0.2.0/24 (192.0.2.20)"
    ]
    assert (
        why({"source.address": {"cidr": "192.0.2.0/24"}}, {"source.address": "192.0.3.1"}) is None
    )
    assert (
        why({"source.address": {"cidr": "192.0.2.7"}}, {"source.address": "192.0.2.7"}) is not None
    )
    assert why(
        {"source.address": {"cidr": {"list": "sbcs"}}}, {"source.address": "2001:db8::5"}
    ) == ["source.address in a network of list sbcs (2001:db8::5)"]
    # An IPv4-mapped IPv6 peer (dual-stack socket) is its IPv4 address.
    assert why({"source.address": {"cidr": "192.0.2.0/24"}}, {"source.address": "::ffff:192.0.2.9"})
    assert (
        why({"source.address": {"cidr": "192.0.2.0/24"}}, {"source.address": "pbx.local"}) is None
    )


def test_exists_tests_presence() -> None:
    assert why({"ucid": {"exists": True}}, {"ucid": "0409947567"}) == ["ucid exists (0409947567)"]
    assert why({"ucid": {"exists": True}}, {}) is None
    assert why({"ucid": {"exists": True}}, {"ucid": None}) is None
    assert why({"ucid": {"exists": False}}, {}) == ["ucid does not exist"]
    assert why({"ucid": {"exists": False}}, {"ucid": None}) == ["ucid does not exist"]
    assert why({"ucid": {"exists": False}}, {"ucid": "1"}) is None


@pytest.mark.parametrize(
    ("op", "bound", "value", "expected"),
    [
        ("lt", 3, 2, True),
        ("lt", 3, 3, False),
        ("le", 3, 3, True),
        ("le", 3, 4, False),
        ("gt", 3, 4, True),
        ("gt", 3, 3, False),
        ("ge", 3, 3, True),
        ("ge", 3, 2, False),
        ("ge", 0.5, 0.93, True),
        ("gt", 40, "42", True),  # metadata extension values are text
        ("gt", 40, "forty-two", False),
        ("gt", 0, True, False),  # a boolean is not a number
    ],
)
def test_numeric_comparisons(op: str, bound: float, value: Any, expected: bool) -> None:
    compiled = condition({"ext.rec.score": {op: bound}})
    assert compiled.matches({"ext.rec.score": value}, NOW) is expected


def test_numeric_comparison_explains_with_the_symbol() -> None:
    assert why({"media.m_lines": {"gt": 2, "le": 8}}, {"media.m_lines": 4}) == [
        "media.m_lines > 2 (4)",
        "media.m_lines <= 8 (4)",
    ]
    assert why({"media.m_lines": {"gt": 2, "le": 8}}, {"media.m_lines": 9}) is None


# --------------------------------------------------------------------------------------
# Kinds of facts
# --------------------------------------------------------------------------------------


def test_list_valued_facts_match_when_one_element_passes() -> None:
    facts = {"media.codecs": ["pcmu", "telephone-event"]}
    assert why({"media.codecs": "pcmu"}, facts) == ["media.codecs equals pcmu"]
    assert why({"media.codecs": {"in": ["opus", "g722"]}}, facts) is None
    # Several operators must hold for the same element.
    assert why({"media.codecs": {"prefix": "tele", "glob": "*u"}}, facts) is None
    assert why({"media.codecs": {"prefix": "tele", "glob": "*event"}}, facts) == [
        "media.codecs has prefix tele (telephone-event)",
        "media.codecs matches glob *event (telephone-event)",
    ]


@pytest.mark.parametrize(
    "written",
    ["0031 20 123 4567", "+31-20-1234567", "+31 (20) 123 4567", "0031.20.123.4567", "+31201234567"],
)
def test_phone_numbers_in_rules_are_normalised_to_e164(written: str) -> None:
    facts = {"caller.e164": "+31201234567"}
    assert why({"caller.e164": written}, facts) == ["caller.e164 equals +31201234567"]
    assert why({"caller.e164": {"in": [written]}}, facts) == [
        "caller.e164 in [+31201234567] (+31201234567)"
    ]


def test_named_lists_of_numbers_are_normalised_too() -> None:
    assert why({"caller.e164": {"in": {"list": "monitored"}}}, {"caller.e164": "+31201234567"}) == [
        "caller.e164 in list monitored (+31201234567)"
    ]
    assert why({"callee.e164": {"in": {"list": "monitored"}}}, {"callee.e164": "+442079460000"})
    assert (
        why({"callee.e164": {"in": {"list": "monitored"}}}, {"callee.e164": "+442079460001"})
        is None
    )


def test_phone_prefixes_are_normalised_without_a_length_check() -> None:
    facts = {"callee.e164": "+442079460000"}
    assert why({"callee.e164": {"prefix": "0044 20"}}, facts) == [
        "callee.e164 has prefix +4420 (+442079460000)"
    ]
    assert why({"callee.e164": {"prefix": {"list": "ranges"}}}, facts) == [
        "callee.e164 has a prefix in list ranges (+442079460000)"
    ]


def test_the_same_list_can_hold_numbers_for_e164_and_text_for_other_facts() -> None:
    lists = {"people": ["+31 20 123 4567"]}
    assert condition({"caller.e164": {"in": {"list": "people"}}}, lists).matches(
        {"caller.e164": "+31201234567"}, NOW
    )
    # For a non-E.164 fact the values are compared as written.
    assert condition({"caller.name": {"in": {"list": "people"}}}, lists).matches(
        {"caller.name": "+31 20 123 4567"}, NOW
    )


def test_participants_fields_match_any_participant() -> None:
    facts = {
        "participants": [
            participant(id="a", aor="sip:4021@pbx", role="caller"),
            participant(id="b", aor="sip:+31201234567@sbc", e164="+31201234567", role="callee"),
        ]
    }
    assert why({"participants.e164": {"in": {"list": "monitored"}}}, facts) == [
        "participants[1].e164 in list monitored (+31201234567)"
    ]
    assert why({"participants.role": "callee"}, facts) == ["participants[1].role equals callee"]
    assert why({"participants.name": {"exists": True}}, facts) is None
    assert why({"participants.e164": {"exists": True}}, {"participants": []}) is None
    assert why({"participants.e164": {"exists": True}}, {}) is None


def test_participant_extension_values() -> None:
    facts = {"participants": [participant(ext={"apkt.callingParty": "true"})]}
    assert why({"participants.ext.apkt.callingParty": True}, facts) == [
        "participants[0].ext.apkt.callingParty equals true"
    ]
    assert why({"participants.ext.apkt.other": {"exists": True}}, facts) is None


def test_any_participant_needs_one_participant_to_pass_every_test() -> None:
    facts = {
        "participants": [
            participant(role="caller", e164="+31201234567"),
            participant(role="other", e164="+15550100000"),
        ]
    }
    split = {"participants.role": "other", "participants.e164": {"in": {"list": "monitored"}}}
    together = {"any_participant": {"role": "other", "e164": {"in": {"list": "monitored"}}}}
    assert why(split, facts) == [
        "participants[1].role equals other",
        "participants[0].e164 in list monitored (+31201234567)",
    ]
    assert why(together, facts) is None
    facts["participants"][1]["e164"] = "+442079460000"
    assert why(together, facts) == [
        "participants[1].role equals other",
        "participants[1].e164 in list monitored (+442079460000)",
    ]


def test_role_specific_matching_uses_caller_and_callee_facts() -> None:
    facts = {"caller.e164": "+15550100000", "callee.e164": "+31201234567"}
    assert why({"caller.e164": {"in": {"list": "monitored"}}}, facts) is None
    assert why({"callee.e164": {"in": {"list": "monitored"}}}, facts) == [
        "callee.e164 in list monitored (+31201234567)"
    ]


def test_header_names_are_case_insensitive() -> None:
    facts = {"headers.x-genesys-calluuid": "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"}
    assert why({"headers.X-Genesys-CallUUID": {"prefix": "4BOK"}}, facts) == [
        "headers.x-genesys-calluuid has prefix 4BOK (4BOKLLA3VH66JF112M1CC9VHKS14F0KP)"
    ]


def test_metadata_extension_values_and_vendor_facts() -> None:
    facts = {
        "ext.apkt.ucid": "00FA080018803B69E8B5C3;encoding=hex",
        "vendor": "oracle",
        "ucid": "04099475671585313765",
        "transport": "tls",
    }
    when = {
        "ext.apkt.ucid": {"regex": ";encoding=hex$"},
        "vendor": "oracle",
        "ucid": {"regex": "^[0-9]{20}$"},
        "transport": {"in": ["tcp", "tls"]},
    }
    assert why(when, facts) == [
        "ext.apkt.ucid matches regex ;encoding=hex$ (00FA080018803B69E8B5C3;encoding=hex)",
        "vendor equals oracle",
        "ucid matches regex ^[0-9]{20}$ (04099475671585313765)",
        "transport in [tcp, tls] (tls)",
    ]


def test_long_values_are_shortened_in_explanations() -> None:
    facts = {"gtd": "x" * 300}
    assert why({"gtd": {"prefix": "x"}}, facts) == ["gtd has prefix x (" + "x" * 79 + "…)"]


# --------------------------------------------------------------------------------------
# Combinations
# --------------------------------------------------------------------------------------


def test_always_matches_everything() -> None:
    assert why("always", {}) == ["always"]


def test_a_mapping_of_tests_needs_all_of_them() -> None:
    when = {"vendor": "oracle", "direction": "inbound"}
    assert why(when, {"vendor": "oracle", "direction": "inbound"}) == [
        "vendor equals oracle",
        "direction equals inbound",
    ]
    assert why(when, {"vendor": "oracle", "direction": "outbound"}) is None


def test_all_any_not() -> None:
    when = {
        "all": [
            {"vendor": "oracle"},
            {"any": [{"ucid": {"exists": True}}, {"cs_call_id": {"exists": True}}]},
            {"not": {"direction": "outbound"}},
        ]
    }
    facts = {"vendor": "oracle", "cs_call_id": "abc@x", "direction": "inbound"}
    assert why(when, facts) == [
        "vendor equals oracle",
        "cs_call_id exists (abc@x)",
        "not (direction equals outbound)",
    ]
    assert why(when, facts | {"direction": "outbound"}) is None
    assert why(when, {"vendor": "oracle", "direction": "inbound"}) is None


def test_any_explains_the_first_part_that_held() -> None:
    when = {"any": [{"vendor": "cisco"}, {"vendor": "oracle"}, {"transport": "udp"}]}
    assert why(when, {"vendor": "oracle", "transport": "udp"}) == ["vendor equals oracle"]


def test_not_of_combinations_describes_the_inner_condition() -> None:
    when = {"not": {"any": [{"vendor": "cisco"}, {"source.port": {"lt": 1024}}]}}
    assert why(when, {"vendor": "oracle", "source.port": 5060}) == [
        "not (any of (vendor equals cisco; source.port < 1024))"
    ]


def test_not_inside_any_participant_names_the_participant() -> None:
    when = {"any_participant": {"role": "caller", "not": {"e164": {"exists": True}}}}
    facts = {"participants": [participant(role="caller")]}
    assert why(when, facts) == [
        "participants[0].role equals caller",
        "not (participants[0]: e164 exists)",
    ]


def test_malformed_participants_are_ignored() -> None:
    compiled = condition({"participants.role": "caller"})
    assert not compiled.matches({"participants": "caller"}, NOW)
    assert not compiled.matches({"participants": ["caller", None]}, NOW)
    facts = {"participants": ["junk", participant(role="caller")]}
    assert compiled.matches(facts, NOW)
    assert compiled.explain(facts, NOW) == ["participants[1].role equals caller"]
