"""Hardened, tolerant parser for recording metadata (RFC 7865 §6, §7).

Hardening (RFC 7865 §12 asks recorders to treat metadata as untrusted input):

* the body is refused before parsing when it is too big, or when it holds a
  DOCTYPE or an entity declaration (billion laughs, XXE). libxml2 expands
  entities inside attribute values even with ``resolve_entities=False``, so the
  refusal happens on the raw bytes, never after expansion;
* lxml runs with ``resolve_entities=False, no_network=True, load_dtd=False,
  huge_tree=False``; the parsed document is checked again for a DTD;
* nesting depth and element count are bounded after parsing.

Tolerance: the RFC namespace ``urn:ietf:params:xml:ns:recording:1``, the pre-RFC
``urn:ietf:params:xml:ns:recording`` (Oracle/Acme, Ribbon ``tns:``), BroadWorks'
``urn:ietf:params:xml:ns:siprec`` and no namespace at all are one vocabulary.
Element and attribute names are matched case-insensitively with ``-`` and ``_``
ignored (``dataMode``, ``participantStreamAssoc``, ``group_ref``), and ``id=``
stands for ``session_id=`` and friends. Each tolerance applied is noted once in
``RecordingMetadata.warnings``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import TypeVar

from lxml import etree

from siprec_appliance.errors import MetadataError
from siprec_appliance.metadata.model import (
    CommunicationSession,
    Extension,
    Group,
    NameId,
    Participant,
    ParticipantSessionAssoc,
    ParticipantStreamAssoc,
    RecordingMetadata,
    SessionRecordingAssoc,
    Stream,
    XmlNode,
)

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_ELEMENTS = 10_000

RFC_NAMESPACE = "urn:ietf:params:xml:ns:recording:1"  # RFC 7865 §11.1
PRE_RFC_NAMESPACE = "urn:ietf:params:xml:ns:recording"  # drafts; Oracle/Acme, Ribbon
SIPREC_NAMESPACE = "urn:ietf:params:xml:ns:siprec"  # BroadWorks
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

_NAMESPACE_NOTES: dict[str | None, str | None] = {
    RFC_NAMESPACE: None,
    PRE_RFC_NAMESPACE: f"pre-RFC namespace {PRE_RFC_NAMESPACE}",
    SIPREC_NAMESPACE: f"non-standard namespace {SIPREC_NAMESPACE}",
    None: "metadata has no namespace",
}
_ROOTS = {"recording": "recording", "recordingmetadata": "recording_metadata"}
_CONTENT_TYPES = {
    "application/rs-metadata+xml": None,  # RFC 7865 §11.2
    "application/rs-metadata": "pre-RFC content type application/rs-metadata",
}
_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)

# RFC 7865 §7 spelling of every element, by normalised key (see ``_key``).
_CANONICAL = {
    name.lower().replace("-", ""): name
    for name in (
        *("datamode", "group", "session", "participant", "stream", "extensiondata"),
        *("sessionrecordingassoc", "participantsessionassoc", "participantstreamassoc"),
        *("associate-time", "disassociate-time", "start-time", "stop-time", "group-ref"),
        *("sipSessionID", "nameID", "name", "label", "send", "recv"),
    )
}
_TIMES = frozenset({"associatetime", "disassociatetime", "starttime", "stoptime"})
_GROUP_FIELDS = frozenset({"associatetime", "disassociatetime"})
_SESSION_FIELDS = frozenset({"sipsessionid", "groupref"}) | _TIMES
_PARTICIPANT_FIELDS = frozenset({"nameid", "aor", "name", "send", "recv"}) | _TIMES
_STREAM_FIELDS = frozenset({"label"})
_NAME_ID_FIELDS = frozenset({"name", "aor"})
_ASSOC_FIELDS = frozenset({"associatetime", "disassociatetime"})
_STREAM_ASSOC_FIELDS = frozenset({"send", "recv"}) | _ASSOC_FIELDS

Fields = dict[str, list[etree._Element]]
Attributes = dict[str, tuple[str, str]]  # normalised key -> (name as sent, value)


@lru_cache(maxsize=1024)
def _split(tag: str) -> tuple[str | None, str, str, str | None]:
    """``{ns}localName`` -> (namespace, local name, normalised key, note): the note warns
    of an RFC 7865 §7 element spelt otherwise (``dataMode``), else it is None."""
    namespace: str | None = None
    local = tag
    if tag[:1] == "{":
        namespace, _, local = tag[1:].partition("}")
    key = _key(local)
    canonical = _CANONICAL.get(key)
    note = f"element <{local}> read as <{canonical}>" if canonical not in (None, local) else None
    return namespace, local, key, note


@lru_cache(maxsize=1024)
def _key(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def _text(element: etree._Element) -> str:
    text = element.text
    return text.strip() if text else ""


def _setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[object, object], None], ...]:
    """Slot setters of a frozen dataclass whose fields are exactly ``names``, in order."""
    if tuple(f.name for f in fields(cls)) != names or hasattr(cls, "__post_init__"):
        raise ImportError(f"{cls.__name__} changed: update the builders in {__name__}")
    return tuple(getattr(cls, name).__set__ for name in names)


# Documents carry dozens of XmlNode/Extension values, and a frozen dataclass __init__
# pays one object.__setattr__ per field: these two set the slots directly instead.
_NODE = _setters(XmlNode, ("namespace", "name", "attributes", "text", "children"))
_EXTENSION = _setters(Extension, ("namespace", "name", "xml", "owner", "node"))
_new = object.__new__


def xml_node(element: etree._Element) -> XmlNode:
    """The lxml element as a plain, immutable ``XmlNode`` (comments and PIs dropped)."""
    namespace, local, _, _ = _split(element.tag)
    text = element.text
    attributes: list[tuple[str, str]] = element.items()  # type: ignore[assignment]  # all str
    children = [xml_node(c) for c in element if isinstance(c.tag, str)] if len(element) else ()
    node: XmlNode = _new(XmlNode)
    set_namespace, set_name, set_attributes, set_text, set_children = _NODE
    set_namespace(node, namespace)
    set_name(node, local)
    set_attributes(node, tuple(attributes))
    set_text(node, text.strip() if text else "")
    set_children(node, tuple(children))
    return node


def _extension(element: etree._Element, owner: str | None) -> Extension:
    node = xml_node(element)
    extension: Extension = _new(Extension)
    set_namespace, set_name, set_xml, set_owner, set_node = _EXTENSION
    set_namespace(extension, node.namespace)
    set_name(extension, node.name)
    set_xml(extension, etree.tostring(element, encoding="unicode", with_tail=False))
    set_owner(extension, owner)
    set_node(extension, node)
    return extension


# --- the XML layer: size, DTD, well-formedness, depth, count ----------------------


def _refuse_dtd(body: bytes) -> None:
    # UTF-16/32 bodies hide "<!DOCTYPE" behind NUL bytes: scan them with NULs removed.
    scanned = body.replace(b"\x00", b"") if b"\x00" in body else body
    if _DTD.search(scanned):
        raise MetadataError("DTDs and entity declarations are not allowed")


# Evaluated in C (a Python walk costs 20 µs a document); XPath objects hold a lock.
_TOO_DEEP = etree.XPath("boolean(/*" + "/*" * MAX_DEPTH + ")")
_COUNT = etree.XPath("count(//*)")


def parse_xml(body: bytes) -> etree._Element:
    """Parse untrusted XML with every limit applied; the root element or ``MetadataError``."""
    if len(body) > MAX_BYTES:
        raise MetadataError(f"metadata is {len(body)} bytes, more than the {MAX_BYTES} allowed")
    if not body.strip():
        raise MetadataError("metadata is empty")
    _refuse_dtd(body)
    # One parser per call: parsers are not thread-safe, and cost 1 µs. Do not add
    # collect_ids=False: lxml 6.1 then opens an external DTD despite load_dtd=False.
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        attribute_defaults=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(body, parser)
    except (etree.LxmlError, ValueError) as exc:
        # One line, bounded: the reason may end up in a SIP reason phrase or Warning.
        detail = " ".join(str(exc).split())[:200]
        raise MetadataError(f"metadata is not well-formed XML: {detail}") from None
    docinfo: etree.DocInfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise MetadataError("DTDs and entity declarations are not allowed")
    if _TOO_DEEP(root):
        raise MetadataError(f"metadata nests elements deeper than {MAX_DEPTH} levels")
    if _COUNT(root) > MAX_ELEMENTS:
        raise MetadataError(f"metadata has more than {MAX_ELEMENTS} elements")
    return root


def _content_type_note(content_type: str) -> str | None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _CONTENT_TYPES:
        return _CONTENT_TYPES[media]
    if media.endswith(("/xml", "+xml")):
        return f"unexpected content type {media} read as recording metadata"
    raise MetadataError(f"content type {media or '(none)'} is not recording metadata")


def parse_metadata(
    body: bytes, *, content_type: str = "application/rs-metadata+xml"
) -> RecordingMetadata:
    """Parse one ``recording`` document (RFC 7865 §7) from a SIP body part.

    Raises ``MetadataError`` with a short reason when the body is unusable: not XML,
    hostile (DTD, entities), over the limits, or not recording metadata at all.
    """
    note = _content_type_note(content_type)
    root = parse_xml(body)
    reader = _Reader()
    if note:
        reader.warn(note)
    return reader.read(root)


Owner = TypeVar("Owner", Group, CommunicationSession, Participant, Stream)


def _adopted(item: Owner, pending: dict[str, list[Extension]]) -> Owner:
    found: list[Extension] | None = pending.pop(item.id, None)
    if not found:
        return item
    return replace(item, extensions=item.extensions + tuple(found))


# --- the vocabulary layer ------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """One element being read: its id, attributes, known children and extensions."""

    id: str
    attrs: Attributes
    fields: Fields
    extensions: list[Extension]


class _Reader:
    """Turns one parsed document into a ``RecordingMetadata`` (single use)."""

    def __init__(self) -> None:
        self.vocabulary = {RFC_NAMESPACE, PRE_RFC_NAMESPACE, SIPREC_NAMESPACE, None}
        self.warnings: dict[str, None] = {}  # an ordered set
        self.data_mode: str | None = None
        self.groups: list[Group] = []
        self.sessions: list[CommunicationSession] = []
        self.participants: list[Participant] = []
        self.streams: list[Stream] = []
        self.session_recording: list[SessionRecordingAssoc] = []
        self.participant_session: list[ParticipantSessionAssoc] = []
        self.participant_stream: list[ParticipantStreamAssoc] = []
        self.implied_stream: list[ParticipantStreamAssoc] = []
        self.implied_session: list[tuple[str, str | None, str | None, str | None]] = []
        self.extensions: list[Extension] = []
        self.adopted: list[Extension] = []  # top-level extensiondata naming a parent

    def warn(self, text: str) -> None:
        self.warnings[text] = None

    def read(self, root: etree._Element) -> RecordingMetadata:
        namespace, local, key, _ = _split(root.tag)
        if key not in _ROOTS:
            raise MetadataError(f"metadata root element is <{local}>, expected <recording>")
        if namespace in _NAMESPACE_NOTES:
            note = _NAMESPACE_NOTES[namespace]
        else:
            self.vocabulary.add(namespace)
            note = f"unexpected namespace {namespace} on <{local}>"
        if note:
            self.warn(note)
        if local != "recording":
            self.warn(f"root element <{local}> read as <recording>")
        for name, value in root.attrib.items():
            if _key(str(name)) == "datamode":
                self.warn("datamode given as an attribute of the root")
                self._datamode_text(str(value))
        self._read_children(root)
        return self._finish(namespace)

    def _datamode_text(self, value: str) -> None:
        # RFC 7865 §6.1: "complete" is a full snapshot, "partial" carries changes only.
        mode = value.strip().lower()
        if mode not in ("complete", "partial"):
            self.warn(f"unknown datamode {value.strip()!r} read as complete")
            mode = "complete"
        self.data_mode = mode

    def _read_children(self, parent: etree._Element) -> None:
        for child in parent:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            namespace, local, key, note = _split(tag)
            handler = _TOP_LEVEL.get(key) if namespace in self.vocabulary else None
            if handler is not None:
                if note:
                    self.warnings[note] = None
                handler(self, child)
            elif namespace in self.vocabulary and key in _ROOTS:
                self.warn(f"nested <{local}> read as part of the document")
                self._read_children(child)  # <recording> wrapped in <recording_metadata>
            else:
                if namespace in self.vocabulary:
                    self.warn(f"unknown element <{local}> kept as an extension")
                self.extensions.append(_extension(child, None))

    # -- helpers shared by the element readers --

    def _open(
        self, element: etree._Element, where: str, id_name: str, known: frozenset[str]
    ) -> _Item | None:
        """Read an element's id (``id_name=`` or the pre-RFC ``id=``) and children."""
        attrs: Attributes = {}
        items: list[tuple[str, str]] = element.items()  # type: ignore[assignment]  # all str
        for name, value in items:
            if name[:1] != "{":  # identifiers and references are unqualified
                attrs.setdefault(_key(name), (name, value.strip()))
        item_id = self._ref(attrs, where, id_name, "id", id_name.split("_", maxsplit=1)[0])
        if item_id is None:
            self.warn(f"<{where}> without {id_name} ignored")
            return None
        fields, extensions = self._scan(element, item_id, where, known)
        return _Item(item_id, attrs, fields, extensions)

    def _ref(self, attrs: Attributes, where: str, canonical: str, *aliases: str) -> str | None:
        for key in (_key(canonical), *aliases):
            hit = attrs.get(key)
            if hit is not None and hit[1]:
                if hit[0] != canonical:
                    self.warn(f"attribute {hit[0]}= on <{where}> read as {canonical}=")
                return hit[1]
        return None

    def _scan(
        self, element: etree._Element, owner: str | None, where: str, known: frozenset[str]
    ) -> tuple[Fields, list[Extension]]:
        """Children in known fields; everything else becomes an extension of ``owner``."""
        fields: Fields = {}
        extensions: list[Extension] = []
        vocabulary = self.vocabulary
        for child in element:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            namespace, local, key, note = _split(tag)
            if namespace not in vocabulary:
                extensions.append(_extension(child, owner))  # RFC 7865 §7: xs:any ##other
            elif key in known:
                if note:
                    self.warnings[note] = None
                fields.setdefault(key, []).append(child)
            elif key == "extensiondata":  # pre-RFC wrapper (Oracle/Acme, AudioCodes)
                if note:
                    self.warnings[note] = None
                extensions.extend([_extension(x, owner) for x in child if isinstance(x.tag, str)])
            else:
                self.warn(f"unknown element <{local}> in <{where}> kept as an extension")
                extensions.append(_extension(child, owner))
        return fields, extensions

    def _value(self, item: _Item, key: str) -> str | None:
        """A field's text from its child element, or (a deviation) from an attribute."""
        elements = item.fields.get(key)
        if elements:
            return _text(elements[0]) or None
        hit = item.attrs.get(key)
        if hit is None or not hit[1]:
            return None
        self.warn(f"{_CANONICAL.get(key, hit[0])} given as an attribute")
        return hit[1]

    def _ids(self, item: _Item, key: str) -> tuple[str, ...]:
        # RFC 7865 §7: one stream id per <send>/<recv>; some SRCs list several, spaced.
        return tuple([part for e in item.fields.get(key, ()) for part in _text(e).split()])

    def _finish(self, namespace: str | None) -> RecordingMetadata:
        if self.data_mode is None:
            self.warn("no <datamode>; read as complete")
        self._imply_associations()
        self._adopt()
        return RecordingMetadata(
            data_mode=self.data_mode or "complete",
            namespace=namespace,
            groups=tuple(self.groups),
            sessions=tuple(self.sessions),
            participants=tuple(self.participants),
            streams=tuple(self.streams),
            session_recording_assocs=tuple(self.session_recording),
            participant_session_assocs=tuple(self.participant_session),
            participant_stream_assocs=tuple(self.participant_stream),
            extensions=tuple(self.extensions),
            warnings=tuple(self.warnings),
        )

    def _imply_associations(self) -> None:
        """Pre-RFC drafts put send/recv and the session reference on <participant>."""
        explicit = {assoc.participant_id for assoc in self.participant_stream}
        self.participant_stream.extend(
            a for a in self.implied_stream if a.participant_id not in explicit
        )
        paired = {a.participant_id for a in self.participant_session}
        only = self.sessions[0].id if len(self.sessions) == 1 else None
        for participant_id, named, start, stop in self.implied_session:
            session_id = named or only
            if participant_id not in paired and session_id is not None:
                self.participant_session.append(
                    ParticipantSessionAssoc(
                        participant_id=participant_id,
                        session_id=session_id,
                        associate_time=start,
                        disassociate_time=stop,
                    )
                )

    def _adopt(self) -> None:
        """Attach top-level ``<extensiondata parent=…>`` children to their owner."""
        if not self.adopted:
            return
        pending: dict[str, list[Extension]] = {}
        for extension in self.adopted:
            pending.setdefault(extension.owner or "", []).append(extension)
        self.streams = [_adopted(item, pending) for item in self.streams]
        self.participants = [_adopted(item, pending) for item in self.participants]
        self.sessions = [_adopted(item, pending) for item in self.sessions]
        self.groups = [_adopted(item, pending) for item in self.groups]
        self.extensions.extend(e for left in pending.values() for e in left)

    # -- element readers (RFC 7865 §6.1-§6.8) --

    def _datamode(self, element: etree._Element) -> None:
        self._datamode_text(_text(element))

    def _group(self, element: etree._Element) -> None:  # §6.2
        if item := self._open(element, "group", "group_id", _GROUP_FIELDS):
            self.groups.append(
                Group(
                    id=item.id,
                    associate_time=self._value(item, "associatetime"),
                    disassociate_time=self._value(item, "disassociatetime"),
                    extensions=tuple(item.extensions),
                )
            )

    def _session(self, element: etree._Element) -> None:  # §6.3
        if not (item := self._open(element, "session", "session_id", _SESSION_FIELDS)):
            return
        start, stop = self._value(item, "starttime"), self._value(item, "stoptime")
        if start is None and (start := self._value(item, "associatetime")):
            self.warn("<session> associate-time read as start-time")
        if stop is None and (stop := self._value(item, "disassociatetime")):
            self.warn("<session> disassociate-time read as stop-time")
        self.sessions.append(
            CommunicationSession(
                id=item.id,
                # Session-IDs (RFC 7989) hold no whitespace; examples wrap them over lines.
                sip_session_ids=tuple(
                    "".join(t.split())
                    for e in item.fields.get("sipsessionid", ())
                    if (t := _text(e))
                ),
                group_ref=self._value(item, "groupref")
                or self._ref(item.attrs, "session", "group"),
                start_time=start,
                stop_time=stop,
                extensions=tuple(item.extensions),
            )
        )

    def _participant(self, element: etree._Element) -> None:  # §6.5
        if item := self._open(element, "participant", "participant_id", _PARTICIPANT_FIELDS):
            self.participants.append(
                Participant(
                    id=item.id, name_ids=self._name_ids(item), extensions=tuple(item.extensions)
                )
            )
            self._participant_implied(item)

    def _name_ids(self, item: _Item) -> tuple[NameId, ...]:
        name_ids: list[NameId] = []
        for element in item.fields.get("nameid", ()):
            inner, _ = self._scan(element, None, "nameID", _NAME_ID_FIELDS)
            # RFC 7865 §7: aor is an attribute of nameID; some SRCs send an <aor> child.
            aor = (element.get("aor") or "").strip() or _first(inner.get("aor", ()))
            names = _names(inner.get("name", ()))
            if aor or names:
                name_ids.append(NameId(aor=aor, names=names))
        if "aor" in item.fields or "name" in item.fields:  # pre-RFC, on <participant>
            self.warn("<participant> with <aor>/<name> children read as <nameID>")
            aor = _first(item.fields.get("aor", ()))
            name_ids.append(NameId(aor=aor, names=_names(item.fields.get("name", ()))))
        return tuple(name_ids)

    def _participant_implied(self, item: _Item) -> None:
        start = self._value(item, "associatetime") or self._value(item, "starttime")
        stop = self._value(item, "disassociatetime") or self._value(item, "stoptime")
        send, recv = self._ids(item, "send"), self._ids(item, "recv")
        if send or recv:
            self.warn("<participant> with <send>/<recv> read as <participantstreamassoc>")
            self.implied_stream.append(
                ParticipantStreamAssoc(participant_id=item.id, send=send, recv=recv)
            )
        session_id = self._ref(item.attrs, "participant", "session_id", "session")
        if session_id is not None or start is not None or stop is not None:
            self.implied_session.append((item.id, session_id, start, stop))

    def _stream(self, element: etree._Element) -> None:  # §6.7
        if item := self._open(element, "stream", "stream_id", _STREAM_FIELDS):
            self.streams.append(
                Stream(
                    id=item.id,
                    session_id=self._ref(item.attrs, "stream", "session_id", "session"),
                    label=self._value(item, "label"),
                    extensions=tuple(item.extensions),
                )
            )

    def _assoc(
        self, element: etree._Element, where: str, id_name: str, known: frozenset[str]
    ) -> _Item | None:
        item = self._open(element, where, id_name, known)
        if item is not None:
            self.extensions.extend(item.extensions)  # associations have no extension slot
        return item

    def _session_recording_assoc(self, element: etree._Element) -> None:  # §6.4
        if item := self._assoc(element, "sessionrecordingassoc", "session_id", _ASSOC_FIELDS):
            self.session_recording.append(
                SessionRecordingAssoc(
                    session_id=item.id,
                    associate_time=self._value(item, "associatetime"),
                    disassociate_time=self._value(item, "disassociatetime"),
                )
            )

    def _participant_session_assoc(self, element: etree._Element) -> None:  # §6.6
        where = "participantsessionassoc"
        if not (item := self._assoc(element, where, "participant_id", _ASSOC_FIELDS)):
            return
        session_id = self._ref(item.attrs, where, "session_id", "session")
        if session_id is None:
            self.warn(f"<{where}> without session_id ignored")
            return
        self.participant_session.append(
            ParticipantSessionAssoc(
                participant_id=item.id,
                session_id=session_id,
                associate_time=self._value(item, "associatetime"),
                disassociate_time=self._value(item, "disassociatetime"),
            )
        )

    def _participant_stream_assoc(self, element: etree._Element) -> None:  # §6.8
        if item := self._assoc(
            element, "participantstreamassoc", "participant_id", _STREAM_ASSOC_FIELDS
        ):
            self.participant_stream.append(
                ParticipantStreamAssoc(
                    participant_id=item.id,
                    send=self._ids(item, "send"),
                    recv=self._ids(item, "recv"),
                    associate_time=self._value(item, "associatetime"),
                    disassociate_time=self._value(item, "disassociatetime"),
                )
            )

    def _extensiondata(self, element: etree._Element) -> None:
        """Top-level ``<extensiondata parent="id">`` (Oracle): children go to that owner."""
        parent = (element.get("parent") or "").strip() or None
        for child in element:
            if isinstance(child.tag, str):
                extension = _extension(child, parent)
                (self.adopted if parent else self.extensions).append(extension)


def _first(elements: Iterable[etree._Element]) -> str:
    return next((text for e in elements if (text := _text(e))), "")


def _names(elements: Iterable[etree._Element]) -> tuple[tuple[str | None, str], ...]:
    return tuple((e.get(XML_LANG), text) for e in elements if (text := _text(e)))


_TOP_LEVEL = {
    "datamode": _Reader._datamode,
    "group": _Reader._group,
    "session": _Reader._session,
    "participant": _Reader._participant,
    "stream": _Reader._stream,
    "sessionrecordingassoc": _Reader._session_recording_assoc,
    "participantsessionassoc": _Reader._participant_session_assoc,
    "participantstreamassoc": _Reader._participant_stream_assoc,
    "extensiondata": _Reader._extensiondata,
}
