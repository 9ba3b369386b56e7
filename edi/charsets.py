"""EDIFACT syntax identifiers (UNB S001/0001) and the character repertoires they name.

Facts, with sources:

* Level A (UNOA) and level B (UNOB) repertoires are the lists of ISO 9735
  (syntax version 3, clause on character repertoires; reproduced in the
  EANCOM 2002 syntax part and in many implementation guides): level A is
  ``A-Z 0-9 space . , - ( ) / = ' + : ? ! " % & * ; < >``; level B is the
  same plus lower case ``a-z``. Data element 0001 states it the other way
  round: "the basic code table of ISO 646 with the exceptions of lower case
  letters (A only), alternative graphic character allocations and national or
  application-oriented graphic character allocations", which rules out
  ``# $ @ [ \\ ] ^ ` { | } ~`` for both levels (an analyser such as
  Foresight flags ``@`` under UNOA and UNOB for exactly that reason).
  Underscore is not in the ISO 9735 level B list, so it is not accepted.
* UNOC..UNOK name parts of ISO/IEC 8859 (code list 0001, e.g. the UN/EDIFACT
  D17B and ISO 9735 service code lists): UNOC 8859-1, UNOD 8859-2,
  UNOE 8859-5, UNOF 8859-7, UNOG 8859-3, UNOH 8859-4, UNOI 8859-6,
  UNOJ 8859-8, UNOK 8859-9. The repertoire of a part is its graphic
  characters: C0/C1 controls and DEL are not part of it, nor are the
  positions a part leaves undefined (8859-3, -6, -7, -8 have such holes).
* UNOW is UTF-8 and UNOY "ISO 10646-1 octet without code extension
  technique" (both syntax version 4); we read both as UTF-8.
* UNOX is ISO 2022 code extension: not supported (CONTRL code 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Charset", "CHARSETS", "LEVEL_A", "LEVEL_B", "charset_for"]

#: ISO 9735 level A repertoire (UNOA).
LEVEL_A = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-()/='+:?!\"%&*;<>"
#: ISO 9735 level B repertoire (UNOB): level A plus lower case letters.
LEVEL_B = LEVEL_A + "abcdefghijklmnopqrstuvwxyz"

_CONTROLS = "\x00-\x1f\x7f-\x9f"


@dataclass(frozen=True)
class Charset:
    """One syntax identifier: how to decode it and which characters it allows.

    ``codec`` is the Python codec the bytes are read and written with;
    ``invalid`` matches one decoded character outside the repertoire;
    ``supported`` is False for identifiers the translator refuses (UNOX).
    """

    syntax_id: str
    codec: str
    description: str
    invalid: re.Pattern[str]
    seven_bit: bool = False
    supported: bool = True

    def bad_bytes(self, service: bytes) -> re.Pattern[bytes]:
        """A pattern over raw bytes that finds nothing when every segment of a chunk is clean.

        ``service`` are the separator bytes in force (they may lie outside a
        7-bit repertoire, e.g. ``|`` announced by UNA). Only a fast pre-check:
        when it finds something, the reader checks segment by segment.
        """
        return _bad_bytes(self.syntax_id, service)


def _class(chars: str) -> str:
    return "".join(re.escape(c) for c in chars)


def _iso8859(syntax_id: str, part: int, name: str) -> Charset:
    # Undecodable positions arrive as lone surrogates (surrogateescape).
    return Charset(
        syntax_id,
        f"iso8859_{part}",
        f"ISO/IEC 8859-{part} ({name})",
        re.compile(f"[{_CONTROLS}\udc80-\udcff]"),
    )


CHARSETS: dict[str, Charset] = {
    "UNOA": Charset("UNOA", "ascii", "ISO 9735 level A", re.compile(f"[^{_class(LEVEL_A)}]"), seven_bit=True),
    "UNOB": Charset("UNOB", "ascii", "ISO 9735 level B", re.compile(f"[^{_class(LEVEL_B)}]"), seven_bit=True),
    "UNOC": _iso8859("UNOC", 1, "Latin alphabet No. 1"),
    "UNOD": _iso8859("UNOD", 2, "Latin alphabet No. 2"),
    "UNOE": _iso8859("UNOE", 5, "Latin/Cyrillic"),
    "UNOF": _iso8859("UNOF", 7, "Latin/Greek"),
    "UNOG": _iso8859("UNOG", 3, "Latin alphabet No. 3"),
    "UNOH": _iso8859("UNOH", 4, "Latin alphabet No. 4"),
    "UNOI": _iso8859("UNOI", 6, "Latin/Arabic"),
    "UNOJ": _iso8859("UNOJ", 8, "Latin/Hebrew"),
    "UNOK": _iso8859("UNOK", 9, "Latin alphabet No. 5"),
    "UNOW": Charset("UNOW", "utf-8", "UTF-8", re.compile(f"[{_CONTROLS}\ud800-\udfff]")),
    "UNOY": Charset("UNOY", "utf-8", "ISO/IEC 10646 (read as UTF-8)", re.compile(f"[{_CONTROLS}\ud800-\udfff]")),
    "UNOX": Charset("UNOX", "latin-1", "ISO 2022 code extension", re.compile("(?!)"), supported=False),
}

#: The pattern used for UNOC when leniency ``utf8-as-unoc`` lets UTF-8 through.
UTF8_INVALID = CHARSETS["UNOW"].invalid


def charset_for(syntax_id: str) -> Charset | None:
    """The charset a syntax identifier names, or None when the identifier is unknown."""
    return CHARSETS.get(syntax_id)


@lru_cache(maxsize=64)
def _bad_bytes(syntax_id: str, service: bytes) -> re.Pattern[bytes]:
    cs = CHARSETS[syntax_id]
    if cs.seven_bit:
        repertoire = (LEVEL_A if syntax_id == "UNOA" else LEVEL_B).encode("ascii")
        allowed = re.escape(repertoire + service + b"\r\n")
        bad = b"[^" + allowed + b"]"
    elif cs.codec == "utf-8":
        # C0 controls (bar whitespace), DEL and the C1 controls as UTF-8 encodes them.
        bad = b"[\x00-\x08\x0e-\x1f\x7f]|\xc2[\x80-\x9f]"
    else:
        bad = b"[\x00-\x08\x0e-\x1f\x7f-\x9f]"
    # Tab, VT and FF are never expected; CR and LF are checked by counting them
    # against the terminators they follow (see the reader).
    return re.compile(bad + b"|[\t\x0b\x0c]")
