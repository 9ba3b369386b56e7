"""Tables of the portal area (see hub/models.py for the core ones); migration branch 0003_portal off 0002.

- :class:`OrderApproval`: a portal order over the partner's approval threshold
  waits for a partner admin's decision (one row per order).
- :class:`OrderTemplate`: a named list of products and quantities to order again.
- :class:`Invitation`: a partner admin's invitation of a new user; the e-mailed
  set-password token is stored only as its SHA-256 and works once.
- :class:`Carrier`: a carrier's tracking URL pattern (``{tracking}`` is replaced
  by the consignment reference), so despatch advices link to the parcel.
- :class:`SupplierOrder` and :class:`SupplierDocument`: the turnaround, for a
  partner that also supplies the hub's owner: our purchase order to it, and
  the despatch advices and invoices it makes from that order in the portal.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.models import Base, Message, Money, Order, User, utcnow

__all__ = ["OrderApproval", "OrderTemplate", "Invitation", "Carrier", "SupplierOrder", "SupplierDocument"]


class OrderApproval(Base):
    """An order waiting for (or decided by) a partner admin: pending, approved, rejected."""

    __tablename__ = "order_approval"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id", ondelete="CASCADE"), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    amount: Mapped[Decimal] = mapped_column(Money)  # the order total that crossed the threshold
    threshold: Mapped[Decimal] = mapped_column(Money)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(Text)

    order: Mapped[Order] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


class OrderTemplate(Base):
    """A partner's named order template: lines as ``[{"product_id", "sku", "quantity", "note"}]``."""

    __tablename__ = "order_template"
    __table_args__ = (UniqueConstraint("partner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    lines: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Invitation(Base):
    """A set-password invitation for a partner user; single use, expires."""

    __tablename__ = "user_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class Carrier(Base):
    """A carrier and the URL a tracking number opens (``{tracking}`` marks where it goes)."""

    __tablename__ = "carrier"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)  # as despatch advices name it, e.g. DHL
    tracking_url: Mapped[str] = mapped_column(String(300))


class SupplierOrder(Base):
    """A purchase order the hub's owner placed with a partner that also supplies it (we are the buyer).

    The minimum for the portal's turnaround: a partner without EDI sees it
    under *Received orders* and turns it into a despatch advice or an invoice.
    ``document`` is the canonical :class:`edi.documents.Order` (we as buyer).
    Status: open, despatched (in part: partially_despatched), invoiced.
    """

    __tablename__ = "supplier_order"
    __table_args__ = (UniqueConstraint("partner_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"), index=True)
    number: Mapped[str] = mapped_column(String(35))  # our purchase order number
    order_date: Mapped[dt.date] = mapped_column(Date)
    requested_delivery: Mapped[dt.date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    status: Mapped[str] = mapped_column(String(20), default="open")
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    documents: Mapped[list[SupplierDocument]] = relationship(back_populates="order", order_by="SupplierDocument.id")


class SupplierDocument(Base):
    """A despatch advice or invoice a supplier partner made in the portal from a :class:`SupplierOrder`.

    ``message`` is the partner's inbound DESADV/INVOIC message it was recorded as (hub.turnaround;
    migration 0011_supplier_document_message), which the console and the partner's message list show.
    """

    __tablename__ = "supplier_document"
    __table_args__ = (UniqueConstraint("partner_id", "kind", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("supplier_order.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # despatch_advice, invoice
    number: Mapped[str] = mapped_column(String(35))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # canonical DespatchAdvice or Invoice
    total: Mapped[Decimal | None] = mapped_column(Money)  # invoices: amount payable incl. VAT
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="SET NULL"), index=True)

    order: Mapped[SupplierOrder] = relationship(back_populates="documents")
    message: Mapped[Message | None] = relationship()
