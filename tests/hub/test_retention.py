"""Retention: old payloads archived (gzip files) or purged, invoices kept, dry runs change nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip

from click.testing import CliRunner
from sqlalchemy import select

from hub.cli import main
from hub.models import AuditEntry, Message, Partner, Payload
from hub.retention import archive_path, run_retention

NOW = dt.datetime(2026, 11, 25, 3, 0)


def _message(session, partner, *, age_days, document_type="ORDERS", data=b"UNB+old'"):
    at = NOW - dt.timedelta(days=age_days)
    payload = Payload(sha256="ab" * 32, size=len(data), data=data, created_at=at)
    message = Message(direction="in", partner=partner, document_type=document_type, state="processed",
                      payload=payload, size=len(data), issues=[], receipt={}, created_at=at, updated_at=at)
    session.add(message)
    session.flush()
    return message


def _world(session):
    acme = Partner(code="ACME", name="Acme", profile={})
    session.add(acme)
    old = _message(session, acme, age_days=100)
    young = _message(session, acme, age_days=10)
    invoice = _message(session, acme, age_days=100, document_type="INVOIC")
    ancient_invoice = _message(session, acme, age_days=11 * 366, document_type="INVOIC")
    session.commit()
    return old.payload_id, young.payload_id, invoice.payload_id, ancient_invoice.payload_id


def _data(session, payload_id):
    session.expire_all()
    return session.get(Payload, payload_id).data


def test_archive_keeps_young_payloads_and_invoices(session, settings):
    old, young, invoice, ancient = _world(session)
    settings = dataclasses.replace(settings, retention_payload_days=90, retention_mode="archive")
    report = run_retention(session, settings, actor="test", now=NOW)
    assert (report.archived, report.purged, report.kept_invoices) == (2, 0, 1)
    assert _data(session, old) is None and _data(session, ancient) is None
    assert _data(session, young) == b"UNB+old'" and _data(session, invoice) == b"UNB+old'"
    payload = session.get(Payload, old)
    assert payload.sha256 == "ab" * 32 and payload.size == 8  # hash and size stay
    path = archive_path(settings, payload)
    assert path.is_relative_to(settings.retention_archive_path) and gzip.decompress(path.read_bytes()) == b"UNB+old'"
    assert session.scalar(select(AuditEntry.action)) == "retention.archive"
    # a second run finds nothing more
    assert run_retention(session, settings, actor="test", now=NOW).archived == 0


def test_purge_and_dry_run(session, settings):
    old, young, invoice, ancient = _world(session)
    settings = dataclasses.replace(settings, retention_payload_days=90, retention_mode="purge",
                                   retention_invoice_years=0)
    dry = run_retention(session, settings, actor="test", now=NOW, dry_run=True)
    assert (dry.purged, dry.kept_invoices) == (3, 0) and "would be purged" in dry.summary()
    assert _data(session, old) is not None
    report = run_retention(session, settings, actor="test", now=NOW)
    assert report.purged == 3 and not report.files
    assert _data(session, invoice) is None and _data(session, young) is not None
    assert not settings.retention_archive_path.exists()


def test_off_by_default(session, settings):
    _world(session)
    report = run_retention(session, settings, actor="test", now=NOW)
    assert report.cutoff is None and "off" in report.summary()


def test_cli_dry_run(session, settings, tmp_path, db_url):
    old, *_ = _world(session)
    config = tmp_path / "kontor.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n[paths]\nvar_dir = "{tmp_path / "var"}"\n'
                      f'[retention]\npayload_days = 1\nmode = "purge"\n')
    result = CliRunner().invoke(main, ["--config", str(config), "retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would be purged" in result.output
    assert _data(session, old) is not None


def test_scheduler_runs_retention_once_a_day(session, session_factory, settings):
    from hub.alerts import run_ops_duties

    old, young, invoice, ancient = _world(session)
    settings = dataclasses.replace(settings, retention_payload_days=30, retention_mode="purge")
    run_ops_duties(session_factory, settings, actor="test worker")
    assert _data(session, old) is None and _data(session, young) is not None
    fresh = _message(session, session.scalar(select(Partner)), age_days=100)
    session.commit()
    run_ops_duties(session_factory, settings, actor="test worker")  # the same day: not again
    assert _data(session, fresh.payload_id) is not None


MIXED = (b"UNA:+.? 'UNB+UNOC:3+A:14+B:14+260101:1200+IC9'UNH+1+ORDRSP:D:96A:UN'BGM+231+R1'UNT+3+1'"
         b"UNH+2+INVOIC:D:96A:UN:EAN008'BGM+380+INV-9'UNT+3+2'UNZ+2+IC9'")


def test_invoices_in_any_message_and_unfinished_messages_are_kept(session, settings):
    from hub.models import Invoice

    acme = Partner(code="ACME", name="Acme", profile={})
    session.add(acme)
    mixed = _message(session, acme, age_days=100, document_type="MIXED", data=MIXED)
    ubl = _message(session, acme, age_days=100, document_type=None,
                   data=b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>')
    linked = _message(session, acme, age_days=100, document_type="XML")
    session.add(Invoice(partner_id=acme.id, number="INV-1", issue_date=dt.date(2026, 8, 1), currency="EUR",
                        total=1, tax_total=0, document={}, message_id=linked.id))
    orders_mentioning = _message(session, acme, age_days=100, data=b"UNH+1+ORDERS:D:96A:UN'FTX+AAI+++INVOIC'")
    unfinished = {}
    for state in ("received", "waiting", "failed", "dead", "queued"):
        message = _message(session, acme, age_days=100)
        message.state = state
        unfinished[state] = message.payload_id
    session.commit()
    settings = dataclasses.replace(settings, retention_payload_days=90, retention_mode="purge")
    report = run_retention(session, settings, actor="test", now=NOW)
    assert (report.purged, report.kept_invoices, report.kept_unfinished) == (1, 3, 5)
    assert "5 kept for messages not finished" in report.summary()
    for kept in (mixed.payload_id, ubl.payload_id, linked.payload_id, *unfinished.values()):
        assert _data(session, kept) is not None, kept
    assert _data(session, orders_mentioning.payload_id) is None  # "INVOIC" in a text is not an invoice

    # past the legal period the invoices go; unfinished messages still keep theirs
    later = NOW + dt.timedelta(days=11 * 366)
    report = run_retention(session, settings, actor="test", now=later)
    assert report.purged == 3 and report.kept_unfinished == 5
    assert _data(session, mixed.payload_id) is None and _data(session, unfinished["dead"]) is not None


def test_archived_bytes_are_read_back_and_checked(session, settings):
    import hashlib

    import pytest

    from hub.retention import archived_bytes

    acme = Partner(code="ACME", name="Acme", profile={})
    session.add(acme)
    data = b"UNB+UNOC:3+A+B+260101:1200+1'UNZ+0+1'"
    message = _message(session, acme, age_days=100, data=data)
    message.payload.sha256 = hashlib.sha256(data).hexdigest()
    session.commit()
    settings = dataclasses.replace(settings, retention_payload_days=90, retention_mode="archive")
    assert archived_bytes(settings, message.payload) is None  # not archived yet
    run_retention(session, settings, actor="test", now=NOW)
    payload = session.get(Payload, message.payload_id)
    assert payload.data is None and archived_bytes(settings, payload) == data
    archive_path(settings, payload).write_bytes(gzip.compress(b"something else"))
    with pytest.raises(ValueError, match="do not match the payload's SHA-256"):
        archived_bytes(settings, payload)
