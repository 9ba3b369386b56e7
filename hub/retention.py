"""Retention: old payloads archived to gzip files or purged; invoices kept for their legal period.

A payload older than ``[retention] payload_days`` (0: keep everything) is
either *archived* -- written to ``[retention] archive_dir`` as
``YYYY/MM/<payload id>-<sha256>.gz`` and then removed from the database -- or
*purged*: ``Payload.data`` becomes NULL, the hash and size stay, so the
console still shows what was there and the trace stays whole. Payloads of
messages carrying an invoice (``document_type`` INVOIC) are kept until they
are older than ``[retention] invoice_years`` (default 10). Domain records
(orders, despatch advices, invoices with their ``document``) are never
touched by retention.

The scheduler runs it once a day (:func:`hub.alerts.run_ops_duties`);
``kontor retention run [--dry-run]`` runs it by hand. Work goes in batches,
each committed on its own, so an interrupted run simply continues next time.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from hub.models import Message, Payload, utcnow
from hub.settings import Settings

__all__ = ["RetentionReport", "run_retention", "archive_path", "RETENTION_EVERY"]

RETENTION_EVERY = 24 * 3600.0
BATCH = 500


@dataclass
class RetentionReport:
    mode: str
    cutoff: dt.datetime | None
    invoice_cutoff: dt.datetime | None
    dry_run: bool = False
    archived: int = 0
    purged: int = 0
    kept_invoices: int = 0
    bytes_freed: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        if self.cutoff is None:
            return "retention is off ([retention] payload_days = 0): nothing to do"
        verb = "would be" if self.dry_run else "were"
        return (f"payloads before {self.cutoff:%Y-%m-%d %H:%M} UTC: {self.archived} {verb} archived, "
                f"{self.purged} {verb} purged ({self.bytes_freed} bytes); {self.kept_invoices} invoice "
                f"payload(s) kept until their legal period ends (before {self.invoice_cutoff:%Y-%m-%d})")


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
        invoice_rows = session.execute(
            select(Message.payload_id).where(
                Message.payload_id.in_(ids), Message.document_type == "INVOIC", Message.created_at >= invoice_cutoff
            )
        )
        keep = {pid for (pid,) in invoice_rows}
        report.kept_invoices += len(keep)
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
