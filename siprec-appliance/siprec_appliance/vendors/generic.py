"""Vendor-neutral facts: ``headers.*``, ``ext.*``, explicit roles and direction.

``ext.<prefix>.<path>`` flattens extension elements owned by the recording, a
group or a session (participant-owned ones go into that participant's ``ext``):
leaves give their text; an element whose children are all ``<value>`` gives the
values joined with ", "; a ``label``/``name`` attribute becomes a path segment
(``apkt:header label="Call-ID"`` -> ``ext.apkt.header.Call-ID``). The prefix comes
from :data:`NAMESPACE_PREFIXES`, else from the namespace URI's last segment.
"""

from __future__ import annotations

import re
from functools import lru_cache

from siprec_appliance.metadata.model import XmlNode
from siprec_appliance.vendors.context import CallInputs, FactSink

__all__ = ["NAMESPACE_PREFIXES", "extract_generic", "flatten_node", "namespace_prefix"]

# Known extension namespaces (docs/vendors.md cites each one).
NAMESPACE_PREFIXES: dict[str, str] = {
    "http://acmepacket.com/siprec/extensiondata": "apkt",
    "http:/acmepacket.com/siprec/extensiondata": "apkt",  # Oracle's own sample misspells it
    "urn:ietf:params:xml:ns:calldata": "calldata",
    "urn:ietf:params:xml:ns:avaya": "avaya",
    "urn:ietf:params:xml:ns:genesys": "genesys",
    "urn:ietf:params:xml:ns:recording:1": "rec",
    "urn:ietf:params:xml:ns:recording": "rec",
    "urn:ietf:params:xml:ns:siprec": "siprec",
    "http://schema.broadsoft.com/siprec": "bw",  # project sample only (docs/vendors.md)
}

# Headers copied verbatim besides every X-* header.
VENDOR_HEADERS = frozenset(
    name.lower()
    for name in (
        "User-Agent",
        "Server",
        "User-to-User",
        "Cisco-Guid",
        "Cisco-Gucid",
        "Genesys-UUID",
        "Session-ID",
        "P-Charging-Vector",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Remote-Party-ID",
        "Diversion",
        "History-Info",
        "Privacy",
        "AC-Session-ID",
    )
)

_SEGMENT_CLEAN = re.compile(r"[^A-Za-z0-9_.\-]")
_MAX_DEPTH = 8
_MAX_KEYS = 256
_CACHED_CHARS = 256
_CALLER_WORDS = frozenset({"calling", "caller", "originator", "orig", "a-party"})
_CALLEE_WORDS = frozenset({"called", "callee", "terminator", "term", "b-party"})
_INBOUND = frozenset({"incoming", "inbound", "in"})
_OUTBOUND = frozenset({"outgoing", "outbound", "out"})
_PRIORITY_ROLE_ELEMENT = 90


def namespace_prefix(namespace: str | None) -> str:
    if not namespace:
        return "none"
    if len(namespace) > _CACHED_CHARS:  # remote data: keep the cache small
        return _namespace_prefix.__wrapped__(namespace)
    return _namespace_prefix(namespace)


@lru_cache(maxsize=256)
def _namespace_prefix(namespace: str) -> str:
    known = NAMESPACE_PREFIXES.get(namespace.strip().lower())
    if known:
        return known
    if "acmepacket.com" in namespace:
        return "apkt"
    if "broadsoft" in namespace.lower():
        return "bw"
    segments = [s for s in re.split(r"[:/#]", namespace) if s and s.lower() != "www"]
    last = segments[-1] if segments else "ns"
    return _SEGMENT_CLEAN.sub("_", last.lower())[:40] or "ns"


def _clean(text: str) -> str:
    # One character in, one out: cleaning the first 60 is cleaning all, then cutting.
    return _clean_cached(text[:60])


@lru_cache(maxsize=1024)
def _clean_cached(text: str) -> str:
    return _SEGMENT_CLEAN.sub("_", text)


def _segment(node: XmlNode) -> str:
    name = _clean_cached(node.name[:60])
    if not node.attributes:
        return name
    label = node.attr("label") or node.attr("name")
    return f"{name}.{_clean(label)}" if label else name


def _walk(node: XmlNode, path: str, out: dict[str, list[str]], depth: int) -> None:
    if depth > _MAX_DEPTH or len(out) >= _MAX_KEYS:
        return
    segment = _segment(node)
    key = f"{path}.{segment}" if path else segment
    children = node.children
    if not children:
        if node.text:
            out.setdefault(key, []).append(node.text)
    elif all([child.name == "value" for child in children]):
        out.setdefault(key, []).extend([child.text for child in children if child.text])
    else:
        for child in children:
            _walk(child, key, out, depth + 1)


def flatten_node(node: XmlNode) -> dict[str, str]:
    """``<prefix>.<path>`` -> text for one extension element (see module docstring)."""
    out: dict[str, list[str]] = {}
    _walk(node, namespace_prefix(node.namespace), out, 0)
    return {key: ", ".join(values) for key, values in out.items() if values}


def _headers(inputs: CallInputs, sink: FactSink) -> None:
    for name in inputs.header_names():  # each name once, in order of first appearance
        lower = name.lower()
        if lower.startswith("x-") or lower in VENDOR_HEADERS:
            sink.set(f"headers.{lower}", inputs.header(name), f"{name} header")
    agent = inputs.header("User-Agent") or inputs.header("Server")
    sink.set("user_agent", agent, "User-Agent/Server header")


def _roles_and_direction(inputs: CallInputs, sink: FactSink) -> None:
    for owned in inputs.nodes_named("role"):
        if owned.kind != "participant" or not owned.owner_id:
            continue
        word = owned.node.text.strip().lower()
        if word in _CALLER_WORDS:
            sink.hint_role(owned.owner_id, "caller", _PRIORITY_ROLE_ELEMENT, "<role> element")
        elif word in _CALLEE_WORDS:
            sink.hint_role(owned.owner_id, "callee", _PRIORITY_ROLE_ELEMENT, "<role> element")
    value = inputs.header("X-Call-Direction")
    if value:
        word = value.strip().lower()
        if word in _INBOUND:
            sink.set("direction", "inbound", "X-Call-Direction header")
        elif word in _OUTBOUND:
            sink.set("direction", "outbound", "X-Call-Direction header")
        else:
            sink.warn(f"X-Call-Direction: unknown value {word[:40]!r}")


def extract_generic(inputs: CallInputs, sink: FactSink) -> None:
    """``headers.*``, ``user_agent``, ``ext.*``, ``<role>`` hints, X-Call-Direction."""
    _headers(inputs, sink)
    _roles_and_direction(inputs, sink)
    collected: dict[str, list[str]] = {}
    for kind, _, node in inputs.owned_nodes():
        if kind in ("participant", "stream"):
            continue
        for key, value in flatten_node(node).items():
            collected.setdefault(key, []).append(value)
    for key, values in collected.items():
        sink.set(f"ext.{key}", ", ".join(dict.fromkeys(values)), "metadata extension")
