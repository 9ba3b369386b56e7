"""Byte-exact MIME for AS2: split entities and multiparts without touching the bytes.

AS2 signatures and MICs cover MIME entities byte for byte, so these helpers
never re-encode: :func:`split_entity` and :func:`split_multipart` return
slices of what was received, and :func:`entity` writes headers with CRLF.
Header parameters are parsed with the standard library's ``email`` package.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import email.utils
import quopri
import re
import uuid
from typing import Iterable, Mapping

__all__ = [
    "Headers",
    "split_entity",
    "split_multipart",
    "entity",
    "content_type",
    "param",
    "decode_body",
    "new_boundary",
    "canonical_headers",
]


class Headers:
    """An ordered, case-insensitive list of header fields (first value wins on lookup)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        self.items: list[tuple[str, str]] = list(items)

    @classmethod
    def of(cls, mapping: Mapping[str, str] | "Headers" | Iterable[tuple[str, str]]) -> "Headers":
        if isinstance(mapping, Headers):
            return mapping
        if isinstance(mapping, Mapping):
            return cls((str(k), str(v)) for k, v in mapping.items())
        return cls(mapping)

    def get(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        for k, v in self.items:
            if k.lower() == low:
                return v.strip()
        return default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __repr__(self) -> str:
        return f"Headers({self.items!r})"


def _parse_header_block(block: bytes) -> Headers:
    items: list[tuple[str, str]] = []
    for raw in re.split(rb"\r?\n", block):
        if not raw:
            continue
        line = raw.decode("latin-1")
        if line[0] in " \t" and items:
            k, v = items[-1]
            items[-1] = (k, v + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed MIME header line {line[:60]!r}")
        items.append((name.strip(), value.strip()))
    return Headers(items)


BytesLike = bytes | bytearray | memoryview

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def split_entity(data: BytesLike) -> tuple[Headers, memoryview]:
    """Headers and body of a MIME entity (the header block ends at the first empty line, CRLF or LF).

    The body is a view on ``data``, not a copy.
    """
    view = memoryview(data)
    if view[:2] == b"\r\n":
        return Headers(), view[2:]
    if view[:1] == b"\n":
        return Headers(), view[1:]
    m = _BLANK_LINE.search(view)
    if m is None:
        return _parse_header_block(bytes(view)), view[len(view) :]
    return _parse_header_block(bytes(view[: m.start()])), view[m.end() :]


def split_multipart(body: BytesLike, boundary: str) -> list[memoryview]:
    """The raw bytes of each part (headers and body), exactly as received, as views on ``body``.

    The line break before each delimiter belongs to the delimiter (RFC 2046),
    whether it is CRLF or a bare LF.
    """
    view = memoryview(body)
    delim = b"--" + boundary.encode("latin-1")
    positions = [m.start() + (0 if view[m.start() : m.start() + 1] == b"-" else 1)
                 for m in re.finditer(rb"(?:\A|\n)" + re.escape(delim), view)]
    if not positions:
        raise ValueError("multipart boundary not found")
    newline = re.compile(rb"\n")
    parts = []
    for start, end in zip(positions, positions[1:]):
        m = newline.search(view, start)
        if m is None:
            raise ValueError("multipart delimiter line not terminated")
        chunk = view[m.end() : end]
        if chunk[-2:] == b"\r\n":
            chunk = chunk[:-2]
        elif chunk[-1:] == b"\n":
            chunk = chunk[:-1]
        parts.append(chunk)
    if view[positions[-1] + len(delim) : positions[-1] + len(delim) + 2] != b"--":
        raise ValueError("multipart is not terminated (truncated message?)")
    return parts


def entity(headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
    """A MIME entity: header lines with CRLF, an empty line, the body unchanged."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


def canonical_headers(data: BytesLike) -> tuple[bytes, memoryview]:
    """(header block with CRLF line ends and the blank line, body view): the entity's canonical form in two pieces."""
    view = memoryview(data)
    m = _BLANK_LINE.search(view)
    if m is None:
        return b"", view
    return re.sub(rb"\r?\n", b"\r\n", bytes(view[: m.start()])) + b"\r\n\r\n", view[m.end() :]


def _message(name: str, value: str) -> email.message.Message:
    msg = email.message.Message()
    msg[name] = value
    return msg


def content_type(headers: Headers) -> tuple[str, dict[str, str]]:
    """(lower-case type/subtype, parameters with lower-case names); text/plain when absent."""
    value = headers.get("Content-Type")
    if not value:
        return "text/plain", {}
    msg = _message("Content-Type", value)
    params = {k.lower(): v for k, v in (msg.get_params() or [])[1:]}
    return msg.get_content_type(), params


def param(headers: Headers, name: str, key: str) -> str | None:
    """One parameter of a structured header such as Content-Disposition."""
    value = headers.get(name)
    if not value:
        return None
    got = _message(name, value).get_param(key, header=name)
    if isinstance(got, tuple):  # RFC 2231 encoded
        return email.utils.collapse_rfc2231_value(got)
    return got


def decode_body(headers: Headers, body: BytesLike) -> BytesLike:
    """Body decoded by its Content-Transfer-Encoding; binary when the header is missing (Sterling)."""
    cte = (headers.get("Content-Transfer-Encoding") or "binary").lower()
    if cte == "base64":
        try:
            return base64.b64decode(re.sub(rb"\s+", b"", body), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"base64 body is corrupt: {exc}") from exc
    if cte == "quoted-printable":
        return quopri.decodestring(bytes(body))
    return body


def new_boundary() -> str:
    return f"----=_Kontor_{uuid.uuid4().hex}"

