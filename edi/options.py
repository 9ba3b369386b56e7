"""Strictness: strict by default, with named leniencies a partner profile may grant.

A partner profile lists leniency names (``leniencies = ["missing-unz"]``);
:func:`Strictness.from_names` refuses a name it does not know, so a typo
fails at start-up, not on the first message.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LENIENCIES", "Strictness"]

#: Every leniency the translator knows, with what it allows.
LENIENCIES: dict[str, str] = {
    "utf8-as-unoc": "accept UTF-8 text in an interchange labelled UNOC (ISO 8859-1)",
    "charset": "report characters outside the declared syntax identifier as warnings",
    "missing-unz": "accept an interchange without its UNZ trailer",
    "control-counts": "report wrong UNT/UNE/UNZ counts as warnings",
    "control-references": "report UNT/UNE/UNZ references that differ from their headers as warnings",
    "unknown-codes": "report values missing from a code list as warnings",
    "element-formats": "report element length and character type violations as warnings",
    "unknown-segments": "report segments the message structure does not allow as warnings",
    "long-association-code": "report a UNH association assigned code (0057) longer than its an..6 as a warning"
    " (EANCOM 1997 subset labels such as EAN008B)",
}


@dataclass(frozen=True)
class Strictness:
    """The leniencies in force; the empty set is strict."""

    leniencies: frozenset[str] = frozenset()

    @classmethod
    def from_names(cls, names: list[str] | tuple[str, ...] | frozenset[str]) -> "Strictness":
        unknown = sorted(set(names) - set(LENIENCIES))
        if unknown:
            raise ValueError(
                f"unknown leniency {unknown[0]!r}; known: {', '.join(sorted(LENIENCIES))}"
            )
        return cls(frozenset(names))

    def allows(self, name: str) -> bool:
        if name not in LENIENCIES:
            raise KeyError(name)
        return name in self.leniencies


STRICT = Strictness()
