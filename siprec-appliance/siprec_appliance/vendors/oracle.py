"""Oracle (Acme Packet) SBC: ``apkt:`` extension data and the X-ISR-UCID header.

Namespace ``http://acmepacket.com/siprec/extensiondata`` (Oracle's own samples also
misspell it ``http:/acmepacket.com/...``, so any namespace naming acmepacket.com
is accepted). Session level: ``apkt:ucid`` (``...;encoding=hex``), ``apkt:callerOrig``.
Participant level: ``apkt:callingParty``, ``apkt:request-uri``, ``apkt:realm`` /
``apkt:in-realm``, ``apkt:header label="..."`` with ``<value>`` children.
"""

from __future__ import annotations

from siprec_appliance.metadata.model import XmlNode
from siprec_appliance.vendors.context import CallInputs, FactSink, JsonValue, Role

__all__ = ["extract_oracle", "is_apkt"]

_PRIORITY_EXPLICIT = 100  # apkt:callingParty is the SRC saying who called


def is_apkt(node: XmlNode) -> bool:
    return bool(node.namespace) and "acmepacket.com" in (node.namespace or "")


def _bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    return None


def _aor_of(inputs: CallInputs, participant_id: str | None) -> str | None:
    if inputs.metadata is None or participant_id is None:
        return None
    for participant in inputs.metadata.participants:
        if participant.id == participant_id:
            return participant.aor
    return None


def _header_values(node: XmlNode) -> list[JsonValue]:
    values: list[JsonValue] = [c.text for c in node.children if c.name == "value" and c.text]
    if not values and node.text:
        values.append(node.text)
    return values


def extract_oracle(inputs: CallInputs, sink: FactSink) -> None:
    """``oracle.*`` facts and caller/callee hints from apkt:callingParty."""
    isr = inputs.header("X-ISR-UCID")
    if isr:
        sink.set("oracle.isr_ucid", isr, "X-ISR-UCID header")
    for kind, owner_id, node in inputs.all_nodes():
        if not is_apkt(node):
            continue
        name = node.name.lower()
        if name == "ucid":
            raw = node.text.split(";", 1)[0].strip()
            sink.set("oracle.ucid", raw, "apkt:ucid")
        elif name == "callerorig":
            flag = _bool(node.text)
            if flag is None:
                sink.warn(f"apkt:callerOrig: not a boolean: {node.text[:40]!r}")
            sink.set("oracle.caller_orig", flag, "apkt:callerOrig")
        elif name == "callingparty" and kind == "participant" and owner_id:
            flag = _bool(node.text)
            if flag is None:
                sink.warn(f"apkt:callingParty: not a boolean: {node.text[:40]!r}")
                continue
            role: Role = "caller" if flag else "callee"
            sink.hint_role(owner_id, role, _PRIORITY_EXPLICIT, "apkt:callingParty")
            if flag:
                sink.set(
                    "oracle.calling_party",
                    _aor_of(inputs, owner_id),
                    "apkt:callingParty",
                )
        elif name == "request-uri":
            sink.set("oracle.request_uri", node.text.strip(), "apkt:request-uri")
        elif name in ("realm", "in-realm"):
            sink.set("oracle.realm", node.text.strip(), f"apkt:{node.name}")
        elif name == "header":
            label = (node.attr("label") or "").strip()
            if label:
                sink.set(
                    f"oracle.header.{label.lower()}",
                    _header_values(node),
                    f"apkt:header {label}",
                )
