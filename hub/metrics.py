"""Figures for ``/metrics`` (Prometheus text format) and ``/healthz``.

Read from the database at scrape time, so every node reports the same
numbers and nothing is kept in a process's memory that another node would
miss. The collector keeps its queries to grouped counts; the latency
histogram is a running total kept in the database (:func:`fold_latency`), so
it grows monotonically as Prometheus expects of a histogram.

A scrape only reads, in a transaction that on SQLite begins deferred
(:data:`hub.db.READ_ONLY`): it never waits for a writer nor holds one up.
Folding the histogram writes, so the worker does it in its periodic duties
(:func:`fold_latency_duty`), and the scrape adds the events since the last
fold on top of the folded figures.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from datetime import timedelta

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, aliased, sessionmaker

from hub.db import READ_ONLY
from hub.models import Message, MessageEvent, Partner, Sequence, utcnow
from hub.settings import Settings
from hub.states import State

__all__ = ["HubCollector", "LATENCY_BUCKETS", "fold_latency", "fold_latency_duty", "latency_fold_lag", "read_latency",
           "worker_liveness"]

log = logging.getLogger(__name__)

#: seconds, from receipt to processed (the answer is ready when processing ends)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


#: PostgreSQL's SQLSTATE for a NOWAIT lock that is held by another transaction
_LOCK_NOT_AVAILABLE = "55P03"

#: rows of number_sequence that keep the running latency histogram
_LATENCY_MARK = "latency:mark"  # the id of the last "done" event folded in
_LATENCY_COUNT = "latency:count"
_LATENCY_SUM = "latency:sum_ms"
_LATENCY_BUCKET = "latency:le:{}"


def _latency_rows() -> list[str]:
    return [_LATENCY_MARK, _LATENCY_COUNT, _LATENCY_SUM] + [_LATENCY_BUCKET.format(b) for b in LATENCY_BUCKETS]


def latency_fold_lag(settings: Settings | None) -> float:
    """Seconds a "done" event waits before it is folded: more than twice the longest worker
    transaction (the lease), so no event with a smaller id can still be uncommitted."""
    lease = settings.worker_lease_seconds if settings is not None else 300
    return 2.0 * (lease + 60)


def _tally(rows) -> tuple[list[int], int, int]:
    """Per-bucket counts (cumulative, as Prometheus wants them), total milliseconds and count of
    ``(created, finished)`` pairs."""
    counts = [0] * len(LATENCY_BUCKETS)
    total_ms = 0
    for created, finished in rows:
        millis = max(0, round((finished - created).total_seconds() * 1000))
        for i, bound in enumerate(LATENCY_BUCKETS):
            if millis <= bound * 1000:
                counts[i] += 1
        total_ms += millis
    return counts, total_ms, len(rows)


def _done_since(session: Session, mark: int) -> list:
    """``(event id, received, processed)`` of every inbound message's "done" event after ``mark``."""
    done = aliased(MessageEvent)
    return list(session.execute(
        select(done.id, Message.created_at, done.at)
        .join(Message, Message.id == done.message_id)
        .where(done.id > mark, done.event == "done", Message.direction == "in")
        .order_by(done.id)
    ).all())


def _figures(stored: dict[str, int], rows: list) -> tuple[list[int], float, int]:
    counts, live_ms, live_n = _tally([(created, at) for _id, created, at in rows])
    buckets = [stored.get(_LATENCY_BUCKET.format(b), 0) + counts[i] for i, b in enumerate(LATENCY_BUCKETS)]
    return buckets, (stored.get(_LATENCY_SUM, 0) + live_ms) / 1000, stored.get(_LATENCY_COUNT, 0) + live_n


def read_latency(session: Session) -> tuple[list[int], float, int]:
    """The processing-latency histogram over every inbound message processed so far: (cumulative
    counts per bucket of LATENCY_BUCKETS, sum of seconds, count). Only reads, never locks: what a
    scrape uses.

    The folded running totals (:func:`fold_latency`, a worker duty) plus the "done" events after
    their mark. The totals and the mark are read in one statement, so a fold committing meanwhile
    moves events from one side to the other and never counts one twice or loses one.
    """
    stored = {name: int(value) for name, value in session.execute(
        select(Sequence.name, Sequence.value).where(Sequence.name.in_(_latency_rows()))
    ).all()}
    return _figures(stored, _done_since(session, stored.get(_LATENCY_MARK, 0)))


def fold_latency(session: Session, lag_seconds: float, *, now: dt.datetime | None = None
                 ) -> tuple[list[int], float, int]:
    """Fold the "done" events older than ``lag_seconds`` into the running totals and return the whole
    histogram as :func:`read_latency` does. Commits.

    The histogram is kept as running totals in ``number_sequence`` rows, so it only ever grows (what
    Prometheus ``rate()`` needs) and a scrape reads only the events since the last fold. The fold
    takes the "done" events (in id order) up to the last one older than ``lag_seconds``, under a row
    lock (PostgreSQL: NOWAIT, so a second folder fails at once with OperationalError instead of
    queueing). The lag must exceed twice the longest worker transaction (the lease): then no event
    with a smaller id can still be uncommitted when the mark passes it, so none is ever missed or
    counted twice. The worker does this in its periodic duties (:func:`fold_latency_duty`); a scrape
    never does.
    """
    now = now or utcnow()
    stored = _lock_latency_rows(session, _latency_rows())
    mark = stored[_LATENCY_MARK]
    rows = _done_since(session, mark)
    cutoff = now - timedelta(seconds=lag_seconds)
    new_mark = max((event_id for event_id, _created, at in rows if at <= cutoff), default=mark)
    if new_mark != mark:
        kept, kept_ms, kept_n = _tally([(created, at) for event_id, created, at in rows if event_id <= new_mark])
        updates = {_LATENCY_MARK: new_mark, _LATENCY_COUNT: stored[_LATENCY_COUNT] + kept_n,
                   _LATENCY_SUM: stored[_LATENCY_SUM] + kept_ms}
        for i, bound in enumerate(LATENCY_BUCKETS):
            name = _LATENCY_BUCKET.format(bound)
            updates[name] = stored[name] + kept[i]
        for name, value in updates.items():
            session.execute(update(Sequence).where(Sequence.name == name).values(value=value)
                            .execution_options(synchronize_session=False))
            stored[name] = value
    session.commit()
    return _figures(stored, [row for row in rows if row[0] > new_mark])


def fold_latency_duty(session_factory: sessionmaker[Session], settings: Settings | None) -> None:
    """The worker's periodic duty: fold the latency histogram's older events into its running totals.
    Another node folding at the same moment (PostgreSQL: the rows are locked) is left to finish it."""
    with session_factory() as session:
        try:
            fold_latency(session, latency_fold_lag(settings))
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            session.rollback()
            log.info("latency histogram: another node is folding it; skipped this tick")


def _lock_latency_rows(session: Session, names: list[str]) -> dict[str, int]:
    """The running totals, locked for this transaction (created at zero the first time)."""
    for _attempt in range(2):
        found = dict(session.execute(
            select(Sequence.name, Sequence.value).where(Sequence.name.in_(names)).with_for_update(nowait=True)
        ).all())
        missing = [name for name in names if name not in found]
        if not missing:
            return {name: int(found[name]) for name in names}
        session.add_all(Sequence(name=name, value=0) for name in missing)
        try:
            session.commit()
        except IntegrityError:  # another node created them at the same time
            session.rollback()
    raise RuntimeError("the latency histogram rows could not be created")


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
            # a scrape only reads: on SQLite a deferred transaction that neither waits for a writer
            # (another node's, or the request's own from loading the signed-in user) nor blocks one
            session.connection(execution_options={READ_ONLY: True})
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
        counts, total, n = read_latency(session)
        buckets = [(str(bound), count) for bound, count in zip(LATENCY_BUCKETS, counts)] + [("+Inf", n)]
        family = HistogramMetricFamily(
            "kontor_processing_latency_seconds",
            "Receipt to processed, every inbound message processing since the hub started counting",
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
