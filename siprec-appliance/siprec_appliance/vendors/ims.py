"""IMS / carrier correlation: P-Charging-Vector (RFC 7315 §4.6).

``P-Charging-Vector: icid-value=...;icid-generated-at=...;orig-ioi=...;term-ioi=...``
The icid (IMS Charging Identity) is the same on every leg of one IMS session, so it
ties a recording to the operator's CDRs.
"""

from __future__ import annotations

from siprec_appliance.vendors.context import CallInputs, FactSink

__all__ = ["extract_ims", "parse_charging_vector"]

_KEYS = {
    "icid-value": "icid",
    "icid-generated-at": "pcv.icid_generated_at",
    "orig-ioi": "pcv.orig_ioi",
    "term-ioi": "pcv.term_ioi",
}


def parse_charging_vector(value: str) -> dict[str, str]:
    """The parameters of a P-Charging-Vector value, lower-case names, unquoted."""
    params: dict[str, str] = {}
    for item in value.split(";"):
        name, sep, param_value = item.partition("=")
        if sep and name.strip():
            params.setdefault(name.strip().lower(), param_value.strip().strip('"'))
    return params


def extract_ims(inputs: CallInputs, sink: FactSink) -> None:
    """``icid`` and ``pcv.*`` from P-Charging-Vector."""
    value = inputs.header("P-Charging-Vector")
    if not value:
        return
    params = parse_charging_vector(value.split(",", 1)[0])
    if "icid-value" not in params:
        sink.warn(f"P-Charging-Vector without icid-value: {value[:60]!r}")
    for param, key in _KEYS.items():
        sink.set(key, params.get(param), "P-Charging-Vector header")
