"""Stream plans (what the SDP answer decided for one m= line) for recorder tests."""

from __future__ import annotations

from siprec_appliance.sdp.answer import StreamPlan
from siprec_appliance.sdp.crypto import CryptoAttribute, KeyParam

SUITE = "AES_CM_128_HMAC_SHA1_80"


def g711_plan(*, srtp_key: bytes | None = None, rtcp_mux: bool = True) -> StreamPlan:
    """PCMU, PCMA and telephone-event, as a typical SRC offers; RTP/SAVP with
    ``srtp_key`` (AES_CM_128_HMAC_SHA1_80) when one is given."""
    return StreamPlan(
        index=0,
        media="audio",
        proto="RTP/AVP" if srtp_key is None else "RTP/SAVP",
        accepted=True,
        refuse_reason=None,
        label="1",
        offered_direction="sendonly",
        answer_direction="recvonly",
        payload_types=(0, 8, 101),
        codecs=("PCMU/8000", "PCMA/8000", "telephone-event/8000"),
        rtcp_mux=rtcp_mux,
        rtcp_attribute=False,
        offered_formats=("0", "8", "101"),
        crypto=None
        if srtp_key is None
        else CryptoAttribute(1, SUITE, (KeyParam(srtp_key, None, None),)),
    )
