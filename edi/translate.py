"""One call from bytes to documents, and from documents to bytes.

This is the translator's front door for the hub and the command line: it
detects the syntax, reads, validates against the directory, maps to
canonical documents and collects every issue with its location. Rendering
numbers nothing itself: the caller passes control references in.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Sequence

from edi.documents import Acknowledgement, Document
from edi.envelope import InterchangeHeader, Message, Separators, DEFAULT_SEPARATORS
from edi.errors import EdiError, Issue, Severity
from edi.options import STRICT, Strictness

__all__ = [
    "TranslatedMessage",
    "Translation",
    "detect_syntax",
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
        found = list(self.issues)
        for message in self.messages:
            found.extend(message.issues)
        return found

    @property
    def ok(self) -> bool:
        return not self.errors and all(m.ok for m in self.messages) and bool(self.messages)


def detect_syntax(data: bytes) -> str:
    """``ubl`` for XML (first non-blank character ``<``), ``edifact`` otherwise."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "ubl" if head.startswith(b"<") else "edifact"


def _dedupe(issues: Sequence[Issue]) -> list[Issue]:
    """One error per cause: the first error found at a place (segment, element,
    component) stands for it; later errors there (the mapping tripping over a
    value validation already refused) are dropped. Warnings are kept unless repeated."""
    seen = set()
    error_places = set()
    result = []
    for issue in issues:
        place = (issue.segment, issue.element, issue.component, issue.path)
        if issue.is_error and issue.segment is not None:
            if place in error_places:
                continue
            error_places.add(place)
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


def _translate_edifact(data: bytes, *, strictness: Strictness, validate: bool) -> Translation:
    from edi import syntax
    from edi.edifact import message_to_document
    from edi.validate import validate_message

    try:
        interchange = syntax.parse(data, strictness=strictness)
    except EdiError as exc:
        issues = exc.issues or [Issue(str(exc))]
        return Translation(syntax="edifact", issues=issues)
    result = Translation(syntax="edifact", header=interchange.header, issues=list(interchange.issues))
    if interchange.trailer is not None:
        result.issues.extend(i for i in interchange.trailer.issues if i not in result.issues)
    decimal = interchange.header.separators.decimal
    for message in interchange.messages:
        issues = list(message.issues)
        if validate:
            try:
                issues.extend(validate_message(message, strictness=strictness, decimal_mark=decimal))
            except EdiError as exc:
                issues.extend(exc.issues or [Issue(str(exc), message_ref=message.reference)])
        document, mapping_issues = message_to_document(message, decimal_mark=decimal, header=interchange.header)
        issues.extend(mapping_issues)
        result.messages.append(
            TranslatedMessage(
                message_type=message.type,
                reference=message.reference,
                document=document,
                issues=_dedupe(issues),
                message=message,
            )
        )
    return result


def _translate_ubl(data: bytes) -> Translation:
    from edi.ubl import parse_ubl

    try:
        document, issues = parse_ubl(data)
    except EdiError as exc:
        return Translation(syntax="ubl", issues=exc.issues or [Issue(str(exc))])
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
) -> bytes:
    """An interchange holding ``documents`` (message references 1..n).

    ``subset`` EANCOM marks each message with the GS1 association code for its
    type and directory (EAN008 for ORDERS D96A...); UN marks none.
    """
    from edi import syntax
    from edi.edifact import document_to_message

    if subset not in ("EANCOM", "UN"):
        raise EdiError(f"unknown subset {subset!r}; use EANCOM or UN")
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


def render(document: Document, *, format: str = "edifact", **envelope) -> bytes:
    """Render one document as EDIFACT (``envelope`` as for render_edifact) or UBL."""
    if format == "ubl":
        from edi.ubl import render_ubl

        return render_ubl(document)
    if format != "edifact":
        raise EdiError(f"unknown format {format!r}; use edifact or ubl")
    return render_edifact([document], **envelope)


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


def validate_file(path, *, strictness: Strictness = STRICT, on_progress=None) -> tuple[list[Issue], int]:
    """Every issue in the file at ``path`` and the number of messages it holds.

    EDIFACT is streamed (a message at a time: a 100 MB file is never held in
    memory); UBL is read whole, within the XML size limit.
    ``on_progress(n)`` is called with the number of bytes read so far each time.
    """
    from pathlib import Path

    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(512)
    if detect_syntax(head) == "ubl":
        data = path.read_bytes()
        if on_progress:
            on_progress(len(data))
        translation = translate(data, strictness=strictness)
        return translation.all_issues(), len(translation.messages)

    from edi import syntax
    from edi.edifact import message_to_document
    from edi.envelope import InterchangeHeader as _Header
    from edi.envelope import GroupTrailer, InterchangeTrailer
    from edi.validate import validate_message

    issues: list[Issue] = []
    count = 0
    decimal = "."
    header = None
    with open(path, "rb") as handle:
        source: Any = _CountingReader(handle, on_progress) if on_progress else handle
        try:
            for item in syntax.read(source, strictness=strictness):
                if isinstance(item, _Header):
                    header = item
                    decimal = item.separators.decimal
                elif isinstance(item, Message):
                    count += 1
                    found = list(item.issues)
                    found.extend(validate_message(item, strictness=strictness, decimal_mark=decimal))
                    found.extend(message_to_document(item, decimal_mark=decimal, header=header)[1])
                    issues.extend(_dedupe(found))
                elif isinstance(item, (GroupTrailer, InterchangeTrailer)):
                    issues.extend(item.issues)
        except EdiError as exc:
            issues.extend(exc.issues or [Issue(str(exc))])
    return issues, count
