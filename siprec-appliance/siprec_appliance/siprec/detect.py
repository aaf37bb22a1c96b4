"""Is this INVITE a SIPREC recording session? (RFC 7866 §6.1.1, §7.1)"""

from __future__ import annotations

from dataclasses import dataclass

from siprec_appliance.errors import SipProtocolError
from siprec_appliance.sip.headers import NameAddress
from siprec_appliance.sip.message import Request
from siprec_appliance.sip.multipart import BodyPart

# RFC 7865 §9 registers application/rs-metadata+xml; pre-RFC SBCs send application/rs-metadata.
METADATA_TYPES = frozenset({"application/rs-metadata+xml", "application/rs-metadata"})
METADATA_REQUEST_TYPE = "application/rs-metadata-request"


@dataclass(frozen=True, slots=True)
class SiprecSignals:
    """Each way an SRC may announce a recording session; any one is enough."""

    require_siprec: bool
    contact_src: bool
    metadata: bool

    @property
    def is_siprec(self) -> bool:
        return self.require_siprec or self.contact_src or self.metadata


def detect(request: Request, parts: list[BodyPart]) -> SiprecSignals:
    require = any(opt.lower() == "siprec" for opt in request.headers.get_list("Require"))
    return SiprecSignals(
        require_siprec=require,
        contact_src=_contact_has_src(request),
        metadata=any(part.content_type in METADATA_TYPES for part in parts),
    )


def _contact_has_src(request: Request) -> bool:
    """``+sip.src`` as a Contact header parameter (RFC 7866 §6.1.1) or, as Avaya SBCE
    sends it, inside the URI brackets; BroadWorks sends ``;src``."""
    for value in request.headers.get_list("Contact"):
        try:
            address = NameAddress.parse(value)
        except SipProtocolError:
            continue
        if "+sip.src" in address.params or "src" in address.params:
            return True
        uri_params = {p.split("=", 1)[0].strip().lower() for p in address.uri.split(";")[1:]}
        if "+sip.src" in uri_params or "src" in uri_params:
            return True
    return False


def metadata_parts(parts: list[BodyPart]) -> list[BodyPart]:
    return [part for part in parts if part.content_type in METADATA_TYPES]
