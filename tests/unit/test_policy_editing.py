"""Editing one rule in a file's text: everything outside the rule stays byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siprec_appliance.policy import (
    RuleNotFoundError,
    RulesError,
    compile_rule_set,
    remove_rule,
    upsert_rule,
)
from siprec_appliance.policy.source import SourceFile, parse_source

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, Any] = json.loads((ROOT / "schemas" / "rules.schema.json").read_text())

# A hand-written file: comments everywhere, odd indentation, every kind of quoting; the
# second rule ends with a block scalar whose text holds a "#".
HEAD = """\
# Rules for the sales floor.   (two spaces after the dot, on purpose)
#   indented comment
lists:
    monitored:   [ "+31 20 123 4567" ,  '0044 20 7946 0000' ]   # odd spacing
    'quoted-name': ["a"]

rules:   # the rules
    -   id: 'first'   # single-quoted id
        priority: 10
        when:
              vendor:   "oracle"     # deep indent
        then:
          - record: {format: flac}
        # a comment that ends the first rule

    # the comment above the second rule
"""
SECOND = """\
    - id: "second"
      description: >-
        A folded
        description
      priority: 20
      when: always
      then:
        - alert:
            channel: ops
            message: |
              Line one
              # not a comment, part of the message
"""
TAIL = """\
    # the comment below the second rule

    - id: third
      priority: 30
      when: {direction: inbound}
      then: [ {tag: [x]} ]   # flow style
# after the rules
other_key_is_not_allowed_but_kept: 1
"""
TEXT = HEAD + SECOND + TAIL
THIRD_END = TAIL.index("# after the rules")


def plain_rules(text: str) -> list[Any]:
    parsed = parse_source("x.yaml", text)
    assert isinstance(parsed, SourceFile), parsed
    return list(parsed.data["rules"])


NEW = {
    "id": "second",
    "priority": 5,
    "when": {"caller.e164": {"in": {"list": "monitored"}}},
    "then": [{"record": False}, {"tag": ["skip"]}],
    "stop": True,
}


def test_replacing_a_rule_keeps_every_other_byte() -> None:
    edited = upsert_rule(TEXT, NEW)
    assert edited.startswith(HEAD)
    assert edited.endswith(TAIL)
    middle = edited[len(HEAD) : len(edited) - len(TAIL)]
    assert middle == (
        "    - id: second\n"
        "      priority: 5\n"
        "      when:\n"
        "        caller.e164:\n"
        "          in:\n"
        "            list: monitored\n"
        "      then:\n"
        "        - record: false\n"
        "        - tag:\n"
        "            - skip\n"
        "      stop: true\n"
    )
    assert [rule["id"] for rule in plain_rules(edited)] == ["first", "second", "third"]
    assert plain_rules(edited)[1] == NEW


def test_replacing_the_first_rule_keeps_its_trailing_comment_and_the_rest() -> None:
    first = {"id": "first", "priority": 1, "when": "always", "then": [{"tag": "a"}]}
    edited = upsert_rule(TEXT, first)
    start = HEAD.index("    -   id: 'first'")
    end = HEAD.index("        # a comment that ends the first rule")
    assert edited.startswith(HEAD[:start])
    assert edited.endswith(HEAD[end:] + SECOND + TAIL)
    assert plain_rules(edited)[0] == first


def test_replacing_the_last_rule_keeps_what_follows_it() -> None:
    third = {"id": "third", "priority": 3, "when": "always", "then": [{"retain": 9}]}
    edited = upsert_rule(TEXT, third)
    before_third = HEAD + SECOND + TAIL[: TAIL.index("    - id: third")]
    assert edited.startswith(before_third)
    assert edited.endswith(TAIL[THIRD_END:])
    assert plain_rules(edited)[2] == third


def test_a_new_rule_is_appended_after_the_last_one() -> None:
    fourth = {"id": "fourth", "priority": 40, "when": "always", "then": [{"tag": "new"}]}
    edited = upsert_rule(TEXT, fourth)
    assert edited == (
        TEXT[: len(HEAD + SECOND) + THIRD_END] + "    - id: fourth\n"
        "      priority: 40\n"
        "      when: always\n"
        "      then:\n"
        "        - tag: new\n" + TAIL[THIRD_END:]
    )


def test_removing_a_rule_removes_only_its_lines() -> None:
    assert remove_rule(TEXT, "second") == HEAD + TAIL
    without_third = remove_rule(TEXT, "third")
    assert without_third == HEAD + SECOND + TAIL[: TAIL.index("    - id: third")] + TAIL[THIRD_END:]
    with pytest.raises(RuleNotFoundError, match="no rule with id 'fourth'"):
        remove_rule(TEXT, "fourth")


def test_keys_are_written_in_the_usual_order() -> None:
    scrambled = {
        "then": [{"tag": "x"}],
        "when": "always",
        "priority": 1,
        "id": "z",
        "enabled": True,
    }
    edited = upsert_rule("rules:\n", scrambled)
    assert edited == (
        "rules:\n"
        "  - id: z\n"
        "    enabled: true\n"
        "    priority: 1\n"
        "    when: always\n"
        "    then:\n"
        "      - tag: x\n"
    )


RULE_N = {"id": "n", "priority": 1, "when": "always", "then": [{"record": True}]}


def block(indent: int) -> str:
    lines = ["- id: n", "  priority: 1", "  when: always", "  then:", "    - record: true"]
    return "".join(" " * indent + line + "\n" for line in lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "rules:\n" + block(2)),
        ("# only a comment", "# only a comment\nrules:\n" + block(2)),
        ("lists: {}\n", "lists: {}\nrules:\n" + block(2)),
        ("rules:\n", "rules:\n" + block(2)),
        (
            "rules: ~   # nothing yet\nlists: {}\n",
            "rules: # nothing yet\n" + block(2) + "lists: {}\n",
        ),
        ("rules: []\n", "rules:\n" + block(2)),
        (
            "  # c\nrules:\n- id: a\n  priority: 1\n",
            "  # c\nrules:\n- id: a\n  priority: 1\n" + block(0),
        ),
        (
            "x:\n  rules: 1\nrules:   \n# end\n",
            "x:\n  rules: 1\nrules:   \n" + block(2) + "# end\n",
        ),
    ],
)
def test_a_rule_can_be_added_to_any_file_shape(text: str, expected: str) -> None:
    assert upsert_rule(text, RULE_N) == expected


def test_windows_line_ends_are_kept() -> None:
    text = (
        "# crlf\r\nrules:\r\n  - id: a\r\n    priority: 1\r\n"
        "    when: always\r\n    then: [{tag: a}]\r\n"
    )
    edited = upsert_rule(text, {"id": "b", "priority": 2, "when": "always", "then": [{"tag": "b"}]})
    assert edited.startswith(text)
    assert "\n" not in edited.replace("\r\n", "")
    assert remove_rule(edited, "b") == text


def test_a_rule_written_in_flow_style_cannot_be_edited() -> None:
    with pytest.raises(RulesError, match=r"'rules' is not a block list"):
        upsert_rule("rules: [{id: a, priority: 1, when: always, then: [{tag: a}]}]\n", NEW)
    with pytest.raises(RulesError, match="invalid YAML"):
        upsert_rule("rules: [\n", NEW)
    with pytest.raises(ValueError, match="string 'id'"):
        upsert_rule(TEXT, {"priority": 1})


def test_edited_files_still_compile() -> None:
    clean = TEXT.replace("other_key_is_not_allowed_but_kept: 1\n", "")
    edited = upsert_rule(clean, NEW | {"then": [{"record": {"format": "opus"}}]})
    rule_set = compile_rule_set([("x.yaml", edited)], schema=SCHEMA)
    assert [rule.id for rule in rule_set.rules] == ["second", "first", "third"]


TEXTS = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"])
    | st.sampled_from("'\":#-{}[]&*!|>%@`\n\t"),
    max_size=40,
)


@given(
    description=TEXTS,
    tags=st.lists(
        st.from_regex(r"[a-z0-9][a-z0-9_.:=/+-]{0,10}", fullmatch=True), min_size=1, max_size=3
    ),
    priority=st.integers(0, 1_000_000),
)
def test_any_rule_round_trips_and_leaves_the_rest_alone(
    description: str, tags: list[str], priority: int
) -> None:
    rule = {
        "id": "second",
        "description": description,
        "priority": priority,
        "when": {"callee.name": description} if description else "always",
        "then": [{"tag": tags}, {"alert": {"channel": "ops", "message": description or "m"}}],
    }
    edited = upsert_rule(TEXT, rule)
    assert edited.startswith(HEAD)
    assert edited.endswith(TAIL)
    assert plain_rules(edited)[1] == rule
    assert remove_rule(edited, "second") == HEAD + TAIL
