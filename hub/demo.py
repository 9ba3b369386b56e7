"""Demo data for ``kontor run --demo``: a catalog, contract prices and users.

Partners come from ``config/partners`` (loaded by ``kontor partners load``);
this adds what a fresh hub needs to be tried by hand. Loading twice changes
nothing: every row is looked up by its natural key first.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.accounts import hash_password
from hub.models import Partner, Price, Product, User
from hub.settings import Settings

__all__ = ["load_demo", "DEMO_PASSWORD", "DEMO_USERS", "gtin13"]

DEMO_PASSWORD = "demo-password-1"

#: (email, name, partner code or None for operations, role)
DEMO_USERS = [
    ("ops@kontor.example", "Olga Operator", None, "ops_admin"),
    ("viewer@kontor.example", "Viktor Viewer", None, "ops_viewer"),
    ("buyer@acme.example", "Anna Buyer", "ACME", "buyer"),
    ("admin@acme.example", "Arno Admin", "ACME", "admin"),
    ("accounts@acme.example", "Alma Accounts", "ACME", "accounts"),
    ("buyer@nordoel.example", "Nils Buyer", "NORDOEL", "buyer"),
    ("buyer@lusitania.example", "Luisa Buyer", "LUSITANIA", "buyer"),
]

#: Which e-mails the demo users get (see hub.notifications.KINDS); sent only when [smtp] host is set.
_DEMO_NOTIFY = {
    "buyer": {"order_response": True, "despatch": True},
    "admin": {"order_response": True, "approval": True},
    "accounts": {"invoice": True},
}

_FAMILIES = [
    ("Engine oil", "Lubricants", "LTR", "SAE {v} engine oil, {s} l", ["5W-30", "5W-40", "10W-40", "0W-20", "15W-40"], [1, 4, 5, 20, 208]),
    ("Gear oil", "Lubricants", "LTR", "Gear oil {v}, {s} l", ["75W-90", "80W-90", "85W-140"], [1, 20, 208]),
    ("Hydraulic oil", "Lubricants", "LTR", "Hydraulic oil HLP {v}, {s} l", ["32", "46", "68"], [20, 208, 1000]),
    ("Grease", "Greases", "KGM", "Lithium grease {v}, {s} kg", ["EP2", "EP3", "LC2"], [0.4, 5, 18]),
    ("Coolant", "Coolants", "LTR", "Coolant {v}, {s} l", ["G12", "G13", "G11"], [1, 5, 20]),
    ("AdBlue", "Fuel additives", "LTR", "AdBlue {v}, {s} l", ["ISO 22241"], [10, 210, 1000]),
]


def gtin13(base12: str) -> str:
    """A GTIN-13 from 12 digits, with its GS1 check digit."""
    digits = [int(c) for c in base12]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return base12 + str((10 - total % 10) % 10)


def _catalog() -> list[dict]:
    products = []
    number = 0
    for family, category, unit, pattern, variants, sizes in _FAMILIES:
        for variant in variants:
            for size in sizes:
                number += 1
                volume = Decimal(str(size))
                price = (Decimal("3.20") * volume + Decimal("2.50")).quantize(Decimal("0.01"))
                products.append(
                    {
                        "sku": f"KS-{number:05d}",
                        "gtin": gtin13(f"400000{number:06d}"),
                        "name": pattern.format(v=variant, s=size),
                        "description": f"{family} {variant} in a {size} {unit.lower()} pack.",
                        "category": category,
                        "unit": "PCE",
                        "list_price": price,
                        "stock": Decimal(500 - (number * 37) % 480) if number % 7 else None,
                    }
                )
    return products


def load_demo(session: Session, settings: Settings) -> list[str]:
    """Catalog, contract prices and demo users (partners must be loaded first). No commit."""
    changes = []
    by_sku = {p.sku: p for p in session.scalars(select(Product))}
    for data in _catalog():
        if data["sku"] in by_sku:
            continue
        product = Product(currency="EUR", tax_rate=Decimal("19"), **data)
        session.add(product)
        by_sku[product.sku] = product
    session.flush()
    changes.append(f"catalog: {len(by_sku)} products")

    partners = {p.code: p for p in session.scalars(select(Partner))}
    today = dt.date.today()
    for code, discount in (("ACME", Decimal("0.88")), ("NORDOEL", Decimal("0.92")), ("LUSITANIA", Decimal("0.95"))):
        partner = partners.get(code)
        if partner is None:
            continue
        have = {(p.product_id, p.min_quantity) for p in session.scalars(select(Price).where(Price.partner_id == partner.id))}
        added = 0
        for index, product in enumerate(sorted(by_sku.values(), key=lambda p: p.sku)):
            if index % 3 == 2:
                continue  # not every product has a contract price: the list price applies
            for min_qty, factor in ((Decimal(1), discount), (Decimal(50), discount - Decimal("0.05"))):
                if (product.id, min_qty) in have:
                    continue
                session.add(Price(partner_id=partner.id, product_id=product.id,
                                  price=(product.list_price * factor).quantize(Decimal("0.01")),
                                  currency="EUR", min_quantity=min_qty,
                                  valid_from=today - dt.timedelta(days=30)))
                added += 1
        changes.append(f"{code}: {added} contract prices added")

    for email, name, code, role in DEMO_USERS:
        if session.scalar(select(User).where(User.email == email)) is not None:
            continue
        partner = partners.get(code) if code else None
        if code and partner is None:
            continue
        session.add(User(email=email, name=name, partner_id=partner.id if partner else None, role=role,
                         password_hash=hash_password(DEMO_PASSWORD), notify=_DEMO_NOTIFY.get(role, {})))
        changes.append(f"user {email} ({role})")
    from hub.portal_documents import load_carriers

    changes += load_carriers(session)  # tracking links for DHL, UPS, DPD, GLS, FedEx
    changes += _demo_purchase_order(session, settings, partners.get("LUSITANIA"))
    session.flush()
    return changes


def _demo_purchase_order(session: Session, settings: Settings, supplier: Partner | None) -> list[str]:
    """A purchase order of ours to Lusitania (portal only, no EDI), to try the turnaround with."""
    from edi import documents as docs
    from hub.portal_models import SupplierOrder
    from hub.turnaround import create_supplier_order

    if supplier is None or session.scalar(select(SupplierOrder.id).where(SupplierOrder.partner_id == supplier.id)):
        return []
    create_supplier_order(session, settings, supplier, number="KO-PO-1001", lines=[
        docs.OrderLine(line_no="1", supplier_sku="LU-CORK-20", description="Cork gaskets, box of 20",
                       quantity=Decimal(50), unit="PCE", net_price=Decimal("7.40")),
        docs.OrderLine(line_no="2", supplier_sku="LU-DRUM-208", description="Steel drum 208 l, reconditioned",
                       quantity=Decimal(12), unit="PCE", net_price=Decimal("31.00")),
    ], requested_delivery=dt.date.today() + dt.timedelta(days=14))
    return ["purchase order KO-PO-1001 to LUSITANIA (turnaround demo)"]

