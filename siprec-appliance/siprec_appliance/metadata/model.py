"""The RFC 7865 recording metadata model (§6), as immutable values.

Identifiers are kept as the SRC sent them (base64 per RFC 7865 §6.8, hex, or any
string older SBCs use). Times are the ``xs:dateTime`` strings as received.
Unknown elements and ``extensiondata`` are kept verbatim as XML text.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class XmlNode:
    """A parsed XML element without lxml: what vendor extractors read.

    Attribute names are local names (namespaced attributes as ``{uri}name``).
    """

    namespace: str | None
    name: str
    attributes: tuple[tuple[str, str], ...] = ()
    text: str = ""  # the element's own text, stripped
    children: tuple[XmlNode, ...] = ()

    def attr(self, name: str) -> str | None:
        for key, value in self.attributes:
            if key == name:
                return value
        return None

    def find(self, name: str, namespace: str | None = None) -> XmlNode | None:
        """The first child with this local name (and namespace, when given)."""
        for child in self.children:
            if child.name == name and (namespace is None or child.namespace == namespace):
                return child
        return None

    def iter(self, name: str | None = None) -> list[XmlNode]:
        """This element and every descendant (with this local name, when given)."""
        found = [self] if name is None or self.name == name else []
        for child in self.children:
            found.extend(child.iter(name))
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Extension:
    """An ``extensiondata`` child or an unknown element, kept verbatim (RFC 7865 §6.9)."""

    namespace: str | None  # the element's namespace URI, None when it has none
    name: str  # local name
    xml: str  # the element serialised as received (namespace declarations included)
    owner: str | None = None  # id of the group/session/participant/stream it belongs to
    node: XmlNode | None = None  # the same element, parsed


@dataclass(frozen=True, slots=True, kw_only=True)
class NameId:
    """``nameID``: an AOR and its display names, each with an optional ``xml:lang``."""

    aor: str
    names: tuple[tuple[str | None, str], ...] = ()  # (lang, name)

    @property
    def display_name(self) -> str | None:
        return self.names[0][1] if self.names else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """``group`` (RFC 7865 §6.3): communication sessions belonging together."""

    id: str
    associate_time: str | None = None
    disassociate_time: str | None = None
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CommunicationSession:
    """``session`` (RFC 7865 §6.4): one CS being recorded, with its SIP Call-IDs/Session-IDs."""

    id: str
    sip_session_ids: tuple[str, ...] = ()
    group_ref: str | None = None
    start_time: str | None = None
    stop_time: str | None = None
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Participant:
    """``participant`` (RFC 7865 §6.5)."""

    id: str
    name_ids: tuple[NameId, ...] = ()
    extensions: tuple[Extension, ...] = ()

    @property
    def aor(self) -> str | None:
        return self.name_ids[0].aor if self.name_ids else None

    @property
    def display_name(self) -> str | None:
        for name_id in self.name_ids:
            if name_id.display_name:
                return name_id.display_name
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Stream:
    """``stream`` (RFC 7865 §6.6): one media stream, tied to an SDP ``a=label``."""

    id: str
    session_id: str | None = None
    label: str | None = None
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecordingAssoc:
    """``sessionrecordingassoc`` (RFC 7865 §6.7.1)."""

    session_id: str
    associate_time: str | None = None
    disassociate_time: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantSessionAssoc:
    """``participantsessionassoc`` (RFC 7865 §6.7.3)."""

    participant_id: str
    session_id: str
    associate_time: str | None = None
    disassociate_time: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ParticipantStreamAssoc:
    """``participantstreamassoc`` (RFC 7865 §6.7.2): streams a participant sends/receives."""

    participant_id: str
    send: tuple[str, ...] = ()  # stream ids
    recv: tuple[str, ...] = ()
    associate_time: str | None = None
    disassociate_time: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingMetadata:
    """One ``recording`` document: a complete snapshot or a partial update (§6.1)."""

    data_mode: str = "complete"  # "complete" or "partial"
    namespace: str | None = None  # the dialect's namespace URI as received
    groups: tuple[Group, ...] = ()
    sessions: tuple[CommunicationSession, ...] = ()
    participants: tuple[Participant, ...] = ()
    streams: tuple[Stream, ...] = ()
    session_recording_assocs: tuple[SessionRecordingAssoc, ...] = ()
    participant_session_assocs: tuple[ParticipantSessionAssoc, ...] = ()
    participant_stream_assocs: tuple[ParticipantStreamAssoc, ...] = ()
    extensions: tuple[Extension, ...] = ()  # unknown top-level elements, verbatim
    warnings: tuple[str, ...] = field(default=())  # tolerances applied while parsing

    @property
    def is_partial(self) -> bool:
        return self.data_mode == "partial"
