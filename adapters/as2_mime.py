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


def split_entity(data: bytes) -> tuple[Headers, bytes]:
    """Headers and body of a MIME entity (header block ends at the first empty line, CRLF or LF)."""
    m = re.search(rb"\r?\n\r?\n", data)
    if data.startswith((b"\r\n", b"\n")):
        return Headers(), data[2:] if data.startswith(b"\r\n") else data[1:]
    if m is None:
        return _parse_header_block(data), b""
    return _parse_header_block(data[: m.start()]), data[m.end() :]


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """The raw bytes of each part (headers and body), exactly as received.

    The line break before each delimiter belongs to the delimiter (RFC 2046),
    whether it is CRLF or a bare LF.
    """
    delim = b"--" + boundary.encode("latin-1")
    positions = [m.start() for m in re.finditer(rb"(?:^|(?<=\n))" + re.escape(delim), body)]
    if not positions:
        raise ValueError("multipart boundary not found")
    parts = []
    for start, end in zip(positions, positions[1:]):
        line_end = body.index(b"\n", start) + 1
        chunk = body[line_end:end]
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        parts.append(chunk)
    if not body[positions[-1] + len(delim) :].startswith(b"--"):
        raise ValueError("multipart is not terminated (truncated message?)")
    return parts


def entity(headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
    """A MIME entity: header lines with CRLF, an empty line, the body unchanged."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode("latin-1") + b"\r\n" + body


def canonical_headers(data: bytes) -> bytes:
    """The entity with its header block's line ends made CRLF (the body is left as is)."""
    m = re.search(rb"\r?\n\r?\n", data)
    if m is None:
        return data
    head = re.sub(rb"\r?\n", b"\r\n", data[: m.start()])
    return head + b"\r\n\r\n" + data[m.end() :]


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


def decode_body(headers: Headers, body: bytes) -> bytes:
    """Body decoded by its Content-Transfer-Encoding; binary when the header is missing (Sterling)."""
    cte = (headers.get("Content-Transfer-Encoding") or "binary").lower()
    if cte == "base64":
        try:
            return base64.b64decode(re.sub(rb"\s+", b"", body), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"base64 body is corrupt: {exc}") from exc
    if cte == "quoted-printable":
        return quopri.decodestring(body)
    return body


def new_boundary() -> str:
    return f"----=_Kontor_{uuid.uuid4().hex}"

