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

__all__ = ["DEFAULT_MAX_BYTES", "DTD_REFUSED", "parse_xml", "new_parser"]

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


def _head_text(data: bytes) -> str:
    """The first 64 KiB as text, whatever the (declared or BOM) encoding."""
    head = data[:65536]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="ignore")
    if len(head) > 1 and (head[0] == 0 or head[1] == 0):
        return head.decode("utf-16-be" if head[0] == 0 else "utf-16-le", errors="ignore")
    return head.decode("latin-1")


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
