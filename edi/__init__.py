"""Kontor's translator: EDIFACT and UBL bytes to canonical documents and back.

Pure functions over bytes and dataclasses: no Flask, no database, no network.
"""

from edi.documents import (
    Acknowledgement,
    DespatchAdvice,
    Document,
    Invoice,
    Order,
    OrderResponse,
    from_dict,
    to_dict,
)
from edi.errors import EdiError, Issue
from edi.options import Strictness

__all__ = [
    "Acknowledgement",
    "DespatchAdvice",
    "Document",
    "EdiError",
    "Invoice",
    "Issue",
    "Order",
    "OrderResponse",
    "Strictness",
    "from_dict",
    "to_dict",
]
