"""Folding free text to what an EDIFACT charset can carry.

Text the hub writes itself (product names from the catalogue, party names)
may hold characters the partner's syntax identifier (UNB 0001) cannot carry:
an en dash or a euro sign under UNOC, a Polish ``Ł`` under UNOA. Refusing to
write the message would lose an answer the partner is owed; this module turns
such text into the nearest writable form instead:

1. a character the charset carries is kept as it is;
2. common punctuation and letters without a decomposition use a small table
   (en/em dash -> ``-``, curly quotes -> straight ones, euro sign -> ``EUR``,
   ``Ł`` -> ``L``, ``ß`` -> ``ss``...);
3. otherwise the Unicode NFKD decomposition without its combining marks
   (``é`` -> ``e``, ``ﬁ`` -> ``fi``);
4. under level A (UNOA), which has no lower case, the upper case of the result;
5. anything still unwritable becomes ``?``; line breaks and other controls a
   space.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from edi.charsets import Charset, charset_for

__all__ = ["fold_to_charset", "writable"]

#: Replacements tried before the NFKD decomposition (characters that have none, or a poor one).
_TABLE: dict[str, str] = {
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"', "\u2039": "'", "\u203a": "'",
    "\u20ac": "EUR", "\u00a3": "GBP", "\u00a5": "JPY",
    "\u2026": "...", "\u2022": "*", "\u00b7": ".", "\u00d7": "x", "\u00f7": "/",
    "\u00a0": " ", "\u2007": " ", "\u202f": " ", "\u2009": " ",
    "\u00b0": " deg", "\u00b5": "u", "\u00ae": "(R)", "\u00a9": "(C)", "\u2122": "TM",
    "\u0141": "L", "\u0142": "l", "\u00d8": "O", "\u00f8": "o", "\u0110": "D", "\u0111": "d",
    "\u00c6": "AE", "\u00e6": "ae", "\u0152": "OE", "\u0153": "oe", "\u00df": "ss",
    "\u00de": "TH", "\u00fe": "th", "\u00d0": "D", "\u00f0": "d", "\u0131": "i", "\u0126": "H", "\u0127": "h",
    "@": "(at)", "#": "No.", "_": "-", "[": "(", "]": ")", "{": "(", "}": ")", "|": "/", "\\": "/", "~": "-",
    "^": "", "`": "'",
}


def writable(charset: Charset, text: str) -> bool:
    """True when every character of ``text`` belongs to ``charset``'s repertoire."""
    if charset.invalid.search(text):
        return False
    try:
        text.encode(charset.codec)
    except UnicodeEncodeError:
        return False
    return True


@lru_cache(maxsize=4096)
def _fold_char(syntax_id: str, char: str) -> str:
    cs = charset_for(syntax_id)
    assert cs is not None
    if writable(cs, char):
        return char
    if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
        return " "
    candidates = []
    if char in _TABLE:
        candidates.append(_TABLE[char])
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if decomposed and decomposed != char:
        candidates.append(decomposed)
    candidates.append(char.upper())
    for candidate in candidates:
        for text in (candidate, candidate.upper()):
            if writable(cs, text):
                return text
        # a candidate with some writable characters (e.g. "(at)" under UNOA -> "(AT)" above)
        if len(candidate) > 1 and candidate != char:
            folded = "".join(_fold_char(syntax_id, c) for c in candidate)
            if folded.strip("?"):
                return folded
    return "?"


def fold_to_charset(text: str, charset: str) -> str:
    """``text`` with every character ``charset`` (a syntax identifier, e.g. ``UNOC``) cannot carry
    replaced by its nearest writable form (see the module notes); the result always passes the
    writer's charset check. Raises ValueError for an unknown or unsupported syntax identifier."""
    cs = charset_for(charset)
    if cs is None or not cs.supported:
        raise ValueError(f"cannot fold text to syntax identifier {charset!r}: not supported")
    if writable(cs, text):
        return text
    return "".join(_fold_char(cs.syntax_id, c) for c in text)
