"""EDIFACT messages <-> canonical documents.

``message_to_document`` maps a read :class:`~edi.envelope.Message` (ORDERS,
ORDRSP, DESADV, INVOIC, CONTRL, APERAK) to its document and the Issues found;
``document_to_message`` renders a document as an :class:`~edi.envelope.OutMessage`
for the syntax writer, in directory D96A or D01B.

Default association-assigned codes (UNH S009 0057) are the EANCOM versions of
each message in that directory:

=========  ======================  ==========================
message    D96A (EANCOM 1997)      D01B (EANCOM 2002)
=========  ======================  ==========================
ORDERS     EAN008 (a)              EAN010 (b)
ORDRSP     EAN005 (c)              EAN007 (d)
DESADV     EAN005 (d)              EAN007 (e)
INVOIC     EAN008 (f)              EAN010 (d)
APERAK     EAN000 (g)              EAN003 (h)
CONTRL     EAN002 (i)              EAN004 (j)
=========  ======================  ==========================

(a) gs1.se EANCOM 2000 orders/gd1.htm; (b) GS1 Germany eOrders example
(UNH ORDERS:D:01B:UN:EAN010); (c) EANCOM 1997 ORDRSP "VERSION 005"
(ref.gs1.org/standards/eancom/1997); (d) EANCOM 2002 message versions as
commonly published, not re-checked here; (e) GS1 Germany eDESADV segment
layout (DESADV:D:01B:UN:EAN007); (f) gs1.se EANCOM 2000 invoic/gd1.htm;
(g) gs1.se EANCOM 2000 Aperak/gd1.htm (APERAK:D:96A:UN:EAN000);
(h) eancom.com ean02s3 APERAK examples (APERAK:D:01B:UN:EAN003);
(i) EANCOM 1997 CONTRL example (CONTRL:2:2:UN:EAN002, written so; see
``_CONTRL_VERSIONS``);
(j) eancom.com ean02s3 CONTRL, edition 2016 (CONTRL:D:3:UN:EAN004).
Pass ``association=None`` for plain UN/EDIFACT, or a partner's own code.
"""

from __future__ import annotations

import datetime as _dt
from typing import Callable

from edi.documents import (
    Acknowledgement,
    DespatchAdvice,
    Document,
    Invoice,
    Order,
    OrderResponse,
)
from edi.edifact.acknowledgements import (
    aperak_for,
    aperak_for_invoice,
    contrl_from_issues,
    read_aperak,
    read_contrl,
    write_aperak,
    write_contrl,
)
from edi.edifact.common import MessageReader, check_directory
from edi.edifact.desadv import read_desadv, write_desadv
from edi.edifact.invoic import read_invoic, write_invoic
from edi.edifact.orders import read_orders, write_orders
from edi.edifact.ordrsp import read_ordrsp, write_ordrsp
from edi.envelope import InterchangeHeader, Message, OutMessage, Segment
from edi.errors import EdiError, Issue, MappingError, SyntaxCode

__all__ = [
    "SUPPORTED_TYPES",
    "DEFAULT_ASSOCIATIONS",
    "message_to_document",
    "document_to_message",
    "contrl_from_issues",
    "aperak_for",
    "aperak_for_invoice",
]

#: Message types the mappings read and write.
SUPPORTED_TYPES = ("ORDERS", "ORDRSP", "DESADV", "INVOIC", "CONTRL", "APERAK")

#: (message type, directory) -> UNH 0057 default (see the module docstring for sources).
DEFAULT_ASSOCIATIONS: dict[tuple[str, str], str] = {
    ("ORDERS", "D96A"): "EAN008",
    ("ORDERS", "D01B"): "EAN010",
    ("ORDRSP", "D96A"): "EAN005",
    ("ORDRSP", "D01B"): "EAN007",
    ("DESADV", "D96A"): "EAN005",
    ("DESADV", "D01B"): "EAN007",
    ("INVOIC", "D96A"): "EAN008",
    ("INVOIC", "D01B"): "EAN010",
    ("APERAK", "D96A"): "EAN000",
    ("APERAK", "D01B"): "EAN003",
    ("CONTRL", "D96A"): "EAN002",
    ("CONTRL", "D01B"): "EAN004",
}

#: CONTRL's own S009 version and release, by its association code, so that the two
#: always match: EANCOM 1997 (D96A partners) publishes CONTRL:2:2:UN:EAN002, EANCOM
#: 2002 S3 (D01B partners) CONTRL:D:3:UN:EAN004 (sources (i) and (j) above). Plain
#: UN (no association) and any other code get D:3, the UN CONTRL for syntax version 3
#: (gefeg.com/jswg/v3/data/v3-contrl.htm). edi.directory reads all of them.
_CONTRL_VERSIONS: dict[str | None, tuple[str, str]] = {"EAN002": ("2", "2"), "EAN004": ("D", "3")}
_CONTRL_DEFAULT_VERSION = ("D", "3")

_DEFAULT = object()


def message_to_document(
    message: Message,
    *,
    decimal_mark: str = ".",
    header: InterchangeHeader | None = None,
    reported_missing: frozenset[str] | set[str] = frozenset(),
) -> tuple[Document | None, list[Issue]]:
    """Map one message to its canonical document.

    Returns the document (None when an error prevents a sound one) and every
    Issue found, each located at its segment (``segment`` absolute in the
    interchange, ``message_segment`` with UNH = 1, ``message_ref``), element
    and component. ``decimal_mark`` is the interchange's (UNA). ``header``,
    when given, dates a CONTRL (which has no date of its own) with the
    interchange's preparation date (without it, today's date).
    ``reported_missing`` names the segments directory validation already
    reported missing in this message (see
    :func:`edi.validate.validate_message`): their absence is not reported
    again, though it still keeps the document from being made. Raises
    nothing but :class:`EdiError`.
    """
    reader = MessageReader(message, decimal_mark, reported_missing=frozenset(reported_missing))
    readers: dict[str, Callable[[MessageReader], Document | None]] = {
        "ORDERS": read_orders,
        "ORDRSP": read_ordrsp,
        "DESADV": read_desadv,
        "INVOIC": read_invoic,
        "APERAK": read_aperak,
    }
    try:
        if message.type == "CONTRL":
            # CONTRL has no date of its own: the interchange's, else the day it is read
            if header is not None and header.prepared is not None:
                issue_date = header.prepared.date()
            else:
                issue_date = _dt.date.today()
            return read_contrl(reader, issue_date), reader.issues
        read = readers.get(message.type)
        if read is None:
            reader.issue(
                0,
                f"message type {message.type!r} is not supported; supported: {', '.join(SUPPORTED_TYPES)}",
                code=SyntaxCode.NOT_SUPPORTED_IN_POSITION,
                element=2,
                component=1,
            )
            return None, reader.issues
        document = read(reader)
    except EdiError:
        raise
    except (ValueError, ArithmeticError, IndexError, TypeError, AttributeError) as exc:
        raise MappingError(f"message {message.reference} ({message.type}) could not be mapped: {exc}") from exc
    return document, reader.issues


def document_to_message(
    document: Document,
    *,
    reference: str,
    directory: str = "D96A",
    association: str | None | object = _DEFAULT,
    agency: str = "UN",
) -> OutMessage:
    """Render ``document`` as a message of ``directory`` (D96A or D01B).

    ``association`` defaults to the EANCOM code for the type and directory
    (:data:`DEFAULT_ASSOCIATIONS`); pass None for none. An Acknowledgement
    becomes a CONTRL or an APERAK by its ``kind``. Raises EdiError for an
    unsupported directory or document.
    """
    version, release = check_directory(directory)
    writers: dict[type, tuple[str, Callable[[Document, str], list[Segment]]]] = {
        Order: ("ORDERS", write_orders),  # type: ignore[dict-item]
        OrderResponse: ("ORDRSP", write_ordrsp),  # type: ignore[dict-item]
        DespatchAdvice: ("DESADV", write_desadv),  # type: ignore[dict-item]
        Invoice: ("INVOIC", write_invoic),  # type: ignore[dict-item]
    }
    if isinstance(document, Acknowledgement):
        if document.kind == "CONTRL":
            message_type = "CONTRL"
            body = write_contrl(document)
        elif document.kind == "APERAK":
            message_type = "APERAK"
            body = write_aperak(document, directory)
        else:
            raise MappingError(f"acknowledgement kind {document.kind!r} is neither CONTRL nor APERAK")
    else:
        entry = writers.get(type(document))
        if entry is None:
            raise MappingError(f"cannot render a {type(document).__name__} as EDIFACT")
        message_type, write = entry
        try:
            body = write(document, directory)
        except (ValueError, ArithmeticError, TypeError, AttributeError) as exc:
            raise MappingError(f"{message_type} {reference} could not be rendered: {exc}") from exc
    chosen = DEFAULT_ASSOCIATIONS.get((message_type, directory)) if association is _DEFAULT else association
    if message_type == "CONTRL":
        version, release = _CONTRL_VERSIONS.get(chosen, _CONTRL_DEFAULT_VERSION)  # type: ignore[call-overload]
    return OutMessage(
        reference=reference,
        type=message_type,
        version=version,
        release=release,
        agency=agency,
        association=chosen,  # type: ignore[arg-type]
        body=body,
    )

