"""The partner REST API's services: OAuth2 clients and tokens, and what each resource returns.

Every read goes through a :class:`hub.portal.PartnerScope` built from the
token's client's partner (never from anything in the request), so another
partner's record is :class:`hub.portal.NotFound`, a 404. Orders are placed
through :func:`hub.orders.place_order` with ``source="api"``, one commit.

Request problems raise :class:`ApiError` with an HTTP status, a stable code
and a message that starts with the field it is about (``per_page: ...``,
``$.lines[0].quantity: ...``). Amounts and quantities are JSON strings
(exact decimals), dates ISO 8601.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, fields, is_dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator, Mapping

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from edi import documents as doc
from edi.charsets import Charset
from edi.charsets_fold import fold_to_charset
from hub.accounts import audit
from hub.api_models import SCOPES, ApiClient, ApiToken, digest
from hub.chain import chain_for_order
from hub.edifact_fields import (FREE_TEXT, ITEM_NUMBER, LINE_NO, NOTE, ORDER_NUMBER, PARTY_ID, REFERENCE, UNIT,
                                partner_charset, text_problem)
from hub.errors import OrderRejected
from hub.models import (
    DespatchAdvice,
    Invoice,
    Order,
    Partner,
    PartnerIdentifier,
    Price,
    Product,
    utcnow,
)
from hub.orders import place_order
from hub.approvals import credit_problems, withdraw
from hub.portal import ORDER_STATUSES, NotFound, Page, PartnerScope, stock_level
from hub.settings import Settings

__all__ = [
    "ApiError",
    "NewClient",
    "SCOPES",
    "TOKEN_LIFETIME",
    "MAX_PER_PAGE",
    "create_client",
    "query_client",
    "save_token",
    "authenticate_token",
    "paging",
    "list_orders",
    "get_order",
    "create_order",
    "list_despatches",
    "get_despatch",
    "list_invoices",
    "get_invoice",
    "list_catalog",
    "get_product",
    "list_prices",
]

TOKEN_LIFETIME = dt.timedelta(hours=1)
MAX_PER_PAGE = 100
MAX_ORDER_LINES = 1000
MAX_QUANTITY = Decimal("1000000")


class ApiError(Exception):
    """A request the API refuses: HTTP ``status``, stable ``code``, a sentence naming the field."""

    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 details: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = details or []

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        if self.details:
            error["details"] = self.details
        return {"error": error}


def _invalid(field: str, why: str) -> ApiError:
    return ApiError(400, "invalid_request", f"{field}: {why}", field=field)


# --- clients and tokens -----------------------------------------------------------------


@dataclass(frozen=True)
class NewClient:
    client: ApiClient
    secret: str  # shown once; only its hash is stored


def create_client(session: Session, partner_code: str, scopes: list[str], *, name: str = "",
                  actor: str = "cli") -> NewClient:
    """A new API client of a partner with ``scopes``; commits. The secret is returned once."""
    partner = session.scalar(select(Partner).where(Partner.code == partner_code))
    if partner is None:
        raise LookupError(f"no partner with code {partner_code!r}")
    wanted = list(dict.fromkeys(s for scope in scopes for s in scope.replace(",", " ").split()))
    if not wanted:
        raise ValueError(f"give at least one scope: {', '.join(SCOPES)}")
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        partner_id=partner.id,
        client_id=f"{partner.code.lower()}-{secrets.token_hex(8)}",
        secret_hash=digest(secret),
        name=name or f"{partner.code} API client",
        scope=" ".join(wanted),
        active=True,
    )
    session.add(client)
    audit(session, actor, "api.client.created", target=f"api_client:{client.client_id}", partner_id=partner.id,
          detail=f"scopes {client.scope}")
    session.commit()
    return NewClient(client, secret)


def query_client(session: Session, client_id: str) -> ApiClient | None:
    """An active client of an active partner, or None (authlib then answers invalid_client)."""
    if not client_id:
        return None
    client = session.scalar(
        select(ApiClient).join(Partner).where(
            ApiClient.client_id == client_id, ApiClient.active.is_(True), Partner.active.is_(True)
        )
    )
    return client


def save_token(session: Session, token: Mapping[str, Any], client: ApiClient) -> ApiToken:
    """Store an issued token (hashed) with its scope and expiry; commits.

    The client's tokens that expired more than a day ago go at the same time,
    so the table holds about a day of tokens per client.
    """
    now = utcnow()
    session.execute(delete(ApiToken).where(ApiToken.client_pk == client.id,
                                           ApiToken.expires_at < now - dt.timedelta(days=1)))
    record = ApiToken(
        client_pk=client.id,
        token_hash=digest(token["access_token"]),
        scope=token.get("scope") or "",
        issued_at=now,
        expires_at=now + dt.timedelta(seconds=int(token.get("expires_in") or TOKEN_LIFETIME.total_seconds())),
        revoked=False,
    )
    session.add(record)
    client.last_used_at = now
    session.commit()
    return record


def authenticate_token(session: Session, token_string: str) -> ApiToken | None:
    """The stored token for a bearer string (validity is checked by the caller), or None."""
    if not token_string or len(token_string) > 200:
        return None
    return session.scalar(
        select(ApiToken).options(selectinload(ApiToken.client).selectinload(ApiClient.partner))
        .where(ApiToken.token_hash == digest(token_string))
    )


# --- request values ----------------------------------------------------------------------


def paging(args: Mapping[str, str]) -> tuple[int, int]:
    """``page`` (1, 2, ...) and ``per_page`` (1..MAX_PER_PAGE, default 25) from the query string."""
    page = _int(args, "page", 1, 1, 1_000_000)
    per_page = _int(args, "per_page", 25, 1, MAX_PER_PAGE)
    return page, per_page


def _int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"\d{1,9}", raw) or not low <= int(raw) <= high:
        raise _invalid(name, f"must be a whole number from {low} to {high}")
    return int(raw)


def _date_arg(args: Mapping[str, str], name: str) -> dt.date | None:
    raw = args.get(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise _invalid(name, f"{raw!r} is not a date (YYYY-MM-DD)") from None


def _text_arg(args: Mapping[str, str], name: str, max_length: int) -> str:
    raw = (args.get(name) or "").strip()
    if len(raw) > max_length:
        raise _invalid(name, f"must be at most {max_length} characters")
    return raw


def _page_json(page: Page[Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "page": page.page, "per_page": page.per_page, "total": page.total, "pages": page.pages}


def _paginate(scope: PartnerScope, stmt: Any, page: int, per_page: int) -> Page[Any]:
    total = scope.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(scope.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return Page(items=items, page=page, per_page=per_page, total=total)


# --- JSON forms ----------------------------------------------------------------------------


def _amount(value: Decimal | None) -> str | None:
    """An amount as text: at least two decimals, more only when the value has them."""
    if value is None:
        return None
    cent = value.quantize(Decimal("0.01"))
    return str(cent) if cent == value else format(value.normalize(), "f")


def _quantity(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(value.normalize(), "f")


def _date(value: dt.date | dt.datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat() + "Z"
    return value.isoformat()


def order_summary(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "number": order.number,
        "status": order.status,
        "source": order.source,
        "order_date": _date(order.order_date),
        "requested_delivery": _date(order.requested_delivery),
        "currency": order.currency,
        "total": _amount(order.total),
        "created_at": _date(order.created_at),
    }


def _order_detail(scope: PartnerScope, order: Order) -> dict[str, Any]:
    data = order_summary(order)
    data["lines"] = [
        {
            "line_no": line.line_no,
            "sku": line.sku,
            "gtin": line.gtin,
            "description": line.description,
            "quantity": _quantity(line.quantity),
            "confirmed_quantity": _quantity(line.confirmed_quantity),
            "unit": line.unit,
            "unit_price": _amount(line.unit_price),
            "line_amount": _amount(line.line_amount),
            "status": line.status,
        }
        for line in order.lines
    ]
    chain = chain_for_order(scope.session, order, partner_id=scope.partner_id)
    ids = {
        "order_response": {r.number: r.id for r in order.responses},
        "despatch_advice": {d.number: d.id for d in order.despatches},
        "invoice": {i.number: i.id for i in order.invoices},
    }
    data["chain"] = [
        {
            "kind": link.kind,
            "number": link.number,
            "id": order.id if link.kind == "order" else ids.get(link.kind, {}).get(link.number),
            "messages": [
                {"id": m.id, "direction": m.direction, "document_type": m.document_type, "state": m.state,
                 "interchange_ref": m.interchange_ref, "created_at": _date(m.created_at)}
                for m in link.messages
            ],
            "acknowledgements": [
                {"id": m.id, "document_type": m.document_type, "state": m.state, "created_at": _date(m.created_at)}
                for m in link.acknowledgements
            ],
        }
        for link in chain.links
    ]
    data["document"] = order.document
    return data


def _despatch_json(despatch: DespatchAdvice, order_number: str | None, *, full: bool) -> dict[str, Any]:
    data = {
        "id": despatch.id,
        "number": despatch.number,
        "order_id": despatch.order_id,
        "order_number": order_number,
        "despatch_date": _date(despatch.despatch_date),
        "expected_delivery": _date(despatch.expected_delivery),
        "carrier": despatch.carrier,
        "tracking_number": despatch.tracking_number,
        "created_at": _date(despatch.created_at),
    }
    if full:
        data["document"] = despatch.document
    return data


def _invoice_json(invoice: Invoice, order_number: str | None, *, full: bool) -> dict[str, Any]:
    data = {
        "id": invoice.id,
        "number": invoice.number,
        "document_code": invoice.document_code,
        "order_id": invoice.order_id,
        "order_number": order_number,
        "issue_date": _date(invoice.issue_date),
        "due_date": _date(invoice.due_date),
        "currency": invoice.currency,
        "total": _amount(invoice.total),
        "tax_total": _amount(invoice.tax_total),
        "created_at": _date(invoice.created_at),
    }
    if full:
        data["document"] = invoice.document
    return data


def _break_json(price: Price) -> dict[str, Any]:
    return {
        "min_quantity": _quantity(price.min_quantity),
        "price": _amount(price.price),
        "currency": price.currency,
        "valid_from": _date(price.valid_from),
        "valid_to": _date(price.valid_to),
    }


# --- orders --------------------------------------------------------------------------------


def list_orders(scope: PartnerScope, args: Mapping[str, str]) -> dict[str, Any]:
    """The partner's orders, newest first; filters ``status``, ``number`` (part of), ``created_from``/``created_to``."""
    page, per_page = paging(args)
    status = _text_arg(args, "status", 20)
    if status and status not in ORDER_STATUSES:
        raise _invalid("status", f"{status!r} is not one of {', '.join(ORDER_STATUSES)}")
    number = _text_arg(args, "number", 35)
    since, until = _date_arg(args, "created_from"), _date_arg(args, "created_to")
    stmt = scope.owned(select(Order), Order)
    if status:
        stmt = stmt.where(Order.status == status)
    if number:
        escaped = number.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(func.lower(Order.number).like(f"%{escaped}%", escape="\\"))
    if since:
        stmt = stmt.where(Order.created_at >= dt.datetime.combine(since, dt.time()))
    if until:
        stmt = stmt.where(Order.created_at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time()))
    found = _paginate(scope, stmt.order_by(Order.created_at.desc(), Order.id.desc()), page, per_page)
    return _page_json(found, [order_summary(o) for o in found.items])


def get_order(scope: PartnerScope, order_id: int) -> dict[str, Any]:
    """One order with its lines, its chain (responses, despatches, invoices, messages) and its document."""
    return _order_detail(scope, scope.order(order_id))


def _order_document(scope: PartnerScope, body: Any, today: dt.date) -> doc.Order:
    """The canonical order from a request body (its JSON form, ``document`` optional)."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "$: the body must be a JSON object (a canonical Order)", field="$")
    data = dict(body)
    if data.setdefault("document", "Order") != "Order":
        raise _invalid("$.document", f"{data['document']!r}: only Order documents can be placed here")
    data.setdefault("issue_date", today.isoformat())
    lines = data.get("lines")
    if isinstance(lines, list):
        if len(lines) > MAX_ORDER_LINES:
            raise _invalid("$.lines", f"at most {MAX_ORDER_LINES} lines per order")
        data["lines"] = [
            {"line_no": str(i), **line} if isinstance(line, dict) and "line_no" not in line else line
            for i, line in enumerate(lines, start=1)
        ]
    try:
        document = doc.from_dict(data)
    except doc.DocumentFormatError as exc:
        message = str(exc)
        raise ApiError(400, "invalid_request", message, field=message.split(":", 1)[0]) from None
    assert isinstance(document, doc.Order)
    if not document.number.strip() or len(document.number) > 35:
        raise _invalid("$.number", "must be 1 to 35 characters")
    if document.function not in ("9", "5", "1"):
        raise _invalid("$.function", "must be 9 (original), 5 (replace) or 1 (cancel)")
    if not document.lines and document.function != "1":
        raise _invalid("$.lines", "an order needs at least one line")
    for i, line in enumerate(document.lines):
        where = f"$.lines[{i}]"
        q = line.quantity
        try:
            bad = not q.is_finite() or q <= 0 or q > MAX_QUANTITY or -q.as_tuple().exponent > 3  # type: ignore[operator]
        except InvalidOperation:
            bad = True
        if bad:
            raise _invalid(f"{where}.quantity", f"{line.quantity} must be a number above 0 and up to {MAX_QUANTITY}"
                           " with at most 3 decimals")
        if not (line.gtin or line.supplier_sku):
            raise _invalid(f"{where}.supplier_sku", "give the item's supplier_sku or gtin")
        for name in ("net_price", "price_basis"):
            value = getattr(line, name)
            if value is not None and (not value.is_finite() or value < 0):
                raise _invalid(f"{where}.{name}", "must be a number of 0 or more")
    _check_edifact_fields(document, partner_charset(scope.session, scope.partner), today)
    return document


#: Fields with an EDIFACT representation of their own; other text is free text (checked for its characters).
_FIELD_RULES = {"number": ORDER_NUMBER, "line_no": LINE_NO, "unit": UNIT, "contract_ref": REFERENCE,
                "notes": NOTE, "gtin": ITEM_NUMBER, "supplier_sku": ITEM_NUMBER, "buyer_sku": ITEM_NUMBER,
                "id": PARTY_ID, "vat_number": REFERENCE}
#: EDIFACT n..15: digits of a quantity or price (the decimal mark not counted).
_MAX_DIGITS = 15


def _describe_lines(scope: PartnerScope, document: doc.Order, charset: str) -> None:
    """Lines sent without a description get the catalogue's product name folded to the partner's
    charset (:func:`edi.charsets_fold.fold_to_charset`), so the order response can always carry it."""
    bare = [line for line in document.lines if not line.description]
    if not bare:
        return
    products = scope._products_by_code({c for line in bare for c in (line.gtin, line.supplier_sku) if c})
    for line in bare:
        product = (products.get(line.gtin or "") or products.get((line.supplier_sku or "").lower()))
        if product is not None:
            line.description = fold_to_charset(product.name, charset)


def _unprocessable(field: str, why: str) -> ApiError:
    return ApiError(422, "invalid_value", f"{field}: {why}", field=field)


def _text_fields(value: Any, path: str) -> Iterator[tuple[str, str, str]]:
    """(path, name, text) for every text of the document ``value``, lists and nested parties/lines included."""
    for f in fields(value):
        current = getattr(value, f.name)
        where = f"{path}.{f.name}"
        if isinstance(current, str):
            yield where, f.name, current
        elif isinstance(current, list):
            for i, item in enumerate(current):
                if isinstance(item, str):
                    yield f"{where}[{i}]", f.name, item
                elif is_dataclass(item):
                    yield from _text_fields(item, f"{where}[{i}]")


def _check_edifact_fields(document: doc.Order, charset: Charset | None, today: dt.date) -> None:
    """Refuse (422, naming the field) what cannot be written in the partner's EDIFACT answers and
    follow-ups: data element lengths and formats always, characters when the partner gets EDIFACT."""
    for path, name, text in _text_fields(document, "$"):
        why = text_problem(text, _FIELD_RULES.get(name, FREE_TEXT), charset)
        if why:
            raise _unprocessable(path, why)
    seen: set[str] = set()
    for i, line in enumerate(document.lines):
        where = f"$.lines[{i}]"
        if line.line_no in seen:
            raise _unprocessable(f"{where}.line_no", f"{line.line_no} is used by an earlier line")
        seen.add(line.line_no)
        for name in ("quantity", "net_price", "price_basis", "line_amount"):
            value = getattr(line, name)
            if value is not None and len(value.as_tuple().digits) > _MAX_DIGITS:
                raise _unprocessable(f"{where}.{name}", f"{value} has more than {_MAX_DIGITS} digits (EDIFACT n..15)")
        if line.requested_delivery is not None and line.requested_delivery < today:
            raise _unprocessable(f"{where}.requested_delivery", f"{line.requested_delivery} is in the past")
    if document.requested_delivery is not None and document.requested_delivery < today:
        raise _unprocessable("$.requested_delivery", f"{document.requested_delivery} is in the past")


def create_order(scope: PartnerScope, settings: Settings, client: ApiClient, body: Any,
                 *, today: dt.date | None = None) -> dict[str, Any]:
    """Place an order from a canonical Order body through :func:`hub.orders.place_order`; commits once.

    The buyer is always the token's partner: a buyer party naming anyone else
    is refused; without one, the partner's own is added.
    """
    today = today or dt.date.today()
    partner = scope.partner
    if not partner.active:
        raise ApiError(422, "order_rejected", f"the partner {partner.code} is inactive: orders cannot be placed")
    document = _order_document(scope, body, today)
    charset = partner_charset(scope.session, partner)
    if charset is not None:
        _describe_lines(scope, document, charset.syntax_id)
    gln = scope.session.scalar(
        select(PartnerIdentifier.value).where(PartnerIdentifier.partner_id == partner.id,
                                              PartnerIdentifier.scheme == "GLN")
    )
    buyer = document.party(doc.PartyRole.BUYER)
    if buyer is None:
        document.parties.insert(0, doc.Party(role=doc.PartyRole.BUYER, id=gln, id_agency="9" if gln else None,
                                             name=partner.name, country=partner.country,
                                             vat_number=partner.vat_number))
    elif buyer.id and buyer.id != gln:
        raise ApiError(422, "order_rejected", f"$.parties: the buyer {buyer.id} is not {partner.code}",
                       field="$.parties")
    actor = f"api:{client.client_id}"
    try:
        order = place_order(scope.session, settings, partner, document, source="api", actor=actor)
    except OrderRejected as exc:
        scope.session.rollback()
        raise ApiError(422, "order_rejected", "; ".join(exc.problems) or str(exc), details=list(exc.problems)) from None
    if document.function != "1":  # the credit limit, once the order is priced (a cancellation frees credit)
        problems = credit_problems(scope.session, partner, order.total, today=today, exclude_order_id=order.id)
        if problems:
            scope.session.rollback()  # nothing stored, no order response queued
            raise ApiError(422, "credit_limit_exceeded", " ".join(problems), details=problems)
    if document.function == "1":
        # an order held for approval is no longer waiting for it (EDI cancellations: hub.orders._cancel)
        withdraw(scope.session, order, actor=actor)
        audit(scope.session, actor, "order.cancelled", target=f"order:{order.number}", partner_id=partner.id,
              detail="cancelled through the API")
        scope.session.commit()
        return _order_detail(scope, order)
    audit(scope.session, actor, "order.placed", target=f"order:{order.number}", partner_id=partner.id,
          detail=f"{len(document.lines)} line(s) from the API")
    scope.session.commit()
    return _order_detail(scope, order)


# --- despatch advices and invoices --------------------------------------------------------


def _order_filter(scope: PartnerScope, args: Mapping[str, str]) -> int | None:
    raw = args.get("order_id")
    if not raw:
        return None
    if not re.fullmatch(r"\d{1,12}", raw):
        raise _invalid("order_id", "must be a whole number")
    return int(raw)


def list_despatches(scope: PartnerScope, args: Mapping[str, str]) -> dict[str, Any]:
    page, per_page = paging(args)
    stmt = scope.owned(select(DespatchAdvice), DespatchAdvice)
    order_id = _order_filter(scope, args)
    if order_id is not None:
        stmt = stmt.where(DespatchAdvice.order_id == order_id)
    found = _paginate(scope, stmt.order_by(DespatchAdvice.id.desc()), page, per_page)
    numbers = scope.order_numbers(d.order_id for d in found.items)
    return _page_json(found, [_despatch_json(d, numbers.get(d.order_id), full=False) for d in found.items])


def get_despatch(scope: PartnerScope, despatch_id: int) -> dict[str, Any]:
    despatch = scope.session.scalar(
        scope.owned(select(DespatchAdvice).where(DespatchAdvice.id == despatch_id), DespatchAdvice)
    )
    if despatch is None:
        raise NotFound(f"despatch advice {despatch_id}")
    numbers = scope.order_numbers([despatch.order_id])
    return _despatch_json(despatch, numbers.get(despatch.order_id), full=True)


def list_invoices(scope: PartnerScope, args: Mapping[str, str]) -> dict[str, Any]:
    page, per_page = paging(args)
    stmt = scope.owned(select(Invoice), Invoice)
    order_id = _order_filter(scope, args)
    if order_id is not None:
        stmt = stmt.where(Invoice.order_id == order_id)
    since, until = _date_arg(args, "issued_from"), _date_arg(args, "issued_to")
    if since:
        stmt = stmt.where(Invoice.issue_date >= since)
    if until:
        stmt = stmt.where(Invoice.issue_date <= until)
    found = _paginate(scope, stmt.order_by(Invoice.issue_date.desc(), Invoice.id.desc()), page, per_page)
    numbers = scope.order_numbers(i.order_id for i in found.items)
    return _page_json(found, [_invoice_json(i, numbers.get(i.order_id), full=False) for i in found.items])


def get_invoice(scope: PartnerScope, invoice_id: int) -> dict[str, Any]:
    invoice = scope.session.scalar(scope.owned(select(Invoice).where(Invoice.id == invoice_id), Invoice))
    if invoice is None:
        raise NotFound(f"invoice {invoice_id}")
    numbers = scope.order_numbers([invoice.order_id])
    return _invoice_json(invoice, numbers.get(invoice.order_id), full=True)


# --- catalogue and prices -----------------------------------------------------------------


def _catalog_item(product: Product, unit_price: Decimal, breaks: list[Price], currency: str) -> dict[str, Any]:
    return {
        "sku": product.sku,
        "gtin": product.gtin,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "unit": product.unit,
        "list_price": _amount(product.list_price),
        "unit_price": _amount(unit_price),
        "currency": currency,
        "contract": bool(breaks),
        "breaks": [_break_json(p) for p in breaks],
        "stock": stock_level(product),
    }


def _flag_arg(args: Mapping[str, str], name: str) -> bool:
    raw = (args.get(name) or "").strip().lower()
    if raw in ("", "0", "false"):
        return False
    if raw in ("1", "true"):
        return True
    raise _invalid(name, f"{raw!r}: give true or false")


def list_catalog(scope: PartnerScope, args: Mapping[str, str]) -> dict[str, Any]:
    """Active products (search ``q`` in name, SKU, GTIN; ``category``; ``in_stock``; ``contract``: only
    those with a contract price) with this partner's prices."""
    page, per_page = paging(args)
    found = scope.catalog(_text_arg(args, "q", 100), _text_arg(args, "category", 80), page=page, per_page=per_page,
                          in_stock=_flag_arg(args, "in_stock"), contract_only=_flag_arg(args, "contract"))
    currency = scope.partner.currency
    items = [_catalog_item(i.product, i.unit_price, i.breaks, currency) for i in found.items]
    return _page_json(found, items)


def get_product(scope: PartnerScope, sku: str) -> dict[str, Any]:
    product = scope.session.scalar(scope.products().where(func.lower(Product.sku) == sku.strip().lower()))
    if product is None:
        raise NotFound(f"product {sku}")
    breaks = scope._prices([product.id]).get(product.id, [])
    unit = next((p.price for p in reversed(breaks) if p.min_quantity <= 1), None)
    return _catalog_item(product, unit if unit is not None else product.list_price, breaks, scope.partner.currency)


def list_prices(scope: PartnerScope, args: Mapping[str, str]) -> dict[str, Any]:
    """This partner's contract prices valid on ``on`` (default today), by SKU and quantity break."""
    page, per_page = paging(args)
    on = _date_arg(args, "on") or dt.date.today()
    sku = _text_arg(args, "sku", 40)
    visible = scope.products(Product.id).scalar_subquery()  # active products of the partner's assortment
    stmt = scope.owned(
        select(Price).join(Product).where(
            Product.id.in_(visible),
            Price.valid_from <= on,
            or_(Price.valid_to.is_(None), Price.valid_to >= on),
        ),
        Price,
    ).options(selectinload(Price.product))
    newer = aliased(Price)
    stmt = stmt.where(~select(newer.id).where(  # only the newest price of each break
        newer.partner_id == Price.partner_id, newer.product_id == Price.product_id,
        newer.min_quantity == Price.min_quantity, newer.valid_from > Price.valid_from, newer.valid_from <= on,
        or_(newer.valid_to.is_(None), newer.valid_to >= on),
    ).exists())
    if sku:
        stmt = stmt.where(func.lower(Product.sku) == sku.lower())
    found = _paginate(scope, stmt.order_by(Product.sku, Price.min_quantity, Price.valid_from.desc()), page, per_page)
    items = [{"sku": p.product.sku, "gtin": p.product.gtin, **_break_json(p)} for p in found.items]
    return _page_json(found, items)
