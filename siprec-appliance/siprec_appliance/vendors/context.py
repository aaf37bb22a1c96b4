"""What every extractor reads (:class:`CallInputs`) and writes (:class:`FactSink`).

An extractor is a plain function ``(CallInputs, FactSink) -> None`` registered in
the dispatch table of :mod:`siprec_appliance.vendors.facts`. It never raises on
remote data: what it cannot use becomes a warning in the sink.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from siprec_appliance.metadata.model import Extension, RecordingMetadata, XmlNode
from siprec_appliance.sdp.model import SessionDescription
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


def _expand(extension: Extension) -> list[XmlNode]:
    # A parser may keep <extensiondata> as one element or hand out its children.
    node = extension.node
    if node is None:
        return []
    if node.name == "extensiondata":
        return list(node.children)
    return [node]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallInputs:
    """One SIPREC request as the extractors see it."""

    headers: Headers
    metadata: RecordingMetadata | None
    sdp: SessionDescription | None
    parts: tuple[BodyPart, ...]

    def header(self, name: str) -> str | None:
        """All lines of ``name`` joined with ", ", or None."""
        values = self.headers.get_all(name)
        return ", ".join(v.strip() for v in values) if values else None

    def extension_nodes(self) -> Iterator[OwnedNode]:
        """Every extension element of the metadata, with its owner."""
        md = self.metadata
        if md is None:
            return
        for ext in md.extensions:
            for node in _expand(ext):
                yield OwnedNode("recording", ext.owner, node)
        owners: list[tuple[OwnerKind, str, tuple[Extension, ...]]] = []
        owners.extend(("group", g.id, g.extensions) for g in md.groups)
        owners.extend(("session", s.id, s.extensions) for s in md.sessions)
        owners.extend(("participant", p.id, p.extensions) for p in md.participants)
        owners.extend(("stream", s.id, s.extensions) for s in md.streams)
        for kind, owner_id, extensions in owners:
            for ext in extensions:
                for node in _expand(ext):
                    yield OwnedNode(kind, owner_id, node)

    def nodes_named(self, name: str) -> Iterator[OwnedNode]:
        """Extension elements (at any depth) with this local name, case-insensitively."""
        wanted = name.lower()
        for owned in self.extension_nodes():
            for node in owned.node.iter():
                if node.name.lower() == wanted:
                    yield OwnedNode(owned.kind, owned.owner_id, node)

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
