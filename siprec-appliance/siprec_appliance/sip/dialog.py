"""UAS helpers: building responses (RFC 3261 §8.2.6), routing them (§18.2.2), and
the dialog state needed to send in-dialog requests (§12.1.1, §12.2.1.1)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from siprec_appliance.errors import SipProtocolError
from siprec_appliance.sip.headers import NameAddress, SipUri, Via
from siprec_appliance.sip.message import REASON_PHRASES, Headers, Request, Response
from siprec_appliance.sip.transport import Peer, Target


def response_vias(request: Request, peer: Peer) -> list[str]:
    """The request's Via values, the top one stamped with received/rport (§18.2.1, RFC 3581)."""
    values = request.headers.get_list("Via")
    top = Via.parse(values[0])
    changed = False
    if "rport" in top.params and top.params["rport"] is None:
        # RFC 3581 §4: fill in rport, and add received even when it equals sent-by.
        top.params["rport"] = str(peer.port)
        top.params["received"] = peer.host
        changed = True
    elif top.host != peer.host:
        top.params["received"] = peer.host
        changed = True
    if changed:
        values[0] = str(top)
    return values


def response_target(request: Request, peer: Peer) -> Target:
    """Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4)."""
    via = request.top_via
    if peer.reliable:
        # The request's connection; if it closed, a new one to received and the
        # sent-by port (the source port of a TCP connection is an ephemeral one).
        default = 5061 if peer.transport == "TLS" else 5060
        return Target(peer.transport, peer.host, via.port or default, peer.connection_id)
    port = peer.port if "rport" in via.params else (via.port or 5060)
    return Target(peer.transport, peer.host, port, None)


def build_response(
    request: Request,
    peer: Peer,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
    server: str | None = None,
) -> Response:
    headers = Headers()
    for value in response_vias(request, peer):
        headers.add("Via", value)
    headers.add("From", request.headers.get("From") or "")
    to_value = request.headers.get("To") or ""
    if to_tag and status > 100 and _lacks_tag(to_value):
        to_value = f"{to_value};tag={to_tag}"
    headers.add("To", to_value)
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", request.headers.get("CSeq") or "")
    if server:
        headers.add("Server", server)
    for name, value in extra:
        headers.add(name, value)
    if body and content_type:
        headers.add("Content-Type", content_type)
    phrase = reason or REASON_PHRASES.get(status, "Unknown")
    return Response(headers, body, "SIP/2.0", status=status, reason=phrase)


@dataclass(slots=True)
class Dialog:
    """A UAS dialog (RFC 3261 §12.1.1): what we need to send BYE or UPDATE."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str  # the To header value of the INVITE, with our tag
    remote_uri: str  # the From header value of the INVITE
    remote_target: str
    route_set: list[str] = field(default_factory=list)
    remote_cseq: int = 0
    local_cseq: int = 0
    secure: bool = False

    @classmethod
    def from_invite(
        cls, request: Request, local_tag: str, fallback_target: str | None = None
    ) -> Dialog:
        """The dialog an INVITE creates; ``fallback_target`` stands in for a missing or
        unusable Contact (RFC 3261 §8.1.1.8 makes it mandatory, some UACs break it)."""
        to_value = request.headers.get("To") or ""
        if NameAddress.parse(to_value).tag is None:
            to_value = f"{to_value};tag={local_tag}"
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_tag or "",
            local_uri=to_value,
            remote_uri=request.headers.get("From") or "",
            remote_target=_contact_uri(request) or fallback_target or request.uri,
            # §12.1.1: the UAS route set is the Record-Route list, in order.
            route_set=request.headers.get_list("Record-Route"),
            remote_cseq=request.cseq[0],
            secure=request.uri.lower().startswith("sips:"),
        )

    def refresh_target(self, request: Request) -> None:
        """A re-INVITE or UPDATE may change the remote target (§12.2.2, RFC 3311 §5.2)."""
        uri = _contact_uri(request)
        if uri:
            self.remote_target = uri

    def next_target(self, transport: str, connection_id: int | None) -> Target:
        """Where an in-dialog request goes: first loose route, else the remote target."""
        destination = self.remote_target
        if self.route_set:
            destination = NameAddress.parse(self.route_set[0]).uri
        uri = SipUri.parse(destination)
        wanted = (uri.params.get("transport") or transport).upper()
        if wanted not in ("UDP", "TCP", "TLS"):
            wanted = transport
        default_port = 5061 if wanted == "TLS" or uri.scheme == "sips" else 5060
        return Target(wanted, uri.host, uri.port or default_port, connection_id)

    def build_request(
        self, method: str, via: str, *, extra: Iterable[tuple[str, str]] = (), body: bytes = b""
    ) -> Request:
        """A new in-dialog request (§12.2.1.1) with the next local CSeq."""
        self.local_cseq += 1
        headers = Headers()
        headers.add("Via", via)
        headers.add("Max-Forwards", "70")
        for route in self.route_set:
            headers.add("Route", route)
        headers.add("From", self.local_uri)
        headers.add("To", self.remote_uri)
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{self.local_cseq} {method}")
        for name, value in extra:
            headers.add(name, value)
        return Request(headers, body, "SIP/2.0", method=method, uri=self.remote_target)


def _lacks_tag(to_value: str) -> bool:
    """True when a To value parses and has no tag; a 400 for a broken To gets none."""
    try:
        return NameAddress.parse(to_value).tag is None
    except SipProtocolError:
        return False


def _contact_uri(request: Request) -> str | None:
    """The first Contact's URI if it is a SIP URI we can send to (§8.1.1.8, §12.1.1)."""
    contacts = request.headers.get_list("Contact")
    if not contacts:
        return None
    try:
        uri = NameAddress.parse(contacts[0]).uri
        parsed = SipUri.parse(uri)
    except SipProtocolError:
        return None
    if parsed.scheme not in ("sip", "sips") or not parsed.host or " " in uri:
        return None
    return uri
