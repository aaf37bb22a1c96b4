"""SIP bodies: ``multipart/mixed`` (RFC 2046 §5.1, RFC 5621) and single parts.

SIPREC INVITEs carry SDP and recording metadata as two parts (RFC 7866 §8); real
SBCs put them in any order, add parts (Cisco's ``application/gtd``), use bare LF
and omit the closing delimiter. All of that is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from siprec_appliance.errors import SipProtocolError
from siprec_appliance.sip.headers import parse_params
from siprec_appliance.sip.message import Headers, _header_lines, _parse_header_lines, _split_head

MAX_PARTS = 32


@dataclass(frozen=True, slots=True)
class BodyPart:
    """One body part: its media type (lower case), parameters, headers and bytes."""

    content_type: str
    params: dict[str, str | None]
    headers: Headers
    body: bytes

    @property
    def disposition(self) -> str | None:
        value = self.headers.get("Content-Disposition")
        return value.split(";", 1)[0].strip().lower() if value else None


def parse_content_type(value: str | None) -> tuple[str, dict[str, str | None]]:
    """``type/subtype;params`` into (lower-case type, params)."""
    if not value:
        return "", {}
    mime, _, rest = value.partition(";")
    return mime.strip().lower(), parse_params(rest)


def split_body(headers: Headers, body: bytes) -> list[BodyPart]:
    """The parts of a message body: several for multipart, one otherwise, none if empty."""
    if not body.strip():
        return []
    mime, params = parse_content_type(headers.get("Content-Type"))
    if mime.startswith("multipart/"):
        boundary = params.get("boundary")
        if not boundary:
            raise SipProtocolError("multipart body without a boundary parameter", 400)
        return parse_multipart(body, boundary)
    part_headers = Headers(
        [(n, v) for n, v in headers if n.lower().startswith("content-") and n != "Content-Length"]
    )
    return [BodyPart(mime or "application/sdp", params, part_headers, body)]


def parse_multipart(body: bytes, boundary: str) -> list[BodyPart]:
    """Split a multipart body at ``--boundary`` lines (RFC 2046 §5.1.1)."""
    delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
    chunks = _chunks(body, delimiter)
    if not chunks:
        raise SipProtocolError(f"multipart body has no part delimited by {boundary!r}", 400)
    if len(chunks) > MAX_PARTS:
        raise SipProtocolError(f"multipart body has more than {MAX_PARTS} parts", 400)
    return [_parse_part(chunk) for chunk in chunks]


def _chunks(body: bytes, delimiter: bytes) -> list[bytes]:
    positions: list[int] = []
    start = 0
    while True:
        index = body.find(delimiter, start)
        if index < 0:
            break
        if index == 0 or body[index - 1 : index] == b"\n":
            positions.append(index)
        start = index + len(delimiter)
    chunks: list[bytes] = []
    for n, pos in enumerate(positions):
        after = pos + len(delimiter)
        if body[after : after + 2] == b"--":
            break  # close-delimiter
        line_end = body.find(b"\n", after)
        if line_end < 0:
            break
        end = positions[n + 1] if n + 1 < len(positions) else len(body)
        chunk = body[line_end + 1 : end]
        # The CRLF before the next delimiter belongs to the delimiter (RFC 2046 §5.1.1).
        if n + 1 < len(positions):
            chunk = chunk[:-2] if chunk.endswith(b"\r\n") else chunk.removesuffix(b"\n")
        chunks.append(chunk)
    return chunks


def _parse_part(chunk: bytes) -> BodyPart:
    if chunk.startswith((b"\r\n", b"\n")):
        # A part with no headers: the empty line comes first (type defaults to text/plain).
        content = chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:]
        return BodyPart("text/plain", {}, Headers(), content)
    head, content, had_blank = _split_head(chunk)
    if not had_blank:
        head, content = b"", chunk
    lines = _header_lines(head.decode("utf-8", "surrogateescape")) if head else []
    headers = Headers(_parse_header_lines(lines, []))
    mime, params = parse_content_type(headers.get("Content-Type"))
    return BodyPart(mime or "text/plain", params, headers, content)
