"""Read-only views of the message flow for the operations console (and a partner's own flow).

Nothing here writes. Message lists page by keyset (``id`` descending, the
next page starts below the last id shown) so that page 500 of a large store
costs what page 1 costs. :func:`payload_view` shows a raw payload the way an
operator reads it: EDIFACT one segment a line with its number, XML indented.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass, field, replace
from typing import IO, Any, Iterator

from lxml import etree
from sqlalchemy import Select, and_, delete, func, literal, or_, select, tuple_, union
from sqlalchemy.orm import Session, selectinload

from hub.messages import RepairError, payload_bytes
from hub.models import AuditEntry, Message, Partner
from hub.ops_models import MessageReference
from hub.settings import Settings
from hub.states import DESCRIPTIONS, FINAL, PROBLEM, TRANSITIONS, State

__all__ = [
    "MessageFilter",
    "MessageSlice",
    "Segment",
    "PayloadView",
    "list_messages",
    "TEXT_COLUMNS",
    "TEXT_SCAN_WINDOW",
    "text_indexed",
    "message_detail",
    "list_partners",
    "AuditSlice",
    "audit_entries",
    "partner_choices",
    "problem_counts",
    "related_messages",
    "describe",
    "state_counts",
    "COUNT_CAP",
    "payload_view",
    "message_payload_view",
    "message_payload",
    "record_references",
    "write_payload_zip",
    "ZIP_LIMIT",
    "iter_segments",
    "MAX_SEGMENTS",
    "split_segments",
    "allowed_events",
    "DOCUMENT_TYPES",
    "DOCUMENT_TYPE_LABELS",
    "DIRECTIONS",
]

log = logging.getLogger(__name__)

DOCUMENT_TYPES = ("ORDERS", "ORDRSP", "DESADV", "INVOIC", "CONTRL", "APERAK", "ORDCHG", "MIXED", "MDN", "AS2")
#: what the filter's options say, where the type name alone does not
DOCUMENT_TYPE_LABELS = {"MIXED": "MIXED (an interchange of several types)", "MDN": "MDN (AS2 receipt)",
                        "AS2": "AS2 (a request refused before its content was read)"}
DIRECTIONS = ("in", "out")


@dataclass
class MessageFilter:
    """Filters of the message list; empty values do not filter."""

    partner_id: int | None = None
    direction: str = ""
    document_type: str = ""
    state: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive
    reference: str = ""  # interchange or message reference
    business_ref: str = ""
    text: str = ""  # anywhere: references, file name, sender, recipient, error

    def apply(self, stmt: Select, dialect: str = "") -> Select:
        """``stmt`` with these filters; ``dialect`` "postgresql" lets the free text use its trigram index
        (the same rows either way)."""
        if self.partner_id is not None:
            stmt = stmt.where(Message.partner_id == self.partner_id)
        if self.direction:
            stmt = stmt.where(Message.direction == self.direction)
        if self.document_type:
            stmt = stmt.where(Message.document_type == self.document_type)
        if self.state == "problem":
            stmt = stmt.where(Message.state.in_(PROBLEM))
        elif self.state:
            stmt = stmt.where(Message.state == self.state)
        if self.date_from:
            stmt = stmt.where(Message.created_at >= dt.datetime.combine(self.date_from, dt.time()))
        if self.date_to and self.date_to < dt.date.max:  # the last day there is has no day after it
            stmt = stmt.where(Message.created_at < dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time()))
        if self.reference.strip():
            ref = self.reference.strip()
            # each part on its own index; any UNH reference of a multi-message interchange counts
            matching = union(
                select(Message.id).where(Message.interchange_ref == ref),
                select(Message.id).where(Message.message_ref == ref),
                select(MessageReference.message_id).where(MessageReference.reference == ref),
            )
            stmt = stmt.where(Message.id.in_(matching))
        if self.business_ref.strip():
            stmt = stmt.where(Message.business_ref == self.business_ref.strip())
        if self.text.strip():
            stmt = stmt.where(_text_condition(self.text.strip(), dialect))
        return stmt


#: the free-text columns, in the order of the trigram index's expression (``hub.models.Message``)
TEXT_COLUMNS = ("interchange_ref", "message_ref", "business_ref", "filename", "sender_id", "recipient_id", "error")
#: where the free text has no index (SQLite; a term without three letters or digits in a row, which has no
#: trigram, on PostgreSQL) one page searches at most this many messages of the other filters, newest first,
#: and "Older" searches the next as many: a page costs the same however rare the term
TEXT_SCAN_WINDOW = 20_000


def _search_expression() -> Any:
    """The expression of the trigram index ``ix_message_search_trgm`` (the columns joined by newlines)."""
    index = next(i for i in Message.__table__.indexes if i.name == "ix_message_search_trgm")
    return index.expressions[0].element


def text_indexed(term: str, dialect: str) -> bool:
    """Whether the trigram index answers the free text ``term`` on ``dialect``: PostgreSQL, and a run of
    three letters or digits (pg_trgm takes its trigrams from those; without one it would read the whole
    index)."""
    return dialect == "postgresql" and re.search(r"[^\W_]{3}", term) is not None


def _text_condition(term: str, dialect: str) -> Any:
    like = "%" + _escape_like(term.lower()) + "%"
    exact = or_(*(func.lower(getattr(Message, c)).like(like, escape="\\") for c in TEXT_COLUMNS))
    if not text_indexed(term, dialect):
        return exact
    found = _search_expression().ilike("%" + _escape_like(term) + "%", escape="\\")
    if "\n" in term:  # the joined columns would let a term with a newline match across two of them
        return and_(found, exact)
    return found


@dataclass
class MessageSlice:
    items: list[Message]
    next_before: int | None  # pass as ``before`` for the next (older) page; None on the last page
    before: int | None
    #: set when this page's free-text search stopped after TEXT_SCAN_WINDOW messages: the time of the
    #: oldest message searched (``next_before`` continues below it, even when ``items`` is short or empty)
    searched_to: dt.datetime | None = None
    text_window: int = TEXT_SCAN_WINDOW


def list_messages(
    session: Session, filters: MessageFilter, *, before: int | None = None, limit: int = 50,
    text_window: int | None = None,
) -> MessageSlice:
    """Messages newest first, ``limit`` at a time, keyset-paged on (created_at, id).

    ``before`` is the id of the last message shown; the next page holds the
    messages that sort after it. The order matches the indexes on
    (created_at, id) and (partner_id, created_at), so a deep page costs what
    the first one does: no OFFSET, no count.

    Free text is answered by the trigram index on PostgreSQL. Where there is
    none (see :func:`text_indexed`) a page searches only the next
    ``text_window`` (default :data:`TEXT_SCAN_WINDOW`) messages of the other
    filters: when more are left, the slice's ``searched_to`` says how far it
    got and ``next_before`` goes on from there, so every match is still
    found, in order, page after page.
    """
    text_window = TEXT_SCAN_WINDOW if text_window is None else text_window
    dialect = session.get_bind().dialect.name
    stmt = filters.apply(select(Message), dialect).options(selectinload(Message.partner))
    after = None
    if before:
        cursor = session.scalar(select(Message.created_at).where(Message.id == before))
        if cursor is None:
            after = Message.id < before
        else:
            after = tuple_(Message.created_at, Message.id) < tuple_(literal(cursor), literal(before))
        stmt = stmt.where(after)
    newest_first = (Message.created_at.desc(), Message.id.desc())
    floor = None
    term = filters.text.strip()
    if term and not text_indexed(term, dialect):
        window = replace(filters, text="").apply(select(Message.id, Message.created_at))
        if after is not None:
            window = window.where(after)
        # the window's last message, when others follow it (else the window holds all that is left)
        last = session.execute(window.order_by(*newest_first).offset(text_window - 1).limit(2)).all()
        if len(last) == 2:
            floor = last[0]
            stmt = stmt.where(
                tuple_(Message.created_at, Message.id) >= tuple_(literal(floor.created_at), literal(floor.id))
            )
    rows = list(session.scalars(stmt.order_by(*newest_first).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if more:
        return MessageSlice(items=rows, next_before=rows[-1].id, before=before, text_window=text_window)
    if floor is not None:
        return MessageSlice(items=rows, next_before=floor.id, before=before, searched_to=floor.created_at,
                            text_window=text_window)
    return MessageSlice(items=rows, next_before=None, before=before, text_window=text_window)


#: states counted above the message list: the ones not final (final ones hold nearly every message)
COUNTED_STATES = tuple(s for s in DESCRIPTIONS if s not in (*FINAL, State.DELIVERED))
#: a state with more messages than this is shown as "more than"; each count stops there
COUNT_CAP = 10_000


def state_counts(session: Session, partner_id: int | None = None, *, cap: int = COUNT_CAP) -> dict[str, int]:
    """How many messages are in each state that is not final (for the console's summary).

    Each count reads at most ``cap + 1`` index entries, so the summary costs
    the same on a store of any size; a value of ``cap + 1`` means "more than
    ``cap``".
    """
    counts = {}
    for state in COUNTED_STATES:
        inner = select(Message.id).where(Message.state == state)
        if partner_id is not None:
            inner = inner.where(Message.partner_id == partner_id)
        count = session.scalar(select(func.count()).select_from(inner.limit(cap + 1).subquery()))
        if count:
            counts[state] = count
    return counts


def message_detail(session: Session, message_id: int) -> Message | None:
    """A message with its events, partner, channel and payload loaded; None when unknown."""
    return session.scalar(
        select(Message)
        .where(Message.id == message_id)
        .options(
            selectinload(Message.events),
            selectinload(Message.partner),
            selectinload(Message.channel),
            selectinload(Message.payload),
        )
    )


def related_messages(session: Session, message: Message) -> list[Message]:
    """Messages that belong with this one: the one it answers, its answers, the same order's."""
    conditions = [Message.answers_id == message.id]
    if message.answers_id:
        conditions.append(Message.id == message.answers_id)
    if message.order_id:
        conditions.append(Message.order_id == message.order_id)
    if message.duplicate_of_id:
        conditions.append(Message.id == message.duplicate_of_id)
    stmt = select(Message).where(or_(*conditions), Message.id != message.id).order_by(Message.id).limit(50)
    return list(session.scalars(stmt))


@dataclass
class AuditSlice:
    items: list[AuditEntry]
    next_before: int | None
    before: int | None


def audit_entries(
    session: Session, *, text: str = "", before: int | None = None, limit: int = 100
) -> AuditSlice:
    """The audit log newest first, keyset-paged; ``text`` matches actor, action or target."""
    stmt = select(AuditEntry)
    if text.strip():
        like = "%" + _escape_like(text.strip().lower()) + "%"
        columns = (AuditEntry.actor, AuditEntry.action, AuditEntry.target)
        stmt = stmt.where(or_(*(func.lower(c).like(like, escape="\\") for c in columns)))
    if before:
        stmt = stmt.where(AuditEntry.id < before)
    rows = list(session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditSlice(items=rows, next_before=rows[-1].id if more and rows else None, before=before)


def allowed_events(state: str) -> set[str]:
    """The events the state table allows from ``state`` (the console offers only those)."""
    return set(TRANSITIONS.get(state, {}))


def describe(state: str) -> str:
    return DESCRIPTIONS.get(state, state)


def list_partners(session: Session) -> list[Partner]:
    """Every partner with its identifiers and channels, by name."""
    stmt = (
        select(Partner)
        .options(selectinload(Partner.channels), selectinload(Partner.identifiers))
        .order_by(Partner.name)
    )
    return list(session.scalars(stmt))


def partner_choices(session: Session) -> list[tuple[int, str]]:
    """(id, "Name (CODE)") of every partner, by name: the console's partner filter."""
    stmt = select(Partner.id, Partner.name, Partner.code).order_by(Partner.name)
    return [(pid, f"{name} ({code})") for pid, name, code in session.execute(stmt)]


def problem_counts(session: Session) -> dict[int, int]:
    """Messages in a problem state per partner id."""
    stmt = (
        select(Message.partner_id, func.count(Message.id))
        .where(Message.state.in_(PROBLEM), Message.partner_id.is_not(None))
        .group_by(Message.partner_id)
    )
    return {pid: count for pid, count in session.execute(stmt) if pid is not None}


def record_references(session: Session, message: Message, references: list[str | None]) -> None:
    """Keep every UNH reference of an interchange of several messages for the reference filter (the first
    is ``message.message_ref`` too); replaces what an earlier run recorded. No commit."""
    wanted = sorted({r[:35] for r in references if r})
    if len(references) < 2 or not wanted:
        return
    if message.id is None:
        session.flush([message])
    else:
        session.execute(delete(MessageReference).where(MessageReference.message_id == message.id))
    session.add_all(MessageReference(message_id=message.id, reference=r) for r in wanted)


# --- payloads ------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """A run of a segment's text as the console shows it: data, a separator, or a marked (faulty) element
    or component with the issues' messages in ``note``. ``missing``: a marker for an element or component
    an issue names but the segment does not have (nothing of the payload)."""

    text: str
    note: str | None = None
    missing: bool = False


@dataclass
class Segment:
    number: int | None  # position in the interchange, UNB = 1; None for the UNA service string advice
    tag: str
    text: str
    issues: list[dict[str, Any]] = field(default_factory=list)
    gap_before: bool = False  # segments before this one are left out (a long payload)
    pieces: list[Piece] = field(default_factory=list)  # set for segments with issues: their text, marked


@dataclass
class PayloadView:
    kind: str  # edifact, xml, json, text, binary, purged
    segments: list[Segment] = field(default_factory=list)
    text: str = ""
    unplaced: list[dict[str, Any]] = field(default_factory=list)  # issues not tied to a shown segment
    size: int = 0
    total_segments: int = 0  # segments read (all of them unless truncated)
    truncated: bool = False  # only the start (and the flagged segments) are shown
    archived: bool = False  # no longer in the database: read back from the retention archive (when shown)

    @property
    def flagged(self) -> int:
        return sum(1 for s in self.segments if s.issues)


#: Segments shown in full before the console shows only flagged ones (and offers the download).
MAX_SEGMENTS = 2000
#: XML and text payloads larger than this are shown as their first MAX_TEXT characters, unformatted.
MAX_PRETTY_BYTES = 5 * 1024 * 1024
MAX_TEXT = 1024 * 1024


def message_payload_view(message: Message, settings: Settings | None = None) -> PayloadView:
    """:func:`payload_view` of a message's payload, read back from the retention archive when it was
    archived (``purged`` once retention removed it for good)."""
    view = payload_view(message_payload(message, settings), message.syntax, message.issues)
    view.archived = _archived(message)
    return view


def _archived(message: Message) -> bool:
    return message.payload is not None and message.payload.data is None


def message_payload(message: Message, settings: Settings | None = None) -> bytes | None:
    """The raw bytes of a message; once retention archived them, read back from the archive file
    (``settings`` say where); None when they are gone (purged) or the archive file fails its check."""
    try:
        return payload_bytes(message)
    except RepairError:
        pass
    if settings is None or message.payload is None:
        return None
    from hub.retention import archived_bytes

    try:
        return archived_bytes(settings, message.payload)
    except ValueError:
        log.warning("message %s: archived payload unreadable", message.id, exc_info=True)
        return None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _service_string(text: str) -> tuple[str | None, str, str, str]:
    """(UNA or None, release character or "", segment terminator, the text after the UNA)."""
    stripped = text.lstrip("\ufeff \r\n\t")
    if stripped.startswith("UNA") and len(stripped) >= 9:
        una = stripped[:9]
        release = "" if una[6] == " " else una[6]
        return una, release, una[8], stripped[9:]
    return None, "?", "'", stripped


def iter_segments(text: str, release: str, terminator: str) -> Iterator[str]:
    """Segments of ``text`` without their terminators; a terminator after an odd run of
    release characters is data. Line breaks and indentation between segments are dropped."""
    start = search = 0
    while True:
        at = text.find(terminator, search)
        if at < 0:
            rest = text[start:].strip()
            if rest:
                yield rest
            return
        if release:
            before = at - 1
            while before >= start and text[before] == release:
                before -= 1
            if (at - 1 - before) % 2 == 1:  # released: part of the data
                search = at + 1
                continue
        segment = text[start:at].strip("\r\n").lstrip("\r\n\t ")
        if segment.strip():
            yield segment
        start = search = at + 1


def split_segments(text: str) -> tuple[str | None, list[str]]:
    """The UNA string (if any) and the segments, split on the terminator outside release sequences.

    The separators come from the UNA when there is one, else the defaults
    (``:+.? '``). Line breaks between segments are dropped.
    """
    una, release, terminator, body = _service_string(text)
    return una, list(iter_segments(body, release, terminator))


def _segment_tag(segment: str, una: str | None) -> str:
    separators = {"+", ":"} if una is None else {una[3], una[4]}
    tag = []
    for char in segment:
        if char in separators:
            break
        tag.append(char)
    return "".join(tag)[:3]


def _elements(segment: str, component: str, element: str, release: str) -> list[list[str]]:
    """The segment's data elements (index 0: the tag), each as its components, text kept as written
    (release characters included), so that joining them with the separators gives the segment back."""
    elements: list[list[str]] = [[""]]
    i = 0
    while i < len(segment):
        char = segment[i]
        if release and char == release and i + 1 < len(segment):
            elements[-1][-1] += segment[i:i + 2]
            i += 2
            continue
        if char == element:
            elements.append([""])
        elif char == component:
            elements[-1].append("")
        else:
            elements[-1][-1] += char
        i += 1
    return elements


def _position(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def segment_pieces(text: str, terminator: str, una: str | None, issues: list[dict[str, Any]]) -> list[Piece]:
    """``text`` (a segment with its terminator) cut into pieces with the element and component each issue
    names marked; an issue naming no element marks nothing (the segment itself is flagged). The pieces
    joined give ``text`` back, apart from markers for missing elements."""
    component, element, release = (":", "+", "?") if una is None else (una[3], una[4], "" if una[6] == " " else una[6])
    body = text[: -len(terminator)] if terminator and text.endswith(terminator) else text
    elements = _elements(body, component, element, release)
    notes: dict[tuple[int, int | None], list[str]] = {}
    for issue in issues:
        at = _position(issue.get("element"))
        if at is None:
            continue
        part = _position(issue.get("component"))
        notes.setdefault((at, part or None), []).append(str(issue.get("message") or "issue"))
    pieces: list[Piece] = []
    for index, components in enumerate(elements):
        if index:
            pieces.append(Piece(element))
        whole = notes.get((index, None))
        if whole:
            pieces.append(Piece(component.join(components), "; ".join(whole)))
        else:
            for number, value in enumerate(components, start=1):
                if number > 1:
                    pieces.append(Piece(component))
                note = notes.get((index, number))
                pieces.append(Piece(value, "; ".join(note)) if note else Piece(value))
            for (at, part), note in sorted(notes.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
                if at == index and part is not None and part > len(components):
                    pieces.append(Piece(component))
                    pieces.append(Piece(f"(component {part} missing)", "; ".join(note), missing=True))
    for (at, part), note in sorted(notes.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        if at >= len(elements):
            where = f"element {at}" + (f".{part}" if part else "")
            pieces.append(Piece(element))
            pieces.append(Piece(f"({where} missing)", "; ".join(note), missing=True))
    if body != text:
        pieces.append(Piece(text[len(body):]))
    return [p for p in pieces if p.text]


def _looks_edifact(text: str) -> bool:
    head = text.lstrip("\ufeff \r\n\t")[:3]
    return head in ("UNA", "UNB", "UNH")


def _edifact_view(text: str, size: int, issues: list[dict[str, Any]]) -> PayloadView:
    una, release, terminator, body = _service_string(text)
    flagged = {i["segment"] for i in issues if isinstance(i.get("segment"), int)}
    segments: list[Segment] = []
    if una:
        segments.append(Segment(number=None, tag="UNA", text=una))
    total = 0
    shown_last = 0
    last_flagged = max(flagged, default=0)
    truncated = False
    for number, part in enumerate(iter_segments(body, release, terminator), start=1):
        if number > MAX_SEGMENTS and number > last_flagged:
            truncated = True  # nothing more to show: stop reading
            break
        total = number
        if number <= MAX_SEGMENTS or number in flagged:
            segments.append(Segment(number=number, tag=_segment_tag(part, una), text=part + terminator,
                                    gap_before=number != shown_last + 1))
            shown_last = number
    by_number = {s.number: s for s in segments if s.number is not None}
    unplaced = []
    for issue in issues:
        at = issue.get("segment")
        segment = by_number.get(at) if isinstance(at, int) else None
        if segment is None and at is None and issue.get("tag"):
            matches = [s for s in segments if s.tag == issue["tag"]]
            segment = matches[0] if len(matches) == 1 else None
        if segment is not None:
            segment.issues.append(issue)
        else:
            unplaced.append(issue)
    for segment in segments:
        if segment.issues and segment.number is not None:
            segment.pieces = segment_pieces(segment.text, terminator, una, segment.issues)
    return PayloadView(kind="edifact", segments=segments, unplaced=unplaced, size=size,
                       total_segments=total, truncated=truncated or total > MAX_SEGMENTS)


def payload_view(data: bytes | None, syntax: str = "", issues: list[dict[str, Any]] | None = None) -> PayloadView:
    """The payload as an operator reads it, with issues attached to the segments they name.

    EDIFACT: one segment a line, numbered from UNB = 1 (the first
    :data:`MAX_SEGMENTS`, then only flagged ones). XML indented, JSON indented,
    anything else as text; large payloads are cut, the download has them whole.
    """
    issues = [i for i in (issues or []) if isinstance(i, dict)]
    if data is None:
        return PayloadView(kind="purged", unplaced=issues)
    text = _decode(data)
    if syntax == "edifact" or _looks_edifact(text):
        return _edifact_view(text, len(data), issues)
    if b"\x00" in data[:8192]:
        return PayloadView(kind="binary", unplaced=issues, size=len(data))
    if len(data) > MAX_PRETTY_BYTES:
        return PayloadView(kind="text", text=text[:MAX_TEXT], unplaced=issues, size=len(data), truncated=True)
    stripped = text.lstrip()
    if syntax in ("ubl", "xml") or stripped.startswith("<"):
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=False, load_dtd=False
        )
        try:
            root = etree.fromstring(data, parser)
            pretty = etree.tostring(root, pretty_print=True, encoding="unicode")
            return PayloadView(kind="xml", text=pretty, unplaced=issues, size=len(data))
        except etree.XMLSyntaxError:
            return PayloadView(kind="text", text=text, unplaced=issues, size=len(data))
    if syntax == "json" or stripped.startswith(("{", "[")):
        try:
            return PayloadView(
                kind="json", text=json.dumps(json.loads(text), indent=2, ensure_ascii=False),
                unplaced=issues, size=len(data),
            )
        except ValueError:
            pass
    return PayloadView(kind="text", text=text, unplaced=issues, size=len(data))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")



#: payloads above this size are not translated for display (the download is always there)
PARSED_VIEW_LIMIT = 2_000_000


#: the most payloads one ZIP download holds, and the most bytes (uncompressed) it reads
ZIP_LIMIT = 200
ZIP_MAX_BYTES = 256 * 1024 * 1024


def write_payload_zip(messages: list[Message], out: IO[bytes], settings: Settings | None = None) -> tuple[int, int]:
    """Write the payloads of ``messages`` into a ZIP archive on ``out``, with a ``manifest.csv`` listing every
    message (id, partner, direction, type, state, references, file in the archive, SHA-256, or why it is
    missing). Payloads that retention purged, or past ZIP_MAX_BYTES in all, are listed but left out.
    Returns (payloads written, messages listed)."""
    import csv
    import io
    import zipfile

    from werkzeug.utils import secure_filename

    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["message_id", "partner", "direction", "document_type", "state", "interchange_ref",
                     "message_ref", "created_at", "file", "size", "sha256", "note"])
    written = total = 0
    suffixes = {"edifact": "edi", "ubl": "xml", "json": "json"}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for message in messages:
            data = message_payload(message, settings)
            name, note = "", ""
            if data is None:
                note = "payload no longer stored (retention)"
            elif total + len(data) > ZIP_MAX_BYTES:
                note = f"left out: the download stops at {ZIP_MAX_BYTES // (1024 * 1024)} MB"
            else:
                base = secure_filename(message.filename or "") or f"message.{suffixes.get(message.syntax, 'bin')}"
                name = f"{message.id}-{base}"
                archive.writestr(name, data)
                written, total = written + 1, total + len(data)
            writer.writerow([message.id, message.partner.code if message.partner else "", message.direction,
                             message.document_type or "", message.state, message.interchange_ref or "",
                             message.message_ref or "", f"{message.created_at:%Y-%m-%dT%H:%M:%SZ}", name,
                             message.size, message.payload.sha256 if message.payload else "", note])
        archive.writestr("manifest.csv", manifest.getvalue())
    return written, len(messages)


def parsed_documents(message: Message, settings: Settings | None = None) -> list[dict] | None:
    """The canonical documents of a stored payload, as JSON-ready dicts, for the console.

    None when there is nothing to show (no payload, too large, an MDN); an
    empty list when the payload yields no sound document (its issues are
    shown with the payload).
    """
    from edi.documents import to_dict
    from edi.translate import translate

    data = message_payload(message, settings)
    if data is None or len(data) > PARSED_VIEW_LIMIT or message.syntax not in ("edifact", "ubl"):
        return None
    translation = translate(data)
    return [to_dict(m.document) for m in translation.messages if m.document is not None]
