"""A partner's documents in the portal: delivery notes with packages and tracking, invoices, search.

Every read goes through a :class:`hub.portal.PartnerScope` (its ``owned``
filter), so another partner's document is simply not found.

Tracking links: a carrier named on a despatch advice maps to a URL pattern
with ``{tracking}`` where the consignment reference goes. Patterns live in
the ``carrier`` table (configurable per installation, ``kontor run --demo``
loads :data:`DEFAULT_CARRIERS`); a carrier found in neither gets no link.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session

from hub.models import DespatchAdvice, Invoice, Order
from hub.portal import NotFound, PartnerScope, _escape_like
from hub.portal_models import Carrier

__all__ = ["DEFAULT_CARRIERS", "tracking_url", "load_carriers", "despatch", "invoice", "search", "Found"]

#: Well-known carriers and their public tracking pages.
DEFAULT_CARRIERS = {
    "DHL": "https://www.dhl.com/de-en/home/tracking/tracking-parcel.html?tracking-id={tracking}",
    "UPS": "https://www.ups.com/track?tracknum={tracking}",
    "DPD": "https://tracking.dpd.de/status/en_US/parcel/{tracking}",
    "GLS": "https://gls-group.com/DE/en/parcel-tracking?match={tracking}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={tracking}",
}


def tracking_url(session: Session, carrier: str | None, tracking: str | None) -> str | None:
    """The carrier's tracking page for ``tracking``, or None when the carrier has no known pattern."""
    if not carrier or not tracking:
        return None
    pattern = session.scalar(select(Carrier.tracking_url).where(func.lower(Carrier.name) == carrier.strip().lower()))
    if pattern is None:
        pattern = next((p for name, p in DEFAULT_CARRIERS.items() if name.lower() == carrier.strip().lower()), None)
    if pattern is None or "{tracking}" not in pattern:
        return None
    return pattern.replace("{tracking}", quote(tracking.strip(), safe=""))


def load_carriers(session: Session, carriers: dict[str, str] | None = None) -> list[str]:
    """Add carriers not yet known (by name); returns one line per carrier added. No commit."""
    added = []
    have = {c.lower() for c in session.scalars(select(Carrier.name))}
    for name, pattern in (carriers or DEFAULT_CARRIERS).items():
        if name.lower() in have:
            continue
        if "{tracking}" not in pattern or not pattern.startswith("https://"):
            raise ValueError(f"carrier {name}: the tracking URL must be https:// and contain {{tracking}}")
        session.add(Carrier(name=name, tracking_url=pattern))
        added.append(f"carrier {name}")
    session.flush()
    return added


def despatch(scope: PartnerScope, despatch_id: int) -> DespatchAdvice:
    return scope._get(DespatchAdvice, despatch_id)


def invoice(scope: PartnerScope, invoice_id: int) -> Invoice:
    return scope._get(Invoice, invoice_id)


def order_of(scope: PartnerScope, order_id: int | None) -> Order | None:
    if order_id is None:
        return None
    try:
        return scope.order(order_id)
    except NotFound:
        return None


@dataclass
class Found:
    orders: list[Order]
    despatches: list[DespatchAdvice]
    invoices: list[Invoice]

    @property
    def empty(self) -> bool:
        return not (self.orders or self.despatches or self.invoices)


def search(scope: PartnerScope, query: str, *, limit: int = 50) -> Found:
    """Orders, delivery notes and invoices whose number (or order number, carrier, tracking
    number, SSCC) contains ``query``, case-insensitive; at most ``limit`` of each, newest first."""
    query = query.strip()
    if not query:
        return Found([], [], [])
    like = f"%{_escape_like(query.lower())}%"
    s = scope.session
    orders = list(s.scalars(scope.owned(select(Order), Order).where(
        func.lower(Order.number).like(like, escape="\\")).order_by(Order.id.desc()).limit(limit)))
    order_ids = select(Order.id).where(Order.partner_id == scope.partner_id,
                                       func.lower(Order.number).like(like, escape="\\"))
    # SSCCs are digits inside the JSON document: six or more digits search the document's text
    despatches = list(s.scalars(scope.owned(select(DespatchAdvice), DespatchAdvice).where(or_(
        func.lower(DespatchAdvice.number).like(like, escape="\\"),
        func.lower(DespatchAdvice.tracking_number).like(like, escape="\\"),
        func.lower(DespatchAdvice.carrier).like(like, escape="\\"),
        DespatchAdvice.order_id.in_(order_ids),
        cast(DespatchAdvice.document, String).like(f"%{query}%")
        if query.isdigit() and len(query) >= 6 else DespatchAdvice.id < 0,
    )).order_by(DespatchAdvice.id.desc()).limit(limit)))
    invoices = list(s.scalars(scope.owned(select(Invoice), Invoice).where(or_(
        func.lower(Invoice.number).like(like, escape="\\"),
        Invoice.order_id.in_(order_ids),
    )).order_by(Invoice.id.desc()).limit(limit)))
    return Found(orders, despatches, invoices)
