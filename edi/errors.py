"""The translator's error model.

Every problem found in a message is an :class:`Issue`: where it is (segment
position, tag, element, component, or an XML path), a plain sentence, and
the code a partner gets back for it in a CONTRL (syntax error code, 0085) or
an APERAK (application error code). Issues are collected, not raised, so one
run reports every independent cause.

The one exception type the library raises is :class:`EdiError`; anything
else escaping ``edi`` is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Issue", "EdiError", "EdiSyntaxError", "MappingError", "Severity", "SyntaxCode"]


class Severity:
    ERROR = "error"
    WARNING = "warning"


class SyntaxCode:
    """CONTRL syntax error codes (UN/EDIFACT 0085) the translator uses."""

    INVALID_VALUE = "12"
    MISSING = "13"
    NOT_SUPPORTED_IN_POSITION = "15"
    TOO_MANY_CONSTITUENTS = "16"
    NO_AGREEMENT = "17"
    UNSPECIFIED = "18"
    INVALID_DECIMAL_NOTATION = "19"
    INVALID_CHARACTER = "21"
    INVALID_SERVICE_CHARACTER = "22"
    UNKNOWN_INTERCHANGE_SENDER = "23"
    DUPLICATE = "26"
    REFERENCES_DO_NOT_MATCH = "28"
    CONTROL_COUNT_MISMATCH = "29"
    GROUPS_AND_MESSAGES_MIXED = "30"
    TOO_MANY_REPETITIONS = "35"
    TOO_MANY_SEGMENT_GROUP_REPETITIONS = "36"
    INVALID_TYPE_OF_CHARACTER = "37"
    MISSING_DIGIT_BEFORE_DECIMAL = "38"
    TOO_LONG = "39"
    TOO_SHORT = "40"
    UNSUPPORTED_SYNTAX = "2"  # syntax version or level not supported
    INVALID_OCCURRENCE_OUTSIDE_MESSAGE = "33"  # invalid occurrence outside message, package or group


@dataclass(frozen=True)
class Issue:
    """One problem, located as precisely as it can be.

    ``segment`` is the 1-based position of the segment in the interchange
    (UNB is 1; a UNA is not counted); ``message_segment`` the position within
    its message (UNH is 1), as CONTRL's UCS reports it. ``element`` and
    ``component`` are 1-based positions within the segment and the composite.
    ``path`` locates XML problems (an XPath-like string) instead.
    """

    message: str
    code: str = SyntaxCode.UNSPECIFIED
    segment: int | None = None
    tag: str | None = None
    element: int | None = None
    component: int | None = None
    message_segment: int | None = None
    message_ref: str | None = None  # UNH 0062 of the message it belongs to
    path: str | None = None
    severity: str = Severity.ERROR
    rule: str | None = None  # a named rule, e.g. an EN 16931 id such as BR-CO-15

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR

    def located(self, **where: object) -> "Issue":
        """A copy with more location filled in."""
        return replace(self, **where)  # type: ignore[arg-type]

    def where(self) -> str:
        """Where the issue is, as ``kontor edi validate`` prints it before the colon.

        * ``segment N (TAG) element E[.C]`` when the segment position is known
          (element and component as far as known);
        * ``message REF`` when only the message is known (its UNH reference,
          0062), e.g. a mandatory item that is absent from it;
        * ``interchange`` for the interchange as a whole;
        * ``interchange (TAG)`` / ``message REF (TAG)`` when a segment that is
          not counted (a UNA) or has no position is named;
        * the XPath-like path for XML.
        """
        if self.path is not None:
            return self.path
        if self.segment is not None:
            text = f"segment {self.segment}" + (f" ({self.tag})" if self.tag else "")
        else:
            text = f"message {self.message_ref}" if self.message_ref is not None else "interchange"
            if self.tag:
                text += f" ({self.tag})"
        if self.element is not None:
            text += f" element {self.element}" + (f".{self.component}" if self.component else "")
        return text

    def format(self, filename: str | None = None) -> str:
        """The line ``kontor edi validate`` prints: ``FILE: segment N (TAG) element E[.C]: message``.

        See :meth:`where` for issues without a segment position. A rule
        comes in brackets before the text, a warning ends in ``(warning)``.
        """
        text = f"{self.where()}: {self.message}"
        if self.rule:
            text = f"{self.where()}: [{self.rule}] {self.message}"
        if self.severity != Severity.ERROR:
            text += f" ({self.severity})"
        return f"{filename}: {text}" if filename else text

    def __str__(self) -> str:
        return self.format()


class EdiError(Exception):
    """Base of every error the translator raises."""

    def __init__(self, message: str, issues: list[Issue] | None = None):
        super().__init__(message)
        self.issues: list[Issue] = list(issues or [])


class EdiSyntaxError(EdiError):
    """The bytes cannot be read as an interchange at all (no UNB, unreadable UNA...)."""


class MappingError(EdiError):
    """A message is well formed but cannot become a canonical document."""
