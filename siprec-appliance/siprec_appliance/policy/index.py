"""Which rules can match a call: an index over necessary conditions of the rules.

Evaluating every rule for every call costs time in proportion to the number of
rules. Most rules of a large set name one value that a call must have for them to
match (a monitored number, a number range, an SBC network, a tenant header), so
:class:`RuleIndex` looks those values up instead of testing every rule.

For each rule, a **need** is derived from its compiled condition: a set of
*probes*, at least one of which holds for every call the rule matches. A probe is
one fact (or one participant field) and one value:

- ``text``: ``equals`` and ``in`` (named lists too): the value's text is a key;
- ``prefix``: the value's text starts with the key (looked up once per distinct
  prefix length in the index);
- ``cidr``: the address masked to the network's length is the network's address
  (once per distinct length; an IPv4-mapped IPv6 address is also looked up as IPv4).

A fact test gives one need per such operator; ``all`` (and a mapping of several
tests) may use the need of any of its parts; ``any`` needs the union of one need
per part; ``any_participant`` looks its field probes up in every participant. A
rule whose condition gives no need (``always``, ``not``, ``time``, ``regex``,
``glob``, ``exists``, comparisons, an ``any`` with such a part) is a candidate for
every call. When a rule offers several needs, the one whose values the fewest
rules mention is taken (``headers.x-tenant: t-42`` rather than ``vendor: cisco``).

The probes read values exactly as the operators do (the same ``as_text``, the same
address parser, list facts element by element, ``None`` skipped), and the rule's
operand values are the operators' own compiled ones (E.164 numbers normalised,
header names lower-cased), so a rule the linear scan would match is always a
candidate. A candidate is then evaluated in full: the index only narrows the scan.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from siprec_appliance.policy.conditions import All, AnyOf, AnyParticipant, Condition, FactTest
from siprec_appliance.policy.facts import as_text
from siprec_appliance.policy.operators import Cidr, Operator, Prefix, TextIn, parse_address

__all__ = ["RuleIndex"]

# Where a probe reads its value: (in a participant, fact or field key, ext name).
FieldKey = tuple[bool, str, str | None]
# What it looks up: ("text", text), ("prefix", text) or ("cidr", version, length, network).
Entry = tuple[Any, ...]
Probe = tuple[FieldKey, Entry]
# A need: the rule can match only when one of these probes holds.
Need = tuple[Probe, ...]
Cost = Callable[[Need], tuple[int, int]]
Positions = tuple[int, ...]

_TEXT = "text"
_PREFIX = "prefix"
_CIDR = "cidr"
_BITS = {4: 32, 6: 128}


# --------------------------------------------------------------------------------------
# Needs: derived from the compiled conditions
# --------------------------------------------------------------------------------------


def _operator_need(field: FieldKey, op: Operator) -> Need | None:
    """The probes one operator implies, or None when it cannot be looked up.

    Exact types only: a subclass might test differently.
    """
    if type(op) is TextIn:
        return tuple((field, (_TEXT, text)) for text in sorted(op.texts))
    if type(op) is Prefix:
        return tuple((field, (_PREFIX, prefix)) for prefix in dict.fromkeys(op.prefixes))
    if type(op) is Cidr:
        return tuple(
            (field, (_CIDR, net.version, net.prefixlen, int(net.network_address)))
            for net in dict.fromkeys(op.networks)
        )
    return None


def _fact_needs(test: FactTest, participant: bool, cost: Cost) -> list[Need]:
    if test.exists is False:  # matches absent values: nothing to look up
        return []
    field: FieldKey = (participant, test.key, test.ext)
    needs = (_operator_need(field, op) for op in test.operators)
    return [need for need in needs if need is not None]


def _all_needs(condition: All, participant: bool, cost: Cost) -> list[Need]:
    # Every part holds when the whole does: the need of any part will do.
    return [need for part in condition.parts for need in _needs(part, participant, cost)]


def _any_needs(condition: AnyOf, participant: bool, cost: Cost) -> list[Need]:
    # One part holds: the union of one need per part (none if a part has none).
    probes: dict[Probe, None] = {}
    for part in condition.parts:
        needs = _needs(part, participant, cost)
        if not needs:
            return []
        best: Need = min(needs, key=cost)
        probes.update(dict.fromkeys(best))
    return [tuple(probes)]


def _participant_needs(condition: AnyParticipant, participant: bool, cost: Cost) -> list[Need]:
    # One participant satisfies the inner condition, so that participant meets its need.
    return [] if participant else _needs(condition.inner, True, cost)


_DERIVE: Mapping[type[Condition], Callable[[Any, bool, Cost], list[Need]]] = {
    FactTest: _fact_needs,
    All: _all_needs,
    AnyOf: _any_needs,
    AnyParticipant: _participant_needs,
}


def _needs(condition: Condition, participant: bool, cost: Cost) -> list[Need]:
    """Needs of ``condition``: every call it matches meets each of them (so any one
    will find it); empty: no need is known, every call is a candidate.

    ``Always``, ``Not``, time windows and any other condition type give none.
    """
    derive = _DERIVE.get(type(condition))
    return [] if derive is None else derive(condition, participant, cost)


def _mentioned(condition: Condition, participant: bool = False) -> Iterator[Probe]:
    """Every probe of every fact test in ``condition`` (to estimate selectivity)."""
    if type(condition) is FactTest:
        for op in condition.operators:
            yield from _operator_need((participant, condition.key, condition.ext), op) or ()
    elif isinstance(condition, All | AnyOf):
        for part in condition.parts:
            yield from _mentioned(part, participant)
    elif type(condition) is AnyParticipant:
        yield from _mentioned(condition.inner, True)


# --------------------------------------------------------------------------------------
# Look-up tables: one per fact (or participant field)
# --------------------------------------------------------------------------------------


class _Field:
    """The look-ups on one fact's value: texts, prefixes and networks to rule positions."""

    __slots__ = ("cidr4", "cidr6", "ext", "key", "lengths", "prefixes", "texts")

    def __init__(self, key: str, ext: str | None, entries: Mapping[Entry, Positions]) -> None:
        self.key = key
        self.ext = ext
        texts = {entry[1]: hits for entry, hits in entries.items() if entry[0] == _TEXT}
        prefixes = {entry[1]: hits for entry, hits in entries.items() if entry[0] == _PREFIX}
        self.texts: dict[str, Positions] | None = texts or None
        self.prefixes: dict[str, Positions] | None = prefixes or None
        self.lengths = tuple(sorted({len(prefix) for prefix in prefixes}))
        self.cidr4 = _networks(entries, 4)
        self.cidr6 = _networks(entries, 6)

    def collect(self, source: Mapping[str, Any], found: set[int]) -> None:
        """Add the positions whose probes hold for ``source`` (facts or one participant).

        The value is read as :meth:`FactTest.matches` reads it.
        """
        value = source.get(self.key)
        if self.ext is not None:
            value = value.get(self.ext) if type(value) is dict else None
        if value is None:
            return
        if type(value) is list:  # a list fact: one element must pass
            for element in value:
                if element is not None:
                    self._probe(element, found)
        else:
            self._probe(value, found)

    def _probe(self, value: Any, found: set[int]) -> None:
        if self.texts is not None or self.prefixes is not None:
            text = value if type(value) is str else as_text(value)  # as TextIn and Prefix do
            if text is not None:
                self._probe_text(text, found)
        if (self.cidr4 or self.cidr6) and isinstance(value, str):  # as Cidr does
            address = parse_address(value)
            if address is not None:
                self._probe_address(address, found)

    def _probe_text(self, text: str, found: set[int]) -> None:
        if self.texts is not None:
            hits = self.texts.get(text)
            if hits is not None:
                found.update(hits)
        if self.prefixes is not None:
            size = len(text)
            for length in self.lengths:
                if length > size:
                    break
                hits = self.prefixes.get(text[:length])
                if hits is not None:
                    found.update(hits)

    def _probe_address(
        self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, found: set[int]
    ) -> None:
        if address.version == 4:
            _masked(int(address), self.cidr4, found)
            return
        _masked(int(address), self.cidr6, found)
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:  # ::ffff:192.0.2.1 is also in 192.0.2.0/24 (see Cidr)
            _masked(int(mapped), self.cidr4, found)


NetworkTable = tuple[tuple[int, dict[int, Positions]], ...]


def _networks(entries: Mapping[Entry, Positions], version: int) -> NetworkTable:
    """Per prefix length (longest first): the netmask and network address -> positions."""
    bits = _BITS[version]
    by_length: dict[int, dict[int, Positions]] = {}
    for entry, hits in entries.items():
        if entry[0] == _CIDR and entry[1] == version:
            by_length.setdefault(entry[2], {})[entry[3]] = hits
    return tuple(
        (((1 << length) - 1) << (bits - length), table)
        for length, table in sorted(by_length.items(), reverse=True)
    )


def _masked(number: int, networks: NetworkTable, found: set[int]) -> None:
    for mask, table in networks:
        hits = table.get(number & mask)
        if hits is not None:
            found.update(hits)


# --------------------------------------------------------------------------------------
# The index
# --------------------------------------------------------------------------------------


class RuleIndex:
    """Candidate positions of ``conditions`` (in evaluation order) for a call's facts.

    :meth:`candidates` returns, in ascending order, every position whose condition
    can hold for the facts: the positions of the probes that hold plus those of the
    rules without a need. Immutable once built.
    """

    __slots__ = ("_always", "_fields", "_participant_fields", "indexed")

    def __init__(self, conditions: Sequence[Condition]) -> None:
        mentions: Counter[Probe] = Counter()
        for condition in conditions:
            mentions.update(set(_mentioned(condition)))

        def cost(need: Need) -> tuple[int, int]:
            # Rules brought along by the busiest value, then the number of look-ups.
            return max((mentions[probe] for probe in need), default=0), len(need)

        always: list[int] = []
        entries: dict[FieldKey, dict[Entry, list[int]]] = {}
        for position, condition in enumerate(conditions):
            needs = _needs(condition, False, cost)
            if not needs:
                always.append(position)
                continue
            # An empty need (``in: []``) is fine: such a rule can never match.
            for field, entry in min(needs, key=cost):
                entries.setdefault(field, {}).setdefault(entry, []).append(position)
        self._always: Positions = tuple(always)
        self.indexed = len(conditions) - len(always)  # rules found through look-ups
        shared: dict[Positions, Positions] = {}  # one tuple per distinct hit set
        fields = {
            field: _Field(
                field[1],
                field[2],
                {
                    entry: shared.setdefault(tuple(hits), tuple(hits))
                    for entry, hits in by_entry.items()
                },
            )
            for field, by_entry in entries.items()
        }
        self._fields = tuple(table for field, table in fields.items() if not field[0])
        self._participant_fields = tuple(table for field, table in fields.items() if field[0])

    @property
    def always(self) -> Positions:
        """Positions evaluated for every call (no need could be derived)."""
        return self._always

    def candidates(self, facts: Mapping[str, Any]) -> Sequence[int]:
        """The positions that may match ``facts``, ascending (evaluation order)."""
        found: set[int] = set()
        for table in self._fields:
            table.collect(facts, found)
        if self._participant_fields:
            participants = facts.get("participants")
            if type(participants) is list:  # as AnyParticipant reads them
                for participant in participants:
                    if type(participant) is dict:
                        for table in self._participant_fields:
                            table.collect(participant, found)
        if not found:
            return self._always
        found.update(self._always)
        return sorted(found)
