"""The values that pass between the reader, the validator, the mappings and the writer.

A segment is pydifact's :class:`pydifact.segments.Segment`: ``tag`` and
``elements``, each element a ``str`` (simple) or a ``list[str]`` (composite),
trailing empty elements and components dropped. Positions are kept beside
segments, never inside them, so a segment is exactly pydifact's model.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from pydifact.segments import Segment

from edi.errors import Issue

__all__ = [
    "Number",
    "Segment",
    "Separators",
    "DEFAULT_SEPARATORS",
    "InterchangeHeader",
    "GroupHeader",
    "Message",
    "GroupTrailer",
    "InterchangeTrailer",
    "Interchange",
    "OutMessage",
    "element",
    "component",
]


class Number(str):
    """A numeric data element value as text, written with ``.`` as decimal mark.

    The writer (:func:`edi.syntax.format_segment`) replaces the ``.`` with the
    decimal mark of the separators in force (UNA position 3), so a message
    built once can be written with a decimal comma. Plain ``str`` values are
    written as they are: mark numbers as Number where a decimal comma may apply.
    """

    __slots__ = ()


@dataclass(frozen=True)
class Separators:
    """Service characters (UNA). ``repetition`` is ``" "`` (none) below syntax version 4."""

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str = "?"
    repetition: str = " "
    terminator: str = "'"

    def una(self) -> str:
        return "UNA" + self.component + self.element + self.decimal + self.release + self.repetition + self.terminator


DEFAULT_SEPARATORS = Separators()


@dataclass
class InterchangeHeader:
    """UNB, with the separators in force (from UNA or the defaults)."""

    syntax_id: str  # UNOA .. UNOY
    syntax_version: str  # "1" .. "4"
    sender: str
    sender_qualifier: str | None
    recipient: str
    recipient_qualifier: str | None
    prepared: _dt.datetime | None  # UNB date and time
    control_ref: str  # 0020
    application_ref: str | None = None  # 0026
    ack_requested: bool = False  # 0031 = 1
    agreement_id: str | None = None  # 0032
    test: bool = False  # 0035 = 1
    separators: Separators = DEFAULT_SEPARATORS
    segment: Segment | None = None  # the UNB as read
    position: int = 1


@dataclass
class GroupHeader:
    """UNG (functional group)."""

    message_group: str  # 0038
    sender: str
    recipient: str
    control_ref: str  # 0048
    segment: Segment | None = None
    position: int = 0


@dataclass
class Message:
    """One message, UNH to UNT inclusive, as read.

    ``segments[0]`` is the UNH; ``first_position`` is its position in the
    interchange, so ``segments[i]`` sits at ``first_position + i``.
    ``issues`` holds the syntax and envelope problems the reader found in it.
    """

    reference: str  # UNH 0062
    type: str  # 0065, e.g. ORDERS
    version: str  # 0052, e.g. D
    release: str  # 0054, e.g. 96A
    agency: str  # 0051, e.g. UN
    association: str | None  # 0057, e.g. EAN008
    segments: list[Segment]
    first_position: int
    group_ref: str | None = None
    issues: list[Issue] = field(default_factory=list)

    @property
    def directory(self) -> str:
        """``D96A`` style name of the directory the message claims."""
        return f"{self.version}{self.release}"


@dataclass
class GroupTrailer:
    """UNE."""

    message_count: int | None
    control_ref: str | None
    position: int = 0
    issues: list[Issue] = field(default_factory=list)


@dataclass
class InterchangeTrailer:
    """UNZ (or its absence, noted in ``issues``)."""

    count: int | None
    control_ref: str | None
    position: int | None = None
    issues: list[Issue] = field(default_factory=list)


@dataclass
class Interchange:
    """A whole interchange collected in memory, for callers that want it all at once."""

    header: InterchangeHeader
    messages: list[Message] = field(default_factory=list)
    groups: list[GroupHeader] = field(default_factory=list)
    trailer: InterchangeTrailer | None = None
    issues: list[Issue] = field(default_factory=list)  # interchange-level problems

    def all_issues(self) -> list[Issue]:
        found = list(self.issues)
        for message in self.messages:
            found.extend(message.issues)
        return found


@dataclass
class OutMessage:
    """A message to write: the writer adds UNH and UNT (with the segment count)."""

    reference: str
    type: str
    version: str
    release: str
    agency: str
    association: str | None
    body: list[Segment]  # everything between UNH and UNT


def element(segment: Segment, index: int) -> str | list[str] | None:
    """The element at 1-based ``index`` or None when absent."""
    elements = segment.elements
    return elements[index - 1] if 0 < index <= len(elements) else None


def component(segment: Segment, index: int, sub: int = 1) -> str | None:
    """Component ``sub`` (1-based) of element ``index``; a simple element is its own first component.

    Empty strings come back as None, so callers test one thing.
    """
    value = element(segment, index)
    if value is None:
        return None
    if isinstance(value, list):
        value = value[sub - 1] if 0 < sub <= len(value) else None
    elif sub != 1:
        value = None
    return value or None
