"""EDIFACT syntax: a streaming reader and a writer on pydifact's Segment model.

Reading
-------
:func:`read` streams a source (bytes, a path, or a binary file object) in
chunks of :data:`CHUNK_SIZE` bytes and yields, in order::

    InterchangeHeader  (UNB, with the separators in force)
      GroupHeader      (UNG)            -- only when groups are used
        Message        (UNH .. UNT, yielded as soon as its UNT is read)
      GroupTrailer     (UNE)
    InterchangeTrailer (UNZ, or a synthesised one when UNZ is missing)

and again for every further interchange in the file. Only the message being
read is held in memory. :func:`parse` collects one interchange,
:func:`parse_all` every interchange of a file.

Problems are collected, never raised: message-level ones (UNT count and
reference, invalid characters, malformed tags, a missing UNT) in
``Message.issues``; group-level ones (UNE count and reference, missing UNE)
in ``GroupTrailer.issues``; interchange-level ones (UNB content, syntax
identifier, UNZ count and reference, missing UNZ, mixed groups and messages,
segments outside any message) in ``InterchangeTrailer.issues``. Each cause
gives one issue: a missing UNT is reported once, not as a wrong count plus
a stray segment for everything after it; a run of segments outside any
message (e.g. after a lost UNH) is one issue and its closing UNT still counts
as a message for UNZ. Only bytes that are no interchange at all (nothing
starting with UNA or UNB after an optional UTF-8 BOM and whitespace, or an
unusable UNA) and a segment longer than :data:`MAX_SEGMENT_BYTES` (no
terminator where one must be: reading stops there, with the byte offset)
raise :class:`~edi.errors.EdiSyntaxError`; nothing but
:class:`~edi.errors.EdiError` ever escapes.

Positions: ``Issue.segment`` counts from UNB = 1 in each interchange (UNA is
not counted), ``Issue.message_segment`` from UNH = 1, ``element`` is the
1-based position of the data element after the tag and ``component`` the
1-based position inside a composite.

Syntax details honoured:

* UNA with any six service characters (ASCII), decimal comma included. A
  space as release character (UNA4) or repetition separator (UNA5) means
  "not used". Without UNA the defaults ``:+.? '`` apply, plus ``*`` as
  repetition separator in syntax version 4 (ISO 9735-1:2002, clause 7.1).
  The ISO 9735 level B information-separator defaults (IS4/IS3/IS1) are not
  recognised: such interchanges must carry a UNA.
* Whitespace (CR, LF, tab, space) between segments is skipped; inside a
  segment it is data, so a line break inside one is an invalid character.
* A UTF-8 byte order mark before the first interchange is skipped.
* Decoding follows UNB 0001 (see :mod:`edi.charsets`). Characters outside
  the declared repertoire give code 21 at their element and component
  (a warning with leniency ``charset``). UNOA/UNOB text with 8-bit bytes is
  decoded as UTF-8 when it is valid UTF-8, else as ISO 8859-1, so the text
  stays readable while the issue is reported. With leniency
  ``utf8-as-unoc`` a UNOC interchange is decoded as UTF-8 where that is
  valid and as ISO 8859-1 elsewhere. UNOX (ISO 2022) and unknown
  identifiers are refused with code 2 and read as ISO 8859-1 unchecked.

Repeated data elements (syntax version 4)
-----------------------------------------
pydifact's model has no place for repetitions, so a data element that
occurs more than once is a :class:`Repetition`: a ``tuple`` subclass whose
items are the occurrences, each a ``str`` or a ``list[str]`` (composite)
exactly as an unrepeated element would be. Being a tuple, it can never be
mistaken for a composite (``list``) or a simple value (``str``). A single
occurrence stays a plain element, so files without repetitions look exactly
as under syntax version 3; trailing empty occurrences are dropped like
trailing empty elements. Use :func:`occurrences` to read any element as a
list of occurrences. The writer accepts :class:`Repetition` values and
writes them with the repetition separator (syntax version 4 only).

Writing
-------
:func:`write_interchange` (alias :func:`write`) builds UNB [UNG] UNH..UNT
[UNE] UNZ around :class:`~edi.envelope.OutMessage` bodies, computes the
counts, escapes every service character with the release character, writes
UNA only when the separators differ from the defaults (or when asked), and
encodes in the declared charset. A character the charset cannot carry
raises :class:`~edi.errors.EdiError` naming segment and element.
:func:`format_segment` and :func:`segments_to_text` render segments as text
(e.g. one segment a line in the ops console).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import IO, Union, cast

from pydifact.segments import Segment

from edi.charsets import CHARSETS, UTF8_INVALID, Charset, charset_for
from edi.envelope import (
    DEFAULT_SEPARATORS,
    Number,
    GroupHeader,
    GroupTrailer,
    Interchange,
    InterchangeHeader,
    InterchangeTrailer,
    Message,
    OutMessage,
    Separators,
)
from edi.errors import EdiError, EdiSyntaxError, Issue, Severity, SyntaxCode
from edi.options import STRICT, Strictness

__all__ = [
    "CHUNK_SIZE",
    "Event",
    "MAX_SEGMENT_BYTES",
    "Repetition",
    "Source",
    "escape",
    "format_segment",
    "make_segment",
    "occurrences",
    "parse",
    "parse_all",
    "read",
    "segments_to_text",
    "write",
    "write_interchange",
]

#: Bytes read from the source at a time.
CHUNK_SIZE = 64 * 1024

#: The longest segment the reader accepts, in bytes. A longer run without a
#: segment terminator means the terminator is missing or the UNA declares
#: another one than the data uses: the reader stops there with
#: :class:`~edi.errors.EdiSyntaxError` naming the byte offset, instead of
#: buffering the rest of the file. (ISO 9735 segments are far shorter: at most
#: 99 data elements of a few hundred characters each.)
MAX_SEGMENT_BYTES = 1024 * 1024

#: What :func:`read` yields.
Event = Union[InterchangeHeader, GroupHeader, Message, GroupTrailer, InterchangeTrailer]

#: What :func:`read` accepts: bytes, a path (``str`` is always a path, never EDI text) or a binary file.
Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes]]

Occurrence = Union[str, list[str]]


class Repetition(tuple[Occurrence, ...]):
    """The occurrences of a repeated data element (syntax version 4), each a str or a composite list."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Repetition({list(self)!r})"


def occurrences(segment: Segment, index: int) -> list[Occurrence]:
    """Element ``index`` (1-based) as a list of occurrences: [] when absent, one item when not repeated."""
    elements = segment.elements
    if not 0 < index <= len(elements):
        return []
    value = cast(object, elements[index - 1])
    if isinstance(value, Repetition):
        return list(value)
    return [cast(Occurrence, value)]


def make_segment(tag: str, *elements: object) -> Segment:
    """A pydifact Segment built without pydifact's constructor checks (and its warnings).

    Elements are ``str``, ``list[str]`` or :class:`Repetition`.
    """
    segment = _new_segment(Segment)
    segment.tag = tag
    segment.elements = list(elements)  # type: ignore[arg-type]
    return segment


_new_segment = object.__new__
_WS = " \t\r\n\x0b\x0c"
_WSB = b" \t\r\n\x0b\x0c"
_BOM = b"\xef\xbb\xbf"
_LINE_STARTS = (b"\n", b"\r")
_SERVICE_TAGS = frozenset({"UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"})
_TAG_RE = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
_V4_DEFAULTS = Separators(repetition="*")
# Stands in for a released release character while the others are dropped.
# Decoding never yields U+D800: strict codecs refuse surrogates and
# surrogateescape only produces U+DC80..U+DCFF.
_PLACEHOLDER = "\ud800"
# Stand in for released separators while a segment is split (see _Reader._split_released);
# like _PLACEHOLDER, in no decoded text.
_RELEASED_ELEMENT = "\ud801"
_RELEASED_COMPONENT = "\ud802"
_RELEASED_REPETITION = "\ud803"


# --------------------------------------------------------------------------- sources


class _MemoryStream:
    """Chunks of an in-memory buffer without copying the whole of it."""

    def __init__(self, data: bytes | bytearray | memoryview):
        self._view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
        self._pos = 0

    def read(self, size: int) -> bytes:
        chunk = self._view[self._pos : self._pos + size].tobytes()
        self._pos += len(chunk)
        return chunk


def _open(source: Source) -> tuple[object, bool]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _MemoryStream(source), False
    if isinstance(source, (str, os.PathLike)):
        try:
            return open(source, "rb"), True
        except OSError as exc:
            raise EdiError(f"cannot open {os.fspath(source)!s}: {exc.strerror or exc}") from exc
    if hasattr(source, "read"):
        return source, False
    raise EdiError(f"cannot read EDIFACT from a {type(source).__name__}")


# --------------------------------------------------------------------------- reader


def read(source: Source, *, strictness: Strictness = STRICT) -> Iterator[Event]:
    """Stream the interchanges of ``source``; see the module docstring for what is yielded.

    Raises :class:`EdiSyntaxError` (with an Issue) when the bytes do not start
    an interchange or a segment runs past :data:`MAX_SEGMENT_BYTES` without a
    terminator, :class:`EdiError` when the source cannot be read.
    """
    stream, close = _open(source)
    try:
        yield from _Reader(stream, strictness).events()
    finally:
        if close:
            cast(IO[bytes], stream).close()


def parse_all(source: Source, *, strictness: Strictness = STRICT) -> list[Interchange]:
    """Every interchange of ``source``, collected in memory."""
    result: list[Interchange] = []
    current: Interchange | None = None
    for event in read(source, strictness=strictness):
        if isinstance(event, InterchangeHeader):
            current = Interchange(header=event)
            result.append(current)
        elif current is None:  # pragma: no cover - the reader always starts with a header
            continue
        elif isinstance(event, Message):
            current.messages.append(event)
        elif isinstance(event, GroupHeader):
            current.groups.append(event)
        elif isinstance(event, GroupTrailer):
            current.issues.extend(event.issues)
        else:
            current.trailer = event
            current.issues.extend(event.issues)
    return result


def parse(source: Source, *, strictness: Strictness = STRICT) -> Interchange:
    """The interchange in ``source``, collected in memory.

    ``Interchange.issues`` holds the interchange- and group-level issues
    (those of the trailers); ``all_issues()`` adds the messages' ones. A file
    that holds more than one interchange gives the first one, with an error
    issue saying so; use :func:`parse_all` for such files.
    """
    current: Interchange | None = None
    for event in read(source, strictness=strictness):
        if isinstance(event, InterchangeHeader):
            if current is not None:
                current.issues.append(
                    Issue(
                        "the file holds more than one interchange; only the first was read"
                        " (read it with parse_all)",
                        SyntaxCode.UNSPECIFIED,
                        segment=1,
                        tag="UNB",
                    )
                )
                break
            current = Interchange(header=event)
        elif current is None:  # pragma: no cover
            continue
        elif isinstance(event, Message):
            current.messages.append(event)
        elif isinstance(event, GroupHeader):
            current.groups.append(event)
        elif isinstance(event, GroupTrailer):
            current.issues.extend(event.issues)
        else:
            current.trailer = event
            current.issues.extend(event.issues)
    assert current is not None  # the reader raises before yielding nothing
    return current


def _component(segment: Segment, index: int, sub: int = 1) -> str:
    """Component text ('' when absent), first occurrence of a repetition."""
    elements = segment.elements
    if not 0 < index <= len(elements):
        return ""
    value = cast(object, elements[index - 1])
    if isinstance(value, Repetition):
        value = value[0] if value else ""
    if isinstance(value, list):
        return value[sub - 1] if 0 < sub <= len(value) else ""
    return cast(str, value) if sub == 1 else ""


class _Restart(Exception):
    """Internal: the rest of the buffer must be split again with new separators."""


class _Reader:
    """The state of one streaming read. Not thread-safe; one per :func:`read` call."""

    def __init__(self, stream: object, strictness: Strictness):
        self.stream = stream
        self.strictness = strictness
        self.data = b""  # always the unconsumed tail of what was read
        self.consumed = 0  # bytes read from the stream so far
        self.eof = False
        self.first = True
        self.lenient = {name: strictness.allows(name) for name in ("charset", "control-counts", "control-references", "missing-unz", "utf8-as-unoc")}
        # separators for splitting (str, single characters; release/repetition may be None)
        self.una: Separators | None = None
        self.expect_unb = True
        self._reset_interchange()
        self._set_split_separators(DEFAULT_SEPARATORS, repetition=None)
        self.pending: InterchangeTrailer | None = None
        self.junk_reported = False

    # ----------------------------------------------------------------- io

    def _read(self) -> bytes:
        try:
            chunk = self.stream.read(CHUNK_SIZE)  # type: ignore[attr-defined]
        except OSError as exc:
            raise EdiError(f"cannot read the interchange: {exc}") from exc
        if isinstance(chunk, str):
            raise EdiError("the source is a text stream; open it in binary mode")
        if not chunk:
            return b""
        self.consumed += len(chunk)
        return bytes(chunk)

    def _fill(self, at_least: int) -> None:
        while len(self.data) < at_least and not self.eof:
            chunk = self._read()
            if chunk:
                self.data += chunk
            else:
                self.eof = True

    # ----------------------------------------------------------------- state

    def _reset_interchange(self) -> None:
        self.open = False
        self.header: InterchangeHeader | None = None
        self.pos = 0
        self.msg: Message | None = None
        self.msg_issues_flag = False
        self.group: GroupHeader | None = None
        self.group_msgs = 0
        self.group_count = 0
        self.bare_count = 0
        self.grouped_count = 0
        self.mixed_reported = False
        self.stray = False
        self.ic_issues: list[Issue] = []
        # (group reference, UNH 0062, S009) -> position of the first UNH carrying them
        self.references: dict[tuple[str | None, str, tuple[str, ...]], int] = {}
        self.charset: Charset | None = None
        self.codec = "latin-1"
        self.fallback = "latin-1"
        self.invalid: re.Pattern[str] | None = None
        self.bad_bytes: re.Pattern[bytes] | None = None

    def _set_split_separators(self, seps: Separators, repetition: str | None) -> None:
        self.csep = seps.component
        self.esep = seps.element
        self.term = seps.terminator
        self.rel: str | None = None if seps.release == " " else seps.release
        self.rep: str | None = repetition
        self.tb = self.term.encode("latin-1")
        self.rb: bytes | None = self.rel.encode("latin-1") if self.rel else None
        self.released, self.swap_back = _stand_ins(self.rel, self.esep, self.csep, repetition)
        service = (self.esep + self.csep + (self.rel or "") + (repetition or "") + self.term).encode("latin-1")
        self.service_bytes = service
        self._arm_checks()

    def _arm_checks(self) -> None:
        cs = self.charset
        if cs is None or not cs.supported:
            self.bad_bytes = None
            self.invalid = None
            return
        if cs.syntax_id == "UNOC" and self.lenient["utf8-as-unoc"]:
            self.invalid = UTF8_INVALID
            self.bad_bytes = CHARSETS["UNOW"].bad_bytes(self.service_bytes)
        else:
            self.invalid = cs.invalid
            self.bad_bytes = cs.bad_bytes(self.service_bytes)

    def _severity(self, leniency: str | None) -> str:
        return Severity.WARNING if leniency and self.lenient.get(leniency) else Severity.ERROR

    def _msg_issue(self, msg: Message, text: str, code: str, pos: int, tag: str | None, element: int | None = None, component: int | None = None, leniency: str | None = None) -> None:
        msg.issues.append(
            Issue(
                text,
                code,
                segment=pos,
                tag=tag,
                element=element,
                component=component,
                message_segment=pos - msg.first_position + 1,
                message_ref=msg.reference or None,
                severity=self._severity(leniency),
            )
        )

    def _ic_issue(self, text: str, code: str, pos: int | None, tag: str | None, element: int | None = None, component: int | None = None, leniency: str | None = None) -> None:
        self.ic_issues.append(Issue(text, code, segment=pos, tag=tag, element=element, component=component, severity=self._severity(leniency)))

    # ----------------------------------------------------------------- driver

    def events(self) -> Iterator[Event]:
        while True:
            if not self._begin():
                break
            try:
                yield from self._body()
                break
            except _Restart:
                continue
        yield from self._finish()

    def _not_interchange(self, text: str) -> None:
        """The bytes at an interchange start are not one: fatal for the first, an issue after that."""
        if self.first:
            raise EdiSyntaxError(text, [Issue(text, SyntaxCode.MISSING, segment=1, tag="UNB")])
        if self.pending is not None and not self.junk_reported:
            self.pending.issues.append(Issue(f"after the interchange: {text}", SyntaxCode.INVALID_OCCURRENCE_OUTSIDE_MESSAGE, tag=None))
        self.junk_reported = True

    def _begin(self) -> bool:
        """Position at an interchange start (UNA/UNB); read UNA. False when there is nothing (more) to read."""
        self._fill(12)
        if self.first and self.data.startswith(_BOM):
            self.data = self.data[3:]
        while True:
            stripped = self.data.lstrip(_WSB)
            if stripped or self.eof:
                self.data = stripped
                break
            self.data = b""
            self._fill(12)
        self._fill(12)
        data = self.data
        if not data:
            if self.first:
                self._not_interchange("no interchange: the data is empty")
            return False
        if data.startswith(b"UNA"):
            if len(data) < 9:
                self._not_interchange("the UNA segment is cut short")
                return False
            chars = data[3:9].decode("latin-1")
            problem = _una_problem(chars)
            if problem:
                if self.first:
                    raise EdiSyntaxError(f"unusable UNA: {problem}", [Issue(f"unusable UNA: {problem}", SyntaxCode.INVALID_SERVICE_CHARACTER, tag="UNA")])
                self._not_interchange(f"unusable UNA: {problem}")
                return False
            self.una = Separators(*chars)
            self.data = data[9:]
            self._set_split_separators(self.una, repetition=None)
        elif data.startswith(b"UNB"):
            self.una = None
            self._set_split_separators(DEFAULT_SEPARATORS, repetition=None)
        else:
            shown = data[:20].decode("latin-1")
            self._not_interchange(f"not an EDIFACT interchange: it starts with {shown!r}, not UNA or UNB")
            return False
        self.expect_unb = True
        return True

    # ----------------------------------------------------------------- body

    def _body(self) -> Iterator[Event]:
        """Split, decode and dispatch segments until the end of the source."""
        limit = MAX_SEGMENT_BYTES
        split = False  # whether self.data is the rest of a split (holds no whole segment)
        while True:
            if not self.eof:
                chunk = self._read()
                if chunk:
                    self.data += chunk
                    if split and self.tb not in chunk:
                        # no segment ends in this chunk: nothing new to split, so do not re-scan the buffer
                        if len(self.data) > limit:
                            self._too_long(self.data)
                        continue
                else:
                    self.eof = True
            data = self.data
            if data[:1] in _LINE_STARTS:
                # the buffer always starts between segments: drop the line
                # break so the counts below see only breaks after terminators
                data = data.lstrip(_WSB)
            tb = self.tb
            # When every terminator in the buffer is followed by the same line
            # break, split at both at once and spare a strip a segment.
            n_term = data.count(tb)
            n_lf = data.count(b"\n")
            n_cr = data.count(b"\r")
            t_lf = data.count(tb + b"\n") if n_lf else 0
            t_crlf = data.count(tb + b"\r\n") if n_cr else 0
            t_cr = data.count(tb + b"\r") if n_cr else 0
            sep = tb
            if n_term and t_lf == n_term:
                sep = tb + b"\n"
            elif n_term and t_crlf == n_term:
                sep = tb + b"\r\n"
            parts = data.split(sep)
            rest = parts.pop()
            rb = self.rb
            if rb is not None and rb in data:
                parts, rest = _merge_released(data, parts, rest, sep, rb)
            last: bytes | None = None
            if self.eof:
                if rest.strip(_WSB):
                    last = rest
                rest = b""
            if parts or last is not None:
                suspicious = False
                bad = self.bad_bytes
                if bad is not None:
                    end = len(data) - len(rest)
                    # a CR or LF that does not follow a terminator is inside a segment
                    suspicious = bad.search(data, 0, end) is not None or n_lf != t_lf + t_crlf or n_cr != t_cr
                if parts:
                    yield from self._segments(data, parts, suspicious, len(sep), 0)
                if last is not None:
                    base = len(data) - len(last)
                    yield from self._segments(data, [last], suspicious, len(sep), base, unterminated=True)
            self.data = rest
            split = True
            if self.eof:
                return
            if len(rest) > limit:
                self._too_long(rest)

    def _too_long(self, rest: bytes) -> None:
        """Stop: ``rest`` (the unconsumed tail of the data) has run past :data:`MAX_SEGMENT_BYTES` without a terminator."""
        start = len(rest) - len(rest.lstrip(_WSB))
        offset = self.consumed - len(rest) + start
        head = rest[start : start + 3].decode("latin-1")
        tag = head if _TAG_RE.match(head) else None
        text = (
            f"no segment terminator {self.term!r} within {MAX_SEGMENT_BYTES} bytes from byte offset {offset}:"
            " the terminator is missing, or the UNA declares another one than the data uses; reading stopped there"
        )
        raise EdiSyntaxError(text, [Issue(text, SyntaxCode.MISSING, segment=self.pos + 1, tag=tag)])

    def _segments(
        self, data: bytes, parts: list[bytes], suspicious: bool, seplen: int, base: int, unterminated: bool = False
    ) -> Iterator[Event]:
        codec = self.codec
        invalid = self.invalid
        esep, csep, rep, rel = self.esep, self.csep, self.rep, self.rel
        ends_composite = csep + esep
        append = self.msg.segments.append if self.msg is not None else None
        known = _KNOWN_TAGS
        service = _SERVICE_TAGS
        new = _new_segment
        ws = _WS
        tag = ""
        for i, raw in enumerate(parts):
            check = suspicious
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                text = self._decode_fallback(raw)
                check = True
            if not text or text[0] in ws:
                text = text.lstrip(ws)
                if not text:
                    if self.open:
                        self._empty_segment()
                    continue
            # ---- split into tag and elements
            dangling = False
            if rel is None or rel not in text:
                fields = text.split(esep)
                tag = fields[0]
                del fields[0]
                if rep is not None and rep in text:
                    elements: list[object] = [_repetition(f.split(rep), csep) if rep in f else _element(f, csep) for f in fields]
                elif csep in text:
                    elements = [f.split(csep) if csep in f else f for f in fields]
                    # composites need trimming only where a component separator ends an element
                    if ends_composite in text or text[-1] == csep:
                        elements = [_occurrence(e) if e.__class__ is list else e for e in elements]  # type: ignore[arg-type]
                else:
                    elements = fields  # type: ignore[assignment]
                last = text[-1]
                if (last == esep or last == csep) and elements:
                    while elements and not elements[-1]:
                        elements.pop()
            else:
                tag, elements, dangling = self._split_released(text)
                if dangling:
                    check = True
            if tag not in known and tag[:3] in ("UNA", "UNB"):
                if tag[:3] == "UNA":
                    self._una_inline(data, parts, i, raw, base, seplen)
                    continue
                if tag != "UNB" and not self.open and not self._default_split():
                    # a UNB written with the default separators after an interchange that used others
                    self.una = None
                    self.data = data[base + sum(len(p) + seplen for p in parts[:i]) :]
                    raise _Restart
            if tag in service:
                if tag == "UNB" and self._unb_needs_restart():
                    self.data = data[base + sum(len(p) + seplen for p in parts[:i]) :]
                    raise _Restart
                self.pos += 1
                seg = new(Segment)
                seg.tag = tag
                seg.elements = elements  # type: ignore[assignment]  # may hold Repetition (module docstring)
                if check and tag != "UNB" and (invalid is None or invalid.search(text) is None):
                    check = False  # as for a message segment below (UNB is checked in any case)
                yield from self._service(tag, seg, check, dangling)
                # separators, charset or the open message may have changed
                codec = self.codec
                invalid = self.invalid
                esep, csep, rep, rel = self.esep, self.csep, self.rep, self.rel
                ends_composite = csep + esep
                append = self.msg.segments.append if self.msg is not None else None
                if tag == "UNB":
                    suspicious = self.bad_bytes is not None  # check the rest of this chunk segment by segment
                continue
            self.pos += 1
            seg = new(Segment)
            seg.tag = tag
            seg.elements = elements  # type: ignore[assignment]  # may hold Repetition (module docstring)
            if append is not None:
                append(seg)
                if check or tag not in known:
                    if check and (invalid is None or invalid.search(text) is None):
                        # every character of every value is in the text: nothing for _check_chars to find
                        check = False
                        if not dangling and tag in known:
                            continue
                    self._segment_checks(seg, check, dangling)
            else:
                self._stray(seg)
        if unterminated:
            text = "the last segment has no segment terminator (truncated file?)"
            if self.msg is not None:
                self._msg_issue(self.msg, text, SyntaxCode.MISSING, self.pos, tag[:3] or None)
            else:
                self._ic_issue(text, SyntaxCode.MISSING, self.pos, tag[:3] or None)

    def _segment_checks(self, seg: Segment, check: bool, dangling: bool) -> None:
        """Tag, repertoire and release checks of a message segment (off the fast path)."""
        msg = self.msg
        assert msg is not None
        tag = seg.tag
        if tag not in _KNOWN_TAGS:
            if _TAG_RE.match(tag):
                _KNOWN_TAGS.add(tag)
            else:
                self._msg_issue(
                    msg,
                    f"invalid segment tag {tag[:20]!r}: a tag is three upper-case letters or digits",
                    SyntaxCode.INVALID_VALUE,
                    self.pos,
                    None,
                )
        if check and self.invalid is not None:
            self._check_chars(msg, seg)
        if dangling:
            self._msg_issue(
                msg,
                "release character at the end of the segment releases nothing",
                SyntaxCode.INVALID_SERVICE_CHARACTER,
                self.pos,
                tag,
            )

    def _decode_fallback(self, raw: bytes) -> str:
        if self.fallback == "utf-8-then-latin-1":
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw.decode("latin-1")
        if self.fallback == "latin-1":
            return raw.decode("latin-1")
        return raw.decode(self.fallback, "surrogateescape")

    def _split_released(self, text: str) -> tuple[str, list[object], bool]:
        """Tag and elements of a segment that contains the release character.

        A release character releases the character after it (a run of them
        releases every second one, and the character after an odd run). The
        released release characters and separators are first swapped for
        stand-ins no decoded text holds and the other release characters
        dropped (what they release stays, a dangling one goes); the text is
        then split as one without release characters, and the stand-ins are
        turned back in the elements that hold one.
        """
        rel: str = self.rel  # type: ignore[assignment]  # called only when there is one
        esep, csep, rep = self.esep, self.csep, self.rep
        dangling = text.endswith(rel) and (len(text) - len(text.rstrip(rel))) % 2 == 1
        used: list[str] = []
        for released, stand_in in self.released:  # the released release character first: left to right, in pairs
            if released in text:
                text = text.replace(released, stand_in)
                used.append(stand_in)
        if rel in text:
            text = text.replace(rel, "")
        fields = text.split(esep)
        tag = fields[0]
        del fields[0]
        # ---- as _segments splits a segment without release characters
        if rep is not None and rep in text:
            elements: list[object] = [_repetition(f.split(rep), csep) if rep in f else _element(f, csep) for f in fields]
        elif csep in text:
            elements = [f.split(csep) if csep in f else f for f in fields]
            if csep + esep in text or text[-1] == csep:
                elements = [_occurrence(e) if e.__class__ is list else e for e in elements]  # type: ignore[arg-type]
        else:
            elements = fields  # type: ignore[assignment]
        # unlike _segments, always: an element of empty repetitions ("+*") at the end goes too,
        # as it always did in a segment with release characters
        while elements and not elements[-1]:
            elements.pop()
        if used:
            back = self.swap_back
            pairs = [(stand_in, back[stand_in]) for stand_in in used]
            for stand_in in used:
                if stand_in in tag:
                    tag = _swap_back(tag, pairs)  # type: ignore[assignment]
                    break
            # fields[k] became elements[k]; one that holds a stand-in is not empty, so trimming kept it
            if len(used) == 1:
                only = used[0]
                for k, field in enumerate(fields):
                    if only in field:
                        elements[k] = _swap_back(elements[k], pairs)
            else:
                for k, field in enumerate(fields):
                    for stand_in in used:
                        if stand_in in field:
                            elements[k] = _swap_back(elements[k], pairs)
                            break
        return tag, elements, dangling

    def _check_chars(self, msg: Message | None, seg: Segment) -> None:
        """Code 21 for each element holding a character outside the repertoire (first component found)."""
        invalid = self.invalid
        if invalid is None:
            return
        found = invalid.search(seg.tag)
        if found:
            self._char_issue(msg, seg, found.group(), None, None)
        for e, value in enumerate(cast(list[object], seg.elements), start=1):
            occs = list(value) if isinstance(value, Repetition) else [value]
            done = False
            for occ in occs:
                comps = occ if isinstance(occ, list) else [occ]
                for c, comp in enumerate(comps, start=1):
                    found = invalid.search(comp)
                    if found:
                        self._char_issue(msg, seg, found.group(), e, c if isinstance(occ, list) else None)
                        done = True
                        break
                if done:
                    break

    def _char_issue(self, msg: Message | None, seg: Segment, char: str, element: int | None, component: int | None) -> None:
        cs = self.charset
        label = cs.syntax_id if cs else "?"
        if "\udc80" <= char <= "\udcff":
            shown = f"byte 0x{ord(char) - 0xDC00:02X}"
            text = f"{shown} is not a character of {label}"
        else:
            shown = f"{char!r} (U+{ord(char):04X})"
            text = f"character {shown} is outside the {label} repertoire"
        if msg is not None:
            self._msg_issue(msg, text, SyntaxCode.INVALID_CHARACTER, self.pos, seg.tag, element, component, leniency="charset")
        else:
            self._ic_issue(text, SyntaxCode.INVALID_CHARACTER, self.pos, seg.tag, element, component, leniency="charset")

    def _empty_segment(self) -> None:
        where = self.pos + 1
        if self.msg is not None:
            self._msg_issue(self.msg, "empty segment (two terminators in a row); not counted", SyntaxCode.MISSING, where, None)
        else:
            self._ic_issue("empty segment (two terminators in a row); not counted", SyntaxCode.MISSING, where, None)

    def _stray(self, seg: Segment) -> None:
        if not self.open:
            self._after_interchange()
            return
        if not self.stray:
            self.stray = True
            self._ic_issue(
                f"segment {seg.tag[:20]} is outside any message (UNH missing?); it and the segments up to the next UNH are not read",
                SyntaxCode.INVALID_OCCURRENCE_OUTSIDE_MESSAGE,
                self.pos,
                seg.tag[:3] or None,
            )

    def _after_interchange(self) -> None:
        """A segment after UNZ that starts no new interchange."""
        if self.first:
            text = "the interchange does not start with a UNB segment"
            raise EdiSyntaxError(text, [Issue(text, SyntaxCode.MISSING, segment=1, tag="UNB")])
        if not self.junk_reported:
            target = self.pending
            text = "data after the end of the interchange (UNZ) that starts no new interchange; ignored"
            if target is not None:
                target.issues.append(Issue(text, SyntaxCode.INVALID_OCCURRENCE_OUTSIDE_MESSAGE))
            self.junk_reported = True

    def _una_inline(self, data: bytes, parts: list[bytes], i: int, raw: bytes, base: int, seplen: int) -> None:
        """UNA met while splitting: go on when it keeps the splitting characters, else re-split from it."""
        una = raw.lstrip(_WSB)
        if len(una) == 8:
            chars = (una[3:8] + self.tb).decode("latin-1")
            if _una_problem(chars) is None:
                new = Separators(*chars)
                if (new.component, new.element, new.terminator) == (self.csep, self.esep, self.term) and (
                    None if new.release == " " else new.release
                ) == self.rel:
                    self.una = new
                    self.expect_unb = True
                    return
        self.data = data[base + sum(len(p) + seplen for p in parts[:i]) :]
        raise _Restart

    def _unb_needs_restart(self) -> bool:
        """A UNB met inline without a UNA before it uses the default separators: re-split if ours differ."""
        if self.expect_unb:
            return False
        self.una = None
        return not self._default_split()

    def _default_split(self) -> bool:
        d = DEFAULT_SEPARATORS
        return (self.csep, self.esep, self.term, self.rel) == (d.component, d.element, d.terminator, d.release)

    # ----------------------------------------------------------------- envelope

    def _service(self, tag: str, seg: Segment, check: bool, dangling: bool) -> Iterator[Event]:
        if tag == "UNB":
            yield from self._close_interchange(at=self.pos)
            if self.pending is not None:
                yield self.pending
                self.pending = None
            self._reset_interchange()
            self.pos = 1
            yield self._on_unb(seg)
            self._check_chars(None, seg)
        elif not self.open:
            self._after_interchange()
            return
        elif tag == "UNH":
            yield from self._close_message()
            self._on_unh(seg)
            if check:
                self._check_chars(self.msg, seg)
        elif tag == "UNT":
            msg = self.msg
            if msg is None:
                if self.stray:
                    self._count_message()  # the message whose UNH was lost
                    self.stray = False
                else:
                    self._ic_issue("UNT without a UNH before it", SyntaxCode.INVALID_OCCURRENCE_OUTSIDE_MESSAGE, self.pos, "UNT")
                return
            msg.segments.append(seg)
            if check:
                self._check_chars(msg, seg)
            self._on_unt(msg, seg)
            self.msg = None
            yield msg
        elif tag == "UNG":
            yield from self._close_message()
            yield from self._close_group()
            yield self._on_ung(seg)
            if check:
                self._check_chars(None, seg)
        elif tag == "UNE":
            yield from self._close_message()
            if self.group is None:
                self._ic_issue("UNE without a UNG before it", SyntaxCode.INVALID_OCCURRENCE_OUTSIDE_MESSAGE, self.pos, "UNE")
            else:
                yield self._on_une(seg)
            if check:
                self._check_chars(None, seg)
        elif tag == "UNZ":
            yield from self._close_message()
            yield from self._close_group()
            if check:
                self._check_chars(None, seg)
            self._on_unz(seg)
        if dangling:
            self._ic_issue("release character at the end of the segment releases nothing", SyntaxCode.INVALID_SERVICE_CHARACTER, self.pos, tag)

    def _count_message(self) -> None:
        if self.group is not None:
            self.group_msgs += 1
            self.grouped_count += 1
        else:
            self.bare_count += 1

    def _on_unb(self, seg: Segment) -> InterchangeHeader:
        self.open = True
        self.expect_unb = False
        self.first = False
        self.junk_reported = False
        c = _component
        syntax_id, version = c(seg, 1, 1), c(seg, 1, 2)
        sender, recipient = c(seg, 2, 1), c(seg, 3, 1)
        date, time, control_ref = c(seg, 4, 1), c(seg, 4, 2), c(seg, 5, 1)
        pos = 1
        if not (syntax_id and version and sender and recipient and date and time and control_ref):  # else nothing is missing
            for e, comp, name in _missing(seg, _UNB_REQUIRED):
                self._ic_issue(f"UNB has no {name}", SyntaxCode.MISSING, pos, "UNB", e, comp)
        charset = charset_for(syntax_id)
        if syntax_id and (charset is None or not charset.supported):
            what = f"{syntax_id} ({charset.description})" if charset else repr(syntax_id[:20])
            self._ic_issue(f"syntax identifier {what} is not supported; the interchange is read as ISO 8859-1 without character checks", SyntaxCode.UNSUPPORTED_SYNTAX, pos, "UNB", 1, 1)
        if version and version not in ("1", "2", "3", "4"):
            self._ic_issue(f"syntax version {version[:20]!r} is not supported (1 to 4)", SyntaxCode.UNSUPPORTED_SYNTAX, pos, "UNB", 1, 2)
        self.charset = charset
        if charset is None or not charset.supported:
            self.codec, self.fallback = "latin-1", "latin-1"
        elif charset.seven_bit:
            self.codec, self.fallback = "ascii", "utf-8-then-latin-1"
        elif syntax_id == "UNOC" and self.lenient["utf8-as-unoc"]:
            self.codec, self.fallback = "utf-8", "latin-1"
        else:
            self.codec, self.fallback = charset.codec, charset.codec
        # separators in force for this interchange
        una = self.una
        if version == "4":
            if una is None:
                seps = _V4_DEFAULTS
                rep: str | None = "*"
            else:
                seps = una
                rep = None if una.repetition == " " else una.repetition
        else:
            seps = una if una is not None else DEFAULT_SEPARATORS
            seps = Separators(seps.component, seps.element, seps.decimal, seps.release, " ", seps.terminator)
            rep = None
        self._set_split_separators(seps, rep)
        self._arm_checks()
        prepared = self._prepared(date, time)
        header = InterchangeHeader(
            syntax_id=syntax_id,
            syntax_version=version,
            sender=sender,
            sender_qualifier=c(seg, 2, 2) or None,
            recipient=recipient,
            recipient_qualifier=c(seg, 3, 2) or None,
            prepared=prepared,
            control_ref=control_ref,
            application_ref=c(seg, 7, 1) or None,
            ack_requested=c(seg, 9, 1) == "1",
            agreement_id=c(seg, 10, 1) or None,
            test=c(seg, 11, 1) == "1",
            separators=seps,
            segment=seg,
            position=1,
        )
        self.header = header
        return header

    def _prepared(self, date: str, time: str) -> _dt.datetime | None:
        if not date:
            return None
        try:
            # what strptime("%Y%m%d") and ("%y%m%d", years 69-99 in the 1900s) make of
            # so many digits, without it (ten times slower): month and day two digits each
            if len(date) == 8 and _digits(date):
                day = _dt.datetime(int(date[:4]), int(date[4:6]), int(date[6:]))
            elif len(date) == 6 and _digits(date):
                year = int(date[:2])
                day = _dt.datetime(year + (2000 if year <= 68 else 1900), int(date[2:4]), int(date[4:]))
            else:
                raise ValueError(date)
            if time:
                if len(time) != 4 or not _digits(time):
                    raise ValueError(time)
                day = day.replace(hour=int(time[:2]), minute=int(time[2:]))
            return day
        except ValueError:
            self._ic_issue(f"UNB date/time {date[:20]!r}:{time[:20]!r} is not a valid YYMMDD or CCYYMMDD date and HHMM time", SyntaxCode.INVALID_VALUE, 1, "UNB", 4, 1)
            return None

    def _on_unh(self, seg: Segment) -> None:
        c = _component
        self.stray = False
        ref = c(seg, 1, 1)
        msg = Message(
            reference=ref,
            type=c(seg, 2, 1),
            version=c(seg, 2, 2),
            release=c(seg, 2, 3),
            agency=c(seg, 2, 4),
            association=c(seg, 2, 5) or None,
            segments=[seg],
            first_position=self.pos,
            group_ref=self.group.control_ref if self.group is not None else None,
        )
        self.msg = msg
        if not (ref and msg.type and msg.version and msg.release and msg.agency):  # else nothing is missing
            for e, comp, name in _missing(seg, _UNH_REQUIRED):
                self._msg_issue(msg, f"UNH has no {name}", SyntaxCode.MISSING, self.pos, "UNH", e, comp)
        if ref:
            # 0062 with S009 identifies a message within its group, or its interchange when there are
            # no groups (ISO 9735 UNH note 2), which is how a CONTRL's UCM names it: a second message
            # with both the same cannot be acknowledged on its own
            label = (msg.type, msg.version, msg.release, msg.agency, msg.association or "")
            first = self.references.setdefault((msg.group_ref, ref, label), self.pos)
            if first != self.pos:
                where = "a functional group" if msg.group_ref is not None else "an interchange"
                self._msg_issue(msg, f"message reference {_quote(ref)} of {':'.join(v for v in label if v)} is already used"
                                f" by the message at segment {first}; each message of {where} needs its own",
                                SyntaxCode.DUPLICATE, self.pos, "UNH", 1)
        if self.group is not None:
            self.group_msgs += 1
            self.grouped_count += 1
        else:
            self.bare_count += 1
            if self.group_count and not self.mixed_reported:
                self.mixed_reported = True
                self._ic_issue("message outside a functional group in an interchange that uses groups", SyntaxCode.GROUPS_AND_MESSAGES_MIXED, self.pos, "UNH")

    def _on_unt(self, msg: Message, seg: Segment) -> None:
        c = _component
        count, ref = c(seg, 1, 1), c(seg, 2, 1)
        n = len(msg.segments)
        if not count:
            self._msg_issue(msg, "UNT has no number of segments (0074)", SyntaxCode.MISSING, self.pos, "UNT", 1)
        elif not _digits(count):
            self._msg_issue(msg, f"UNT number of segments {count[:20]!r} is not a number", SyntaxCode.INVALID_VALUE, self.pos, "UNT", 1)
        elif int(count) != n:
            self._msg_issue(msg, f"UNT says {int(count)} segments but message {_quote(msg.reference)} has {n} (UNH to UNT)", SyntaxCode.CONTROL_COUNT_MISMATCH, self.pos, "UNT", 1, leniency="control-counts")
        if not ref:
            self._msg_issue(msg, "UNT has no message reference number (0062)", SyntaxCode.MISSING, self.pos, "UNT", 2)
        elif ref != msg.reference:
            self._msg_issue(msg, f"UNT reference {_quote(ref)} differs from UNH reference {_quote(msg.reference)}", SyntaxCode.REFERENCES_DO_NOT_MATCH, self.pos, "UNT", 2, leniency="control-references")

    def _close_message(self, at: int | None = None) -> Iterator[Event]:
        msg = self.msg
        at = self.pos if at is None else at
        if msg is not None:
            self._msg_issue(msg, f"message {_quote(msg.reference)} has no UNT: it ends before segment {at}", SyntaxCode.MISSING, at, "UNT")
            self.msg = None
            yield msg
        self.stray = False

    def _on_ung(self, seg: Segment) -> GroupHeader:
        c = _component
        self.stray = False
        if self.bare_count and not self.mixed_reported:
            self.mixed_reported = True
            self._ic_issue("functional group in an interchange that has messages outside groups", SyntaxCode.GROUPS_AND_MESSAGES_MIXED, self.pos, "UNG")
        group = GroupHeader(message_group=c(seg, 1, 1), sender=c(seg, 2, 1), recipient=c(seg, 3, 1), control_ref=c(seg, 5, 1), segment=seg, position=self.pos)
        if not group.control_ref:
            self._ic_issue("UNG has no group reference number (0048)", SyntaxCode.MISSING, self.pos, "UNG", 5)
        self.group = group
        self.group_msgs = 0
        self.group_count += 1
        return group

    def _on_une(self, seg: Segment) -> GroupTrailer:
        c = _component
        group = self.group
        assert group is not None
        count, ref = c(seg, 1, 1), c(seg, 2, 1)
        trailer = GroupTrailer(message_count=int(count) if _digits(count) else None, control_ref=ref or None, position=self.pos)
        sev_c, sev_r = self._severity("control-counts"), self._severity("control-references")
        if not count:
            trailer.issues.append(Issue("UNE has no number of messages (0060)", SyntaxCode.MISSING, segment=self.pos, tag="UNE", element=1))
        elif not _digits(count):
            trailer.issues.append(Issue(f"UNE number of messages {count[:20]!r} is not a number", SyntaxCode.INVALID_VALUE, segment=self.pos, tag="UNE", element=1))
        elif int(count) != self.group_msgs:
            trailer.issues.append(Issue(f"UNE says {int(count)} messages but group {_quote(group.control_ref)} has {self.group_msgs}", SyntaxCode.CONTROL_COUNT_MISMATCH, segment=self.pos, tag="UNE", element=1, severity=sev_c))
        if not ref:
            trailer.issues.append(Issue("UNE has no group reference number (0048)", SyntaxCode.MISSING, segment=self.pos, tag="UNE", element=2))
        elif ref != group.control_ref:
            trailer.issues.append(Issue(f"UNE reference {_quote(ref)} differs from UNG reference {_quote(group.control_ref)}", SyntaxCode.REFERENCES_DO_NOT_MATCH, segment=self.pos, tag="UNE", element=2, severity=sev_r))
        self.group = None
        return trailer

    def _close_group(self, at: int | None = None) -> Iterator[Event]:
        group = self.group
        at = self.pos if at is None else at
        if group is not None:
            trailer = GroupTrailer(message_count=None, control_ref=None, position=at)
            trailer.issues.append(Issue(f"group {_quote(group.control_ref)} has no UNE: it ends before segment {at}", SyntaxCode.MISSING, segment=at, tag="UNE"))
            self.group = None
            yield trailer

    def _expected_count(self) -> tuple[int, str]:
        if self.group_count:
            return self.group_count, "groups"
        return self.bare_count, "messages"

    def _on_unz(self, seg: Segment) -> None:
        c = _component
        header = self.header
        assert header is not None
        count, ref = c(seg, 1, 1), c(seg, 2, 1)
        expected, what = self._expected_count()
        if not count:
            self._ic_issue("UNZ has no interchange control count (0036)", SyntaxCode.MISSING, self.pos, "UNZ", 1)
        elif not _digits(count):
            self._ic_issue(f"UNZ control count {count[:20]!r} is not a number", SyntaxCode.INVALID_VALUE, self.pos, "UNZ", 1)
        elif int(count) != expected and not (self.group_count and self.bare_count):
            self._ic_issue(f"UNZ says {int(count)} {what} but the interchange has {expected}", SyntaxCode.CONTROL_COUNT_MISMATCH, self.pos, "UNZ", 1, leniency="control-counts")
        if not ref:
            self._ic_issue("UNZ has no interchange control reference (0020)", SyntaxCode.MISSING, self.pos, "UNZ", 2)
        elif ref != header.control_ref:
            self._ic_issue(f"UNZ reference {_quote(ref)} differs from UNB reference {_quote(header.control_ref)}", SyntaxCode.REFERENCES_DO_NOT_MATCH, self.pos, "UNZ", 2, leniency="control-references")
        self.pending = InterchangeTrailer(count=int(count) if _digits(count) else None, control_ref=ref or None, position=self.pos, issues=self.ic_issues)
        self.open = False
        self.expect_unb = False

    def _close_interchange(self, at: int) -> Iterator[Event]:
        """Close an interchange that has no UNZ (next UNB or end of data); ``at`` is where UNZ was due."""
        if not self.open:
            return
        yield from self._close_message(at)
        yield from self._close_group(at)
        ref = self.header.control_ref if self.header else ""
        self._ic_issue(f"interchange {_quote(ref)} has no UNZ", SyntaxCode.MISSING, at, "UNZ", leniency="missing-unz")
        self.pending = InterchangeTrailer(count=None, control_ref=None, position=None, issues=self.ic_issues)
        self.open = False

    def _finish(self) -> Iterator[Event]:
        if self.open:
            yield from self._close_interchange(at=self.pos + 1)
        if self.pending is not None:
            yield self.pending
            self.pending = None
        if self.first:
            raise EdiSyntaxError("no interchange: no UNB segment found", [Issue("no UNB segment found", SyntaxCode.MISSING, segment=1, tag="UNB")])


_KNOWN_TAGS: set[str] = set()


# Mandatory data elements of the headers: (element, composite name, [(component, name)]).
_Required = tuple[tuple[int, str, tuple[tuple[int | None, str], ...]], ...]
_UNB_REQUIRED: _Required = (
    (1, "syntax identifier (S001)", ((1, "syntax identifier (0001)"), (2, "syntax version number (0002)"))),
    (2, "interchange sender (S002)", ((1, "interchange sender identification (0004)"),)),
    (3, "interchange recipient (S003)", ((1, "interchange recipient identification (0010)"),)),
    (4, "date and time of preparation (S004)", ((1, "date of preparation (0017)"), (2, "time of preparation (0019)"))),
    (5, "interchange control reference (0020)", ((None, "interchange control reference (0020)"),)),
)
_UNH_REQUIRED: _Required = (
    (1, "message reference number (0062)", ((None, "message reference number (0062)"),)),
    (
        2,
        "message identifier (S009)",
        (
            (1, "message type (0065)"),
            (2, "message version number (0052)"),
            (3, "message release number (0054)"),
            (4, "controlling agency (0051)"),
        ),
    ),
)


def _quote(value: str, limit: int = 35) -> str:
    """``value`` quoted for a message; past ``limit`` characters its start, '...' and its length."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def _missing(segment: Segment, required: _Required) -> Iterator[tuple[int | None, int | None, str]]:
    """(element, component, name) of each missing mandatory item: one per wholly absent element."""
    if not segment.elements:
        yield None, None, "data elements at all"
        return
    for e, whole, comps in required:
        if not any(_component(segment, e, c or 1) for c, _ in comps):
            yield e, None, whole
            continue
        for c, name in comps:
            if not _component(segment, e, c or 1):
                yield e, c, name


def _digits(text: str) -> bool:
    """True for a non-empty run of ASCII digits 0-9 only.

    ``str.isdigit`` also accepts superscripts and other Unicode digits
    (``'\u00b2'``, byte 0xB2 in ISO 8859-1), which ``int`` then refuses.
    """
    return text.isascii() and text.isdigit()


def _una_problem(chars: str) -> str | None:
    if len(chars) != 6:
        return "UNA needs exactly six service characters"
    comp, elem, dec, rel, rep, term = chars[0], chars[1], chars[2], chars[3], chars[4], chars[5]
    if any(ord(ch) > 127 for ch in chars):
        return "service characters must be ASCII"
    if dec not in ".,":
        return f"decimal mark {dec!r} is neither '.' nor ','"
    used = [comp, elem, term] + [x for x in (rel, rep) if x != " "]
    if len(set(used)) != len(used):
        return f"service characters {chars!r} are not all different"
    if any(ch.isalnum() or ch in " \r\n" for ch in (comp, elem, term)):
        return f"separators {chars!r} must not be letters, digits, space or line breaks"
    if rel != " " and rel.isalnum():
        return f"release character {rel!r} must not be a letter or digit"
    return None


def _merge_released(data: bytes, parts: list[bytes], rest: bytes, sep: bytes, rb: bytes) -> tuple[list[bytes], bytes]:
    """Re-join pieces split at a terminator that an odd run of release characters escapes.

    ``parts`` and ``rest`` are ``data.split(sep)`` (``rest`` the last piece).
    Only the pieces that end in a release character can need it: they are
    found by searching ``data`` for the release character followed by the
    separator, and numbered by counting separators (both in C), so a chunk
    without released terminators costs no loop over its pieces. The pieces of
    one segment are joined once, so a segment with many released terminators
    costs linear time, not quadratic.
    """
    pattern = rb + sep
    at = data.find(pattern)
    if at == -1:
        return parts, rest
    released: list[int] = []  # indices of the pieces whose terminator is released
    seen = 0  # separators before ``counted``
    counted = 0
    step = len(pattern)
    while at != -1:
        end = at + len(rb)  # where the piece ends and its separator starts
        seen += data.count(sep, counted, end)
        counted = end
        p = parts[seen]
        if (len(p) - len(p.rstrip(rb))) % 2 == 1:
            released.append(seen)
        at = data.find(pattern, at + step)
    if not released:
        return parts, rest
    out: list[bytes] = []
    n = len(parts)
    start = 0  # the first piece not yet in out
    k = 0
    while k < len(released):
        first = stop = released[k]
        while k + 1 < len(released) and released[k + 1] == stop + 1:
            k += 1
            stop += 1
        k += 1
        out.extend(parts[start:first])
        if stop + 1 < n:  # piece stop + 1 ends the segment
            out.append(sep.join(parts[first : stop + 2]))
            start = stop + 2
        else:  # the segment runs on into the rest
            rest = sep.join(parts[first:] + [rest])
            start = n
    out.extend(parts[start:])
    return out, rest


def _occurrence(comps: list[str]) -> Occurrence:
    while comps and not comps[-1]:
        comps.pop()
    n = len(comps)
    return comps if n > 1 else (comps[0] if n else "")


@lru_cache(maxsize=64)
def _stand_ins(rel: str | None, esep: str, csep: str, rep: str | None) -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
    """For :meth:`_Reader._split_released`: the (released text, stand-in) pairs, the released
    release character first, and stand-in -> the character it stands for."""
    if rel is None:
        return (), {}
    released = [(rel + rel, _PLACEHOLDER), (rel + esep, _RELEASED_ELEMENT), (rel + csep, _RELEASED_COMPONENT)]
    if rep is not None:
        released.append((rel + rep, _RELEASED_REPETITION))
    back = {_PLACEHOLDER: rel, _RELEASED_ELEMENT: esep, _RELEASED_COMPONENT: csep, _RELEASED_REPETITION: rep or ""}
    return tuple(released), back


def _swap_back(value: object, pairs: list[tuple[str, str]]) -> object:
    """An element (str, composite list or Repetition) with the stand-ins in ``pairs`` turned back
    into the characters they stand for."""
    if value.__class__ is list:
        comps: list[str] = value  # type: ignore[assignment]
        for k, text in enumerate(comps):
            for stand_in, char in pairs:
                if stand_in in text:
                    text = text.replace(stand_in, char)
            comps[k] = text
        return comps
    if value.__class__ is str:
        text = value  # type: ignore[assignment]
        for stand_in, char in pairs:
            if stand_in in text:
                text = text.replace(stand_in, char)
        return text
    return Repetition(_swap_back(o, pairs) for o in value)  # type: ignore[attr-defined, misc]


def _element(text: str, csep: str) -> Occurrence:
    return _occurrence(text.split(csep)) if csep in text else text


def _repetition(occs: list[str], csep: str) -> object:
    values = [_occurrence(o.split(csep)) if csep in o else o for o in occs]
    while len(values) > 1 and not values[-1]:
        values.pop()
    return values[0] if len(values) == 1 else Repetition(values)


# --------------------------------------------------------------------------- writer


def _service_re(seps: Separators, repetition: str | None) -> re.Pattern[str]:
    chars = {seps.release, seps.component, seps.element, seps.terminator}
    if repetition:
        chars.add(repetition)
    chars.discard(" ")
    return _service_re_cached("".join(sorted(chars)))


_SERVICE_RE_CACHE: dict[str, re.Pattern[str]] = {}


def _service_re_cached(chars: str) -> re.Pattern[str]:
    pattern = _SERVICE_RE_CACHE.get(chars)
    if pattern is None:
        pattern = re.compile("[" + "".join(re.escape(c) for c in chars) + "]")
        _SERVICE_RE_CACHE[chars] = pattern
    return pattern


def _repetition_of(seps: Separators) -> str | None:
    return None if seps.repetition == " " else seps.repetition


@lru_cache(maxsize=64)
def _service_re_of(seps: Separators) -> re.Pattern[str]:
    """:func:`_service_re` for ``seps`` and their own repetition separator, built once per Separators."""
    return _service_re(seps, _repetition_of(seps))


def escape(value: str, separators: Separators = DEFAULT_SEPARATORS) -> str:
    """``value`` with every service character (and the release character itself) released.

    The repetition separator counts as a service character when it is set
    (not a space). Raises :class:`EdiError` when the value needs releasing
    but the separators have no release character.
    """
    pattern = _service_re_of(separators)
    if not pattern.search(value):
        return value
    if separators.release == " ":
        raise EdiError(f"{value[:35]!r} holds a service character and the separators have no release character")
    release = separators.release
    return pattern.sub(lambda m: release + m.group(), value)


def _values(value: object) -> list[str]:
    if value is None:
        return [""]
    if isinstance(value, str):
        return [value]
    # str subclasses (Number) are kept as they are: str() would drop the class
    return ["" if v is None else v if isinstance(v, str) else str(v) for v in cast(Iterable[object], value)]


def _trim(values: list[str]) -> list[str]:
    while values and not values[-1]:
        values.pop()
    return values


@lru_cache(maxsize=64)
def _segment_writer(separators: Separators) -> Callable[[Segment], str]:
    """A function writing one segment with ``separators``, without its terminator (see :func:`format_segment`).

    Built once per Separators: the service-character pattern, the separators
    and the decimal handling are looked up here, not for every value. A value
    without a service character (one pattern search) is written as it is.
    """
    search = _service_re_of(separators).search
    component = separators.component
    element = separators.element
    decimal = separators.decimal
    rep = _repetition_of(separators)
    point = decimal != "."

    def released(value: object) -> str:
        """One value as written: None empty, a Number with the decimal mark, service characters released."""
        text = "" if value is None else value if isinstance(value, str) else str(value)
        if point and isinstance(text, Number):
            text = text.replace(".", decimal)
        return text if search(text) is None else escape(text, separators)

    def composite(values: Iterable[object]) -> str:
        texts = [v if type(v) is str and search(v) is None else released(v) for v in values]
        while texts and not texts[-1]:
            texts.pop()
        return component.join(texts)

    def write(segment: Segment) -> str:
        parts = [segment.tag]
        for index, value in enumerate(cast(list[object], segment.elements), start=1):
            if type(value) is str:  # the common case: a plain simple value (not a Number)
                parts.append(value if search(value) is None else escape(value, separators))
            elif isinstance(value, Repetition):
                if rep is None:
                    raise EdiError(f"{segment.tag} element {index} repeats, but repetitions need syntax version 4")
                parts.append(rep.join(_trim([composite(_values(o)) for o in value])))
            elif isinstance(value, (list, tuple)):
                parts.append(composite(value))
            else:
                parts.append(released(_values(value)[0]))
        while len(parts) > 1 and not parts[-1]:
            parts.pop()
        return element.join(parts)

    return write


def format_segment(segment: Segment, separators: Separators = DEFAULT_SEPARATORS, *, terminator: bool = True) -> str:
    """One segment as EDIFACT text with the given separators, service characters released.

    Trailing empty elements, components and repetitions are left out.
    :class:`~edi.envelope.Number` values get the separators' decimal mark
    in place of ``.``. :class:`Repetition` elements need a repetition separator (syntax
    version 4); without one :class:`EdiError` is raised.
    """
    text = _segment_writer(separators)(segment)
    return text + separators.terminator if terminator else text


def segments_to_text(segments: Iterable[Segment], separators: Separators = DEFAULT_SEPARATORS, newline: str = "\n") -> str:
    """Segments as text, one a line by default (for people: logs, the ops console)."""
    return "".join(format_segment(s, separators) + newline for s in segments)


def _check_value(cs: Charset, value: str, where: str) -> None:
    found = cs.invalid.search(value)
    bad: str | None = found.group() if found else None
    if bad is None:
        try:
            value.encode(cs.codec)
        except UnicodeEncodeError as exc:
            bad = value[exc.start]
    if bad is not None:
        raise EdiError(
            f"{where}: character {bad!r} (U+{ord(bad):04X}) cannot be written in {cs.syntax_id} ({cs.description})",
            [Issue(f"character {bad!r} cannot be written in {cs.syntax_id}", SyntaxCode.INVALID_CHARACTER)],
        )


def _check_segment(cs: Charset, segment: Segment, position: int) -> None:
    """Every value of ``segment`` must be in the repertoire; EdiError names segment, element and component."""
    if cs.invalid.search(segment.tag):
        _check_value(cs, segment.tag, f"segment {position} ({segment.tag[:20]!r})")
    for e, value in enumerate(cast(list[object], segment.elements), start=1):
        occs = list(value) if isinstance(value, Repetition) else [value]
        for occ in occs:
            comps = _values(occ)
            for c, comp in enumerate(comps, start=1):
                if comp:
                    where = f"segment {position} ({segment.tag}) element {e}" + (f".{c}" if isinstance(occ, (list, tuple)) else "")
                    try:
                        _check_value(cs, comp, where)
                    except EdiError as exc:
                        exc.issues = [
                            i.located(segment=position, tag=segment.tag, element=e, component=c if isinstance(occ, (list, tuple)) else None)
                            for i in exc.issues
                        ]
                        raise


def write_interchange(
    messages: Iterable[OutMessage],
    *,
    sender: str,
    sender_qualifier: str | None = None,
    recipient: str,
    recipient_qualifier: str | None = None,
    control_ref: str,
    prepared: _dt.datetime | None = None,
    syntax_id: str = "UNOC",
    syntax_version: str = "3",
    separators: Separators = DEFAULT_SEPARATORS,
    application_ref: str | None = None,
    ack_requested: bool = False,
    agreement_id: str | None = None,
    test: bool = False,
    group: GroupHeader | None = None,
    newline: bool | str = False,
    una: bool | None = None,
) -> bytes:
    """One interchange around ``messages``, encoded in ``syntax_id``'s charset.

    UNT, UNE and UNZ counts are computed (UNZ counts the group when
    ``group`` is given, else the messages). ``prepared`` defaults to the
    current UTC time; the UNB date is YYMMDD, CCYYMMDD for syntax version 4.
    In syntax version 4 a repetition separator of ``" "`` becomes the
    default ``*``; below 4 the repetition separator is not used. UNA is
    written when the separators differ from the defaults of the syntax
    version, or when ``una`` is True (never when it is False). Numbers
    (:class:`~edi.envelope.Number` values, as the mappings produce) are
    written with ``separators.decimal``, so a UNA that declares a decimal
    comma is kept by every amount. ``group`` (UNG/UNE) takes the message group, sender, recipient and
    reference from a :class:`GroupHeader`; agency and version come from the
    first message. ``newline`` puts a line break after each segment (True
    means ``"\\n"``; pass ``"\\r\\n"`` for CRLF). Raises :class:`EdiError` for
    an unsupported syntax identifier or version, unusable separators, or a
    character the charset cannot carry (naming segment and element).
    """
    cs = charset_for(syntax_id)
    if cs is None or not cs.supported:
        raise EdiError(f"cannot write syntax identifier {syntax_id!r}: not supported")
    if syntax_version not in ("1", "2", "3", "4"):
        raise EdiError(f"cannot write syntax version {syntax_version!r}: 1 to 4 are supported")
    v4 = syntax_version == "4"
    seps = separators
    if v4 and seps.repetition == " ":
        seps = Separators(seps.component, seps.element, seps.decimal, seps.release, "*", seps.terminator)
    elif not v4 and seps.repetition != " ":
        seps = Separators(seps.component, seps.element, seps.decimal, seps.release, " ", seps.terminator)
    problem = _una_problem(seps.una()[3:])
    if problem:
        raise EdiError(f"cannot write with these separators: {problem}")
    defaults = _V4_DEFAULTS if v4 else DEFAULT_SEPARATORS
    write_una = (seps != defaults) if una is None else una
    nl = "\n" if newline is True else (newline or "")

    when = prepared or _dt.datetime.now(_dt.timezone.utc)
    date = when.strftime("%Y%m%d" if v4 else "%y%m%d")
    time = when.strftime("%H%M")

    def party(ident: str, qualifier: str | None) -> object:
        return [ident, qualifier] if qualifier else ident

    segments: list[Segment] = []
    segments.append(
        make_segment(
            "UNB",
            [syntax_id, syntax_version],
            party(sender, sender_qualifier),
            party(recipient, recipient_qualifier),
            [date, time],
            control_ref,
            "",
            application_ref or "",
            "",
            "1" if ack_requested else "",
            agreement_id or "",
            "1" if test else "",
        )
    )
    message_list = list(messages)
    if group is not None:
        first = message_list[0] if message_list else None
        version = [first.version, first.release] + ([first.association] if first and first.association else []) if first else ""
        segments.append(
            make_segment(
                "UNG",
                group.message_group or (first.type if first else ""),
                group.sender,
                group.recipient,
                [date, time],
                group.control_ref,
                first.agency if first else "",
                version,
            )
        )
    for message in message_list:
        s009 = [message.type, message.version, message.release, message.agency] + (
            [message.association] if message.association else []
        )
        segments.append(make_segment("UNH", message.reference, s009))
        segments.extend(message.body)
        segments.append(make_segment("UNT", str(len(message.body) + 2), message.reference))
    if group is not None:
        segments.append(make_segment("UNE", str(len(message_list)), group.control_ref))
        count = 1
    else:
        count = len(message_list)
    segments.append(make_segment("UNZ", str(count), control_ref))

    head = seps.una() + nl if write_una else ""
    # Every segment is written, then the charset is checked over all of them at once:
    # each character of a value appears in the text (released or not; a Number's "." as the
    # decimal mark, and "." is in every repertoire), so text the pattern finds nothing in
    # and the codec encodes holds no value _check_segment would refuse. Anything else
    # (a value the charset cannot carry, a segment that cannot be written, separators
    # outside the charset) is written again segment by segment, checked before written,
    # so the error is the one that names segment, element and component.
    write_segment = _segment_writer(seps)
    try:
        written = [write_segment(segment) for segment in segments]
    except Exception:  # noqa: BLE001 - _write_checked raises the error in segment order
        return _write_checked(cs, segments, seps, head, nl)
    end = seps.terminator + nl
    text = end.join(written) + end
    if cs.invalid.search(text if not nl else seps.terminator.join(written)) is not None:
        return _write_checked(cs, segments, seps, head, nl)
    try:
        return (head + text).encode(cs.codec)
    except UnicodeEncodeError:
        return _write_checked(cs, segments, seps, head, nl)


def _write_checked(cs: Charset, segments: list[Segment], seps: Separators, head: str, nl: str) -> bytes:
    """The interchange text ``head`` + ``segments``, each checked against ``cs`` before it is written.

    :func:`write_interchange` comes here when its check of the whole text finds a
    problem: the first segment that cannot be written (or holds a value ``cs``
    cannot carry) raises :class:`EdiError` naming it; separators the charset
    cannot carry raise it last.
    """
    out: list[str] = [head] if head else []
    for position, segment in enumerate(segments, start=1):
        _check_segment(cs, segment, position)
        out.append(format_segment(segment, seps) + nl)
    text = "".join(out)
    try:
        return text.encode(cs.codec)
    except UnicodeEncodeError as exc:  # a separator the charset cannot carry
        raise EdiError(f"the separators cannot be written in {cs.syntax_id}: {exc.reason}") from exc


#: Short name for :func:`write_interchange`.
write = write_interchange
