"""Rule files that cannot be used: every problem, with file, line, column and plain words."""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from siprec_appliance.policy import RuleProblem, RulesError, compile_rule_set, validate_texts

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "rules.schema.json").read_text())
_NOW = datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.UTC)


def problems(files: Sequence[tuple[str, str]], channels: frozenset[str] | None = None) -> list[str]:
    """The formatted problems of ``files`` (the test fails if they compile)."""
    with pytest.raises(RulesError) as caught:
        compile_rule_set(files, schema=SCHEMA, channels=channels)
    return [str(problem) for problem in caught.value.errors]


SCHEMA_FILE = """\
rules:
  - id: no-priority
    when: always
    then: [{record: true}]
  - id: "bad id!"
    priority: high
    when: sometimes
    then: []
    stopp: true
  - id: two-keys
    priority: 1
    when: {}
    then:
      - {tag: a, record: true}
      - {}
  - id: operators
    priority: 2
    when:
      vendor: {eq: oracle}
      direction: [inbound]
      transport: {in: tcp}
      source.port: {gt: "5000"}
      time: {timezone: UTC, days: [monday], at: "08:00"}
      headers.x-a: {in: {list: a, extra: 1}}
    then:
      - record: true
lists:
  1bad: [a]
  notalist: a
  nested: [[a]]
extra: 1
"""


def test_schema_problems_are_located_and_worded_for_operators() -> None:
    assert problems([("10-schema.yaml", SCHEMA_FILE)]) == [
        "10-schema.yaml:2:5: rules[0]: missing key 'priority'",
        "10-schema.yaml:5:9: rules[1].id: 'bad id!' is not a valid rule id (letters, digits, "
        "'_', '.' and '-'; at most 64, starting with a letter or digit)",
        "10-schema.yaml:6:15: rules[1].priority: expected an integer, got 'high'",
        "10-schema.yaml:7:11: rules[1].when: 'sometimes' is not a condition (write 'always' "
        "to match every call, or a mapping of tests)",
        "10-schema.yaml:8:11: rules[1].then: a rule needs at least one action",
        "10-schema.yaml:9:5: rules[1].stopp: unknown key 'stopp' (allowed: description, "
        "enabled, id, priority, stop, then, when)",
        "10-schema.yaml:12:11: rules[2].when: empty condition (write 'always' to match every call)",
        "10-schema.yaml:14:9: rules[2].then[0]: an action is a mapping with one key, the action "
        "name; write each action as its own list item ('- tag: [vip]')",
        "10-schema.yaml:15:9: rules[2].then[1]: an action needs a name (e.g. '- record: true')",
        "10-schema.yaml:19:16: rules[3].when.vendor.eq: unknown operator 'eq' (allowed: cidr, "
        "equals, exists, ge, glob, gt, in, le, lt, prefix, regex)",
        "10-schema.yaml:20:18: rules[3].when.direction: expected a value to compare with, or a "
        "mapping of operators (equals, in, prefix, glob, regex, cidr, exists, lt, le, gt, ge), "
        "got a list",
        "10-schema.yaml:21:23: rules[3].when.transport.in: expected a list of values or a named "
        "list ({list: name}), got 'tcp'",
        "10-schema.yaml:22:25: rules[3].when.source.port.gt: expected a number, got '5000'",
        "10-schema.yaml:23:36: rules[3].when.time.days[0]: 'monday' is not one of: mon, tue, "
        "wed, thu, fri, sat, sun",
        "10-schema.yaml:23:45: rules[3].when.time.at: unknown key 'at' (allowed: days, from, "
        "timezone, to)",
        "10-schema.yaml:24:35: rules[3].when.headers.x-a.in.extra: unknown key 'extra' "
        "(allowed: list)",
        "10-schema.yaml:28:3: lists.1bad: '1bad' is not a valid list name (a letter, then "
        "letters, digits, '_' or '-'; at most 64)",
        "10-schema.yaml:29:13: lists.notalist: expected a list of values, got 'a'",
        "10-schema.yaml:30:12: lists.nested[0]: expected a text or a number, got a list",
        "10-schema.yaml:31:1: extra: unknown key 'extra' (allowed: lists, rules)",
    ]


LISTS_FILE = """\
lists:
  monitored:
    - "+31 20 123 4567"
    - "12345"
    - 0031201234567
  networks: [192.0.2.0/24, 10.0.0.300/8]
  shared: [a]
"""

RULES_FILE = """\
lists:
  shared: [b]
rules:
  - id: facts
    priority: 1
    when:
      caler.e164: "+31201234567"
      participants.phone: x
      any_participant:
        any_participant: always
      headers.: x
    then: [{record: true}]
  - id: operands
    priority: 2
    when:
      caller.aor: {regex: "sip:(abc"}
      source.address: {cidr: ["192.0.2.0/33"]}
      callee.aor: {in: {list: nope}}
      caller.e164: {in: {list: monitored}}
      callee.e164: {equals: "020 123 4567", prefix: "+31 2x"}
      participants.e164: {exists: false, prefix: "+31"}
      vendor: {cidr: {list: networks}}
    then: [{record: true}]
  - id: times
    priority: 3
    when:
      any:
        - time: {timezone: Europe/Amsterdm, from: "8:00", to: "25:00"}
        - time: {timezone: UTC, from: "09:00", to: "09:00"}
        - time: {timezone: UTC, from: "24:00"}
    then: [{record: true}]
  - id: actions
    priority: 4
    when: always
    then:
      - recrod: true
      - encrypt: {key: k}
      - transcribe: {language: nl}
      - intercept: true
      - record: {format: ogg, layout: stereo}
      - tag: [ok, "not ok"]
      - retain: 0
      - retain: {days: 40000}
      - alert: {channel: pager, severity: fatal, message: "{{ oops"}
      - alert: {channel: ops, message: "{% if %}"}
      - alert: {severity: info}
  - id: facts
    priority: 5
    when: always
    then: [{tag: dup}]
"""


def test_semantic_problems_of_several_files_are_all_reported() -> None:
    found = problems(
        [("20-rules.yaml", RULES_FILE), ("10-lists.yaml", LISTS_FILE)], frozenset({"ops"})
    )
    assert found == [
        "10-lists.yaml:4:7: lists.monitored[1]: '12345' is not an international phone number "
        "(+… or 00…, 7 to 15 digits)",
        "10-lists.yaml:6:28: lists.networks[1]: '10.0.0.300/8' is not an IP network "
        "(e.g. 192.0.2.0/24 or 2001:db8::/32)",
        "10-lists.yaml:7:3: lists.shared: list 'shared' is defined more than once "
        "(also at 20-rules.yaml:2:3)",
        "20-rules.yaml:2:3: lists.shared: list 'shared' is defined more than once "
        "(also at 10-lists.yaml:7:3)",
        "20-rules.yaml:4:9: rules[0].id: duplicate rule id 'facts' (also at 20-rules.yaml:47:9)",
        "20-rules.yaml:7:7: rules[0].when.caler.e164: unknown fact 'caler.e164' (did you mean "
        "'caller.e164'?); the facts are listed in docs/call-facts.md",
        "20-rules.yaml:8:7: rules[0].when.participants.phone: unknown participant field 'phone' "
        "(known: aor, e164, ext.<path>, id, name, receives, role, sends)",
        "20-rules.yaml:10:9: rules[0].when.any_participant.any_participant: any_participant "
        "cannot be used inside any_participant",
        "20-rules.yaml:11:7: rules[0].when.headers.: 'headers.' needs a name after the dot",
        "20-rules.yaml:16:27: rules[1].when.caller.aor.regex: not a valid regular expression: "
        "missing ), unterminated subpattern at position 4",
        "20-rules.yaml:17:31: rules[1].when.source.address.cidr[0]: '192.0.2.0/33' is not an IP "
        "network (e.g. 192.0.2.0/24 or 2001:db8::/32)",
        "20-rules.yaml:18:31: rules[1].when.callee.aor.in.list: unknown list 'nope' "
        "(defined lists: monitored, networks, shared)",
        "20-rules.yaml:20:29: rules[1].when.callee.e164.equals: '020 123 4567' is not an "
        "international phone number (+… or 00…, 7 to 15 digits)",
        "20-rules.yaml:20:53: rules[1].when.callee.e164.prefix: '+31 2x' is not the start of an "
        "international phone number (+… or 00…)",
        "20-rules.yaml:21:26: rules[1].when.participants.e164: exists: false cannot be combined "
        "with other operators",
        "20-rules.yaml:28:28: rules[2].when.any[0].time.timezone: unknown time zone "
        "'Europe/Amsterdm' (an IANA name such as Europe/Amsterdam or UTC)",
        "20-rules.yaml:28:63: rules[2].when.any[0].time.to: '25:00' is not a time of day "
        "(HH:MM, 00:00 to 24:00)",
        "20-rules.yaml:29:17: rules[2].when.any[1].time: the window is empty (from equals to); "
        "leave out from and to for a whole day",
        "20-rules.yaml:30:39: rules[2].when.any[2].time.from: '24:00' is not a time of day "
        "(HH:MM, 00:00 to 23:59)",
        "20-rules.yaml:36:9: rules[3].then[0]: unknown action 'recrod' (known: alert, encrypt, "
        "intercept, record, retain, tag, transcribe)",
        "20-rules.yaml:37:9: rules[3].then[1]: action 'encrypt' is not available in this build "
        "(plug-in siprec_appliance.policy.plugins.encrypt:EncryptAction is not installed); "
        "remove it from the rule",
        "20-rules.yaml:38:9: rules[3].then[2]: action 'transcribe' is not available in this "
        "build (plug-in siprec_appliance.policy.plugins.transcribe:TranscribeAction is not "
        "installed); remove it from the rule",
        "20-rules.yaml:39:9: rules[3].then[3]: action 'intercept' is not available in this "
        "build (plug-in siprec_appliance.policy.plugins.intercept:InterceptAction is not "
        "installed); remove it from the rule",
        "20-rules.yaml:40:26: rules[3].then[4].record.format: 'ogg' is not one of: wav, flac, "
        "opus, mp3",
        "20-rules.yaml:40:39: rules[3].then[4].record.layout: 'stereo' is not one of: per-leg, "
        "combined, both",
        "20-rules.yaml:41:19: rules[3].then[5].tag[1]: 'not ok' is not a valid tag (letters, "
        "digits and _ . : = / + -; at most 64, starting with a letter or digit)",
        "20-rules.yaml:42:17: rules[3].then[6].retain: 0 is less than the minimum of 1",
        "20-rules.yaml:43:24: rules[3].then[7].retain.days: 40000 is greater than the maximum "
        "of 36500",
        "20-rules.yaml:44:43: rules[3].then[8].alert.severity: 'fatal' is not one of: info, "
        "warning, critical",
        "20-rules.yaml:45:40: rules[3].then[9].alert.message: not a valid Jinja2 template: "
        "Expected an expression, got 'end of statement block' (template line 1)",
        "20-rules.yaml:46:16: rules[3].then[10].alert: missing key 'channel'",
        "20-rules.yaml:46:16: rules[3].then[10].alert: missing key 'message'",
        "20-rules.yaml:47:9: rules[4].id: duplicate rule id 'facts' (also at 20-rules.yaml:4:9)",
    ]


def test_an_unquoted_international_number_in_a_list_is_read_as_written() -> None:
    # YAML makes 0031201234567 the integer 31201234567; the text as written is used.
    text = "lists:\n  m:\n    - 0031201234567\n    - +442079460000\n" + (
        "rules:\n  - id: r\n    priority: 1\n    when: {caller.e164: {in: {list: m}}}\n"
        "    then: [{tag: m}]\n"
    )
    rule_set = compile_rule_set([("a.yaml", text)], schema=SCHEMA)
    assert rule_set.lists["m"].values == (31201234567, 442079460000)
    when = rule_set.rules[0].when
    assert when.describe() == "caller.e164 in list m"
    assert when.matches({"caller.e164": "+31201234567"}, _NOW)
    assert when.matches({"caller.e164": "+442079460000"}, _NOW)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - id: a\n\tpriority: 1\n",
            "f.yaml:3:1: invalid YAML: tab character (indent with spaces)",
        ),
        (
            "rules:\n  - id: a\n   priority: 1\n",
            "f.yaml:3:4: invalid YAML: bad indentation: this "
            "line does not line up with the lines above",
        ),
        (
            "rules:\n  - id: 'a\n",
            "f.yaml:2:9: invalid YAML: a quoted text is not closed (missing quote?)",
        ),
        ("rules: []\nrules: []\n", "f.yaml:2:1: invalid YAML: duplicate key 'rules'"),
        (
            "rules: []\n---\nlists: {}\n",
            "f.yaml:2:1: invalid YAML: more than one YAML document (remove the extra '---')",
        ),
        (
            "rules: [a, b\n",
            "f.yaml:2:1: invalid YAML: a [...] list is not closed, or a ',' is missing",
        ),
        (
            "rules:\n  - id: a\n    description: x: y\n",
            "f.yaml:3:19: invalid YAML: unexpected ':' (quote text that contains ': ')",
        ),
        (
            "- just\n- a list\n",
            "f.yaml:1:1: expected a mapping with 'lists' and/or 'rules', got a list",
        ),
    ],
)
def test_yaml_and_layout_errors_give_file_line_and_column(text: str, expected: str) -> None:
    assert problems([("f.yaml", text)]) == [expected]


def test_a_broken_file_does_not_hide_the_problems_of_the_others() -> None:
    good_with_bad_rule = (
        "rules:\n  - id: a\n    priority: 1\n    when: {vendr: x}\n    then: [{tag: a}]\n"
    )
    assert problems([("b.yaml", "rules: [\n"), ("a.yaml", good_with_bad_rule)]) == [
        "a.yaml:4:12: rules[0].when.vendr: unknown fact 'vendr' (did you mean 'vendor'?); "
        "the facts are listed in docs/call-facts.md",
        "b.yaml:2:1: invalid YAML: a value is missing here (an unclosed [ or {?)",
    ]


def test_the_same_file_name_twice_is_an_error() -> None:
    assert problems([("a.yaml", ""), ("a.yaml", "")]) == [
        "a.yaml:0:0: the same file name was given twice"
    ]


def test_alert_channels_are_checked_only_when_given() -> None:
    text = (
        "rules:\n  - id: a\n    priority: 1\n    when: always\n"
        "    then: [{alert: {channel: pager, message: hi}}]\n"
    )
    assert compile_rule_set([("a.yaml", text)], schema=SCHEMA).rules[0].id == "a"
    assert problems([("a.yaml", text)], channels=frozenset()) == [
        "a.yaml:5:30: rules[0].then[0].alert.channel: unknown alert channel 'pager' "
        "(configured: none)"
    ]


def test_empty_files_and_sections_are_fine() -> None:
    rule_set = compile_rule_set(
        [("a.yaml", ""), ("b.yaml", "# only a comment\n"), ("c.yaml", "lists:\nrules:\n")],
        schema=SCHEMA,
    )
    assert rule_set.rules == ()
    assert rule_set.files == ("a.yaml", "b.yaml", "c.yaml")


def test_rules_error_formats_and_serialises_its_problems() -> None:
    error = RulesError(
        [RuleProblem("b.yaml", 2, 1, "second"), RuleProblem("a.yaml", 9, 3, "first")]
    )
    assert str(error) == "a.yaml:9:3: first\nb.yaml:2:1: second"
    assert error.errors[0].to_dict() == {
        "file": "a.yaml",
        "line": 9,
        "column": 3,
        "message": "first",
        "text": "a.yaml:9:3: first",
    }


# --------------------------------------------------------------------------------------
# validate_texts: one file's text in the context of the others
# --------------------------------------------------------------------------------------

OTHER = """\
lists:
  vip: ["+31 20 123 4567"]
rules:
  - id: vip
    priority: 10
    when: {caller.e164: {in: {list: vip}}}
    then: [{tag: vip}]
"""


def test_validate_texts_uses_the_lists_of_other_files() -> None:
    text = (
        "rules:\n  - id: vip-callee\n    priority: 11\n"
        "    when: {callee.e164: {in: {list: vip}}}\n    then: [{tag: vip}]\n"
    )
    assert validate_texts("20-new.yaml", text, [("10-vip.yaml", OTHER)], schema=SCHEMA) == []


def test_validate_texts_reports_a_clash_with_another_file_in_this_file() -> None:
    text = "rules:\n  - id: vip\n    priority: 1\n    when: always\n    then: [{tag: x}]\n"
    found = validate_texts("20-new.yaml", text, [("10-vip.yaml", OTHER)], schema=SCHEMA)
    assert [str(problem) for problem in found] == [
        "20-new.yaml:2:9: rules[0].id: duplicate rule id 'vip' (also at 10-vip.yaml:4:9)"
    ]


def test_validate_texts_replaces_the_file_of_the_same_name() -> None:
    edited = OTHER.replace("tag: vip", "tag: [vip, gold]")
    assert validate_texts("10-vip.yaml", edited, [("10-vip.yaml", OTHER)], schema=SCHEMA) == []
    broken = OTHER.replace("list: vip", "list: vips")
    assert [
        str(p)
        for p in validate_texts("10-vip.yaml", broken, [("10-vip.yaml", OTHER)], schema=SCHEMA)
    ] == [
        "10-vip.yaml:6:37: rules[0].when.caller.e164.in.list: unknown list 'vips' "
        "(defined lists: vip)"
    ]


def test_validate_texts_leaves_out_problems_of_other_files() -> None:
    found = validate_texts("a.yaml", "rules: []\n", [("b.yaml", "rules: [\n")], schema=SCHEMA)
    assert found == []


# --------------------------------------------------------------------------------------
# Hostile text (validate_texts takes text from the API)
# --------------------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_without_expanding_it() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(8):
        name, previous = chr(98 + level), chr(97 + level)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    assert problems([("bomb.yaml", "\n".join(lines) + "\n")]) == [
        "bomb.yaml:1:1: more than 100000 values (after expanding aliases); split the file"
    ]


def test_python_tags_build_nothing() -> None:
    text = 'rules: !!python/object/apply:os.system ["echo hi"]\n'
    assert problems([("tag.yaml", text)]) == [
        "tag.yaml:1:1: rules[0]: expected a rule (a mapping with id, priority, when and then), "
        "got 'echo hi'"
    ]


def test_a_control_character_is_located() -> None:
    assert problems([("nul.yaml", "rules: []\nlists: \x00\n")]) == [
        "nul.yaml:2:8: invalid YAML: unacceptable character #x0000: special characters are not "
        "allowed"
    ]
