"""Vendor detection and call-facts extraction for SIPREC recording sessions (pure).

- :func:`detect_vendor` scores every signal (headers, metadata namespaces, SDP,
  body parts) and names the most likely SRC vendor.
- :func:`build_call_facts` runs every extractor and merges their findings into one
  flat, JSON-serialisable dict (docs/call-facts.md).
- :func:`to_e164` normalises phone numbers.

Sources for each vendor's shape: docs/vendors.md.
"""

from __future__ import annotations

from siprec_appliance.vendors.avaya import Ucid, UuiError, decode_ucid
from siprec_appliance.vendors.detect import VendorGuess, detect_vendor
from siprec_appliance.vendors.facts import EXTRACTORS, build_call_facts
from siprec_appliance.vendors.phone import to_e164

__all__ = [
    "EXTRACTORS",
    "Ucid",
    "UuiError",
    "VendorGuess",
    "build_call_facts",
    "decode_ucid",
    "detect_vendor",
    "to_e164",
]
