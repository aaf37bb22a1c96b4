"""Ribbon (Sonus) SBC: ``callData`` in ``urn:ietf:params:xml:ns:callData``.

Sonus/Ribbon SBCs put the original From, To, Call-ID and their global call id
inside ``<group>``::

    <callData xmlns='urn:ietf:params:xml:ns:callData'>
      <fromhdr>"Ext 8500" &lt;sip:2249888500@172.16.198.55&gt;;tag=...</fromhdr>
      <tohdr>&lt;sip:2249888012@172.16.195.72&gt;;tag=...</tohdr>
      <callid>2da553f7-a48b-1235-d6a2-5254003a4988</callid>
      <gcid>241205267</gcid>
    </callData>

Their participant AORs come without ``sip:`` (``2249888500@172.16.198.55``);
:func:`~siprec_appliance.vendors.phone.normalise_aor` adds it.
"""

from __future__ import annotations

from siprec_appliance.vendors.context import CallInputs, FactSink
from siprec_appliance.vendors.phone import aor_user, display_and_uri

__all__ = ["extract_ribbon"]

_PRIORITY_CALLDATA = 80  # the original From/To: a strong, vendor-given hint


def _hint(inputs: CallInputs, sink: FactSink, header_value: str, role: str) -> None:
    _, uri = display_and_uri(header_value)
    user = aor_user(uri)
    if inputs.metadata is None or not user:
        return
    for participant in inputs.metadata.participants:
        if (aor_user(participant.aor) or "").lower() == user.lower():
            sink.hint_role(
                participant.id,
                "caller" if role == "from" else "callee",
                _PRIORITY_CALLDATA,
                f"callData {role}hdr",
            )


def extract_ribbon(inputs: CallInputs, sink: FactSink) -> None:
    """``ribbon.*`` facts and caller/callee hints from callData."""
    for owned in inputs.nodes_named("callData"):
        fields = {child.name.lower(): child.text.strip() for child in owned.node.children}
        sink.set("ribbon.gcid", fields.get("gcid"), "callData gcid")
        sink.set("ribbon.call_id", fields.get("callid"), "callData callid")
        sink.set("ribbon.from", fields.get("fromhdr"), "callData fromhdr")
        sink.set("ribbon.to", fields.get("tohdr"), "callData tohdr")
        if fields.get("fromhdr"):
            _hint(inputs, sink, fields["fromhdr"], "from")
        if fields.get("tohdr"):
            _hint(inputs, sink, fields["tohdr"], "to")
