"""One call from bytes to documents, and from documents to bytes.

This is the translator's front door for the hub and the command line: it
detects the syntax, reads, validates against the directory, maps to
canonical documents and collects every issue with its location. Rendering
numbers nothing itself: the caller passes control references in.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from collections.abc import Iterable, Iterator
from typing import Any, Sequence

from edi.documents import Acknowledgement, Document
from edi.envelope import InterchangeHeader, Message, Separators, DEFAULT_SEPARATORS
from edi.errors import EdiError, Issue, MappingError, Severity, SyntaxCode
from edi.options import STRICT, Strictness

__all__ = [
    "INTERNAL_ERROR",
    "TranslatedMessage",
    "Translation",
    "check_message",
    "check_rendered",
    "check_xml_text",
    "fold_free_text",
    "translate_events",
    "translate_file",
    "validate_file",
    "detect_syntax",
    "in_segment_order",
    "translate",
    "render_edifact",
    "render",
    "contrl_for",
    "MESSAGE_TYPES",
]

#: canonical document class name -> EDIFACT message type
MESSAGE_TYPES = {
    "Order": "ORDERS",
    "OrderResponse": "ORDRSP",
    "DespatchAdvice": "DESADV",
    "Invoice": "INVOIC",
}


@dataclass
class TranslatedMessage:
    """One message of an interchange (or one UBL document) with what became of it."""

    message_type: str
    reference: str | None
    document: Document | None
    issues: list[Issue] = field(default_factory=list)
    message: Message | None = None  # the EDIFACT message as read

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def ok(self) -> bool:
        return self.document is not None and not self.errors


@dataclass
class Translation:
    """Everything found in one payload."""

    syntax: str  # edifact or ubl
    header: InterchangeHeader | None = None
    messages: list[TranslatedMessage] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)  # interchange-level

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    def all_issues(self) -> list[Issue]:
        """Interchange and message issues together, in segment order (unplaced ones last).

        Positions count within one interchange; :func:`translate` reads one.
        """
        found = list(self.issues)
        for message in self.messages:
            found.extend(message.issues)
        return in_segment_order(found)

    @property
    def ok(self) -> bool:
        return not self.errors and all(m.ok for m in self.messages) and bool(self.messages)


def detect_syntax(data: bytes) -> str:
    """``ubl`` for XML, ``edifact`` otherwise.

    XML is ``<`` after an optional byte-order mark and optional whitespace,
    in UTF-8, UTF-16 or UTF-32 (:func:`edi.ubl.safe.sniff_encoding`), so a
    UTF-16 document is read (and a hostile one refused) as XML.
    """
    from edi.ubl.safe import sniff_encoding

    return "ubl" if sniff_encoding(data[:512]) is not None else "edifact"


def in_segment_order(issues: Iterable[Issue]) -> list[Issue]:
    """``issues`` sorted by segment position (of one interchange), issues without one last;
    issues at the same segment keep the order they were found in."""
    return sorted(issues, key=lambda i: (i.segment is None, i.segment or 0))


def _dedupe(issues: Sequence[Issue]) -> list[Issue]:
    """One error per cause: the first error found at a place (segment, element,
    component) stands for it; later errors there (the mapping tripping over a
    value validation already refused) are dropped, and so are later errors at a
    component of an element an earlier error was about as a whole (``QTY`` with
    its C186 missing is not also "without a quantity" at 1.2). Warnings are
    kept unless repeated."""
    seen = set()
    error_places = set()
    whole_elements = set()  # (segment, element) of errors about a whole element
    result = []
    for issue in issues:
        place = (issue.segment, issue.element, issue.component, issue.path)
        if issue.is_error and issue.segment is not None:
            if place in error_places:
                continue
            if issue.component is not None and (issue.segment, issue.element) in whole_elements:
                continue
            error_places.add(place)
            if issue.element is not None and issue.component is None:
                whole_elements.add((issue.segment, issue.element))
        key = (place, issue.code, issue.message)
        if key not in seen:
            seen.add(key)
            result.append(issue)
    return result


def translate(data: bytes, *, strictness: Strictness = STRICT, validate: bool = True) -> Translation:
    """Read, validate and map a payload; never raises for bad input, it reports it."""
    if detect_syntax(data) == "ubl":
        return _translate_ubl(data)
    return _translate_edifact(data, strictness=strictness, validate=validate)


#: ``Issue.rule`` of an issue that stands for an unexpected exception inside the translator (a bug).
INTERNAL_ERROR = "internal-error"


def _internal(exc: BaseException, what: str, message: Message | None = None) -> Issue:
    """An unexpected exception turned into an issue, so that bad input never escapes as a traceback.

    The partner's file is still rejected (error, code 18) and the ops console
    keeps the exception's type and text; tests look for ``rule ==
    INTERNAL_ERROR`` to find such bugs.
    """
    text = f"the translator failed while {what} ({type(exc).__name__}: {str(exc)[:200]}); please report this as a bug"
    if message is None:
        return Issue(text, SyntaxCode.UNSPECIFIED, rule=INTERNAL_ERROR)
    return Issue(
        text,
        SyntaxCode.UNSPECIFIED,
        segment=message.first_position,
        tag="UNH",
        message_segment=1,
        message_ref=message.reference or None,
        rule=INTERNAL_ERROR,
    )


def _edi_error_issues(exc: EdiError, message: Message | None = None) -> list[Issue]:
    """The issues an EdiError carries (its text as one issue when it carries none), placed at the UNH when unplaced."""
    issues = exc.issues or [Issue(str(exc))]
    if message is None:
        return list(issues)
    return [
        i if i.segment is not None else i.located(
            segment=message.first_position, tag=i.tag or "UNH", message_segment=1, message_ref=message.reference or None
        )
        for i in issues
    ]


def check_message(
    message: Message,
    *,
    strictness: Strictness = STRICT,
    decimal_mark: str = ".",
    header: InterchangeHeader | None = None,
    validate: bool = True,
) -> tuple[Document | None, list[Issue]]:
    """Validate (unless ``validate`` is False) and map one message read by :mod:`edi.syntax`.

    Returns the document (None when errors prevent one) and every issue, one
    per cause. Never raises: an :class:`EdiError` becomes its issues, and any
    other exception (a bug) an issue with rule :data:`INTERNAL_ERROR` at the UNH.
    """
    from edi.edifact import message_to_document
    from edi.validate import validate_message

    issues = list(message.issues)
    missing: set[str] = set()  # segments validation reported missing: the mapping leaves them be
    if validate:
        try:
            issues.extend(
                validate_message(message, strictness=strictness, decimal_mark=decimal_mark, missing_tags=missing)
            )
        except EdiError as exc:
            issues.extend(_edi_error_issues(exc, message))
        except Exception as exc:  # noqa: BLE001 - the boundary where bad input becomes issues
            issues.append(_internal(exc, f"validating message {message.reference!r}", message))
    document: Document | None = None
    try:
        document, mapping_issues = message_to_document(
            message, decimal_mark=decimal_mark, header=header, reported_missing=missing
        )
        issues.extend(mapping_issues)
    except EdiError as exc:
        issues.extend(_edi_error_issues(exc, message))
    except Exception as exc:  # noqa: BLE001 - the boundary where bad input becomes issues
        issues.append(_internal(exc, f"mapping message {message.reference!r}", message))
    issues = in_segment_order(_dedupe(issues))
    if any(i.rule == INTERNAL_ERROR for i in issues):
        document = None
    return document, issues


def _translate_edifact(data: bytes, *, strictness: Strictness, validate: bool) -> Translation:
    return translate_events(_events(data, strictness), strictness=strictness, validate=validate)


def _events(source: Any, strictness: Strictness) -> Iterator[Any]:
    from edi import syntax

    return syntax.read(source, strictness=strictness)


def translate_events(
    events: Iterable[Any],
    *,
    strictness: Strictness = STRICT,
    validate: bool = True,
    first_only: bool = True,
    keep_messages: bool = True,
) -> Translation:
    """A Translation from the events of :func:`edi.syntax.read`, a message at a time.

    Without ``keep_messages`` a TranslatedMessage keeps its document and
    issues but not the message as read (its segments), to spare memory.

    With ``first_only`` (what :func:`translate` does) a second interchange
    in the data is reported, not read, as :func:`edi.syntax.parse` does.
    Never raises for bad input: see :func:`check_message`.
    """
    from edi.envelope import GroupTrailer, InterchangeTrailer

    result = Translation(syntax="edifact")
    decimal = "."
    iterator = iter(events)
    try:
        for event in iterator:
            if isinstance(event, InterchangeHeader):
                if result.header is not None and first_only:
                    result.issues.append(
                        Issue(
                            "the file holds more than one interchange; only the first was read",
                            SyntaxCode.UNSPECIFIED,
                            segment=1,
                            tag="UNB",
                        )
                    )
                    break
                result.header = result.header or event
                decimal = event.separators.decimal
            elif isinstance(event, Message):
                document, issues = check_message(
                    event, strictness=strictness, decimal_mark=decimal, header=result.header, validate=validate
                )
                result.messages.append(
                    TranslatedMessage(
                        message_type=event.type,
                        reference=event.reference,
                        document=document,
                        issues=issues,
                        message=event if keep_messages else None,
                    )
                )
            elif isinstance(event, (GroupTrailer, InterchangeTrailer)):
                result.issues.extend(i for i in event.issues if i not in result.issues)
    except EdiError as exc:
        result.issues.extend(_edi_error_issues(exc))
    except Exception as exc:  # noqa: BLE001 - the boundary where bad input becomes issues
        result.issues.append(_internal(exc, "reading the interchange"))
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
    return result


def _translate_ubl(data: bytes) -> Translation:
    from edi.ubl import parse_ubl

    try:
        document, issues = parse_ubl(data)
    except EdiError as exc:
        return Translation(syntax="ubl", issues=exc.issues or [Issue(str(exc))])
    except Exception as exc:  # noqa: BLE001 - the boundary where bad input becomes issues
        return Translation(syntax="ubl", issues=[_internal(exc, "reading the UBL document")])
    kind = type(document).__name__ if document is not None else "UBL"
    reference = getattr(document, "number", None)
    message = TranslatedMessage(message_type=MESSAGE_TYPES.get(kind, kind), reference=reference,
                                document=document, issues=list(issues))
    return Translation(syntax="ubl", messages=[message])


def render_edifact(
    documents: Sequence[Document],
    *,
    sender: str,
    sender_qualifier: str | None,
    recipient: str,
    recipient_qualifier: str | None,
    control_ref: str,
    directory: str = "D96A",
    subset: str = "EANCOM",
    charset: str = "UNOC",
    syntax_version: str = "3",
    separators: Separators = DEFAULT_SEPARATORS,
    prepared: _dt.datetime | None = None,
    test: bool = False,
    ack_requested: bool = False,
    fold_text: bool = False,
) -> bytes:
    """An interchange holding ``documents`` (message references 1..n).

    ``subset`` EANCOM marks each message with the GS1 association code for its
    type and directory (EAN008 for ORDERS D96A...); UN marks none.
    ``fold_text`` folds every free-text value (descriptions, names, addresses,
    notes, reasons: see :data:`FREE_TEXT_FIELDS`) to what ``charset`` can carry
    (:func:`edi.charsets_fold.fold_to_charset`) instead of refusing the
    interchange; identifiers, codes and numbers are never changed.
    """
    from edi import syntax
    from edi.edifact import document_to_message

    if subset not in ("EANCOM", "UN"):
        raise EdiError(f"unknown subset {subset!r}; use EANCOM or UN")
    if fold_text:
        documents = [fold_free_text(document, charset) for document in documents]
    messages = [
        document_to_message(document, reference=str(number), directory=directory)
        if subset == "EANCOM"
        else document_to_message(document, reference=str(number), directory=directory, association=None)
        for number, document in enumerate(documents, start=1)
    ]
    return syntax.write_interchange(
        messages,
        sender=sender,
        sender_qualifier=sender_qualifier,
        recipient=recipient,
        recipient_qualifier=recipient_qualifier,
        control_ref=control_ref,
        prepared=prepared,
        syntax_id=charset,
        syntax_version=syntax_version,
        separators=separators,
        test=test,
        ack_requested=ack_requested,
    )


#: Names of the canonical documents' free-text fields (str, or a list of str): folded by
#: ``render_edifact(fold_text=True)``.
FREE_TEXT_FIELDS = frozenset({"description", "name", "street", "city", "contact", "carrier", "reason", "notes"})


def fold_free_text(value: Any, charset: str) -> Any:
    """The document (dataclass) ``value`` with its free-text fields folded to ``charset``.

    ``value`` is never changed: a dataclass or list holding text that folding
    changes is copied (:func:`dataclasses.replace`), and everything that needs
    no folding is shared with ``value`` (``value`` itself comes back when
    nothing needs folding). Raises ValueError as
    :func:`edi.charsets_fold.fold_to_charset` does for an unsupported charset.
    """
    from edi.charsets_fold import fold_to_charset

    if isinstance(value, list):
        items = [fold_free_text(v, charset) for v in value]
        return items if any(a is not b for a, b in zip(items, value)) else value
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    changes: dict[str, Any] = {}
    for name in _field_names(type(value)):
        current = getattr(value, name)
        kind = type(current)
        if kind in _LEAVES or (kind is str and name not in FREE_TEXT_FIELDS):
            continue  # numbers, dates, absent values, identifiers and codes: nothing to fold or look into
        if name in FREE_TEXT_FIELDS and isinstance(current, str):
            folded = fold_to_charset(current, charset)
            if folded is not current:
                changes[name] = folded
        elif name in FREE_TEXT_FIELDS and isinstance(current, list):
            texts = [fold_to_charset(v, charset) if isinstance(v, str) else v for v in current]
            if any(a is not b for a, b in zip(texts, current)):
                changes[name] = texts
        elif isinstance(current, list) or dataclasses.is_dataclass(current):
            folded = fold_free_text(current, charset)
            if folded is not current:
                changes[name] = folded
    return dataclasses.replace(value, **changes) if changes else value


#: Exact types of field values that hold no text and are no list or dataclass.
_LEAVES = frozenset({type(None), bool, int, float, Decimal, _dt.date, _dt.datetime})


@lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...]:
    """The field names of the dataclass ``cls``, looked up once per class."""
    return tuple(f.name for f in dataclasses.fields(cls))


#: A character XML 1.0 does not allow (its production 2, Char: #x9 | #xA | #xD | [#x20-#xD7FF]
#: | [#xE000-#xFFFD] | [#x10000-#x10FFFF]; https://www.w3.org/TR/xml/#charsets).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def check_xml_text(document: Any, path: str = "$") -> None:
    """Raise :class:`MappingError` naming the field (``$.lines[0].description``) of the first text
    of ``document`` holding a character XML cannot carry (NUL and the other C0 controls but tab,
    line feed and carriage return; U+FFFE, U+FFFF; lone surrogates).

    UBL is XML: such a character cannot be written at all, not even escaped.
    """
    if isinstance(document, str):
        found = _NOT_XML_CHAR.search(document)
        if found is not None:
            raise MappingError(
                f"{path}: character U+{ord(found.group()):04X} at position {found.start() + 1} cannot be written"
                " in XML; remove it from the text"
            )
    elif isinstance(document, (list, tuple)):
        for index, item in enumerate(document):
            check_xml_text(item, f"{path}[{index}]")
    elif dataclasses.is_dataclass(document) and not isinstance(document, type):
        for item in dataclasses.fields(document):
            check_xml_text(getattr(document, item.name), f"{path}.{item.name}")


def render(document: Document, *, format: str = "edifact", **envelope) -> bytes:
    """Render one document as EDIFACT (``envelope`` as for render_edifact) or UBL.

    Raises :class:`EdiError` for a document that cannot be written in that
    format (for UBL, text holding a character XML cannot carry: see
    :func:`check_xml_text`).
    """
    if format == "ubl":
        from edi.ubl import render_ubl  # which calls check_xml_text first

        return render_ubl(document)
    if format != "edifact":
        raise EdiError(f"unknown format {format!r}; use edifact or ubl")
    return render_edifact([document], **envelope)


def check_rendered(data: bytes, *, strictness: Strictness = STRICT) -> list[Issue]:
    """Every syntax, envelope and directory problem of an interchange Kontor rendered (empty when sound).

    For checking output before it leaves: ``data`` is read back by
    :mod:`edi.syntax` and each message validated against its directory
    (:func:`edi.validate.validate_message`), as a partner's translator would.
    The canonical mapping is not run: a document's business rules are its
    author's, this only says whether the bytes are valid EDIFACT. Never
    raises for bad data; the issues say what is wrong.
    """
    from edi.envelope import GroupTrailer, InterchangeTrailer
    from edi.validate import validate_message

    issues: list[Issue] = []
    decimal = "."
    try:
        for event in _events(data, strictness):
            if isinstance(event, InterchangeHeader):
                decimal = event.separators.decimal
            elif isinstance(event, Message):
                issues.extend(event.issues)
                try:
                    issues.extend(validate_message(event, strictness=strictness, decimal_mark=decimal))
                except EdiError as exc:
                    issues.extend(_edi_error_issues(exc, event))
            elif isinstance(event, (GroupTrailer, InterchangeTrailer)):
                issues.extend(event.issues)
    except EdiError as exc:
        issues.extend(_edi_error_issues(exc))
    except Exception as exc:  # noqa: BLE001 - the boundary where bad input becomes issues
        issues.append(_internal(exc, "reading the rendered interchange"))
    return in_segment_order(_dedupe(issues))


def contrl_for(translation: Translation, *, number: str, issue_date: _dt.date) -> Acknowledgement:
    """The CONTRL answering an EDIFACT translation: accepted, or rejected with UCI/UCM/UCS/UCD detail."""
    from edi.edifact import contrl_from_issues

    header = translation.header
    if header is None:
        raise EdiError("a CONTRL answers an interchange; this translation has no interchange header")
    return contrl_from_issues(
        interchange=header,
        messages=[(m.message, m.issues) for m in translation.messages if m.message is not None],
        interchange_issues=translation.issues,
        number=number,
        issue_date=issue_date,
    )


def has_errors(issues: Sequence[Issue]) -> bool:
    return any(i.severity == Severity.ERROR for i in issues)


class _CountingReader:
    """A binary file wrapper that reports how many bytes were read (for progress bars)."""

    def __init__(self, handle, on_progress):
        self._handle = handle
        self._on_progress = on_progress

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if data:
            self._on_progress(len(data))
        return data


def _open_counting(path: Any, on_progress: Any) -> Any:
    handle = open(path, "rb")
    return (_CountingReader(handle, on_progress), handle) if on_progress else (handle, handle)


def _read_ubl_file(path: Any, on_progress: Any) -> bytes | Issue:
    """An XML file's bytes, or the Issue refusing it: the size is checked before it is read.

    A regular file larger than the UBL limit is refused from its ``stat()``
    size alone; anything else (a pipe, a device) is read up to one byte past
    the limit, never further.
    """
    import os
    import stat as _stat

    from edi.ubl.safe import DEFAULT_MAX_BYTES

    limit = DEFAULT_MAX_BYTES
    with open(path, "rb") as handle:
        info = os.fstat(handle.fileno())
        if _stat.S_ISREG(info.st_mode) and info.st_size > limit:
            return Issue(f"document is {info.st_size} bytes, more than the limit of {limit}",
                         code=SyntaxCode.UNSPECIFIED, path="/")
        data = handle.read(limit + 1)
    if len(data) > limit:
        return Issue(f"document is more than the limit of {limit} bytes", code=SyntaxCode.UNSPECIFIED, path="/")
    if on_progress:
        on_progress(len(data))
    return data


def translate_file(
    path: Any,
    *,
    strictness: Strictness = STRICT,
    validate: bool = True,
    on_progress: Any = None,
    keep_messages: bool = True,
) -> Translation:
    """:func:`translate` for a file, EDIFACT streamed a message at a time.

    Only the documents (and, with ``keep_messages``, the messages as read)
    stay in memory, never the whole file. UBL is read whole, within the XML
    size limit. ``on_progress(n)`` is called with the number of bytes read
    each time a chunk is read. Never raises for bad input; a file that cannot
    be opened or read raises :class:`EdiError`.
    """
    from pathlib import Path

    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
        if detect_syntax(head) == "ubl":
            data = _read_ubl_file(path, on_progress)
            if isinstance(data, Issue):
                return Translation(syntax="ubl", issues=[data])
            return translate(data, strictness=strictness, validate=validate)
        source, handle = _open_counting(path, on_progress)
    except OSError as exc:
        raise EdiError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        return translate_events(
            _events(source, strictness), strictness=strictness, validate=validate, keep_messages=keep_messages
        )


def validate_file(path, *, strictness: Strictness = STRICT, on_progress=None) -> tuple[list[Issue], int]:
    """Every issue in the file at ``path`` and the number of messages it holds.

    Issues come in segment order within each interchange (those without a
    position at its end), interchange after interchange.

    Every interchange of the file is read. EDIFACT is streamed (a message at
    a time: a 100 MB file is never held in memory, nor its documents); UBL is
    read whole, within the XML size limit. ``on_progress(n)`` is called with
    the number of bytes read each time a chunk is read.
    """
    from pathlib import Path

    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(512)
    if detect_syntax(head) == "ubl":
        data = _read_ubl_file(path, on_progress)
        if isinstance(data, Issue):
            return [data], 0
        translation = translate(data, strictness=strictness)
        return translation.all_issues(), len(translation.messages)

    from edi.envelope import GroupTrailer, InterchangeTrailer

    issues: list[Issue] = []
    count = 0
    decimal = "."
    header = None
    start = 0  # where the current interchange's issues begin: each is put in segment order at its end
    source, handle = _open_counting(path, on_progress)
    with handle:
        try:
            for item in _events(source, strictness):
                if isinstance(item, InterchangeHeader):
                    header = item
                    decimal = item.separators.decimal
                elif isinstance(item, Message):
                    count += 1
                    issues.extend(check_message(item, strictness=strictness, decimal_mark=decimal, header=header)[1])
                elif isinstance(item, (GroupTrailer, InterchangeTrailer)):
                    issues.extend(item.issues)
                    if isinstance(item, InterchangeTrailer):
                        issues[start:] = in_segment_order(issues[start:])
                        start = len(issues)
        except EdiError as exc:
            issues.extend(_edi_error_issues(exc))
        except Exception as exc:  # noqa: BLE001 - the boundary where bad input becomes issues
            issues.append(_internal(exc, "reading the interchange"))
    issues[start:] = in_segment_order(issues[start:])
    return issues, count
