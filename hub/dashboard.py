"""The operations dashboard: figures from the message store, and SVG charts drawn here.

Figures (:func:`dashboard`): messages per day and direction, per partner,
the error rate per day (messages that ended rejected, failed or dead among
those of the day), the latency from an ORDERS received to its ORDRSP
queued (the ``store`` events of both messages), and the open alerts.

Charts (:func:`bar_chart`) are plain SVG built from the figures: no script,
no external file; each has a ``<title>`` and ``<desc>``, and the page shows
the same numbers in a table beside it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from markupsafe import Markup, escape
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from hub.models import Message, MessageEvent, Partner, utcnow
from hub.states import State

__all__ = ["Dashboard", "DayFigures", "dashboard", "bar_chart", "percentile"]

ERROR_STATES = (State.REJECTED, State.FAILED, State.DEAD)


@dataclass
class DayFigures:
    day: dt.date
    inbound: int = 0
    outbound: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, ORDERS received -> ORDRSP queued

    @property
    def total(self) -> int:
        return self.inbound + self.outbound

    @property
    def error_rate(self) -> float:
        return 100.0 * self.errors / self.total if self.total else 0.0

    @property
    def latency_p50(self) -> float | None:
        return percentile(self.latencies, 50)

    @property
    def latency_p95(self) -> float | None:
        return percentile(self.latencies, 95)


@dataclass
class Dashboard:
    days: list[DayFigures]
    partners: list[tuple[str, int, int]]  # (code, inbound, outbound), busiest first
    open_alerts: list  # hub.ops_models.Alert
    since: dt.datetime

    @property
    def latencies(self) -> list[float]:
        return [s for d in self.days for s in d.latencies]


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _day(value) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def dashboard(session: Session, *, days: int = 14, now: dt.datetime | None = None, partner_id: int | None = None) -> Dashboard:
    """The figures of the last ``days`` days (today included), optionally for one partner."""
    from hub.ops_models import Alert

    now = now or utcnow()
    first = now.date() - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time())
    by_day = {first + dt.timedelta(days=i): DayFigures(first + dt.timedelta(days=i)) for i in range(days)}
    window = [Message.created_at >= since]
    if partner_id is not None:
        window.append(Message.partner_id == partner_id)

    day = func.date(Message.created_at)
    is_error = Message.state.in_(ERROR_STATES)
    stmt = (
        select(day, Message.direction, func.count(Message.id), func.count(Message.id).filter(is_error))
        .where(*window)
        .group_by(day, Message.direction)
    )
    for value, direction, count, errors in session.execute(stmt):
        figures = by_day.get(_day(value))
        if figures is None:
            continue
        if direction == "in":
            figures.inbound += count
        else:
            figures.outbound += count
        figures.errors += errors

    stmt = (
        select(Partner.code, Message.direction, func.count(Message.id))
        .join(Partner, Partner.id == Message.partner_id)
        .where(*window)
        .group_by(Partner.code, Message.direction)
    )
    per_partner: dict[str, list[int]] = {}
    for code, direction, count in session.execute(stmt):
        per_partner.setdefault(code, [0, 0])[0 if direction == "in" else 1] += count
    partners = sorted(((c, i, o) for c, (i, o) in per_partner.items()), key=lambda r: (-(r[1] + r[2]), r[0]))

    order_in, answer = aliased(Message), aliased(Message)
    received, queued = aliased(MessageEvent), aliased(MessageEvent)
    stmt = (
        select(received.at, queued.at)
        .select_from(answer)
        .join(order_in, order_in.id == answer.answers_id)
        .join(received, and_(received.message_id == order_in.id, received.event == "store"))
        .join(queued, and_(queued.message_id == answer.id, queued.event == "store"))
        .where(answer.direction == "out", answer.document_type == "ORDRSP", answer.created_at >= since,
               order_in.document_type == "ORDERS")
    )
    if partner_id is not None:
        stmt = stmt.where(answer.partner_id == partner_id)
    for got, sent in session.execute(stmt):
        figures = by_day.get(got.date())
        if figures is not None:
            figures.latencies.append(max(0.0, (sent - got).total_seconds()))

    alerts = list(session.scalars(select(Alert).where(Alert.state == "open").order_by(Alert.id.desc()).limit(20)))
    return Dashboard(days=list(by_day.values()), partners=partners, open_alerts=alerts, since=since)


# --- SVG ---------------------------------------------------------------------------

PALETTE = ("#1f5f8b", "#d9822b", "#b3261e", "#4d7c0f")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _fmt(value: float) -> str:
    if value >= 10 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: list[str],
    series: list[tuple[str, list[float]]],
    *,
    unit: str = "",
    width: int = 640,
    height: int = 240,
) -> Markup:
    """A grouped bar chart as inline SVG (role="img", titled and described for screen readers).

    ``series`` is a list of (name, values), one value per label. The numbers
    are also printed as a table by the page; the chart only draws them.
    """
    left, right, top, bottom = 48, 12, 28 if len(series) > 1 else 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((v for _, values in series for v in values), default=0))
    n = max(1, len(labels))
    group_w = plot_w / n
    bar_w = max(1.0, group_w * 0.8 / max(1, len(series)))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
    ]
    for i in range(5):  # grid lines and scale
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd" stroke-width="1"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#444">'
                   f'{escape(_fmt(value))}{escape(unit)}</text>')
    every = max(1, math.ceil(n / 14))
    for j, label in enumerate(labels):
        x0 = left + j * group_w + group_w * 0.1
        for k, (name, values) in enumerate(series):
            value = values[j] if j < len(values) else 0
            h = plot_h * value / peak if peak else 0
            x = x0 + k * bar_w
            out.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[k % len(PALETTE)]}"><title>{escape(label)}: {escape(name)} '
                f'{escape(_fmt(value))}{escape(unit)}</title></rect>'
            )
        if j % every == 0:
            out.append(f'<text x="{left + j * group_w + group_w / 2:.1f}" y="{height - bottom + 16}" '
                       f'text-anchor="middle" font-size="11" fill="#444">{escape(label)}</text>')
    if len(series) > 1:
        x = left
        for k, (name, _values) in enumerate(series):
            out.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{PALETTE[k % len(PALETTE)]}"/>')
            out.append(f'<text x="{x + 16}" y="16" font-size="12" fill="#222">{escape(name)}</text>')
            x += 24 + 8 * len(name)
    out.append("</svg>")
    return Markup("".join(out))
