"""The distributor portal's services: catalogue, cart, quick order, CSV upload, orders.

Everything a partner's user may see goes through one :class:`PartnerScope`:
its queries all carry ``partner_id = <the user's partner>``, so a view
cannot forget the filter, and a record of another partner is simply not
found (:class:`NotFound`, a 404 on the web). Products are shared, but a
partner with a restricted assortment sees only its own (:meth:`PartnerScope.products`,
the one product query, adds :func:`hub.assortment.product_filter`); prices,
orders, documents and messages belong to one partner.

The cart lives in the web session as ``{product_id: {"quantity": str, "note": str}}``;
the scope turns it into priced lines and, at checkout, into a canonical
:class:`edi.documents.Order` handed to :func:`hub.orders.place_order`.
Only :meth:`PartnerScope.checkout` writes, and it commits once.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import math
import re
import secrets
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, Iterable, TypeVar

from sqlalchemy import Select, func, literal, or_, select, text, tuple_
from sqlalchemy.orm import Session, selectinload

from edi import documents as doc
from edi.translate import fold_free_text
from hub.accounts import audit
from hub.assortment import product_filter
from hub.edifact_fields import NOTE, ORDER_NUMBER, partner_charset, text_problem
from hub.approvals import credit_problems
from hub.errors import OrderRejected
from hub.models import (
    MAX_ID,
    DespatchAdvice,
    Invoice,
    Message,
    MessageEvent,
    Order,
    OrderResponse,
    Partner,
    PartnerIdentifier,
    Price,
    Product,
    User,
)
from hub.monitor import MessageFilter, MessageSlice, list_messages
from hub.orders import place_order
from hub.pricing import price_for
from hub.settings import Settings

__all__ = [
    "NotFound",
    "Page",
    "CatalogItem",
    "CatalogSlice",
    "CartLine",
    "Cart",
    "Row",
    "RowError",
    "ParsedRows",
    "OrderDetail",
    "CheckoutResult",
    "PartnerScope",
    "parse_quick_order",
    "parse_csv",
    "stock_level",
    "ORDER_STATUSES",
    "MAX_ROWS",
]

T = TypeVar("T")

MAX_ROWS = 1000
MAX_QUANTITY = Decimal("1000000")
LOW_STOCK = Decimal(10)
ORDER_STATUSES = (
    "received",
    "pending_approval",
    "confirmed",
    "changed",
    "rejected",
    "shipped",
    "invoiced",
    "cancelled",
)


#: The largest page number a listing accepts.
MAX_PAGE = 1_000_000


def valid_id(value: int | None) -> int | None:
    """``value`` when it can be a record id (1 .. MAX_ID), else None: a cursor or filter to ignore."""
    return value if value is not None and 1 <= value <= MAX_ID else None


#: the longest note a cart line keeps (the cart lives in the session cookie, which browsers cap at 4 kB)
CART_NOTE_MAX = 70


def line_note_prefix(line_no: int, sku: str) -> str:
    """What comes before a cart line's note among the order's notes (FTX): which line it is about."""
    return f"Line {line_no} ({sku}): "


class NotFound(LookupError):
    """The record does not exist, or belongs to another partner (the two look the same)."""


@dataclass
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _paginate(session: Session, stmt: Select, page: int, per_page: int) -> Page[Any]:
    page = page if 1 <= page <= MAX_PAGE else 1  # an absurd page number is ignored, not an overflowing OFFSET
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return Page(items=items, page=page, per_page=per_page, total=total)


def stock_level(product: Product) -> str:
    """``in stock``, ``low stock``, ``out of stock`` or ``on request`` (stock not tracked)."""
    if product.stock is None:
        return "on request"
    if product.stock <= 0:
        return "out of stock"
    if product.stock < LOW_STOCK:
        return "low stock"
    return "in stock"


@dataclass
class CatalogItem:
    product: Product
    unit_price: Decimal  # for one unit: the contract price, else the list price
    breaks: list[Price]  # contract quantity breaks, ascending
    contract: bool  # True when the partner has a contract price

    @property
    def stock(self) -> str:
        return stock_level(self.product)


@dataclass
class CatalogSlice:
    """One page of the catalogue in keyset order (name, id): no total, no OFFSET.

    The links carry a product id: ``after`` (next page: the products sorting
    after it) or ``before`` (previous page). Every page costs the same, however deep.
    """

    items: list[CatalogItem]
    per_page: int
    has_prev: bool
    has_next: bool

    @property
    def after(self) -> int | None:
        """The cursor of the next page (the last product's id)."""
        return self.items[-1].product.id if self.has_next and self.items else None

    @property
    def before(self) -> int | None:
        """The cursor of the previous page (the first product's id)."""
        return self.items[0].product.id if self.has_prev and self.items else None


# --- rows: quick order and CSV upload share one validator ------------------------------


@dataclass
class Row:
    """One line the user typed or uploaded, as given (so an error can be fixed in place)."""

    number: int  # line or row number in the input, 1-based
    sku: str
    quantity: str
    note: str = ""


@dataclass
class RowError:
    row: Row
    message: str


@dataclass
class ParsedRows:
    """Valid rows resolved to products (quantities summed per product), and the rest with reasons."""

    lines: list[tuple[Product, Decimal, str]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    fatal: str | None = None  # the whole input is unreadable


_SPLIT = re.compile(r"[\s,;\t]+")


def parse_quick_order(text: str) -> list[Row]:
    """Lines of ``SKU quantity`` (space, tab, comma or semicolon between; quantity defaults to 1)."""
    rows = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = _SPLIT.split(line, maxsplit=1)
        sku = parts[0]
        quantity = parts[1].strip() if len(parts) > 1 else "1"
        rows.append(Row(number=number, sku=sku, quantity=quantity))
    return rows


def parse_csv(data: bytes) -> tuple[list[Row], str | None]:
    """Rows of ``sku,quantity[,note]`` (``;`` works too; a header row is skipped).

    Returns the rows and a sentence when the file cannot be read at all.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if not text.strip():
        return [], "The file is empty."
    first = text.lstrip().splitlines()[0]
    delimiter = ";" if ";" in first and first.count(";") >= first.count(",") else ","
    rows: list[Row] = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        for record in reader:
            number = reader.line_num
            cells = [c.strip() for c in record]
            if not any(cells):
                continue
            if not rows and number == 1 and cells[0].lower() in ("sku", "article", "artikel", "item"):
                continue
            if len(rows) >= MAX_ROWS:
                return rows, f"The file has more than {MAX_ROWS} rows; split it into smaller files."
            quantity = cells[1] if len(cells) > 1 else ""
            if delimiter == ";":
                quantity = quantity.replace(",", ".")
            note = delimiter.join(cells[2:]) if len(cells) > 2 else ""
            rows.append(Row(number=number, sku=cells[0], quantity=quantity, note=note))
    except csv.Error as exc:
        return rows, f"Row {reader.line_num}: the file is not valid CSV ({exc})."
    if not rows:
        return [], "The file has no rows with a SKU and a quantity."
    return rows, None


def _quantity(text: str) -> Decimal | str:
    """The quantity, or a sentence saying what is wrong with it."""
    if not text:
        return "the quantity is missing"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return f"the quantity {text!r} is not a number"
    if not value.is_finite() or value <= 0:
        return f"the quantity {text} must be greater than zero"
    if value > MAX_QUANTITY:
        return f"the quantity {text} is more than {MAX_QUANTITY:,}"
    if -value.as_tuple().exponent > 3:  # type: ignore[operator]
        return f"the quantity {text} has more than 3 decimals"
    return value


def _decimal_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


# --- the cart and orders --------------------------------------------------------------


@dataclass
class CartLine:
    product: Product
    quantity: Decimal
    unit_price: Decimal
    note: str = ""

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(Decimal("0.01"))


@dataclass
class Cart:
    lines: list[CartLine]
    currency: str
    missing: list[str] = field(default_factory=list)  # products no longer orderable, by SKU or id

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def empty(self) -> bool:
        return not self.lines


@dataclass
class OrderDetail:
    order: Order
    responses: list[OrderResponse]
    despatches: list[DespatchAdvice]
    invoices: list[Invoice]
    messages: list[Message]


@dataclass
class CheckoutResult:
    order: Order | None = None
    problems: list[str] = field(default_factory=list)


class PartnerScope:
    """Every portal query for one partner. Construct it only from the signed-in user's partner."""

    def __init__(self, session: Session, partner_id: int):
        if partner_id is None:
            raise ValueError("a portal scope needs a partner")
        self.session = session
        self.partner_id = partner_id

    # the one filter ------------------------------------------------------------------
    def owned(self, stmt: Select, model: Any) -> Select:
        """``stmt`` restricted to rows of this partner."""
        return stmt.where(model.partner_id == self.partner_id)

    def _get(self, model: Any, record_id: int, *options: Any) -> Any:
        if valid_id(record_id) is None:
            raise NotFound(f"{model.__name__} {record_id}")
        stmt = self.owned(select(model).where(model.id == record_id), model)
        if options:
            stmt = stmt.options(*options)
        found = self.session.scalar(stmt)
        if found is None:
            raise NotFound(f"{model.__name__} {record_id}")
        return found

    @property
    def partner(self) -> Partner:
        partner = self.session.get(Partner, self.partner_id)
        if partner is None:
            raise NotFound(f"partner {self.partner_id}")
        return partner

    def products(self, *columns: Any) -> Select:
        """The one product query: active products of this partner's assortment
        (``columns`` instead of whole products when given)."""
        stmt = select(*columns) if columns else select(Product)
        stmt = stmt.where(Product.active.is_(True))
        condition = product_filter(self.partner)
        return stmt if condition is None else stmt.where(condition)

    @property
    def restricted(self) -> bool:
        """True when this partner sees only its assortment."""
        return bool(self.partner.assortment_restricted)

    # catalogue -----------------------------------------------------------------------
    def categories(self) -> list[str]:
        """The active products' categories, sorted: a loose index scan over ``ix_product_category``
        (one index probe per category, not a DISTINCT over the whole assortment). A partner
        with a restricted assortment gets the categories of its own products."""
        if self.restricted:
            rows = self.session.scalars(
                self.products(Product.category).where(Product.category.is_not(None))
                .distinct().order_by(Product.category)
            )
            return [c for c in rows if c]
        stmt = text(
            "WITH RECURSIVE cats(category) AS ("
            " SELECT min(category) FROM product WHERE active = :yes AND category IS NOT NULL"
            " UNION ALL"
            " SELECT (SELECT min(p.category) FROM product p WHERE p.active = :yes AND p.category > cats.category)"
            " FROM cats WHERE cats.category IS NOT NULL"
            ") SELECT category FROM cats WHERE category IS NOT NULL"
        ).bindparams(yes=True)
        return [c for c in self.session.scalars(stmt) if c]

    def _catalog_select(self, query: str, category: str, *, in_stock: bool = False,
                        contract_only: bool = False) -> Select:
        """Active products matching name, SKU (substring, case-insensitive) or GTIN, and a category;
        with ``in_stock`` only products with stock above zero (not those without stock tracking),
        with ``contract_only`` only those with a contract price of this partner valid today.

        ``ILIKE '%word%'`` on the plain columns: on PostgreSQL the pg_trgm GIN
        indexes of migration 0005 answer it; on SQLite (development, small
        catalogues) it is a scan of the product table.
        """
        stmt = self.products()
        query = query.strip()
        if query:
            like = f"%{_escape_like(query)}%"
            stmt = stmt.where(
                or_(
                    Product.name.ilike(like, escape="\\"),
                    Product.sku.ilike(like, escape="\\"),
                    Product.gtin == query,
                )
            )
        if category:
            stmt = stmt.where(Product.category == category)
        if in_stock:
            stmt = stmt.where(Product.stock > 0)
        if contract_only:
            today = dt.date.today()
            stmt = stmt.where(select(Price.id).where(
                Price.partner_id == self.partner_id, Price.product_id == Product.id, Price.valid_from <= today,
                or_(Price.valid_to.is_(None), Price.valid_to >= today),
            ).exists())
        return stmt

    def catalog(
        self, query: str = "", category: str = "", page: int = 1, per_page: int = 25, *,
        in_stock: bool = False, contract_only: bool = False,
    ) -> Page[CatalogItem]:
        """Active products matching name, SKU or GTIN, with this partner's prices, by page number
        (with a total: the API's paging; the web catalogue uses :meth:`catalog_slice`)."""
        stmt = self._catalog_select(query, category, in_stock=in_stock, contract_only=contract_only)
        stmt = stmt.order_by(Product.name, Product.id)
        found = _paginate(self.session, stmt, page, per_page)
        return Page(items=self._items(found.items), page=found.page, per_page=per_page, total=found.total)

    def catalog_slice(
        self,
        query: str = "",
        category: str = "",
        *,
        after: int | None = None,
        before: int | None = None,
        per_page: int = 25,
        in_stock: bool = False,
        contract_only: bool = False,
    ) -> CatalogSlice:
        """One page of active products by (name, id) after or before a product (keyset paging),
        with this partner's prices: ``per_page + 1`` rows from the ``(name, id)`` index, no count."""
        stmt = self._catalog_select(query, category, in_stock=in_stock, contract_only=contract_only)
        after, before = valid_id(after), valid_id(before)
        cursor_id = after if after is not None else before
        mark = None
        if cursor_id is not None:  # the cursor's position; an unknown id (or one outside the assortment) starts over
            mark = self.session.execute(self.products(Product.name, Product.id).where(Product.id == cursor_id)).first()
        key = tuple_(Product.name, Product.id)
        if mark is not None and after is not None:
            rows = list(self.session.scalars(
                stmt.where(key > tuple_(literal(mark.name), literal(mark.id)))
                .order_by(Product.name, Product.id).limit(per_page + 1)
            ))
            has_prev, has_next = True, len(rows) > per_page
            rows = rows[:per_page]
        elif mark is not None:
            rows = list(self.session.scalars(
                stmt.where(key < tuple_(literal(mark.name), literal(mark.id)))
                .order_by(Product.name.desc(), Product.id.desc()).limit(per_page + 1)
            ))
            has_prev, has_next = len(rows) > per_page, True
            rows = rows[:per_page][::-1]
        else:
            rows = list(self.session.scalars(stmt.order_by(Product.name, Product.id).limit(per_page + 1)))
            has_prev, has_next = False, len(rows) > per_page
            rows = rows[:per_page]
        return CatalogSlice(items=self._items(rows), per_page=per_page, has_prev=has_prev, has_next=has_next)

    def _items(self, products: list[Product]) -> list[CatalogItem]:
        """Products with this partner's prices (one query for all of them)."""
        prices = self._prices([p.id for p in products])
        items = []
        for product in products:
            breaks = prices.get(product.id, [])
            unit = next((p.price for p in reversed(breaks) if p.min_quantity <= 1), None)
            items.append(
                CatalogItem(
                    product=product,
                    unit_price=unit if unit is not None else product.list_price,
                    breaks=breaks,
                    contract=bool(breaks),
                )
            )
        return items

    def _prices(self, product_ids: list[int], on: dt.date | None = None) -> dict[int, list[Price]]:
        """Valid contract prices for some products, breaks ascending (the rule of
        :func:`hub.pricing.partner_prices`, limited to one page of the catalogue)."""
        if not product_ids:
            return {}
        on = on or dt.date.today()
        stmt = self.owned(
            select(Price).where(
                Price.product_id.in_(product_ids),
                Price.valid_from <= on,
                or_(Price.valid_to.is_(None), Price.valid_to >= on),
            ),
            Price,
        ).order_by(Price.product_id, Price.min_quantity, Price.valid_from.desc())
        result: dict[int, list[Price]] = {}
        for price in self.session.scalars(stmt):
            breaks = result.setdefault(price.product_id, [])
            if not breaks or breaks[-1].min_quantity != price.min_quantity:  # newest per break
                breaks.append(price)
        return result

    def find_product(self, code: str) -> Product | None:
        """An active product by SKU (case-insensitive) or GTIN."""
        code = code.strip()
        if not code:
            return None
        return self.session.scalar(
            self.products().where(or_(func.lower(Product.sku) == code.lower(), Product.gtin == code))
        )

    def _products_by_code(self, codes: set[str]) -> dict[str, Product]:
        """Active products of the assortment for many SKUs (keyed lower-case) or GTINs (keyed as given),
        in few queries."""
        found: dict[str, Product] = {}

        def lookup(chunk: list[str], sku_match: Any) -> None:
            gtins = chunk + [_gtin13(c) for c in chunk if c.isdigit()]
            stmt = self.products().where(or_(sku_match, Product.gtin.in_(gtins)))
            for product in self.session.scalars(stmt):
                found[product.sku.lower()] = product
                if product.gtin:
                    found[product.gtin] = product

        codes_list = sorted(codes)
        for start in range(0, len(codes_list), 500):
            chunk = codes_list[start : start + 500]
            # the SKU as typed, upper- or lower-case: the unique index on sku answers these
            lookup(chunk, Product.sku.in_(sorted({v for c in chunk for v in (c, c.upper(), c.lower())})))
        # codes in any other mix of case (or unknown): the case-insensitive match, a scan
        rest = [c for c in codes_list
                if c.lower() not in found and c not in found and not (c.isdigit() and _gtin13(c) in found)]
        for start in range(0, len(rest), 500):
            chunk = rest[start : start + 500]
            lookup(chunk, func.lower(Product.sku).in_([c.lower() for c in chunk]))
        return found

    def resolve_rows(self, rows: Iterable[Row]) -> ParsedRows:
        """Check each row (product known and orderable, quantity sensible); sums repeats."""
        result = ParsedRows()
        index: dict[int, int] = {}
        rows = list(rows)
        products = self._products_by_code({row.sku.strip() for row in rows if row.sku.strip()})
        for row in rows:
            if not row.sku.strip():
                result.errors.append(RowError(row, "the SKU is missing"))
                continue
            code = row.sku.strip()
            product = products.get(code.lower()) or products.get(code)
            if product is None and code.isdigit():
                product = products.get(_gtin13(code))
            if product is None:
                result.errors.append(RowError(row, f"no product with SKU or GTIN {row.sku!r} in the catalogue"))
                continue
            quantity = _quantity(row.quantity)
            if isinstance(quantity, str):
                result.errors.append(RowError(row, quantity))
                continue
            if len(row.note) > CART_NOTE_MAX:
                result.errors.append(RowError(row, f"the note is {len(row.note)} characters long; a cart line keeps "
                                                   f"at most {CART_NOTE_MAX} (a longer text goes in the order's note)"))
                continue
            if product.id in index:
                at = index[product.id]
                old_product, old_quantity, old_note = result.lines[at]
                note = "; ".join(n for n in (old_note, row.note) if n)
                result.lines[at] = (old_product, old_quantity + quantity, note)
            else:
                index[product.id] = len(result.lines)
                result.lines.append((product, quantity, row.note))
        return result

    def cart(self, items: dict[str, dict[str, str]]) -> Cart:
        """Price the session cart for this partner (quantity breaks applied)."""
        partner = self.partner
        ids = []
        for key in items:
            try:
                ids.append(int(key))
            except ValueError:
                continue
        products = {p.id: p for p in self.session.scalars(self.products().where(Product.id.in_(ids)))} if ids else {}
        lines, missing = [], []
        for key, item in items.items():
            product = products.get(int(key)) if key.isdigit() else None
            if product is None:
                missing.append(key)
                continue
            quantity = Decimal(item.get("quantity", "1"))
            unit = price_for(self.session, partner, product, quantity)
            lines.append(CartLine(product=product, quantity=quantity, unit_price=unit, note=item.get("note", "")))
        return Cart(lines=lines, currency=partner.currency, missing=missing)

    # orders --------------------------------------------------------------------------
    def orders(self, query: str = "", status: str = "", page: int = 1, per_page: int = 25) -> Page[Order]:
        stmt = self.owned(select(Order), Order)
        if query.strip():
            stmt = stmt.where(func.lower(Order.number).like(f"%{_escape_like(query.strip().lower())}%", escape="\\"))
        if status:
            stmt = stmt.where(Order.status == status)
        stmt = stmt.order_by(Order.created_at.desc(), Order.id.desc())
        return _paginate(self.session, stmt, page, per_page)

    def order(self, order_id: int) -> Order:
        return self._get(Order, order_id, selectinload(Order.lines))

    def order_detail(self, order_id: int) -> OrderDetail:
        order = self.order(order_id)
        s = self.session
        return OrderDetail(
            order=order,
            responses=list(s.scalars(self.owned(
                select(OrderResponse).where(OrderResponse.order_id == order.id), OrderResponse
            ).order_by(OrderResponse.id))),
            despatches=list(s.scalars(self.owned(
                select(DespatchAdvice).where(DespatchAdvice.order_id == order.id), DespatchAdvice
            ).order_by(DespatchAdvice.id))),
            invoices=list(s.scalars(self.owned(
                select(Invoice).where(Invoice.order_id == order.id), Invoice
            ).order_by(Invoice.id))),
            messages=list(s.scalars(self.owned(
                select(Message).where(Message.order_id == order.id), Message
            ).order_by(Message.id))),
        )

    def reorder_items(self, order_id: int) -> tuple[dict[str, dict[str, str]], list[str]]:
        """Cart items for the lines of an earlier order, and the lines that cannot be ordered again."""
        order = self.order(order_id)
        ids = [line.product_id for line in order.lines if line.product_id]
        orderable = set(self.session.scalars(self.products(Product.id).where(Product.id.in_(ids)))) if ids else set()
        items: dict[str, dict[str, str]] = {}
        skipped = []
        for line in order.lines:
            product = line.product if line.product_id in orderable else None
            if product is None:
                skipped.append(f"line {line.line_no} ({line.sku or line.gtin or line.description or '?'})")
                continue
            key = str(product.id)
            previous = Decimal(items[key]["quantity"]) if key in items else Decimal(0)
            items[key] = {"quantity": _decimal_text(previous + line.quantity), "note": ""}
        return items, skipped

    def invoices(self, page: int = 1, per_page: int = 25) -> Page[Invoice]:
        stmt = self.owned(select(Invoice), Invoice).order_by(Invoice.issue_date.desc(), Invoice.id.desc())
        return _paginate(self.session, stmt, page, per_page)

    def despatches(self, page: int = 1, per_page: int = 25) -> Page[DespatchAdvice]:
        stmt = self.owned(select(DespatchAdvice), DespatchAdvice).order_by(DespatchAdvice.id.desc())
        return _paginate(self.session, stmt, page, per_page)

    def order_numbers(self, order_ids: Iterable[int | None]) -> dict[int, str]:
        """Order numbers by id, for this partner's orders among ``order_ids``."""
        ids = {i for i in order_ids if i is not None}
        if not ids:
            return {}
        stmt = self.owned(select(Order.id, Order.number).where(Order.id.in_(ids)), Order)
        return {order_id: number for order_id, number in self.session.execute(stmt)}

    def order_number_taken(self, number: str) -> bool:
        return self.session.scalar(
            self.owned(select(func.count(Order.id)).where(Order.number == number), Order)
        ) > 0

    def checkout(
        self,
        items: dict[str, dict[str, str]],
        user: User,
        settings: Settings,
        *,
        number: str = "",
        requested_delivery: dt.date | None = None,
        note: str = "",
        today: dt.date | None = None,
    ) -> CheckoutResult:
        """Turn the cart into an order through :func:`hub.orders.place_order`; commits once.

        Business problems come back as sentences (nothing is stored); the
        caller empties the cart only when an order came back.
        """
        today = today or dt.date.today()
        if not self.partner.active or not user.active:
            return CheckoutResult(problems=["Your company's account is inactive: orders cannot be placed."])
        cart = self.cart(items)
        problems = []
        if cart.empty:
            problems.append("The cart is empty.")
        if cart.missing:
            problems.append(f"{len(cart.missing)} product(s) in the cart can no longer be ordered; remove them.")
        charset = partner_charset(self.session, self.partner)
        if charset is not None:  # EDIFACT has no line breaks in FTX: the note becomes one line
            note = " ".join(note.split())
        number = number.strip()
        why = text_problem(number, ORDER_NUMBER, charset) if number else None
        if why:
            problems.append(f"Your order number {why}.")
        number = number or self._new_number(today)
        if not why and self.order_number_taken(number):
            problems.append(f"You already have an order numbered {number}; choose another order number.")
        why = text_problem(note.strip(), NOTE, charset)
        if why:
            problems.append(f"The note {why}.")
        for n, line in enumerate(cart.lines, start=1):
            line_note = " ".join(line.note.split()) if charset is not None else line.note
            # the note goes to the order as "Line n (SKU): note" (order_document): the prefix takes its room
            room = NOTE.max_length - len(line_note_prefix(n, line.product.sku))
            why = text_problem(line_note, dataclasses.replace(NOTE, max_length=room), charset) if line_note else None
            if why:
                problems.append(f"The note on line {n} ({line.product.sku}) {why}.")
        if requested_delivery is not None and requested_delivery < today:
            problems.append("The requested delivery date is in the past.")
        problems.extend([] if problems else credit_problems(self.session, self.partner, cart.total, today=today))
        if problems:
            return CheckoutResult(problems=problems)

        partner = self.partner
        document = self.order_document(cart, number=number, requested_delivery=requested_delivery,
                                       note=note, today=today, partner=partner, user=user)
        if charset is not None:
            # catalogue and account texts the partner did not type here: folded, never refused
            document = fold_free_text(document, charset.syntax_id)
            document.notes = [" ".join(n.split()) for n in document.notes]
        try:
            order = place_order(
                self.session, settings, partner, document, source="portal", actor=user.email, user=user
            )
        except OrderRejected as exc:
            self.session.rollback()
            return CheckoutResult(problems=list(exc.problems) or [str(exc)])
        audit(self.session, user.email, "order.placed", target=f"order:{number}", partner_id=partner.id,
              detail=f"{len(document.lines)} line(s) from the portal")
        self.session.commit()
        return CheckoutResult(order=order)

    def order_document(
        self,
        cart: Cart,
        *,
        number: str,
        requested_delivery: dt.date | None,
        note: str,
        today: dt.date,
        partner: Partner,
        user: User,
    ) -> doc.Order:
        """The canonical order for a priced cart (prices left to place_order's contract lookup)."""
        gln = self.session.scalar(
            select(PartnerIdentifier.value).where(
                PartnerIdentifier.partner_id == partner.id, PartnerIdentifier.scheme == "GLN"
            )
        )
        buyer = doc.Party(
            role=doc.PartyRole.BUYER,
            id=gln,
            id_agency="9" if gln else None,
            name=partner.name,
            country=partner.country,
            vat_number=partner.vat_number,
            contact=user.name,
        )
        notes = [note.strip()] if note.strip() else []
        lines = []
        for n, line in enumerate(cart.lines, start=1):
            lines.append(
                doc.OrderLine(
                    line_no=str(n),
                    gtin=line.product.gtin,
                    supplier_sku=line.product.sku,
                    description=line.product.name,
                    quantity=line.quantity,
                    unit=line.product.unit,
                )
            )
            if line.note:
                notes.append(line_note_prefix(n, line.product.sku) + line.note)
        return doc.Order(
            number=number,
            issue_date=today,
            requested_delivery=requested_delivery,
            currency=partner.currency,
            parties=[buyer],
            notes=notes,
            lines=lines,
        )

    def _new_number(self, today: dt.date) -> str:
        while True:
            number = f"W{today:%y%m%d}-{secrets.token_hex(2).upper()}"
            if not self.order_number_taken(number):
                return number

    # messages ------------------------------------------------------------------------
    def messages(self, filters: MessageFilter, *, before: int | None = None, limit: int = 50) -> MessageSlice:
        """This partner's messages, whatever partner the filter names. ``before`` pages on only when it
        names one of this partner's messages; any other id starts over, so another partner's message
        id as a cursor tells nothing of when that message came (it pages like an id no message has)."""
        filters = dataclasses.replace(filters, partner_id=self.partner_id)
        before = valid_id(before)
        if before is not None and self.session.scalar(
            self.owned(select(Message.id).where(Message.id == before), Message)
        ) is None:
            before = None
        return list_messages(self.session, filters, before=before, limit=limit)

    def message(self, message_id: int) -> Message:
        return self._get(Message, message_id, selectinload(Message.events))

    def message_events(self, message_id: int) -> list[MessageEvent]:
        return list(self.message(message_id).events)


def _gtin13(code: str) -> str:
    """A GTIN given with leading zeros (GTIN-14, or padded) as the 13 digits we store."""
    return code.lstrip("0").zfill(13)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
