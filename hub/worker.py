"""The worker: claims messages and runs the pipeline or the delivery.

Claiming is a short transaction of its own that moves the message into
``processing``/``delivering`` with the worker's name and a lease; on
PostgreSQL it uses ``SELECT ... FOR UPDATE SKIP LOCKED`` so any number of
workers on any number of machines never take the same message. The work
itself runs in a second transaction, in the same session (the claimed
message is not read again; the translation loads its payload and partner
there, just before the results are applied), that ends by checking the claim is
still ours (``UPDATE ... WHERE claimed_by = me``): if the lease ran out and
another worker took the message, this worker's results are rolled back, so
nothing is ever applied twice. A worker that dies leaves its lease to run
out; :func:`release_expired` makes the message claimable again.

The plain new orders among a claimed batch's inbound messages are applied
together, in one transaction with one fence for all of them
(:mod:`hub.batch`); the others each get their own transaction afterwards.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache
from typing import Callable, Iterator

from sqlalchemy import Select, bindparam, or_, select, update
from sqlalchemy.orm import Session, joinedload, sessionmaker

from adapters.base import TransportError
from hub.db import is_postgres
from hub.errors import HubError
from hub.messages import transition, transition_all
from hub.models import Message, Partner, utcnow
from edi.translate import Translation
from hub.batch import LostBatchClaim, apply_new_orders
from hub.pipeline import OPTIMISTIC, ApplyAgain, process_inbound, translate_message
from hub.scheduler import claim_tick, mark_overdue_acknowledgements
from hub.settings import Settings
from hub.states import CLAIMABLE_INBOUND, CLAIMABLE_OUTBOUND, Event, State
from hub.transport import deliver, poll_all

__all__ = ["Worker", "LostClaim"]

log = logging.getLogger(__name__)


#: the oldest due messages (inbound first), with what the work needs loaded with them; built once a size
_CLAIM = (
    select(Message)
    .where(
        Message.state.in_(CLAIMABLE_INBOUND + CLAIMABLE_OUTBOUND + (State.FAILED,)),
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= bindparam("now")),
    )
    .order_by(Message.direction, Message.id)  # "in" sorts before "out"
    # the work needs them: read with the claim, not by more queries after it (the partner's
    # identifiers check the sender and address the answer; its channels send the answer)
    .options(joinedload(Message.partner).selectinload(Partner.identifiers),
             joinedload(Message.partner).selectinload(Partner.channels),
             joinedload(Message.payload))
)


@lru_cache(maxsize=8)
def _claim_statement(limit: int, postgres: bool) -> Select[tuple[Message]]:
    stmt = _CLAIM.limit(limit)
    return stmt.with_for_update(skip_locked=True, of=Message) if postgres else stmt


#: how many due messages :meth:`Worker.run_batch` claims in one transaction. Larger batches of new
#: orders go faster together (bench/pipeline: 8 -> 16 took one PostgreSQL worker from about 180 to
#: 207 ORDERS a second); smaller ones spread slow deliveries over more workers. 16 is the middle.
CLAIM_BATCH = 16

#: the fence of :meth:`Worker._still_mine` (a Core update: the ORM's bulk-update machinery adds nothing here)
_MESSAGE = Message.__table__
_FENCE = (
    update(_MESSAGE)
    .where(_MESSAGE.c.id == bindparam("fence_id"), _MESSAGE.c.claimed_by == bindparam("fence_owner"),
           _MESSAGE.c.state == bindparam("fence_state"))
    .values(claimed_by=None, lease_until=None)
)


class LostClaim(HubError):
    """The lease ran out and another worker owns the message now; our work is discarded."""


class Worker:
    """One worker: ``run_once`` does at most one message, ``run_batch`` at most ``batch`` (claimed
    together; the plain new orders applied together, the rest each in its own transaction with its
    own fence); ``run`` loops until stopped."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], *, name: str | None = None,
                 batch: int = CLAIM_BATCH, batch_road: bool = True):
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        self.settings = settings
        self.session_factory = session_factory
        self.batch = batch
        #: plain new orders of a claimed batch are applied together (hub.batch); off: each through the pipeline
        self.batch_road = batch_road
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stop_event = threading.Event()

    @property
    def actor(self) -> str:
        return f"worker {self.name}"

    # -- claiming -----------------------------------------------------------------

    def claim(self) -> int | None:
        """Claim the oldest due message (inbound first); returns its id or None."""
        claimed = self._claim()
        return claimed[0] if claimed else None

    def _claim(self) -> tuple[int, str] | None:
        with self.session_factory() as session:
            claimed = self._claim_in(session, 1)
            return (claimed[0].id, claimed[0].direction) if claimed else None

    def _claim_in(self, session: Session, limit: int) -> list[Message]:
        """Claim up to ``limit`` due messages in ``session`` and commit the claims (one transaction,
        a lease and a claim event each); they stay loaded there (empty: nothing due)."""
        now = utcnow()
        messages = session.scalars(_claim_statement(limit, is_postgres(session.get_bind())), {"now": now}).all()
        if not messages:
            session.rollback()
            return []
        lease_until = now + timedelta(seconds=self.settings.worker_lease_seconds)
        for message in messages:
            if message.state == State.FAILED:
                event = Event.RETRY if message.direction == "in" else Event.RESEND
                transition(session, message, event, actor=self.actor, detail="the backoff has passed")
            message.claimed_by = self.name
            message.lease_until = lease_until
            message.next_attempt_at = None
            message.attempts += 1
        # the claim events of the batch in one statement
        transition_all(session, [(message, f"attempt {message.attempts}") for message in messages], Event.CLAIM,
                       actor=self.actor)
        session.commit()
        return list(messages)

    def release_expired(self) -> int:
        """Put messages whose worker's lease ran out back in the queue."""
        now = utcnow()
        released = 0
        with self.session_factory() as session:
            stmt = select(Message).where(Message.state.in_((State.PROCESSING, State.DELIVERING)),
                                         Message.lease_until < now)
            if is_postgres(session.get_bind()):
                stmt = stmt.with_for_update(skip_locked=True)
            for message in session.scalars(stmt):
                owner = message.claimed_by
                message.claimed_by = None
                message.lease_until = None
                transition(session, message, Event.RELEASE, actor=self.actor,
                           detail=f"the lease of {owner} ran out; claimable again")
                released += 1
            session.commit()
        return released

    def _still_mine(self, session: Session, message_id: int, state: str) -> None:
        """Fence: the claim must still be ours when we commit, or all our work is rolled back."""
        session.flush()  # the work first, then the fence, as the autoflush of an ORM update would
        result = session.connection().execute(
            _FENCE, {"fence_id": message_id, "fence_owner": self.name, "fence_state": state})
        if result.rowcount != 1:
            raise LostClaim(f"message {message_id} is no longer claimed by {self.name}")

    # -- working ------------------------------------------------------------------

    def run_once(self) -> bool:
        """Do one message if one is due; True when something was done."""
        return self.run_batch(1) > 0

    def run_batch(self, limit: int | None = None) -> int:
        """Claim up to ``limit`` (default: :attr:`batch`) due messages in one transaction, then apply
        the plain new orders among them together (:meth:`_work_inbound`) and do each of the others in
        a transaction of its own that ends with its own fence; returns how many were claimed.

        The session that committed the claims goes on with the work: the
        messages it holds (expire_on_commit is off) are not read again, and a
        message's payload and partner are loaded once, with the claim. While
        the batch is worked on, a heartbeat extends the leases of the messages
        not done yet; a worker that dies leaves them to run out.
        """
        # one connection for the claim and the work: one pool checkout (and, on
        # PostgreSQL, one pre-ping) a batch instead of one a transaction
        with self.session_factory.kw["bind"].connect() as connection, \
                self.session_factory(bind=connection) as session:
            messages = self._claim_in(session, limit or self.batch)
            if not messages:
                return 0
            with self._heartbeat([message.id for message in messages]) as done:
                inbound = [message for message in messages if message.direction == "in"]
                if inbound:
                    self._work_inbound(session, inbound, done)
                for message in messages:
                    if message.direction != "in":
                        self._deliver(session, message)
                        done(message.id)
        return len(messages)

    def _work_inbound(self, session: Session, messages: list[Message], done: Callable[[int], None]) -> None:
        """Translate the claimed inbound messages; apply the plain new orders among them together
        (:mod:`hub.batch`: one transaction, a few statements), then the rest one by one through
        the pipeline, each in a transaction of its own."""
        ids = [message.id for message in messages]  # read now: a rollback expires the objects
        translations: dict[int, Translation] = {}
        failures: dict[int, Exception] = {}
        for message_id, message in zip(ids, messages):
            try:
                translations[message_id] = translate_message(message)
            except Exception as exc:  # noqa: BLE001 - our failure: stored and retried below
                failures[message_id] = exc
        applied: set[int] = set()
        if self.batch_road and len(translations) > 0:
            work = [(message, translations[message_id]) for message_id, message in zip(ids, messages)
                    if message_id in translations]
            try:
                applied = set(apply_new_orders(session, self.settings, work, actor=self.actor, owner=self.name))
                if applied:
                    session.commit()
                    log.info("messages %s processed together", sorted(applied))
                else:
                    session.rollback()
            except LostBatchClaim as exc:  # another worker took one: the pipeline's fences sort it out
                session.rollback()
                log.info("batch of %s not applied together (%s); one by one", ids, exc)
                applied = set()
            except Exception:  # noqa: BLE001 - nothing kept: each message goes the pipeline's road
                session.rollback()
                log.warning("batch of %s not applied together; one by one", ids, exc_info=True)
                applied = set()
        for message_id, message in zip(ids, messages):
            if message_id in applied:
                pass
            elif message_id in failures:
                self._fail(message_id, State.PROCESSING, failures[message_id])
            else:
                self._process(session, message, translations[message_id])
            done(message_id)

    @contextmanager
    def _heartbeat(self, message_ids: list[int]) -> Iterator[Callable[[int], None]]:
        """Extend the leases of ``message_ids`` every third of their length while they are worked
        on; yields ``done(message_id)``, which takes a finished message out of the beat."""
        stop = threading.Event()
        lease = self.settings.worker_lease_seconds
        lock = threading.Lock()
        pending = set(message_ids)

        def done(message_id: int) -> None:
            with lock:
                pending.discard(message_id)

        if not is_postgres(self.session_factory.kw["bind"]):
            # SQLite has one writer: the embedded worker is the only one, and a
            # heartbeat would wait for the very transaction it keeps alive.
            yield done
            return

        def beat() -> None:
            while not stop.wait(lease / 3):
                with lock:
                    ids = sorted(pending)
                if not ids:
                    continue
                try:
                    with self.session_factory() as session:
                        session.execute(
                            update(Message)
                            .where(Message.id.in_(ids), Message.claimed_by == self.name)
                            .values(lease_until=utcnow() + timedelta(seconds=lease))
                            .execution_options(synchronize_session=False)
                        )
                        session.commit()
                except Exception:  # noqa: BLE001 - a missed beat only shortens the lease
                    log.warning("messages %s: lease heartbeat failed", ids, exc_info=True)

        thread = threading.Thread(target=beat, name=f"heartbeat-{message_ids[0]}", daemon=True)
        thread.start()
        try:
            yield done
        finally:
            stop.set()
            thread.join()

    def _process(self, session: Session, message: Message, translation=None) -> None:
        message_id = message.id
        try:
            # optimistic first: no savepoint a document (nearly all go through); a document the
            # partner's data refuses sends us back to a clean start, each document in its savepoint
            session.info[OPTIMISTIC] = True
            try:
                outcome = process_inbound(session, self.settings, message, actor=self.actor, translation=translation)
            except ApplyAgain as again:
                session.rollback()
                session.info[OPTIMISTIC] = False
                log.info("message %s: %s; applying again, each document in a savepoint", message_id, again)
                outcome = process_inbound(session, self.settings, message, actor=self.actor)  # translated afresh
            finally:
                session.info.pop(OPTIMISTIC, None)
            self._still_mine(session, message_id, message.state)
            session.commit()
            log.info("message %s %s", message_id, outcome)
        except LostClaim:
            session.rollback()
            log.warning("message %s: claim lost, results discarded", message_id)
        except Exception as exc:  # noqa: BLE001 - a failure on our side becomes a stored, retried failure
            session.rollback()
            self._fail(message_id, State.PROCESSING, exc)

    def _deliver(self, session: Session, message: Message) -> None:
        message_id = message.id
        try:
            receipt = deliver(session, self.settings, message)
        except Exception as exc:  # noqa: BLE001 - every transport failure is stored with its reason
            session.rollback()
            retryable = not isinstance(exc, TransportError) or exc.retryable
            self._fail(message_id, State.DELIVERING, exc, retryable=retryable)
            return
        message.receipt = {**(message.receipt or {}), "delivery": receipt.detail, **receipt.data,
                           "delivered_at": utcnow().isoformat()}
        event = Event.ACKNOWLEDGE if receipt.acknowledged else Event.DELIVERED
        transition(session, message, event, actor=self.actor, detail=receipt.detail)
        try:
            self._still_mine(session, message_id, message.state)
            session.commit()
        except LostClaim:
            session.rollback()
            log.warning("message %s: delivered, but the claim was lost meanwhile", message_id)

    def _fail(self, message_id: int, state: str, exc: BaseException, *, retryable: bool = True) -> None:
        reason = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        log.warning("message %s failed: %s", message_id, reason)
        with self.session_factory() as session:
            message = session.get(Message, message_id)
            if message is None or message.state != state or message.claimed_by != self.name:
                return
            message.error = reason + "\n\n" + "".join(traceback.format_exception(exc))[-4000:]
            message.claimed_by = None
            message.lease_until = None
            if not retryable or message.attempts >= self.settings.worker_max_attempts:
                why = "not retryable" if not retryable else f"{message.attempts} attempts"
                transition(session, message, Event.GIVE_UP, actor=self.actor, detail=f"{reason} ({why})")
            else:
                delay = self.settings.worker_backoff_seconds * (2 ** (message.attempts - 1))
                message.next_attempt_at = utcnow() + timedelta(seconds=delay)
                transition(session, message, Event.FAIL, actor=self.actor,
                           detail=f"{reason}; next attempt in {delay:.0f} s")
            session.commit()

    # -- loops ----------------------------------------------------------------------

    def drain(self, limit: int = 10_000) -> int:
        """Work until nothing is due (or ``limit`` messages); returns how many were done."""
        done = 0
        self.release_expired()
        while done < limit and self.run_once():
            done += 1
        return done

    def tick(self, *, force: bool = False, poll: bool = True) -> bool:
        """Release expired leases (every worker, every tick); then, without ``poll`` never and
        otherwise on one node per tick: poll inbound channels and the back-office drop
        folder, mark overdue acknowledgements, evaluate alerts and retention, fold the latency histogram.
        Returns False when this worker did not do the node-wide duties."""
        from hub.alerts import run_ops_duties
        from hub.backoffice import process_drop_folder
        from hub.metrics import fold_latency_duty

        self.release_expired()  # every worker, every tick: cheap, and a dead worker's messages come back
        if not poll:
            return False
        interval = 0.0 if force else self.settings.worker_poll_seconds
        if not claim_tick(self.session_factory, "duties", interval) and not force:
            return False
        duties = (
            ("polling", lambda: poll_all(self.session_factory, self.settings, actor=self.actor)),
            ("back-office folder", lambda: process_drop_folder(self.session_factory, self.settings,
                                                               actor=f"{self.actor} (back-office folder)")),
            ("overdue acknowledgements", lambda: mark_overdue_acknowledgements(self.session_factory, actor=self.actor)),
            ("alerts and retention", lambda: run_ops_duties(self.session_factory, self.settings, actor=self.actor)),
            ("latency histogram", lambda: fold_latency_duty(self.session_factory, self.settings)),
        )
        for name, duty in duties:
            try:  # one duty failing must not keep the others (or the messages) waiting
                duty()
            except Exception:  # noqa: BLE001 - logged with its traceback; the next tick tries again
                log.exception("worker %s: periodic duty %s failed", self.name, name)
        return True

    def run(self, *, poll: bool = True) -> None:
        """Loop until :attr:`stop_event` is set."""
        log.info("worker %s started", self.name)
        interval = self.settings.worker_poll_seconds
        next_tick = 0.0

        while not self.stop_event.is_set():
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + interval
                try:
                    # without polling (another node polls), expired leases
                    # of killed workers must still come back
                    self.tick(poll=poll)
                except Exception:  # noqa: BLE001 - a tick failing must not stop the messages
                    log.exception("worker %s: periodic duties failed; continuing", self.name)
            try:
                if self.run_batch():
                    continue
            except Exception:  # noqa: BLE001 - the loop must survive a database hiccup
                log.exception("worker %s: unexpected error; continuing", self.name)
            self.stop_event.wait(interval)
        log.info("worker %s stopped", self.name)
