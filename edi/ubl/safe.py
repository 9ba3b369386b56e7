"""A hardened XML reader for documents that come from partners.

``parse_xml`` is the only way ``edi.ubl`` turns partner bytes into a tree:

* the size is checked before anything is parsed (``max_bytes``);
* a document type declaration is refused outright, before and after parsing:
  no internal subset means no entity definitions, so neither "billion laughs"
  nor external entities (``file:///etc/passwd``, ``http://...``) nor an
  external DTD can do anything;
* the lxml parser itself never resolves entities, never loads a DTD, never
  touches the network and keeps libxml2's limits on depth and node size
  (``huge_tree=False``).

Problems come back as :class:`edi.errors.EdiError` carrying one
:class:`edi.errors.Issue`; nothing else is raised.
"""

from __future__ import annotations

import re

from lxml import etree

from edi.errors import EdiError, Issue, SyntaxCode

__all__ = ["DEFAULT_MAX_BYTES", "DTD_REFUSED", "parse_xml", "new_parser", "sniff_encoding"]

DEFAULT_MAX_BYTES = 50_000_000
DTD_REFUSED = "DTD/entity declarations are not accepted"

# The prolog is everything before the root element's start tag: XML
# declaration, comments, processing instructions and (refused) a DOCTYPE.
_DOCTYPE = re.compile(r"<!\s*DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(r"<!\s*ENTITY", re.IGNORECASE)


def new_parser() -> etree.XMLParser:
    """An lxml parser that resolves nothing and reaches nothing."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


#: Byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
_BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
_UNIT = {"utf-32-be": 4, "utf-32-le": 4, "utf-16-be": 2, "utf-16-le": 2, "utf-8": 1}


def sniff_encoding(head: bytes) -> tuple[str, int] | None:
    """``(encoding, BOM length)`` when ``head`` starts like an XML document, else None.

    XML starts, after an optional byte-order mark (UTF-8, UTF-16 or UTF-32,
    either byte order) and optional whitespace, with ``<``, in whichever of
    those encodings the mark names or, without a mark, the bytes show (XML 1.0
    appendix F, autodetection of character encodings). A mark alone is not
    enough: some tools put a UTF-8 mark in front of EDIFACT.
    """
    if head[:1].isupper():
        # an ASCII capital (EDIFACT's UNA or UNB) starts no byte-order mark, blank or "<" in any of them
        return None
    candidates: tuple[str, ...] = ("utf-32-be", "utf-32-le", "utf-16-be", "utf-16-le", "utf-8")
    start = 0
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            candidates, start = (encoding,), len(bom)
            break
    for encoding in candidates:
        unit = _UNIT[encoding]
        blank = {ch.encode(encoding) for ch in " \t\r\n"}
        less = "<".encode(encoding)
        for pos in range(start, len(head) - unit + 1, unit):
            char = head[pos : pos + unit]
            if char == less:
                return encoding, start
            if char not in blank:
                break
    return None


def _head_text(data: bytes) -> str:
    """The first 64 KiB as text, whatever the (BOM or detected) encoding."""
    head = data[:65536]
    found = sniff_encoding(head)
    if found is None or found[0] == "utf-8":
        return head.decode("latin-1")
    encoding, bom = found
    unit = _UNIT[encoding]
    body = head[bom:]
    return body[: len(body) - len(body) % unit].decode(encoding, errors="ignore")


def _refuse(message: str, code: str = SyntaxCode.NOT_SUPPORTED_IN_POSITION, line: int | None = None) -> EdiError:
    path = f"line {line}" if line else "/"
    return EdiError(message, [Issue(message, code=code, path=path)])


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._ElementTree:
    """Parse partner bytes into a tree, or raise :class:`EdiError`.

    Refuses: more than ``max_bytes`` bytes, any DOCTYPE or ENTITY declaration
    (``DTD_REFUSED``), and anything that is not well-formed XML.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise _refuse("an XML document must be given as bytes", SyntaxCode.UNSPECIFIED)
    if len(data) > max_bytes:
        raise _refuse(
            f"document is {len(data)} bytes, more than the limit of {max_bytes}", SyntaxCode.UNSPECIFIED
        )
    head = _head_text(bytes(data))
    root = _root_start(head)
    if _DOCTYPE.search(head, 0, root) or _ENTITY.search(head, 0, root):
        raise _refuse(DTD_REFUSED)
    try:
        tree = etree.ElementTree(etree.fromstring(bytes(data), new_parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
        message = str(exc.msg or exc)
        if "entity" in message.lower() or "doctype" in message.lower():
            raise _refuse(f"{DTD_REFUSED} ({message})", line=line) from exc
        raise _refuse(f"not well-formed XML: {message}", SyntaxCode.UNSPECIFIED, line) from exc
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise _refuse(DTD_REFUSED)
    for node in tree.getroot().iter(etree.Entity):
        raise _refuse(f"{DTD_REFUSED} (entity reference &{node.name};)")
    return tree


def _root_start(text: str) -> int:
    """Index of the root start tag: the first ``<`` followed by a name character."""
    pos = 0
    while True:
        pos = text.find("<", pos)
        if pos < 0 or pos + 1 >= len(text):
            return len(text)
        nxt = text[pos + 1]
        if nxt == "!" and text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            if end < 0:
                return len(text)
            pos = end + 3
            continue
        if nxt == "?":
            end = text.find("?>", pos + 2)
            if end < 0:
                return len(text)
            pos = end + 2
            continue
        if nxt == "!":
            pos += 2
            continue
        return pos
