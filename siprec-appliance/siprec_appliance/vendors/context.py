"""What every extractor reads (:class:`CallInputs`) and writes (:class:`FactSink`).

An extractor is a plain function ``(CallInputs, FactSink) -> None`` registered in
the dispatch table of :mod:`siprec_appliance.vendors.facts`. It never raises on
remote data: what it cannot use becomes a warning in the sink.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from siprec_appliance.metadata.model import Extension, RecordingMetadata, XmlNode
from siprec_appliance.sdp.model import SessionDescription
from siprec_appliance.sip.headers import canonical_name
from siprec_appliance.sip.message import Headers
from siprec_appliance.sip.multipart import BodyPart

__all__ = [
    "CallInputs",
    "Extractor",
    "FactSink",
    "JsonValue",
    "OwnedNode",
    "Role",
]

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None
Role = Literal["caller", "callee", "other"]
OwnerKind = Literal["recording", "group", "session", "participant", "stream"]

# Longest header or extension text copied into the facts; longer values are cut.
MAX_VALUE_CHARS = 2048


@dataclass(frozen=True, slots=True)
class OwnedNode:
    """One extension element and the metadata element it hangs off (RFC 7865 §6.9)."""

    kind: OwnerKind
    owner_id: str | None
    node: XmlNode


Owned: TypeAlias = tuple[OwnerKind, str | None, XmlNode]  # an OwnedNode's fields


def _expand(extension: Extension) -> tuple[XmlNode, ...]:
    # A parser may keep <extensiondata> as one element or hand out its children.
    node = extension.node
    if node is None:
        return ()
    if node.name == "extensiondata":
        return node.children
    return (node,)


def _owned_nodes(md: RecordingMetadata) -> tuple[list[Owned], list[Owned]]:
    """Every extension element of the metadata with its owner (RFC 7865 §6.9): the
    top-level ones, and all of them at any depth (document order)."""
    top: list[Owned] = []
    flat: list[Owned] = []
    owners: list[tuple[OwnerKind, str | None, tuple[Extension, ...]]] = [
        ("recording", ext.owner, (ext,)) for ext in md.extensions
    ]
    owners.extend([("group", g.id, g.extensions) for g in md.groups if g.extensions])
    owners.extend([("session", s.id, s.extensions) for s in md.sessions if s.extensions])
    owners.extend([("participant", p.id, p.extensions) for p in md.participants if p.extensions])
    owners.extend([("stream", s.id, s.extensions) for s in md.streams if s.extensions])
    for kind, owner_id, extensions in owners:
        for ext in extensions:
            for node in _expand(ext):
                owned: Owned = (kind, owner_id, node)
                top.append(owned)
                flat.append(owned)
                if node.children:
                    _descendants(kind, owner_id, node.children, flat)
    return top, flat


def _descendants(
    kind: OwnerKind, owner_id: str | None, children: tuple[XmlNode, ...], out: list[Owned]
) -> None:
    for child in children:
        out.append((kind, owner_id, child))
        if child.children:
            _descendants(kind, owner_id, child.children, out)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallInputs:
    """One SIPREC request as the extractors see it.

    Built once per request and shared by vendor detection and every extractor:
    the header lines and the extension elements are indexed here, once.
    """

    headers: Headers
    metadata: RecordingMetadata | None
    sdp: SessionDescription | None
    parts: tuple[BodyPart, ...]
    # Header values by canonical name, in order (what ``Headers.get_all`` returns).
    _values: dict[str, list[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _joined: dict[str, str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _owned: Sequence[Owned] = field(default=(), init=False, repr=False, compare=False)
    # Every extension element at any depth, in document order.
    _all: Sequence[Owned] = field(default=(), init=False, repr=False, compare=False)
    _by_name: dict[str, list[Owned]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _labels: tuple[str | None, ...] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        values = self._values
        for name, value in self.headers:  # names are stored canonical
            if name in values:
                values[name].append(value)
            else:
                values[name] = [value]
        if self.metadata is not None:
            top, flat = _owned_nodes(self.metadata)
            object.__setattr__(self, "_owned", top)
            object.__setattr__(self, "_all", flat)

    def header_values(self, name: str) -> Sequence[str]:
        """Every line of ``name`` in order, as ``Headers.get_all`` gives them."""
        return self._values.get(canonical_name(name), ())

    def header_names(self) -> Iterable[str]:
        """Every header name once (canonical spelling), in order of first appearance."""
        return self._values.keys()

    def header(self, name: str) -> str | None:
        """All lines of ``name`` joined with ", ", or None."""
        joined = self._joined
        if name in joined:
            return joined[name]
        values = self._values.get(canonical_name(name))
        text = ", ".join([v.strip() for v in values]) if values else None
        joined[name] = text
        return text

    def extension_nodes(self) -> Iterator[OwnedNode]:
        """Every extension element of the metadata, with its owner."""
        return iter([OwnedNode(*owned) for owned in self._owned])

    def owned_nodes(self) -> Sequence[Owned]:
        """:meth:`extension_nodes` as (kind, owner id, node) tuples."""
        return self._owned

    def all_nodes(self) -> Sequence[Owned]:
        """Every extension element at any depth as (kind, owner id, node), in order."""
        return self._all

    def nodes_named(self, name: str) -> Iterator[OwnedNode]:
        """Extension elements (at any depth) with this local name, case-insensitively."""
        index = self._by_name
        if not index:
            if not self._all:
                return iter(())
            for owned in self._all:
                key = owned[2].name.lower()
                if key in index:
                    index[key].append(owned)
                else:
                    index[key] = [owned]
        hits = index.get(name.lower())
        if not hits:
            return iter(())
        return iter([OwnedNode(*owned) for owned in hits])

    @property
    def labels(self) -> tuple[str | None, ...]:
        """``a=label`` of every m= line, in order (empty without SDP)."""
        if self._labels is None:
            sdp = self.sdp
            labels = tuple([m.label for m in sdp.media]) if sdp is not None else ()
            object.__setattr__(self, "_labels", labels)
            return labels
        return self._labels

    def part_text(self, content_type: str) -> str | None:
        for part in self.parts:
            if part.content_type == content_type:
                return part.body.decode("utf-8", "replace")
        return None


@dataclass(slots=True)
class FactSink:
    """Collects facts, role hints and warnings; the first value set for a key wins."""

    values: dict[str, JsonValue] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    role_hints: dict[str, tuple[int, Role, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def set(self, key: str, value: JsonValue, source: str) -> None:
        """Record ``key``; a later, different value only adds a warning."""
        if value is None or value in ("", []):
            return
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            self.warn(f"{key}: value from {source} cut to {MAX_VALUE_CHARS} characters")
            value = value[:MAX_VALUE_CHARS]
        if key not in self.values:
            self.values[key] = value
            self.sources[key] = source
        elif self.values[key] != value:
            self.warn(
                f"{key}: {source} says {value!r} but {self.sources[key]} said "
                f"{self.values[key]!r}; kept the first"
            )

    def hint_role(self, participant_id: str, role: Role, priority: int, why: str) -> None:
        """Suggest a role; the hint with the highest priority wins (ties: first)."""
        current = self.role_hints.get(participant_id)
        if current is None or priority > current[0]:
            self.role_hints[participant_id] = (priority, role, why)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


Extractor = Callable[[CallInputs, FactSink], None]
