"""Settings of the SIPREC core: plain values, filled from the configuration file."""

from __future__ import annotations

from dataclasses import dataclass, field

from siprec_appliance.sip.transaction import TimerValues


@dataclass(frozen=True, slots=True, kw_only=True)
class SrsSettings:
    user_agent: str = "siprec-appliance"
    require_siprec: bool = False
    max_sessions: int = 10_000
    min_se: int = 90
    retry_after: int = 30
    timers: TimerValues = field(default_factory=TimerValues)
    sip_address: str | None = None  # advertised in Contact; default: where the request came in
    media_address: str | None = None  # in the SDP c= line; default: the SIP local address
    rtp_timeout: float = 60.0  # RTP seen within this keeps a session alive past its timer
    ended_history: int = 1000  # ended sessions kept for the API
    reject_unparsable_metadata: bool = False  # 400 instead of recording with a warning
    request_metadata_snapshots: bool = True  # RFC 7866 §9.3 when metadata is inconsistent
