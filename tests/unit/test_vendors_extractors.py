"""Unit tests per extractor, with hand-built metadata and known vectors.

Vectors and their sources (docs/vendors.md has the links):
- ``00FA08001900014E3E7D5C``: Oracle's "Sample Metadata" apkt:ucid.
- ``00FA080019001038F725B3``: AudioCodes' manual, User-to-User -> ac:AvayaUCID.
- ``0001183F5093914D`` = ``00001062071351848269``: whereismyvoicepacket.com (Verint/Oracle).
- Cisco-Guid ``0802710458-1959465449-2686421522-1015028268`` with Call-ID
  ``3089C795-74CB11E9-961DA422-D6FC9BE1``: a public CUBE SIPREC INVITE.
"""

from __future__ import annotations

import json

import pytest

from siprec_appliance.metadata.model import (
    CommunicationSession,
    Extension,
    Group,
    NameId,
    Participant,
    RecordingMetadata,
    XmlNode,
)
from siprec_appliance.metadata.streams import ParticipantStreams
from siprec_appliance.sip.message import Headers
from siprec_appliance.sip.multipart import BodyPart
from siprec_appliance.vendors import Ucid, UuiError, build_call_facts, decode_ucid, detect_vendor
from siprec_appliance.vendors.cisco import guid_hex, parse_session_id
from siprec_appliance.vendors.detect import score
from siprec_appliance.vendors.generic import flatten_node, namespace_prefix
from siprec_appliance.vendors.ims import parse_charging_vector
from siprec_appliance.vendors.phone import aor_user, normalise_aor, to_e164


def warnings_of(facts: dict[str, object]) -> list[str]:
    warnings = facts["warnings"]
    assert isinstance(warnings, list)
    return [str(w) for w in warnings]


APKT = "http://acmepacket.com/siprec/extensiondata"
CALLDATA = "urn:ietf:params:xml:ns:callData"


def node(name: str, text: str = "", ns: str | None = APKT, **attrs: str) -> XmlNode:
    return XmlNode(namespace=ns, name=name, text=text, attributes=tuple(attrs.items()))


def ext(element: XmlNode, owner: str | None = None) -> Extension:
    return Extension(
        namespace=element.namespace, name=element.name, xml="", owner=owner, node=element
    )


def facts(
    headers: list[tuple[str, str]] | None = None,
    metadata: RecordingMetadata | None = None,
    parts: list[BodyPart] | None = None,
) -> dict[str, object]:
    return build_call_facts(
        headers=Headers(headers or []),
        metadata=metadata,
        sdp=None,
        parts=parts or [],
        transport="udp",
        source_host="198.51.100.7",
        source_port=5062,
    )


def participant(pid: str, aor: str, *extensions: Extension) -> Participant:
    return Participant(id=pid, name_ids=(NameId(aor=aor),), extensions=extensions)


# --- Avaya UCID ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "node_id", "sequence", "iso"),
    [
        ("00FA08001900014E3E7D5C;encoding=hex", 25, 1, "2011-08-07T11:56:12Z"),
        ("04FA08001900014E3E7D5C;encoding=hex", 25, 1, "2011-08-07T11:56:12Z"),
        ("FA080019001038F725B3", 25, 16, "2000-04-14T14:05:39Z"),
        ("00fa080019001038f725b3 ; encoding = hex", 25, 16, "2000-04-14T14:05:39Z"),
        ("00FA08001900014E3E7D5CC802ABCD", 25, 1, "2011-08-07T11:56:12Z"),  # item after FA
    ],
)
def test_decode_ucid_known_bytes(value: str, node_id: int, sequence: int, iso: str) -> None:
    ucid = decode_ucid(value)
    assert ucid is not None
    assert (ucid.node, ucid.sequence, ucid.iso_time) == (node_id, sequence, iso)


def test_ucid_ascii_form_matches_the_published_example() -> None:
    ucid = decode_ucid("00FA080001183F5093914D;encoding=hex")
    assert ucid == Ucid(1, 0x183F, 1351848269)
    assert ucid.ascii == "00001062071351848269"
    assert ucid.hex == "0001183F5093914D"
    assert Ucid.from_ascii("00001062071351848269") == ucid
    assert Ucid.from_ascii("99999062071351848269") is None  # node overflows 16 bits
    assert Ucid.from_ascii("1234") is None


@pytest.mark.parametrize("value", ["", "00C802ABCD", "4142434445;encoding=hex", "x;encoding=ascii"])
def test_uui_without_a_ucid_is_none(value: str) -> None:
    assert decode_ucid(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("00FA08ZZ19001038F725B3;encoding=hex", "not hex"),
        ("00FA0800190010;encoding=hex", "truncated"),
        ("00FA0400190010;encoding=hex", "expected 8"),
        ("00FA0", "not hex"),
        ("00FA", "no length byte"),
    ],
)
def test_malformed_uui_raises_uui_error(value: str, message: str) -> None:
    with pytest.raises(UuiError, match=message):
        decode_ucid(value)


def test_bad_uui_becomes_a_warning_not_an_exception() -> None:
    result = facts([("User-to-User", "00FA08ZZ;encoding=hex")])
    assert "avaya.ucid" not in result
    assert result["avaya.uui"] == "00FA08ZZ;encoding=hex"
    assert any("User-to-User header: cannot decode UCID" in w for w in warnings_of(result))


def test_disagreeing_ucids_keep_the_header_and_warn() -> None:
    session = CommunicationSession(
        id="s1", extensions=(ext(node("ucid", "00FA08001900014E3E7D5C;encoding=hex")),)
    )
    result = facts(
        [("User-to-User", "00FA080019001038F725B3;encoding=hex")],
        RecordingMetadata(sessions=(session,)),
    )
    assert result["avaya.ucid_source"] == "User-to-User header"
    assert result["avaya.ucid_sequence"] == 16
    assert result["oracle.ucid"] == "00FA08001900014E3E7D5C"
    assert any("apkt:ucid carries" in w for w in warnings_of(result))


def test_twenty_digit_ucid_header() -> None:
    result = facts([("X-UCID", "00001062071351848269")])
    assert result["avaya.ucid_hex"] == "0001183F5093914D"
    assert result["ucid"] == "00001062071351848269"


# --- Oracle -----------------------------------------------------------------------


def oracle_metadata(calling: str = "true") -> RecordingMetadata:
    header = XmlNode(
        namespace=APKT,
        name="header",
        attributes=(("label", "X-ISR-UCID"),),
        children=(node("value", "isr-42"),),
    )
    session = CommunicationSession(
        id="s1",
        extensions=(ext(node("ucid", "C0934BE72BF711D6800285D16359919A")),),
    )
    return RecordingMetadata(
        sessions=(session,),
        participants=(
            participant("p2", "sip:4000@pbx.example.com", ext(node("callingParty", "false"), "p2")),
            participant(
                "p1",
                "sip:+14155550100@carrier.example.com",
                ext(node("callingParty", calling), "p1"),
                ext(header, "p1"),
            ),
        ),
    )


def test_oracle_hex_ucid_and_calling_party() -> None:
    result = facts([("X-ISR-UCID", "ISR-123")], oracle_metadata())
    assert result["oracle.ucid"] == "C0934BE72BF711D6800285D16359919A"
    assert "avaya.ucid" not in result  # a GUID-style ucid, not Avaya shared UUI
    assert result["oracle.calling_party"] == "sip:+14155550100@carrier.example.com"
    assert result["oracle.header.x-isr-ucid"] == ["isr-42"]
    assert result["ucid"] == "ISR-123"  # Oracle ISR: the X-ISR-UCID header wins
    assert result["caller.aor"] == "sip:+14155550100@carrier.example.com"
    assert result["callee.aor"] == "sip:4000@pbx.example.com"  # despite document order
    assert result["direction"] == "inbound"
    rows = result["participants"]
    assert isinstance(rows, list)
    assert rows[1]["ext"] == {"apkt.callingParty": "true", "apkt.header.X-ISR-UCID": "isr-42"}


def test_oracle_bad_boolean_is_a_warning() -> None:
    result = facts(metadata=oracle_metadata(calling="maybe"))
    assert any("apkt:callingParty: not a boolean" in w for w in warnings_of(result))


def test_oracle_misspelt_namespace_is_accepted() -> None:
    assert namespace_prefix("http:/acmepacket.com/siprec/extensiondata") == "apkt"
    assert namespace_prefix("HTTP://acmepacket.com/other") == "apkt"
    assert namespace_prefix("urn:example:my-Vendor") == "my-vendor"
    assert namespace_prefix(None) == "none"


# --- Cisco ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "a62dd6d8be0059c38d142bae9b46880b;remote=00000000000000000000000000000000",
            ("a62dd6d8be0059c38d142bae9b46880b", None),
        ),
        (
            "A0B9B2A1E4DB51F082E777C0DF9015E5 ; remote=6BEA155500105000A0002C31246A214B",
            ("a0b9b2a1e4db51f082e777c0df9015e5", "6bea155500105000a0002c31246a214b"),
        ),
        ("a62dd6d8be0059c38d142bae9b46880b", ("a62dd6d8be0059c38d142bae9b46880b", None)),
        ("a84b4c76e66710@pc33.atlanta.example.com", None),
        ("a62dd6d8;remote=6bea1555", None),
    ],
)
def test_parse_session_id(value: str, expected: tuple[str, str | None] | None) -> None:
    assert parse_session_id(value) == expected


def test_cisco_guid_words_become_the_hex_guid() -> None:
    converted = guid_hex("0802710458-1959465449-2686421522-1015028268")
    assert converted == "2fd863ba74cb11e9a01f8a123c801a2c"
    assert converted[8:16] == "74cb11e9"  # the Call-ID's second word: 3089C795-74CB11E9-...
    assert guid_hex("3622027175 - 0860951023 - 2238888512 - 1803467483") is not None
    assert guid_hex("1-2-3") is None
    assert guid_hex("4294967296-0-0-0") is None


def test_cisco_header_facts_and_gtd_part() -> None:
    gtd = BodyPart(
        "application/gtd", {}, Headers(), b"IAM,\r\nGCI,91036128574411e789f9d0ff56c3c658\r\n"
    )
    result = facts(
        [
            (
                "Session-ID",
                "ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2",
            ),
            ("Cisco-Guid", "not-a-guid"),
        ],
        parts=[gtd],
    )
    assert result["cisco.session_id"] == "ab30317f1a784dc48ff824d0d3715d86"
    assert result["cisco.session_id_remote"] == "47755a9de7794ba387653f2099600ef2"
    assert result["cisco.guid"] == "not-a-guid"
    assert "cisco.guid_hex" not in result
    assert result["gtd"] == "IAM,\nGCI,91036128574411e789f9d0ff56c3c658"
    assert result["cisco.gtd_gci"] == "91036128574411e789f9d0ff56c3c658"
    assert any("Cisco-Guid" in w for w in warnings_of(result))


# --- Ribbon, AudioCodes, IMS, generic ------------------------------------------------


def test_ribbon_calldata_sets_roles_whatever_the_document_order() -> None:
    call_data = XmlNode(
        namespace=CALLDATA,
        name="callData",
        children=(
            node("fromhdr", '"Ext 8500" <sip:2249888500@192.0.2.55>;tag=a', CALLDATA),
            node("tohdr", "<sip:2249888012@192.0.2.72>;tag=b", CALLDATA),
            node("callid", "2da553f7@192.0.2.55", CALLDATA),
            node("gcid", "241205267", CALLDATA),
        ),
    )
    metadata = RecordingMetadata(
        groups=(Group(id="g1", extensions=(ext(call_data, "g1"),)),),
        participants=(
            participant("callee", "2249888012@192.0.2.72"),
            participant("caller", "2249888500@192.0.2.55"),
        ),
    )
    result = facts(metadata=metadata)
    assert result["caller.aor"] == "sip:2249888500@192.0.2.55"
    assert result["callee.aor"] == "sip:2249888012@192.0.2.72"
    assert result["ribbon.gcid"] == "241205267"
    assert result["cs_call_id"] == "2da553f7@192.0.2.55"
    assert result["ext.calldata.callData.gcid"] == "241205267"


def test_audiocodes_and_genesys_ids() -> None:
    result = facts(
        [
            ("X-Genesys-CallUUID", "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"),
            ("X-AC-Action", "'pause-siprec;recording-ip-group=SRS'"),
            ("X-AUDC-Call-ID", "call_42"),
        ]
    )
    assert result["genesys.uuid"] == "4BOKLLA3VH66JF112M1CC9VHKS14F0KP"
    assert result["audiocodes.action"] == "pause-siprec"
    assert result["audiocodes.call_id"] == "call_42"
    assert result["headers.x-ac-action"] == "'pause-siprec;recording-ip-group=SRS'"


def test_p_charging_vector() -> None:
    value = 'icid-value="AyretyU0dm+6O2IrT5tAFrbHLso=023551024";orig-ioi=home1.net'
    assert parse_charging_vector(value)["icid-value"] == "AyretyU0dm+6O2IrT5tAFrbHLso=023551024"
    result = facts([("P-Charging-Vector", value)])
    assert result["icid"] == "AyretyU0dm+6O2IrT5tAFrbHLso=023551024"
    assert result["pcv.orig_ioi"] == "home1.net"
    assert facts([("P-Charging-Vector", "orig-ioi=x")])["warnings"] == [
        "P-Charging-Vector without icid-value: 'orig-ioi=x'"
    ]


def test_flatten_node_paths() -> None:
    element = XmlNode(
        namespace="http://schema.example.com/bw",
        name="info",
        children=(node("user", "u1", None), XmlNode(namespace=None, name="empty")),
    )
    assert flatten_node(element) == {"bw.info.user": "u1"}


def test_role_element_and_direction_header() -> None:
    metadata = RecordingMetadata(
        participants=(
            participant("a", "sip:911@psap.example.com"),
            participant(
                "b", "4058327108@198.51.100.136:5060", ext(node("role", "calling", None), "b")
            ),
        )
    )
    result = facts([("x-Call-Direction", "incoming")], metadata)
    assert result["caller.aor"] == "sip:4058327108@198.51.100.136:5060"
    assert result["direction"] == "inbound"
    assert result["direction_rule"] == "X-Call-Direction header"


def test_given_participant_streams_are_used() -> None:
    given = (
        ParticipantStreams(
            participant_id="x", aor="sip:+442079460000@a.example", display_name="X", send=(1,)
        ),
        ParticipantStreams(
            participant_id="y", aor="sip:200@b.example", display_name=None, recv=(1,)
        ),
    )
    result = build_call_facts(
        headers=Headers(),
        metadata=None,
        sdp=None,
        parts=(),
        transport="TLS",
        source_host="2001:db8::1",
        source_port=5061,
        participants=given,
    )
    assert result["participants"] == [
        {
            "id": "x",
            "aor": "sip:+442079460000@a.example",
            "name": "X",
            "e164": "+442079460000",
            "role": "caller",
            "sends": [1],
            "receives": [],
            "ext": {},
        },
        {
            "id": "y",
            "aor": "sip:200@b.example",
            "name": None,
            "e164": None,
            "role": "callee",
            "sends": [],
            "receives": [1],
            "ext": {},
        },
    ]
    assert result["direction"] == "inbound"
    assert (result["transport"], result["source.address"], result["source.port"]) == (
        "tls",
        "2001:db8::1",
        5061,
    )


def test_long_header_values_are_cut_with_a_warning() -> None:
    result = facts([("X-Long", "a" * 5000)])
    assert result["headers.x-long"] == "a" * 2048
    assert result["warnings"] == ["headers.x-long: value from X-Long header cut to 2048 characters"]


# --- E.164 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "country", "expected"),
    [
        ("+12025550100", None, "+12025550100"),
        ("sip:+1-202-555-0100@example.com;user=phone", None, "+12025550100"),
        ("tel:+44 (20) 7946.0000;phone-context=example.com", None, "+442079460000"),
        ("0044 20 7946 0000", None, "+442079460000"),
        ("<sip:+33142685300@carrier.example.fr>", None, "+33142685300"),
        ("2025550100", None, None),  # national: no guessing without a country
        ("2025550100", "1", "+12025550100"),
        ("12025550100", "+1", "+12025550100"),
        ("020 7946 0000", "44", "+442079460000"),
        ("4001", None, None),
        ("4001", "44", None),  # too short to be a number with a country code
        ("+1234567890123456", None, None),  # 16 digits: longer than E.164 allows
        ("+0123456789", None, None),
        ("+12025550100;ext=12", None, "+12025550100"),
        ("sip:alice@example.com", None, None),
        ("Extension-016190619@speechpath.ie", None, None),
        ("+١٢٣٤٥٦٧٨٩", None, None),  # non-ASCII digits
        ("", None, None),
        ("tel:", None, None),
    ],
)
def test_to_e164(user: str, country: str | None, expected: str | None) -> None:
    assert to_e164(user, country) == expected


def test_aor_helpers() -> None:
    assert aor_user("sip:+1202@example.com;user=phone") == "+1202"
    assert aor_user("sip:alice;x=y@example.com") == "alice"
    assert aor_user("sip:example.com") is None
    assert aor_user("tel:+12025550100;ext=1") == "+12025550100"
    assert normalise_aor("2249888500@192.0.2.55") == "sip:2249888500@192.0.2.55"
    assert normalise_aor("+12025550100@192.0.2.55") == "sip:+12025550100@192.0.2.55"
    assert normalise_aor("tel:+12025550100") == "tel:+12025550100"
    assert normalise_aor("  ") == "sip:"


# --- detection --------------------------------------------------------------------


def test_nothing_known_is_unknown() -> None:
    guess = detect_vendor(headers=Headers([("Call-ID", "x")]), metadata=None, sdp=None, parts=[])
    assert (guess.name, guess.confidence, guess.evidence, guess.candidates) == (
        "unknown",
        0.0,
        (),
        (),
    )


def test_conflicting_signals_lower_the_confidence_and_list_candidates() -> None:
    headers = Headers(
        [
            ("User-Agent", "Cisco-SIPGateway/IOS-17.9"),
            ("X-AC-Action", "start-siprec"),
            ("AC-Session-ID", "0011223344556677"),
        ]
    )
    guess = detect_vendor(headers=headers, metadata=None, sdp=None, parts=[])
    scores = dict(guess.candidates)
    assert set(scores) == {"cisco", "audiocodes"}
    assert guess.name == "audiocodes"  # 1-(0.3*0.3) = 0.91 beats 0.9
    assert guess.confidence < scores["audiocodes"]
    assert guess.confidence == round(0.91 * 0.91 / (0.91 + 0.9), 3)
    assert guess.evidence[0].startswith("audiocodes:")


def test_noisy_or_score() -> None:
    assert score([("a", 0.5, ""), ("a", 0.5, ""), ("b", 2.0, "")]) == {"a": 0.75, "b": 1.0}


def test_vendor_guess_is_frozen_and_facts_carry_it() -> None:
    guess = detect_vendor(
        headers=Headers([("User-Agent", "FreeSWITCH-mod_sofia/1.10")]),
        metadata=None,
        sdp=None,
        parts=[],
    )
    with pytest.raises(AttributeError):
        guess.name = "x"  # type: ignore[misc]
    result = facts([("User-Agent", "FreeSWITCH-mod_sofia/1.10")])
    assert result["vendor"] == "freeswitch"
    assert result["vendor_candidates"] == [{"name": "freeswitch", "confidence": 0.9}]
    json.dumps(result)


def test_a_failing_extractor_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    from siprec_appliance.vendors import facts as facts_module

    def broken(*_: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setitem(facts_module.EXTRACTORS, "cisco", broken)
    result = facts([("Cisco-Guid", "1-2-3-4")])
    assert "extractor cisco failed: RuntimeError: kaput" in warnings_of(result)


def test_broadsoft_extensions_get_the_bw_prefix() -> None:
    element = node("callType", "network", "http://schema.broadsoft.com/siprec")
    session = CommunicationSession(id="s", extensions=(ext(element, "s"),))
    assert facts(metadata=RecordingMetadata(sessions=(session,)))["ext.bw.callType"] == "network"
