"""AudioCodes SBC and Genesys: correlation ids and X-AC-* headers.

AudioCodes copies what it received from the recorded call into its own metadata
elements: ``ac:AvayaUCID`` (namespace ``urn:ietf:params:xml:ns:Avaya``, decoded by
:mod:`~siprec_appliance.vendors.avaya`) and ``ac:GenesysUUID`` (namespace
``urn:ietf:params:xml:ns:Genesys``, from Genesys' X-Genesys-CallUUID header).
SmartTAP reads the ``AC-Session-ID`` / ``X-AUDC-Call-ID`` headers. ``X-AC-Action``
(``start-siprec``, ``pause-siprec``, ``resume-siprec``, ``stop-siprec``) is sent
*to* the SBC to control recording; it is recorded when it shows up anyway.
"""

from __future__ import annotations

from siprec_appliance.vendors.context import CallInputs, FactSink

__all__ = ["extract_audiocodes"]

_SIPREC_ACTIONS = ("start-siprec", "pause-siprec", "resume-siprec", "stop-siprec")


def extract_audiocodes(inputs: CallInputs, sink: FactSink) -> None:
    """``genesys.uuid`` and ``audiocodes.*`` facts."""
    for owned in inputs.nodes_named("GenesysUUID"):
        # The manual's sample wraps the value over two lines: drop all whitespace.
        sink.set("genesys.uuid", "".join(owned.node.text.split()), "ac:GenesysUUID")
    header = inputs.header("X-Genesys-CallUUID")
    if header:
        sink.set("genesys.uuid", header.strip(), "X-Genesys-CallUUID header")
    sink.set("audiocodes.session_id", inputs.header("AC-Session-ID"), "AC-Session-ID header")
    sink.set("audiocodes.call_id", inputs.header("X-AUDC-Call-ID"), "X-AUDC-Call-ID header")
    action = inputs.header("X-AC-Action")
    if action:
        verb = action.strip().strip("'\"").split(";", 1)[0].strip().lower()
        sink.set("audiocodes.action", verb, "X-AC-Action header")
        if verb not in _SIPREC_ACTIONS:
            sink.warn(f"X-AC-Action: {verb[:40]!r} is not a SIPREC action")
