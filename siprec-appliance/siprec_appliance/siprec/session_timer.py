"""Session timers (RFC 4028) as seen by a UAS that records, pure functions."""

from __future__ import annotations

from dataclasses import dataclass

from siprec_appliance.errors import SipProtocolError
from siprec_appliance.sip.headers import is_digits, parse_params
from siprec_appliance.sip.message import Headers

ABSOLUTE_MIN_SE = 90  # RFC 4028 §4: Min-SE never below 90 seconds


@dataclass(frozen=True, slots=True)
class TimerAgreement:
    interval: int
    refresher: str  # "uac" or "uas"
    peer_supports_timer: bool

    def response_headers(self) -> list[tuple[str, str]]:
        """Session-Expires for the 2xx, with Require: timer when the UAC supports it (§9)."""
        headers = [("Session-Expires", f"{self.interval};refresher={self.refresher}")]
        if self.peer_supports_timer:
            headers.append(("Require", "timer"))
        return headers

    def expiry_after(self, last_refresh: float) -> float:
        """When the session expires if no refresh came (RFC 4028 §10)."""
        return last_refresh + self.interval - min(32.0, self.interval / 3)

    def refresh_after(self, last_refresh: float) -> float:
        """When we, as refresher, send our refresh: half the interval (§7.2)."""
        return last_refresh + self.interval / 2


@dataclass(frozen=True, slots=True)
class IntervalTooSmall:
    min_se: int


def _supports_timer(headers: Headers) -> bool:
    options = headers.get_list("Supported") + headers.get_list("Require")
    return any(opt.lower() == "timer" for opt in options)


def negotiate(
    headers: Headers, local_min_se: int, peer_allows_update: bool
) -> TimerAgreement | IntervalTooSmall | None:
    """Decide the session timer for an INVITE or UPDATE (RFC 4028 §9).

    None means no session timer for this session.
    """
    value = headers.get("Session-Expires")
    if value is None:
        return None
    delta, _, paramtext = value.partition(";")
    delta = delta.strip()
    if not is_digits(delta) or len(delta) > 10:  # RFC 3261 §25.1 delta-seconds: 32 bits
        raise SipProtocolError(f"malformed Session-Expires {value[:40]!r}", 400)
    interval = int(delta)
    supported = _supports_timer(headers)
    floor = max(local_min_se, ABSOLUTE_MIN_SE)
    if interval < floor:
        if supported:
            return IntervalTooSmall(floor)
        interval = floor  # the UAC could not understand a 422: raise it instead
    refresher = (parse_params(paramtext).get("refresher") or "").lower()
    if refresher not in ("uac", "uas") or not supported:
        # RFC 4028 §9 (Table 2): a UAC without Supported: timer cannot refresh, so the
        # UAS refreshes, whatever a proxy put into the refresher parameter.
        refresher = "uac" if supported else "uas"
    if refresher == "uas" and not peer_allows_update:
        # We refresh with UPDATE (RFC 3311); a peer that does not take it gets no timer.
        return None
    return TimerAgreement(interval, refresher, supported)
