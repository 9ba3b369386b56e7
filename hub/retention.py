"""Retention: old payloads archived to gzip files or purged; invoices kept for their legal period.

A payload older than ``[retention] payload_days`` (0: keep everything) is
either *archived* -- written to ``[retention] archive_dir`` as
``YYYY/MM/<payload id>-<sha256>.gz`` and then removed from the database -- or
*purged*: ``Payload.data`` becomes NULL, the hash and size stay, so the
console still shows what was there and the trace stays whole. Payloads that
carry an invoice -- a message of ``document_type`` INVOIC, a message an
invoice was recorded from (``Invoice.message_id``), or any payload holding an
INVOIC message or a UBL Invoice (a MIXED interchange) -- are kept until they
are older than ``[retention] invoice_years`` (default 10). Payloads of
messages not finished (received, processing, waiting, failed, dead, queued,
delivering) are never touched: they are still to be processed, delivered or
repaired. The console reads archived payloads back from their files
(:func:`archived_bytes`). Domain records
(orders, despatch advices, invoices with their ``document``) are never
touched by retention.

The scheduler runs it once a day (:func:`hub.alerts.run_ops_duties`);
``kontor retention run [--dry-run]`` runs it by hand. Work goes in batches,
each committed on its own, so an interrupted run simply continues next time.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from hub.models import Invoice, Message, Payload, utcnow
from hub.settings import Settings
from hub.states import State

__all__ = ["RetentionReport", "run_retention", "archive_path", "archived_bytes", "holds_invoice", "UNFINISHED",
           "RETENTION_EVERY"]

RETENTION_EVERY = 24 * 3600.0
BATCH = 500
#: a message in one of these states still needs its payload (to be processed, delivered, or repaired)
UNFINISHED = (State.RECEIVED, State.PROCESSING, State.WAITING, State.FAILED, State.DEAD, State.QUEUED,
              State.DELIVERING)
#: an EDIFACT message header naming INVOIC (UNH, its separator, the message reference of at most 14
#: characters and a separator, then the type; any separators), or a UBL Invoice element
_INVOIC = re.compile(rb"UNH([^A-Za-z0-9\s])(?:(?!\1).){1,14}\1INVOIC(?![A-Za-z0-9])"
                     rb"|<(?:[A-Za-z_][\w.-]*:)?Invoice[\s>]")


def holds_invoice(data: bytes | None) -> bool:
    """Whether a payload carries an invoice (an INVOIC message in an interchange, or a UBL Invoice),
    whatever the message's recorded document type (a MIXED interchange, say)."""
    return data is not None and _INVOIC.search(data) is not None


def archived_bytes(settings: Settings, payload: Payload) -> bytes | None:
    """The bytes of an archived payload read back from its gzip file, checked against the stored
    SHA-256; None when there is no archive file (purged, or never archived). ValueError when the
    file does not hold the bytes it should."""
    path = archive_path(settings, payload)
    try:
        with gzip.open(path, "rb") as archived:
            data = archived.read()
    except FileNotFoundError:
        return None
    except (OSError, EOFError) as exc:
        raise ValueError(f"archive file {path}: cannot be read: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != payload.sha256:
        raise ValueError(f"archive file {path}: its bytes do not match the payload's SHA-256")
    return data


@dataclass
class RetentionReport:
    mode: str
    cutoff: dt.datetime | None
    invoice_cutoff: dt.datetime | None
    dry_run: bool = False
    archived: int = 0
    purged: int = 0
    kept_invoices: int = 0
    kept_unfinished: int = 0
    bytes_freed: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        if self.cutoff is None:
            return "retention is off ([retention] payload_days = 0): nothing to do"
        verb = "would be" if self.dry_run else "were"
        return (f"payloads before {self.cutoff:%Y-%m-%d %H:%M} UTC: {self.archived} {verb} archived, "
                f"{self.purged} {verb} purged ({self.bytes_freed} bytes); {self.kept_invoices} invoice "
                f"payload(s) kept until their legal period ends (before {self.invoice_cutoff:%Y-%m-%d}); "
                f"{self.kept_unfinished} kept for messages not finished (received, waiting, failed, dead, ...)")


def archive_path(settings: Settings, payload: Payload) -> Path:
    """Where the archived bytes of ``payload`` are (or would be) kept."""
    made = payload.created_at
    return settings.retention_archive_path / f"{made:%Y}" / f"{made:%m}" / f"{payload.id}-{payload.sha256}.gz"


def _years_ago(now: dt.datetime, years: int) -> dt.datetime:
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


def run_retention(
    session: Session, settings: Settings, *, actor: str, now: dt.datetime | None = None, dry_run: bool = False
) -> RetentionReport:
    """Archive or purge the payloads past retention; commits per batch (nothing with ``dry_run``)."""
    from hub.accounts import audit

    now = now or utcnow()
    mode = settings.retention_mode
    if not settings.retention_payload_days:
        return RetentionReport(mode, None, None, dry_run)
    cutoff = now - dt.timedelta(days=settings.retention_payload_days)
    invoice_cutoff = _years_ago(now, settings.retention_invoice_years)
    report = RetentionReport(mode, cutoff, invoice_cutoff, dry_run)
    last_id = 0
    while True:
        batch = list(session.scalars(
            select(Payload)
            .where(Payload.id > last_id, Payload.created_at < cutoff, Payload.data.is_not(None))
            .order_by(Payload.id)
            .limit(BATCH)
        ))
        if not batch:
            break
        last_id = batch[-1].id
        ids = [p.id for p in batch]
        links = session.execute(
            select(Message.payload_id, Message.id, Message.document_type, Message.state, Message.created_at)
            .where(Message.payload_id.in_(ids))
        ).all()
        invoiced = {mid for (mid,) in session.execute(
            select(Invoice.message_id).where(Invoice.message_id.in_([row[1] for row in links])))}
        active, invoice_young = set(), set()
        for payload_id, message_id, document_type, state, created_at in links:
            if state in UNFINISHED:
                active.add(payload_id)
            elif (document_type == "INVOIC" or message_id in invoiced) and created_at >= invoice_cutoff:
                invoice_young.add(payload_id)
        for payload in batch:
            if (payload.id not in active and payload.id not in invoice_young
                    and payload.created_at >= invoice_cutoff and holds_invoice(payload.data)):
                invoice_young.add(payload.id)
        keep = active | invoice_young
        report.kept_invoices += len(invoice_young - active)
        report.kept_unfinished += len(active)
        done = []
        for payload in batch:
            if payload.id in keep:
                continue
            report.bytes_freed += payload.size
            if mode == "archive":
                path = archive_path(settings, payload)
                report.files.append(path)
                report.archived += 1
                if not dry_run:
                    _write_gzip(path, payload.data or b"")
            else:
                report.purged += 1
            done.append(payload.id)
        if done and not dry_run:
            session.execute(
                update(Payload).where(and_(Payload.id.in_(done), Payload.data.is_not(None))).values(data=None)
                .execution_options(synchronize_session=False)
            )
            session.commit()
        elif dry_run:
            session.rollback()
    if not dry_run and (report.archived or report.purged):
        audit(session, actor, f"retention.{mode}", target="payloads", detail=report.summary())
        session.commit()
    if not dry_run:
        session.expire_all()
    return report


def _write_gzip(path: Path, data: bytes) -> None:
    """Write atomically: a crash leaves no half file under the final name, and the bytes are on disk
    before the database forgets them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".gz.part")
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped:
            zipped.write(data)
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
