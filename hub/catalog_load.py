"""Loading the catalogue, contract price lists and assortments from CSV files.

Each loader reads the whole file, checks every row and either applies all of
it in one transaction or nothing: a file with one bad row changes nothing, and
the errors name the file, the line and the column
(``products.csv: line 7 column list_price: 'abc' is not a number``).
Rows are upserts: products by SKU, prices by (partner, SKU, minimum quantity,
valid from), so loading the same file twice changes nothing the second time.

The first line names the columns (case and spaces do not matter:
``List price`` is ``list_price``); comma or semicolon separated, UTF-8.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.accounts import audit
from hub.models import AssortmentItem, Partner, Price, Product

__all__ = [
    "LoadError",
    "LoadResult",
    "PRODUCT_COLUMNS",
    "PRICE_COLUMNS",
    "ASSORTMENT_COLUMNS",
    "load_products",
    "load_prices",
    "load_assortment",
    "open_assortment",
    "gtin_problem",
]

PRODUCT_COLUMNS = ("sku", "gtin", "name", "description", "category", "unit", "list_price", "currency", "tax_rate",
                   "stock", "active")
PRICE_COLUMNS = ("partner", "sku", "price", "currency", "min_quantity", "valid_from", "valid_to")
ASSORTMENT_COLUMNS = ("partner", "sku", "category")
_ALIASES = {"partner_code": "partner", "article": "sku", "min_qty": "min_quantity", "vat_rate": "tax_rate",
            "tax": "tax_rate", "list": "list_price"}
_CHUNK = 500
_SKU = re.compile(r"^\S{1,40}$")
_UNIT = re.compile(r"^[A-Z0-9]{1,3}$")  # UN/ECE Recommendation 20 unit codes: PCE, KGM, MTR, ...
_CURRENCY = re.compile(r"^[A-Z]{3}$")  # ISO 4217 alphabetic code
_TRUE = {"1", "y", "yes", "true", "x", "active"}
_FALSE = {"0", "n", "no", "false", "inactive"}
ALWAYS = dt.date(2000, 1, 1)  # valid_from of a price without a start (the column's default)


class LoadError(Exception):
    """The file was refused; ``errors`` holds one sentence per problem. Nothing was changed."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass
class LoadResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    partners: list[str] = field(default_factory=list)

    def summary(self, noun: str) -> str:
        text = f"{noun}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        if self.removed:
            text += f", {self.removed} removed"
        return text


# --- reading ----------------------------------------------------------------------------------


@dataclass
class _Cell:
    """Reads the cells of one row, collecting problems named by file, line and column."""

    name: str
    line: int
    values: dict[str, str]
    errors: list[str]

    def error(self, column: str | None, message: str) -> None:
        where = f"{self.name}: line {self.line}" + (f" column {column}" if column else "")
        self.errors.append(f"{where}: {message}")

    def has(self, column: str) -> bool:
        return column in self.values

    def text(self, column: str, *, required: bool = False, max_length: int | None = None) -> str | None:
        value = self.values.get(column, "").strip()
        if not value:
            if required:
                self.error(column, "is empty")
            return None
        if max_length is not None and len(value) > max_length:
            self.error(column, f"is longer than {max_length} characters")
            return None
        return value

    def decimal(self, column: str, *, required: bool = False, minimum: Decimal = Decimal(0),
                maximum: Decimal | None = None, above: bool = False, places: int = 4) -> Decimal | None:
        raw = self.text(column, required=required)
        if raw is None:
            return None
        try:
            value = Decimal(raw.replace(",", ".") if raw.count(",") == 1 and "." not in raw else raw)
        except InvalidOperation:
            self.error(column, f"{raw!r} is not a number")
            return None
        if not value.is_finite():
            self.error(column, f"{raw!r} is not a number")
            return None
        if above and value <= minimum:
            self.error(column, f"{raw} must be greater than {minimum}")
            return None
        if value < minimum:
            self.error(column, f"{raw} must not be below {minimum}")
            return None
        if maximum is not None and value > maximum:
            self.error(column, f"{raw} must not be above {maximum}")
            return None
        if -value.as_tuple().exponent > places:  # type: ignore[operator]
            self.error(column, f"{raw} has more than {places} decimals")
            return None
        return value

    def date(self, column: str) -> dt.date | None:
        raw = self.text(column)
        if raw is None:
            return None
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            self.error(column, f"{raw!r} is not a date (YYYY-MM-DD)")
            return None


def _rows(path: Path, columns: tuple[str, ...], required: tuple[str, ...],
          errors: list[str]) -> Iterator[_Cell]:
    """The data rows of a CSV file, each with its line number; header problems go to ``errors``."""
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        errors.append(f"{name}: cannot be read ({exc.strerror or exc})")
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        errors.append(f"{name}: line {line}: not UTF-8 text (byte {exc.start + 1})")
        return
    if not text.strip():
        errors.append(f"{name}: the file is empty")
        return
    first = text.lstrip("\ufeff").splitlines()[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except csv.Error as exc:
        errors.append(f"{name}: line 1: not valid CSV ({exc})")
        return
    names = []
    for position, raw in enumerate(header, start=1):
        key = re.sub(r"[\s\-]+", "_", raw.strip().lower())
        key = _ALIASES.get(key, key)
        if key not in columns:
            errors.append(f"{name}: line 1 column {position}: unknown column {raw.strip()!r}"
                          f" (columns are {', '.join(columns)})")
        elif key in names:
            errors.append(f"{name}: line 1 column {position}: column {key} is given twice")
        names.append(key)
    missing = [c for c in required if c not in names]
    if missing:
        errors.append(f"{name}: line 1: missing column(s) {', '.join(missing)}")
    if errors:
        return
    seen_data = False
    try:
        for record in reader:
            if not any(c.strip() for c in record):
                continue
            seen_data = True
            line = reader.line_num
            cell = _Cell(name, line, {}, errors)
            if len(record) > len(names):
                cell.error(None, f"{len(record)} cells, but the header names {len(names)} columns")
                continue
            cell.values = dict(zip(names, record))
            yield cell
    except csv.Error as exc:
        errors.append(f"{name}: line {reader.line_num}: not valid CSV ({exc})")
        return
    if not seen_data:
        errors.append(f"{name}: the file has a header but no rows")


def gtin_problem(gtin: str) -> str | None:
    """Why ``gtin`` is not a GTIN-8/12/13/14 (None when it is): digits, length and the GS1 mod-10
    check digit (GS1 General Specifications, section 7.9.1)."""
    if not gtin.isdigit() or len(gtin) not in (8, 12, 13, 14):
        return f"{gtin!r} is not a GTIN (8, 12, 13 or 14 digits)"
    body, check = gtin[:-1], int(gtin[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if (10 - total % 10) % 10 != check:
        return f"{gtin!r} has a wrong check digit"
    return None


def _gtin_key(gtin: str) -> str:
    """A GTIN as the hub stores it: leading zeros dropped down to 13 digits (as orders look it up)."""
    return gtin.lstrip("0").zfill(13)


def _by_chunks(values: list[str], lookup: Callable[[list[str]], object]) -> None:
    for start in range(0, len(values), _CHUNK):
        lookup(values[start : start + _CHUNK])


def _products_by_sku(session: Session, skus: list[str]) -> dict[str, Product]:
    found: dict[str, Product] = {}

    def lookup(chunk: list[str]) -> None:
        for product in session.scalars(select(Product).where(Product.sku.in_(chunk))):
            found[product.sku] = product

    _by_chunks(sorted(set(skus)), lookup)
    return found


def _partners(session: Session) -> dict[str, Partner]:
    return {p.code.upper(): p for p in session.scalars(select(Partner))}


def _commit(session: Session, path: Path) -> None:
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise LoadError([f"{path.name}: refused by the database, nothing was changed ({exc.orig})"]) from exc


# --- products -----------------------------------------------------------------------------------


def load_products(session: Session, path: Path, *, actor: str = "kontor catalog load") -> LoadResult:
    """Create or update products by SKU from ``path``; all rows or none. Commits once.

    Columns: sku, name, list_price (required); gtin, description, category,
    unit, currency, tax_rate, stock (empty: not tracked), active. A column left
    out of the file leaves that field of existing products as it is.
    """
    errors: list[str] = []
    rows: list[tuple[int, dict[str, object]]] = []
    first_line: dict[str, int] = {}
    gtin_line: dict[str, tuple[int, str]] = {}
    for cell in _rows(path, PRODUCT_COLUMNS, ("sku", "name", "list_price"), errors):
        before = len(errors)
        sku = cell.text("sku", required=True)
        if sku is not None and not _SKU.match(sku):
            cell.error("sku", f"{sku!r} must be 1 to 40 characters without spaces")
        elif sku is not None and sku in first_line:
            cell.error("sku", f"{sku} is already on line {first_line[sku]}")
        values: dict[str, object] = {
            "name": cell.text("name", required=True, max_length=200),
            "list_price": cell.decimal("list_price", required=True),
        }
        if cell.has("gtin"):
            gtin = cell.text("gtin")
            if gtin is not None:
                problem = gtin_problem(gtin)
                if problem:
                    cell.error("gtin", problem)
                else:
                    gtin = _gtin_key(gtin)
                    if gtin in gtin_line:
                        cell.error("gtin", f"{gtin} is already used by {gtin_line[gtin][1]} on line {gtin_line[gtin][0]}")
                    elif sku:
                        gtin_line[gtin] = (cell.line, sku)
            values["gtin"] = gtin
        if cell.has("description"):
            values["description"] = cell.text("description")
        if cell.has("category"):
            values["category"] = cell.text("category", max_length=80)
        if cell.has("unit"):
            unit = (cell.text("unit") or "PCE").upper()
            if not _UNIT.match(unit):
                cell.error("unit", f"{unit!r} is not a unit code (UN/ECE Recommendation 20, e.g. PCE, KGM)")
            values["unit"] = unit
        if cell.has("currency"):
            currency = (cell.text("currency") or "EUR").upper()
            if not _CURRENCY.match(currency):
                cell.error("currency", f"{currency!r} is not an ISO 4217 currency code")
            values["currency"] = currency
        if cell.has("tax_rate"):
            rate = cell.decimal("tax_rate", maximum=Decimal(100), places=2)
            if rate is not None:  # empty: a new product gets the default rate, an existing one keeps its own
                values["tax_rate"] = rate
        if cell.has("stock"):
            values["stock"] = cell.decimal("stock")
        if cell.has("active"):
            raw = (cell.text("active") or "yes").lower()
            if raw not in _TRUE | _FALSE:
                cell.error("active", f"{raw!r} is not yes or no")
            values["active"] = raw in _TRUE
        if sku is not None and sku not in first_line:
            first_line[sku] = cell.line
        if len(errors) == before and sku is not None:
            rows.append((cell.line, {"sku": sku, **values}))
    if errors:
        raise LoadError(errors)

    existing = _products_by_sku(session, [str(v["sku"]) for _, v in rows])
    # a GTIN of the file held by another product in the catalogue (that the file does not move)
    gtins = sorted(gtin_line)
    holders: dict[str, Product] = {}
    _by_chunks(gtins, lambda chunk: holders.update(
        {p.gtin: p for p in session.scalars(select(Product).where(Product.gtin.in_(chunk))) if p.gtin}))
    file_skus = {str(v["sku"]): v for _, v in rows}
    for gtin, (line, sku) in gtin_line.items():
        holder = holders.get(gtin)
        if holder is not None and holder.sku != sku and not (
            holder.sku in file_skus and "gtin" in file_skus[holder.sku] and file_skus[holder.sku]["gtin"] != gtin
        ):
            errors.append(f"{path.name}: line {line} column gtin: {gtin} belongs to product {holder.sku}")
    if errors:
        raise LoadError(errors)

    result = LoadResult()
    with session.no_autoflush:
        for _, values in rows:
            product = existing.get(str(values["sku"]))
            if product is None:
                session.add(Product(**values))
                result.created += 1
                continue
            changed = {k: v for k, v in values.items() if k != "sku" and getattr(product, k) != v}
            for key, value in changed.items():
                setattr(product, key, value)
            if changed:
                result.updated += 1
            else:
                result.unchanged += 1
    audit(session, actor, "catalog.loaded", target=f"file:{path.name}", detail=result.summary("products"))
    _commit(session, path)
    return result


# --- contract prices ------------------------------------------------------------------------------


def load_prices(session: Session, path: Path, *, replace: bool = False,
                actor: str = "kontor prices load") -> LoadResult:
    """Create or update contract prices from ``path``; all rows or none. Commits once.

    Columns: partner (code), sku, price (required); currency (the partner's),
    min_quantity (default 1: a quantity break from this quantity on),
    valid_from (default: always), valid_to (inclusive; empty: open).
    With ``replace`` the partners named in the file lose every other price
    (the file is their whole price list).
    """
    errors: list[str] = []
    partners = _partners(session)
    parsed: list[tuple[int, str, str, dict[str, object]]] = []
    seen: dict[tuple[str, str, Decimal, dt.date], int] = {}
    for cell in _rows(path, PRICE_COLUMNS, ("partner", "sku", "price"), errors):
        before = len(errors)
        code = (cell.text("partner", required=True) or "").upper()
        partner = partners.get(code) if code else None
        if code and partner is None:
            cell.error("partner", f"no partner with code {code}")
        sku = cell.text("sku", required=True)
        price = cell.decimal("price", required=True)
        currency = (cell.text("currency") or "").upper() or (partner.currency if partner else "")
        if partner is not None and currency != partner.currency:
            cell.error("currency", f"{currency} is not {code}'s currency {partner.currency}")
        minimum = cell.decimal("min_quantity", minimum=Decimal(0), above=True)
        if minimum is None and not cell.text("min_quantity"):
            minimum = Decimal(1)
        valid_from = cell.date("valid_from") if cell.text("valid_from") else ALWAYS
        valid_to = cell.date("valid_to")
        if valid_from is not None and valid_to is not None and valid_to < valid_from:
            cell.error("valid_to", f"{valid_to} is before valid_from {valid_from}")
        if len(errors) == before and sku and minimum is not None and valid_from is not None:
            key = (code, sku, minimum.normalize(), valid_from)
            if key in seen:
                cell.error(None, f"the same price (partner {code}, SKU {sku}, min_quantity {minimum}, valid_from"
                                 f" {valid_from}) is already on line {seen[key]}")
                continue
            seen[key] = cell.line
            parsed.append((cell.line, code, sku, {"price": price, "currency": currency, "min_quantity": minimum,
                                                   "valid_from": valid_from, "valid_to": valid_to}))
    products = _products_by_sku(session, [sku for _, _, sku, _ in parsed])
    for line, _, sku, _ in parsed:
        if sku not in products:
            errors.append(f"{path.name}: line {line} column sku: no product with SKU {sku}")
    if errors:
        raise LoadError(errors)

    result = LoadResult(partners=sorted({code for _, code, _, _ in parsed}))
    partner_ids = [partners[code].id for code in result.partners]
    current: dict[tuple[int, int, Decimal, dt.date], Price] = {}
    for stored in session.scalars(select(Price).where(Price.partner_id.in_(partner_ids))):
        current[(stored.partner_id, stored.product_id, Decimal(stored.min_quantity).normalize(),
                 stored.valid_from)] = stored
    kept: set[int] = set()
    with session.no_autoflush:
        for _, code, sku, values in parsed:
            partner, product = partners[code], products[sku]
            start = values["valid_from"]
            assert isinstance(start, dt.date)
            found = current.get((partner.id, product.id, Decimal(str(values["min_quantity"])).normalize(), start))
            if found is None:
                session.add(Price(partner_id=partner.id, product_id=product.id, **values))
                result.created += 1
                continue
            kept.add(found.id)
            changed = False
            for name in ("price", "currency", "valid_to"):
                if getattr(found, name) != values[name]:
                    setattr(found, name, values[name])
                    changed = True
            result.updated += changed
            result.unchanged += not changed
        if replace:
            for stored in current.values():
                if stored.id not in kept:
                    session.delete(stored)
                    result.removed += 1
    for code in result.partners:
        audit(session, actor, "prices.loaded", target=f"file:{path.name}", partner_id=partners[code].id,
              detail=result.summary("prices") + (" (replacing the price list)" if replace else ""))
    _commit(session, path)
    return result


# --- assortments ------------------------------------------------------------------------------------


def load_assortment(session: Session, path: Path, *, actor: str = "kontor assortment load") -> LoadResult:
    """Set the assortments of the partners named in ``path``; all rows or none. Commits once.

    Columns: partner (code), and sku or category (one of them per row). Each
    partner in the file sees from now on only its rows' products and
    categories (its earlier assortment is replaced); other partners are untouched.
    """
    errors: list[str] = []
    partners = _partners(session)
    wanted: dict[str, dict[str, set[str]]] = {}
    where: dict[str, int] = {}
    for cell in _rows(path, ASSORTMENT_COLUMNS, ("partner",), errors):
        before = len(errors)
        code = (cell.text("partner", required=True) or "").upper()
        if code and code not in partners:
            cell.error("partner", f"no partner with code {code}")
        sku = cell.text("sku")
        category = cell.text("category", max_length=80)
        if (sku is None) == (category is None):
            cell.error(None, "give either a sku or a category")
        if len(errors) == before:
            entry = wanted.setdefault(code, {"sku": set(), "category": set()})
            if sku is not None:
                entry["sku"].add(sku)
                where.setdefault(sku, cell.line)
            else:
                entry["category"].add(str(category))
    products = _products_by_sku(session, sorted(where))
    for sku, line in sorted(where.items(), key=lambda item: item[1]):
        if sku not in products:
            errors.append(f"{path.name}: line {line} column sku: no product with SKU {sku}")
    if errors:
        raise LoadError(errors)

    result = LoadResult(partners=sorted(wanted))
    for code in result.partners:
        partner = partners[code]
        session.execute(delete(AssortmentItem).where(AssortmentItem.partner_id == partner.id))
        session.add_all([AssortmentItem(partner_id=partner.id, product_id=products[sku].id)
                         for sku in sorted(wanted[code]["sku"])])
        session.add_all([AssortmentItem(partner_id=partner.id, category=category)
                         for category in sorted(wanted[code]["category"])])
        partner.assortment_restricted = True
        result.created += len(wanted[code]["sku"]) + len(wanted[code]["category"])
        audit(session, actor, "assortment.loaded", target=f"partner:{code}", partner_id=partner.id,
              detail=f"{len(wanted[code]['sku'])} product(s), {len(wanted[code]['category'])} categor(ies)"
                     f" from {path.name}")
    _commit(session, path)
    return result


def open_assortment(session: Session, code: str, *, actor: str = "kontor assortment open") -> Partner:
    """Let the partner see the whole catalogue again (its assortment rows are kept for later). Commits."""
    partner = _partners(session).get(code.strip().upper())
    if partner is None:
        raise LookupError(f"no partner with code {code.strip().upper()}")
    partner.assortment_restricted = False
    audit(session, actor, "assortment.opened", target=f"partner:{partner.code}", partner_id=partner.id,
          detail="the whole catalogue")
    session.commit()
    return partner
