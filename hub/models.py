"""The hub's tables (SQLAlchemy 2, typed declarative).

Names follow the trade: a *partner* trades with us through *channels*; every
transmitted payload is a *message* with a trace of *message events*; the
documents it carries become *orders*, *order responses*, *despatch advices*
and *invoices*. Schema changes go through Alembic (hub/migrations).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Base",
    "Partner",
    "PartnerIdentifier",
    "User",
    "Channel",
    "Product",
    "Price",
    "AssortmentItem",
    "Order",
    "OrderLine",
    "OrderResponse",
    "DespatchAdvice",
    "Invoice",
    "Payload",
    "Message",
    "MessageEvent",
    "ControlCounter",
    "Sequence",
    "AuditEntry",
    "utcnow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(18, 4)
Quantity = Numeric(18, 4)

#: the largest row id: primary keys are 32-bit INTEGERs on every database Kontor runs on, so a
#: larger number in a URL or query string names no row (and must not reach the database)
MAX_ID = 2**31 - 1


def utcnow() -> dt.datetime:
    """Now, in UTC, without tzinfo (stored as UTC in every database)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Partner(Base):
    """A distributor (or any company) we trade with."""

    __tablename__ = "partner"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # short stable key, e.g. ACME
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    vat_number: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    # document preferences, strictness, acknowledgements wanted: the loaded profile, as data
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    credit_limit: Mapped[Decimal | None] = mapped_column(Money)
    approval_threshold: Mapped[Decimal | None] = mapped_column(Money)
    # True: the partner sees and orders only the products of its assortment (AssortmentItem rows)
    assortment_restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # settings the partner's own admins make in the portal, over the profile's (e.g. approval_threshold)
    portal_settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    identifiers: Mapped[list[PartnerIdentifier]] = relationship(
        back_populates="partner", cascade="all, delete-orphan"
    )
    channels: Mapped[list[Channel]] = relationship(back_populates="partner", cascade="all, delete-orphan")
    users: Mapped[list[User]] = relationship(back_populates="partner")

    def __repr__(self) -> str:
        return f"<Partner {self.code}>"


class PartnerIdentifier(Base):
    """An EDI identity of a partner: a value with its qualifier (UNB 0007 / NAD 3055)."""

    __tablename__ = "partner_identifier"
    __table_args__ = (UniqueConstraint("qualifier", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    scheme: Mapped[str] = mapped_column(String(20))  # GLN, DUNS, AS2, ZZZ
    qualifier: Mapped[str] = mapped_column(String(10))  # 14 (GLN), 1 (DUNS), ZZZ (mutual), AS2
    value: Mapped[str] = mapped_column(String(70))

    partner: Mapped[Partner] = relationship(back_populates="identifiers")


class User(Base):
    """A person who signs in: a partner's user (partner_id set) or an operations user."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), index=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # partner users: admin, buyer, accounts; operations users: ops_viewer, ops_operator, ops_admin
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    # moved on by a password or second-factor change: sessions signed in under an older one end
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    notify: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # opt-in e-mails
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    partner: Mapped[Partner | None] = relationship(back_populates="users")

    @property
    def is_ops(self) -> bool:
        return self.partner_id is None and self.role in ("ops_viewer", "ops_operator", "ops_admin")


class Channel(Base):
    """How bytes move to and from a partner: folder, sftp, sftp_mailbox or as2, with its settings."""

    __tablename__ = "channel"
    __table_args__ = (UniqueConstraint("partner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(10), default="both")  # in, out, both
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_poll_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    partner: Mapped[Partner] = relationship(back_populates="channels")


class Product(Base):
    __tablename__ = "product"
    __table_args__ = (
        Index("ix_product_name_id", "name", "id"),  # the catalogue's keyset order (migration 0005)
        # catalogue search (name/SKU ILIKE '%word%'): pg_trgm GIN indexes on PostgreSQL; on SQLite
        # plain B-trees (alembic's comparison ignores ddl_if, so both dialects get an index)
        Index("ix_product_name_trgm", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
        Index("ix_product_sku_trgm", "sku", postgresql_using="gin", postgresql_ops={"sku": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(40), unique=True)  # our article number
    gtin: Mapped[str | None] = mapped_column(String(14), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(80), index=True)
    unit: Mapped[str] = mapped_column(String(3), default="PCE")
    list_price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("19"))
    stock: Mapped[Decimal | None] = mapped_column(Quantity)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Price(Base):
    """A partner's contract price for a product, valid in a period, from a quantity on."""

    __tablename__ = "price"
    __table_args__ = (UniqueConstraint("partner_id", "product_id", "min_quantity", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"), index=True)
    price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    min_quantity: Mapped[Decimal] = mapped_column(Quantity, default=Decimal(1))
    valid_from: Mapped[dt.date] = mapped_column(Date, default=dt.date(2000, 1, 1))
    valid_to: Mapped[dt.date | None] = mapped_column(Date)

    product: Mapped[Product] = relationship()


class Order(Base):
    """A distributor's purchase order, however it came in (EDI, portal, API)."""

    __tablename__ = "purchase_order"
    __table_args__ = (UniqueConstraint("partner_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"), index=True)
    number: Mapped[str] = mapped_column(String(35))  # the buyer's order number (BGM 1004)
    source: Mapped[str] = mapped_column(String(10))  # edi, portal, api
    # received, pending_approval, confirmed, changed, rejected, shipped, invoiced, cancelled
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    order_date: Mapped[dt.date] = mapped_column(Date)
    requested_delivery: Mapped[dt.date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # the canonical Order as received
    # the message it came in with is the inbound Message whose order_id points here
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)

    partner: Mapped[Partner] = relationship()
    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.id"
    )
    responses: Mapped[list[OrderResponse]] = relationship(back_populates="order", order_by="OrderResponse.id")
    despatches: Mapped[list[DespatchAdvice]] = relationship(back_populates="order", order_by="DespatchAdvice.id")
    invoices: Mapped[list[Invoice]] = relationship(back_populates="order", order_by="Invoice.id")


class OrderLine(Base):
    __tablename__ = "order_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id", ondelete="CASCADE"), index=True)
    line_no: Mapped[str] = mapped_column(String(10))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id"))
    sku: Mapped[str | None] = mapped_column(String(40))
    gtin: Mapped[str | None] = mapped_column(String(14))
    description: Mapped[str | None] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(Quantity)
    unit: Mapped[str | None] = mapped_column(String(3))
    unit_price: Mapped[Decimal | None] = mapped_column(Money)
    line_amount: Mapped[Decimal | None] = mapped_column(Money)
    confirmed_quantity: Mapped[Decimal | None] = mapped_column(Quantity)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, accepted, changed, rejected

    order: Mapped[Order] = relationship(back_populates="lines")
    product: Mapped[Product | None] = relationship()


class OrderResponse(Base):
    __tablename__ = "order_response"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"), index=True)
    number: Mapped[str] = mapped_column(String(35))
    response_code: Mapped[str] = mapped_column(String(3))  # 1225: 29 accepted, 4 changed, 27 rejected
    issue_date: Mapped[dt.date] = mapped_column(Date)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="responses")


class DespatchAdvice(Base):
    __tablename__ = "despatch_advice"
    __table_args__ = (UniqueConstraint("partner_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"), index=True)
    number: Mapped[str] = mapped_column(String(35))
    despatch_date: Mapped[dt.date | None] = mapped_column(Date)
    expected_delivery: Mapped[dt.date | None] = mapped_column(Date)
    carrier: Mapped[str | None] = mapped_column(String(80))
    tracking_number: Mapped[str | None] = mapped_column(String(80))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    order: Mapped[Order | None] = relationship(back_populates="despatches")


class Invoice(Base):
    __tablename__ = "invoice"
    __table_args__ = (UniqueConstraint("partner_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"), index=True)
    number: Mapped[str] = mapped_column(String(35))
    document_code: Mapped[str] = mapped_column(String(3), default="380")
    issue_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Money)
    tax_total: Mapped[Decimal] = mapped_column(Money)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    order: Mapped[Order | None] = relationship(back_populates="invoices")


class Payload(Base):
    """Raw bytes as received or sent, stored with the message in the same transaction."""

    __tablename__ = "payload"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    # last: SQLite writes a large one in pieces only into the row's last field (migration 0013)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once purged by retention


class Message(Base):
    """One transmitted payload (an interchange, a UBL document, a portal order), in or out."""

    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_claim", "state", "next_attempt_at"),
        # what workers claim, in claim order, without scanning the history
        Index(
            "ix_message_claimable",
            "direction",
            "id",
            postgresql_where=text("state IN ('received', 'queued', 'failed')"),
            sqlite_where=text("state IN ('received', 'queued', 'failed')"),
        ),
        Index("ix_message_partner_created", "partner_id", "created_at"),
        Index("ix_message_sender_interchange", "partner_id", "direction", "interchange_ref"),
        # the console's reference filters and the answers of a message (migration 0006)
        Index("ix_message_interchange_ref", "interchange_ref"),
        Index("ix_message_message_ref", "message_ref"),
        Index("ix_message_answers", "answers_id"),
        # the console's free text (ILIKE '%term%'; hub.monitor reads the expression from here): a pg_trgm GIN
        # index of the searched columns joined by newlines, on PostgreSQL only (migration 0010). Spelt with
        # the parentheses PostgreSQL reflects so that alembic's comparison finds the reflected index equal.
        Index("ix_message_search_trgm", literal_column(
            "((((((((((((coalesce(interchange_ref, '') || chr(10)) || coalesce(message_ref, '')) || chr(10))"
            " || coalesce(business_ref, '')) || chr(10)) || coalesce(filename, '')) || chr(10))"
            " || coalesce(sender_id, '')) || chr(10)) || coalesce(recipient_id, '')) || chr(10))"
            " || coalesce(error, ''))"
        ).label("search"), postgresql_using="gin", postgresql_ops={"search": "gin_trgm_ops"}).ddl_if(
            dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # in, out
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channel.id"))
    document_type: Mapped[str | None] = mapped_column(String(20), index=True)  # ORDERS, ORDRSP, ...
    syntax: Mapped[str] = mapped_column(String(10), default="edifact")  # edifact, ubl, json
    interchange_ref: Mapped[str | None] = mapped_column(String(35))
    message_ref: Mapped[str | None] = mapped_column(String(35))
    business_ref: Mapped[str | None] = mapped_column(String(35), index=True)  # e.g. the order number
    sender_id: Mapped[str | None] = mapped_column(String(70))
    recipient_id: Mapped[str | None] = mapped_column(String(70))
    filename: Mapped[str | None] = mapped_column(String(255))
    payload_id: Mapped[int | None] = mapped_column(ForeignKey("payload.id"))
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    error: Mapped[str | None] = mapped_column(Text)  # the last failure or rejection, in full
    issues: Mapped[list[Any]] = mapped_column(JSON, default=list)  # located issues (edi.Issue as dicts)
    receipt: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # transport receipt (path, MDN)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    answers_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))  # the inbound it answers
    order_id: Mapped[int | None] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    partner: Mapped[Partner | None] = relationship(foreign_keys=[partner_id])
    channel: Mapped[Channel | None] = relationship()
    payload: Mapped[Payload | None] = relationship()
    events: Mapped[list[MessageEvent]] = relationship(
        back_populates="message", order_by="MessageEvent.id", cascade="all, delete-orphan"
    )


class MessageEvent(Base):
    """One line of a message's trace: when, who, into which state, and why."""

    __tablename__ = "message_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    event: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(80))
    detail: Mapped[str | None] = mapped_column(Text)

    message: Mapped[Message] = relationship(back_populates="events")


class ControlCounter(Base):
    """Per-partner counters for control references (interchange, message), gapless."""

    __tablename__ = "control_counter"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Sequence(Base):
    """Hub-wide gapless numbers (invoice numbers, SSCC serials), taken under a row lock."""

    __tablename__ = "number_sequence"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class AuditEntry(Base):
    """Who changed what: sign-ins, settings, repair actions."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), index=True)
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)



class AssortmentItem(Base):
    """One entry of a restricted partner's assortment: a product (by SKU) or a whole category."""

    __tablename__ = "assortment_item"
    __table_args__ = (
        UniqueConstraint("partner_id", "product_id"),
        UniqueConstraint("partner_id", "category"),
        CheckConstraint("(product_id IS NULL) <> (category IS NULL)", name="product_or_category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"), index=True)
    category: Mapped[str | None] = mapped_column(String(80))


# Tables of the API, portal and ops areas live beside their code; importing them
# here puts every table in Base.metadata for Alembic and the tests.
from hub import api_models, as2_models, ops_models, portal_models  # noqa: E402,F401
