"""RFC 7865 metadata parsing: the RFC example, vendor dialects, extensions kept verbatim."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from lxml import etree

from siprec_appliance.errors import MetadataError
from siprec_appliance.metadata import Extension, RecordingMetadata, XmlNode, parse_metadata

DATA = Path(__file__).resolve().parent.parent / "data" / "metadata"
PACKAGE = Path(__file__).resolve().parents[2] / "siprec-appliance" / "siprec_appliance"
RFC = "urn:ietf:params:xml:ns:recording:1"


def load(name: str) -> RecordingMetadata:
    return parse_metadata((DATA / name).read_bytes())


def all_extensions(md: RecordingMetadata) -> list[Extension]:
    found = list(md.extensions)
    for owner in (*md.groups, *md.sessions, *md.participants, *md.streams):
        found.extend(owner.extensions)
    return found


# --- RFC 7865 §8 ---------------------------------------------------------------------


def test_rfc_example_model() -> None:
    md = load("rfc7865_complete.xml")
    assert md.data_mode == "complete" and not md.is_partial
    assert md.namespace == RFC
    assert md.warnings == ()  # the RFC form needs no tolerance
    (group,) = md.groups
    assert group.id == "7+OTCyoxTmqmqyA/1weDAg=="
    assert group.associate_time == "2010-12-16T23:41:07Z"
    (session,) = md.sessions
    assert session.id == "hVpd7YQgRW2nD22h7q60JQ=="
    # The RFC wraps the Session-ID over two lines: whitespace is not part of it.
    assert session.sip_session_ids == (
        "ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2",
    )
    assert session.group_ref == group.id
    alice, bob = md.participants
    assert (alice.aor, alice.display_name) == ("sip:alice@atlanta.com", "Alice")
    assert alice.name_ids[0].names == (("it", "Alice"),)
    assert (bob.aor, bob.display_name) == ("sip:bob@biloxy.com", "Bob")
    assert [s.label for s in md.streams] == ["96", "97", "98", "99"]
    assert {s.session_id for s in md.streams} == {session.id}
    assert [a.session_id for a in md.session_recording_assocs] == [session.id]
    assert [a.participant_id for a in md.participant_session_assocs] == [alice.id, bob.id]
    first, second = md.participant_stream_assocs
    assert first.participant_id == alice.id
    assert first.send == ("i1Pz3to5hGk8fuXl+PbwCw==", "UAAMm5GRQKSCMVvLyl4rFw==")
    assert first.recv == ("8zc6e0lYTlWIINA6GR+3ag==", "EiXGlc+4TruqqoDaNE76ag==")
    assert second.send == first.recv


def test_rfc_example_foreign_elements_are_owner_extensions() -> None:
    md = load("rfc7865_complete.xml")
    (group,) = md.groups
    assert [(e.namespace, e.name, e.owner) for e in group.extensions] == [
        ("urn:ietf:params:xml:ns:callcenter", "call-center", group.id),
        ("http://example.com/my", "mydata", group.id),
    ]
    node = group.extensions[0].node
    assert node is not None
    supervisor = node.find("supervisor")
    assert supervisor is not None and supervisor.text == "sip:alice@atlanta.com"
    assert supervisor.namespace == "urn:ietf:params:xml:ns:callcenter"
    assert [e.name for e in md.participants[1].extensions] == ["mydata"]
    assert md.extensions == ()


def test_partial_hold_update() -> None:
    md = load("rfc7865_partial_hold.xml")
    assert md.is_partial
    alice, bob = md.participant_stream_assocs
    assert (alice.send, len(alice.recv)) == ((), 2)
    assert (len(bob.send), bob.recv) == (2, ())


# --- vendor dialects --------------------------------------------------------------------


def test_oracle_pre_rfc() -> None:
    md = load("oracle_prerfc.xml")
    assert md.namespace == "urn:ietf:params:xml:ns:recording"
    assert "pre-RFC namespace urn:ietf:params:xml:ns:recording" in md.warnings
    assert "attribute id= on <participant> read as participant_id=" in md.warnings
    (session,) = md.sessions
    assert session.id == "BYiC7uSZQGN3VQdzWI1HWw=="
    assert session.start_time == "2012-06-26T13:44:13"  # its associate-time
    caller, callee = md.participants
    # send inside <participant> becomes a participantstreamassoc
    assert [(a.participant_id, a.send) for a in md.participant_stream_assocs] == [
        (caller.id, ("aD50KX+LTvxNzASg+/GQTg==",)),
        (callee.id, ("2/lzjQpgSvaapH4xZOTfNw==",)),
    ]
    # participant session="…" and associate-time become a participantsessionassoc
    assert [
        (a.participant_id, a.session_id, a.associate_time) for a in md.participant_session_assocs
    ] == [
        (caller.id, session.id, "2012-06-26T13:44:13"),
        (callee.id, session.id, "2012-06-26T13:44:13"),
    ]
    assert [s.session_id for s in md.streams] == [session.id, session.id]
    apkt = "http://acmepacket.com/siprec/extensiondata"
    assert [(e.namespace, e.name, e.owner) for e in caller.extensions] == [
        (apkt, "callingParty", caller.id),
        (apkt, "request-uri", caller.id),
        (apkt, "in-realm", caller.id),
        (apkt, "header", caller.id),
    ]
    header = caller.extensions[3].node
    assert header is not None and header.attr("label") == "P-Asserted-Identity"
    assert [v.text for v in header.children] == ["sip:mike@acme.com", "sip:bob@cisco.com"]
    # top-level <extensiondata parent="…"> lands on its owner
    assert [(e.name, e.node.text if e.node else None) for e in session.extensions] == [
        ("ucid", "00FA080018803B69810C")
    ]
    assert [e.name for e in md.streams[0].extensions] == ["mode", "associate-time"]


def test_ribbon_tns_prefix_and_call_data() -> None:
    md = load("ribbon_tns.xml")
    assert md.namespace == "urn:ietf:params:xml:ns:recording"
    (group,) = md.groups
    (call_data,) = group.extensions
    assert (call_data.namespace, call_data.name, call_data.owner) == (
        "urn:ietf:params:xml:ns:callData",
        "callData",
        group.id,
    )
    assert call_data.node is not None
    from_header = call_data.node.find("fromhdr")
    assert from_header is not None
    assert from_header.text == '"Ext 8500" <sip:2249888500@172.16.198.55>;tag=gK0a1b2c3d'
    assert md.sessions[0].group_ref == group.id
    assert [p.aor for p in md.participants] == [
        "2249888500@172.16.198.55",
        "2249888012@172.16.195.72",
    ]
    assert [(a.send, a.recv) for a in md.participant_stream_assocs] == [
        (("0e5c0b1300000004",), ("0e5c0b1300000005",)),
        (("0e5c0b1300000005",), ("0e5c0b1300000004",)),
    ]


def test_broadworks_recording_metadata_root() -> None:
    md = load("broadworks_recording_metadata.xml")
    assert md.namespace == "urn:ietf:params:xml:ns:siprec"
    assert "root element <recording_metadata> read as <recording>" in md.warnings
    assert "element <dataMode> read as <datamode>" in md.warnings
    assert [p.display_name for p in md.participants] == ["Sales Desk 100", "Customer"]
    assert md.participants[0].name_ids[0].names == (("en", "Sales Desk 100"),)
    assert [(a.send, a.recv) for a in md.participant_stream_assocs] == [
        (("c3RyZWFtMQ==",), ("c3RyZWFtMg==",)),
        (("c3RyZWFtMg==",), ("c3RyZWFtMQ==",)),
    ]
    session = md.sessions[0]
    assert [e.name for e in session.extensions] == ["callType", "userId"]
    assert session.extensions[0].namespace == "http://schema.broadsoft.com/siprec"


def test_avaya_camel_case() -> None:
    md = load("avaya_sbce.xml")
    assert md.data_mode == "complete"  # "COMPLETE", case-insensitive
    assert md.sessions[0].start_time == "2024-03-02T09:00:01Z"
    assert [p.aor for p in md.participants] == [
        "sip:4001@avaya.example.com",
        "sip:+14085550123@carrier.example.net",
    ]
    (assoc,) = md.participant_stream_assocs
    assert assoc.send == ("YXZheWFTdHJlYW0x",)
    for note in (
        "element <dataMode> read as <datamode>",
        "element <nameId> read as <nameID>",
        "element <participantStreamAssoc> read as <participantstreamassoc>",
    ):
        assert note in md.warnings


def test_audiocodes_extensiondata() -> None:
    md = load("audiocodes.xml")
    ucid, uuid = md.sessions[0].extensions
    assert (ucid.namespace, ucid.name, ucid.owner) == (
        "urn:ietf:params:xml:ns:Avaya",
        "AvayaUCID",
        md.sessions[0].id,
    )
    assert ucid.node is not None and ucid.node.text == "FA080018803B69810C"
    assert uuid.name == "GenesysUUID" and uuid.node is not None
    assert "".join(uuid.node.text.split()) == "0A1B2C3D4E5F60718293A4B5"
    assert 'xmlns:ac="urn:ietf:params:xml:ns:Avaya"' in ucid.xml


def test_opensips_base64_ids_and_label_order() -> None:
    md = load("opensips.xml")
    assert md.warnings == ()
    assert [s.label for s in md.streams] == ["1", "0"]
    assert md.sessions[0].group_ref == md.groups[0].id
    assert md.participants[0].id == "Q2F0aGVyaW5lQGV4YW1wbGUuY29t"


def test_no_namespace_and_attribute_forms() -> None:
    md = load("no_namespace.xml")
    assert md.namespace is None and md.is_partial
    assert "metadata has no namespace" in md.warnings
    assert md.sessions[0].start_time == "2024-01-01T00:00:00Z"
    (assoc,) = md.participant_stream_assocs
    assert assoc.send == ("czE=", "czI=")  # space-separated in one <send>
    assert assoc.associate_time == "2024-01-01T00:00:00Z"
    assert "associate-time given as an attribute" in md.warnings


@pytest.mark.parametrize(
    ("body", "mode", "note"),
    [
        (
            b'<recording dataMode="Partial"/>',
            "partial",
            "datamode given as an attribute of the root",
        ),
        (b"<recording><datamode> Partial </datamode></recording>", "partial", None),
        (
            b"<recording><datamode>sometimes</datamode></recording>",
            "complete",
            "unknown datamode 'sometimes' read as complete",
        ),
        (b"<recording/>", "complete", "no <datamode>; read as complete"),
    ],
)
def test_datamode_forms(body: bytes, mode: str, note: str | None) -> None:
    md = parse_metadata(body)
    assert md.data_mode == mode
    if note:
        assert note in md.warnings


def test_elements_in_any_order_and_unknown_top_level_kept() -> None:
    md = parse_metadata(
        b'<recording xmlns="urn:ietf:params:xml:ns:recording:1">'
        b'<participantstreamassoc participant_id="p"><send>s</send></participantstreamassoc>'
        b'<stream stream_id="s" session_id="c"><label>7</label></stream>'
        b'<participant participant_id="p"/><session session_id="c"/>'
        b"<datamode>complete</datamode><requestsnapshot/>"
        b'<x:vendor xmlns:x="urn:example:v" a="1">hi</x:vendor></recording>'
    )
    assert [s.id for s in md.sessions] == ["c"]
    assert [(e.name, e.owner) for e in md.extensions] == [
        ("requestsnapshot", None),
        ("vendor", None),
    ]
    assert "unknown element <requestsnapshot> kept as an extension" in md.warnings
    vendor = md.extensions[1].node
    assert vendor == XmlNode(
        namespace="urn:example:v", name="vendor", attributes=(("a", "1"),), text="hi"
    )


def test_elements_without_ids_are_skipped_with_a_warning() -> None:
    md = parse_metadata(b"<recording><participant/><stream><label>1</label></stream></recording>")
    assert md.participants == () and md.streams == ()
    assert "<participant> without participant_id ignored" in md.warnings


def test_content_types() -> None:
    body = b"<recording/>"
    assert (
        "pre-RFC content type application/rs-metadata"
        in parse_metadata(body, content_type="application/rs-metadata").warnings
    )
    assert parse_metadata(body, content_type="Application/RS-Metadata+XML; charset=utf-8")
    with pytest.raises(MetadataError) as info:
        parse_metadata(body, content_type="application/sdp")
    assert info.value.reason == "content type application/sdp is not recording metadata"


# --- extensions round-trip ---------------------------------------------------------------


def same(a: etree._Element, b: etree._Element) -> bool:
    return (
        a.tag == b.tag
        and dict(a.attrib) == dict(b.attrib)
        and (a.text or "").strip() == (b.text or "").strip()
        and len(a) == len(b)
        and all(same(x, y) for x, y in zip(a, b, strict=True))
    )


def as_element(node: XmlNode) -> etree._Element:
    tag = f"{{{node.namespace}}}{node.name}" if node.namespace else node.name
    element = etree.Element(tag, dict(node.attributes))
    element.text = node.text
    element.extend(as_element(child) for child in node.children)
    return element


@pytest.mark.parametrize(
    "name", ["rfc7865_complete.xml", "oracle_prerfc.xml", "ribbon_tns.xml", "audiocodes.xml"]
)
def test_extension_xml_reparses_to_the_same_element(name: str) -> None:
    raw = (DATA / name).read_bytes()
    originals = [
        e
        for e in etree.fromstring(raw).iter()
        if isinstance(e.tag, str)
        and etree.QName(e).namespace not in (None, RFC, "urn:ietf:params:xml:ns:recording")
    ]
    extensions = all_extensions(parse_metadata(raw))
    assert extensions
    for extension in extensions:
        again = etree.fromstring(extension.xml.encode())
        assert extension.node is not None
        assert same(again, as_element(extension.node))
        if extension.namespace not in (None, RFC, "urn:ietf:params:xml:ns:recording"):
            assert any(same(again, original) for original in originals), extension.xml


# --- layering --------------------------------------------------------------------------------


def test_metadata_package_is_pure() -> None:
    forbidden = {"asyncio", "socket", "ssl", "sanic", "os", "pathlib", "time", "uvloop", "io"}
    for path in sorted((PACKAGE / "metadata").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {
            a.name.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for a in n.names
        }
        names |= {
            n.module.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module
        }
        assert not names & forbidden, f"{path.name} imports {sorted(names & forbidden)}"


def test_only_the_metadata_package_imports_lxml() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "metadata":
            continue
        assert "lxml" not in path.read_text(), f"{path.relative_to(PACKAGE)} uses lxml"
