"""Fuzz invariant for the extractors: any header values and any extension content
give JSON-serialisable facts and a vendor guess, never an exception."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siprec_appliance.metadata.model import (
    CommunicationSession,
    Extension,
    Group,
    NameId,
    Participant,
    ParticipantStreamAssoc,
    RecordingMetadata,
    Stream,
    XmlNode,
)
from siprec_appliance.sdp.model import SessionDescription
from siprec_appliance.sip.message import Headers
from siprec_appliance.sip.multipart import BodyPart
from siprec_appliance.vendors import build_call_facts, detect_vendor
from siprec_appliance.vendors.generic import NAMESPACE_PREFIXES


def warnings_of(facts: dict[str, object]) -> list[str]:
    warnings = facts["warnings"]
    assert isinstance(warnings, list)
    return [str(w) for w in warnings]


SCALE = int(os.environ.get("SIPREC_FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=200 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

KNOWN_HEADERS = [
    "User-Agent",
    "Server",
    "User-to-User",
    "Cisco-Guid",
    "Session-ID",
    "P-Charging-Vector",
    "X-Genesys-CallUUID",
    "X-AC-Action",
    "X-ISR-UCID",
    "X-UCID",
    "X-Avaya-UCID",
    "X-Call-Direction",
    "Contact",
    "Call-ID",
    "Content-Type",
    "AC-Session-ID",
]
# Text the SIP parser can hand over: any Unicode, plus undecodable bytes kept as
# surrogate escapes (sip/message.py decodes with surrogateescape).
text = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=60).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.sampled_from(
        [
            "00FA08",
            "04FA080019001038F725B3;encoding=hex",
            "00FA0800;encoding=hex",
            "FA08ZZ",
            "1-2-3-4",
            "99999999999-1-1-1",
            "a62dd6d8be0059c38d142bae9b46880b;remote=zz",
            "icid-value",
            "<sip:x@y;+sip.src>;src",
        ]
    ),
)
header_name = st.one_of(
    st.sampled_from(KNOWN_HEADERS),
    st.from_regex(r"X-[A-Za-z0-9-]{1,12}", fullmatch=True),
)
headers = st.lists(st.tuples(header_name, text), max_size=12)
namespace = st.one_of(st.none(), st.sampled_from(sorted(NAMESPACE_PREFIXES)), st.text(max_size=20))
local_name = st.one_of(
    st.sampled_from(
        [
            "ucid",
            "callingParty",
            "callerOrig",
            "header",
            "value",
            "callData",
            "fromhdr",
            "tohdr",
            "gcid",
            "callid",
            "AvayaUCID",
            "GenesysUUID",
            "role",
            "extensiondata",
        ]
    ),
    st.from_regex(r"[A-Za-z][A-Za-z0-9_.-]{0,10}", fullmatch=True),
)
nodes = st.recursive(
    st.builds(
        XmlNode,
        namespace=namespace,
        name=local_name,
        text=text,
        attributes=st.lists(
            st.tuples(st.sampled_from(["label", "name", "x"]), text), max_size=2
        ).map(tuple),
    ),
    lambda children: st.builds(
        XmlNode,
        namespace=namespace,
        name=local_name,
        text=text,
        children=st.lists(children, max_size=4).map(tuple),
    ),
    max_leaves=12,
)
extensions = st.lists(
    nodes.map(lambda n: Extension(namespace=n.namespace, name=n.name, xml="", node=n)),
    max_size=3,
).map(tuple)


@st.composite
def metadata(draw: st.DrawFn) -> RecordingMetadata | None:
    if draw(st.booleans()):
        return None
    ids = draw(st.lists(text, min_size=1, max_size=4, unique=True))
    return RecordingMetadata(
        data_mode=draw(st.sampled_from(["complete", "partial", "Partial", "odd"])),
        namespace=draw(namespace),
        groups=(Group(id=ids[0], extensions=draw(extensions)),),
        sessions=(
            CommunicationSession(
                id=draw(st.one_of(text, st.just("00FA0800705D4C5DCAAC41"))),
                sip_session_ids=tuple(draw(st.lists(text, max_size=2))),
                extensions=draw(extensions),
            ),
        ),
        participants=tuple(
            Participant(id=pid, name_ids=(NameId(aor=draw(text)),), extensions=draw(extensions))
            for pid in ids
        ),
        streams=(Stream(id="s", label=draw(st.one_of(st.none(), text))),),
        participant_stream_assocs=tuple(
            ParticipantStreamAssoc(participant_id=pid, send=("s",)) for pid in ids[:2]
        ),
        extensions=draw(extensions),
    )


SDP = SessionDescription.parse(
    b"v=0\r\no=FreeSWITCH 1 1 IN IP4 192.0.2.1\r\ns=FreeSWITCH\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 0\r\na=label:s\r\nm=audio 4002 RTP/AVP 0\r\na=label:a_leg\r\n"
)


@FUZZ
@given(
    headers=headers,
    md=metadata(),
    with_sdp=st.booleans(),
    gtd=st.one_of(st.none(), st.binary(max_size=80)),
)
def test_facts_never_raise_and_are_json(
    headers: list[tuple[str, str]], md: RecordingMetadata | None, with_sdp: bool, gtd: bytes | None
) -> None:
    parts = [BodyPart("application/gtd", {}, Headers(), gtd)] if gtd is not None else []
    sdp = SDP if with_sdp else None
    facts = build_call_facts(
        headers=Headers(headers),
        metadata=md,
        sdp=sdp,
        parts=parts,
        transport="udp",
        source_host="192.0.2.9",
        source_port=5060,
    )
    encoded = json.dumps(facts)
    assert json.loads(encoded) == json.loads(json.dumps(json.loads(encoded)))
    assert facts["direction"] in ("inbound", "outbound", "unknown")
    assert not any(w.startswith(("extractor", "vendor detection")) for w in warnings_of(facts))
    guess = detect_vendor(headers=Headers(headers), metadata=md, sdp=sdp, parts=parts)
    assert 0.0 <= guess.confidence <= 1.0
    assert all(0.0 <= c <= 1.0 for _, c in guess.candidates)
    assert (guess.name == "unknown") == (guess.candidates == ())
