"""Figures for ``/metrics`` (Prometheus text format) and ``/healthz``.

Read from the database at scrape time, so every node reports the same
numbers and nothing is kept in a process's memory that another node would
miss. The collector keeps its queries to grouped counts and a bounded
window for the latency histogram.
"""

from __future__ import annotations

import time
from datetime import timedelta

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from hub.models import Message, MessageEvent, Partner, Sequence, utcnow
from hub.settings import Settings
from hub.states import State

__all__ = ["HubCollector", "LATENCY_BUCKETS", "worker_liveness"]

#: seconds, from receipt to processed (the answer is ready when processing ends)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
LATENCY_WINDOW = timedelta(hours=24)


def worker_liveness(session: Session) -> float | None:
    """Seconds since some worker last ran the scheduler tick (None: never)."""
    value = session.scalar(select(Sequence.value).where(Sequence.name == "tick:duties"))
    if value is None:
        return None
    return max(0.0, time.time() - value / 1000)


class HubCollector(Collector):
    """A prometheus_client collector over the hub's tables."""

    def __init__(self, session_factory: sessionmaker[Session], settings: Settings | None = None):
        self.session_factory = session_factory
        self.settings = settings  # for the hub's own AS2 certificate

    def collect(self):
        with self.session_factory() as session:
            yield from self._messages(session)
            yield from self._queue(session)
            yield from self._failures(session)
            yield from self._latency(session)
            yield from self._certificates(session)
            liveness = worker_liveness(session)
            gauge = GaugeMetricFamily("kontor_worker_tick_age_seconds",
                                      "Seconds since a worker last ran the periodic duties")
            if liveness is not None:
                gauge.add_metric([], liveness)
            yield gauge

    def _messages(self, session: Session):
        family = GaugeMetricFamily(
            "kontor_messages", "Messages by state, partner, document type and direction",
            labels=["state", "partner", "document_type", "direction"],
        )
        stmt = (
            select(Message.state, Partner.code, Message.document_type, Message.direction, func.count())
            .select_from(Message)
            .outerjoin(Partner, Partner.id == Message.partner_id)
            .group_by(Message.state, Partner.code, Message.document_type, Message.direction)
        )
        for state, partner, doc_type, direction, count in session.execute(stmt):
            family.add_metric([state, partner or "", doc_type or "", direction], count)
        yield family

    def _queue(self, session: Session):
        family = GaugeMetricFamily("kontor_queue_depth", "Messages waiting for a worker", labels=["direction"])
        now = utcnow()
        due = (Message.next_attempt_at.is_(None)) | (Message.next_attempt_at <= now)
        for direction, states in (("in", (State.RECEIVED,)), ("out", (State.QUEUED,))):
            count = session.scalar(
                select(func.count()).select_from(Message).where(Message.direction == direction,
                                                                Message.state.in_(states + (State.FAILED,)), due)
            )
            family.add_metric([direction], count or 0)
        yield family

    def _failures(self, session: Session):
        family = CounterMetricFamily("kontor_delivery_failures", "Failed delivery attempts", labels=["partner"])
        stmt = (
            select(Partner.code, func.count())
            .select_from(MessageEvent)
            .join(Message, Message.id == MessageEvent.message_id)
            .outerjoin(Partner, Partner.id == Message.partner_id)
            .where(Message.direction == "out", MessageEvent.event.in_(("fail", "give_up")))
            .group_by(Partner.code)
        )
        for partner, count in session.execute(stmt):
            family.add_metric([partner or ""], count)
        yield family

    def _latency(self, session: Session):
        done = aliased(MessageEvent)
        stmt = (
            select(Message.created_at, done.at)
            .join(done, and_(done.message_id == Message.id, done.event == "done"))
            .where(Message.direction == "in", Message.created_at >= utcnow() - LATENCY_WINDOW)
        )
        counts = [0] * len(LATENCY_BUCKETS)
        total, n = 0.0, 0
        for created, finished in session.execute(stmt):
            seconds = max(0.0, (finished - created).total_seconds())
            total += seconds
            n += 1
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
        buckets = [(str(bound), count) for bound, count in zip(LATENCY_BUCKETS, counts)] + [("+Inf", n)]
        family = HistogramMetricFamily(
            "kontor_processing_latency_seconds",
            "Receipt to processed, inbound messages of the last 24 hours",
        )
        family.add_metric([], buckets, sum_value=total)
        yield family

    def _certificates(self, session: Session):
        from hub.certificates import certificate_records

        family = GaugeMetricFamily(
            "kontor_certificate_days_left",
            "Days until a certificate expires: partner channel certificates and the hub's own AS2 certificate "
            "(partner \"\", channel \"hub\"); fingerprint: the first 16 hex digits of its SHA-256",
            labels=["partner", "channel", "certificate", "fingerprint"],
        )
        now = utcnow()
        seen = set()
        for record in certificate_records(session, self.settings):
            days = record.days_left(now)
            labels = (record.partner, record.channel, record.key, record.fingerprint[:16])
            if days is None or labels in seen:  # the same certificate twice under one key: one series
                continue
            seen.add(labels)
            family.add_metric(list(labels), days)
        yield family
