"""Hostile metadata: every attack is refused with its exact reason, nothing expanded or
fetched; and the fuzz invariant: any bytes parse or raise ``MetadataError``."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siprec_appliance.errors import MetadataError
from siprec_appliance.metadata import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_ELEMENTS,
    RecordingMetadata,
    parse_metadata,
)
from siprec_appliance.metadata import parser as parser_module

DATA = Path(__file__).resolve().parent.parent / "data" / "metadata"
HOSTILE = DATA / "hostile"
DTD_REFUSED = "DTDs and entity declarations are not allowed"
SCALE = int(os.environ.get("SIPREC_FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def refusal(body: bytes) -> str:
    started = time.perf_counter()
    with pytest.raises(MetadataError) as info:
        parse_metadata(body)
    assert time.perf_counter() - started < 0.5, "refusal must not do the work first"
    return info.value.reason


@pytest.mark.parametrize(
    "name",
    ["billion_laughs.xml", "xxe_file.xml", "xxe_http.xml", "xxe_parameter.xml", "external_dtd.xml"],
)
def test_dtds_and_entities_are_refused(name: str) -> None:
    reason = refusal((HOSTILE / name).read_bytes())
    assert reason == DTD_REFUSED
    assert "lol" not in reason and "root:" not in reason


def test_billion_laughs_in_utf16_is_refused_too() -> None:
    text = (
        (HOSTILE / "billion_laughs.xml")
        .read_text()
        .replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    )
    assert refusal(text.encode("utf-16")) == DTD_REFUSED


def test_without_the_prescan_the_parsed_doctype_is_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Defence in depth: if the byte scan missed a DOCTYPE, the parser settings and the
    # docinfo check still refuse it, quickly and without the entities expanded.
    monkeypatch.setattr(parser_module, "_refuse_dtd", lambda body: None)
    for name in ("billion_laughs.xml", "xxe_file.xml", "external_dtd.xml"):
        reason = refusal((HOSTILE / name).read_bytes())
        assert "lol" * 10 not in reason and "root:" not in reason
        assert reason == DTD_REFUSED or reason.startswith("metadata is not well-formed XML: ")


def test_without_the_prescan_local_dtds_are_never_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # lxml 6.1 opens an external DTD when collect_ids=False, load_dtd=False
    # notwithstanding: a file that is not a DTD then fails with "Content error in the
    # external subset". Unread, the document is refused for its DOCTYPE alone.
    monkeypatch.setattr(parser_module, "_refuse_dtd", lambda body: None)
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-MARKER is not a DTD\n")
    evil = tmp_path / "evil.dtd"
    evil.write_text('<!ENTITY leak "SECRET-MARKER">')
    for body in (
        f'<!DOCTYPE recording SYSTEM "{secret.as_uri()}"><recording/>',
        f'<!DOCTYPE recording SYSTEM "{secret}"><recording/>',
        f'<!DOCTYPE recording SYSTEM "{evil.as_uri()}"><recording>&leak;</recording>',
        f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{evil.as_uri()}"> %p;]><recording a="&leak;"/>',
    ):
        assert refusal(body.encode()) == DTD_REFUSED


def test_external_entities_never_touch_the_network() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        for template in ("xxe_http.xml", "xxe_parameter.xml", "external_dtd.xml"):
            body = (
                (HOSTILE / template)
                .read_bytes()
                .replace(b"127.0.0.1:9", f"127.0.0.1:{port}".encode())
            )
            assert refusal(body) == DTD_REFUSED
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()


def test_too_big() -> None:
    body = b"<recording>" + b" " * (2 * 1024 * 1024) + b"</recording>"
    assert refusal(body) == f"metadata is {len(body)} bytes, more than the {MAX_BYTES} allowed"


def test_exactly_at_the_size_limit_is_accepted() -> None:
    body = b"<recording>" + b" " * (MAX_BYTES - 23) + b"</recording>"
    assert len(body) == MAX_BYTES
    assert isinstance(parse_metadata(body), RecordingMetadata)


def test_too_deep() -> None:
    body = b"<recording>" + b"<a>" * 99 + b"</a>" * 99 + b"</recording>"
    assert refusal(body) == f"metadata nests elements deeper than {MAX_DEPTH} levels"


def test_depth_at_the_limit_is_accepted() -> None:
    inner = MAX_DEPTH - 1
    body = b"<recording>" + b"<a>" * inner + b"</a>" * inner + b"</recording>"
    assert parse_metadata(body).extensions[0].name == "a"


def test_too_many_elements() -> None:
    body = b"<recording>" + b"<x/>" * 20_000 + b"</recording>"
    assert refusal(body) == f"metadata has more than {MAX_ELEMENTS} elements"


def test_not_xml() -> None:
    assert refusal((HOSTILE / "not_xml.txt").read_bytes()) == (
        "metadata is not well-formed XML: "
        "Start tag expected, '<' not found, line 1, column 1 (<string>, line 1)"
    )


def test_lxml_reasons_are_one_bounded_line() -> None:
    ebcdic = '<?xml version="1.0" encoding="cp500"?><recording/>'.encode("cp500")
    assert refusal(ebcdic) == (
        "metadata is not well-formed XML: Unsupported encoding: detecting EBCDIC , "
        "line 1, column 1 (<string>, line 1)"
    )
    long_name = b"<recording><" + b"a" * 5000 + b"></recording>"
    reason = refusal(long_name)
    assert "\n" not in reason and len(reason) <= len("metadata is not well-formed XML: ") + 200


def test_truncated_xml() -> None:
    reason = refusal(b'<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>')
    assert reason.startswith("metadata is not well-formed XML: ")


def test_empty() -> None:
    assert refusal(b"") == "metadata is empty"
    assert refusal(b" \r\n") == "metadata is empty"


def test_wrong_root() -> None:
    assert refusal((HOSTILE / "wrong_root.xml").read_bytes()) == (
        "metadata root element is <html>, expected <recording>"
    )


def test_undefined_entity_is_not_well_formed() -> None:
    reason = refusal(b"<recording><datamode>&nope;</datamode></recording>")
    assert reason.startswith("metadata is not well-formed XML: Entity 'nope' not defined")


def test_predefined_entities_and_character_references_still_work() -> None:
    md = parse_metadata(
        b'<recording><participant participant_id="p&amp;1">'
        b'<nameID aor="sip:a@b"><name>A &#x26; B</name></nameID></participant></recording>'
    )
    assert md.participants[0].id == "p&1"
    assert md.participants[0].display_name == "A & B"


def test_xinclude_is_not_processed() -> None:
    md = parse_metadata(
        b'<recording><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        b'href="file:///etc/passwd" parse="text"/></recording>'
    )
    (kept,) = md.extensions
    assert kept.name == "include" and kept.node is not None and kept.node.text == ""


# --- fuzz invariant (shared/STYLE.md) --------------------------------------------------------

GOLDENS = [p.read_bytes() for p in sorted(DATA.glob("*.xml"))]


def parses_or_refuses(body: bytes) -> None:
    try:
        result = parse_metadata(body)
    except MetadataError as exc:
        assert exc.reason
    else:
        assert isinstance(result, RecordingMetadata)


@FUZZ
@given(st.binary(max_size=2048))
def test_any_bytes_parse_or_raise_metadata_error(body: bytes) -> None:
    parses_or_refuses(body)


@FUZZ
@given(
    st.sampled_from(GOLDENS),
    st.integers(min_value=0, max_value=4000),
    st.integers(min_value=0, max_value=4000),
    st.binary(max_size=16),
)
def test_mutated_goldens_parse_or_raise_metadata_error(
    golden: bytes, start: int, length: int, junk: bytes
) -> None:
    parses_or_refuses(golden[:start] + junk + golden[start + length % 64 :])
    parses_or_refuses(golden[:start])


@FUZZ
@given(st.text(alphabet="<>/=\"' abcdefghijklmnopqrstuvwxyz:_-!?&;#x0123456789\n", max_size=300))
def test_xml_like_text_parses_or_raises_metadata_error(text: str) -> None:
    parses_or_refuses(b"<recording>" + text.encode() + b"</recording>")
    parses_or_refuses(text.encode())
