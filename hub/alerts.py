"""Alerts: conditions that need a person, grouped so that one outage is one alert.

:func:`evaluate` looks at the store as it is at ``now`` and finds every
condition that holds (:func:`conditions`). Each condition has a *key*; at
most one alert per key is active (``open`` or ``acknowledged``):

- a condition with no active alert opens a new one, which is sent (e-mail to
  ``[alerts] email``, JSON POST to ``[alerts] webhook_url``) once;
- a condition with an active alert bumps its ``count`` and ``last_seen``
  (nothing is sent again);
- an active alert whose condition no longer holds is closed once it has not
  been seen for ``[alerts] grace_minutes`` (a retry in progress or a flapping
  condition keeps its alert); if the condition comes back later, a new alert
  opens and is sent.

The conditions:

==============  ==============================================================
failure         messages in ``failed`` or ``dead``, one alert per partner
                (``failure:CODE``: failed going dead stays the same alert,
                raised to critical); when ``[alerts] group_partners`` or more
                partners fail with the same reason (the error's first line,
                numbers folded), one ``outage:`` alert for that reason instead
ack_overdue     outbound messages in ``ack_overdue`` (no MDN/CONTRL/APERAK in
                the partner's ``ack_expected_hours``), per partner
certificate     a channel certificate expiring within 30, 14 or 7 days (or
                expired); each threshold is its own key, so crossing into the
                next one opens (and sends) a new alert
silence         nothing received from a partner for its profile's
                ``documents.alert_silence_hours`` (only where configured)
polling         an active channel whose last poll failed (``Channel.last_error``)
volume          inbound messages today (UTC) against the mean of the 7 days
                before: a *spike* when today > 3 x mean + 10; a *drop* when
                today is 0, the mean is 10 or more and half the day is over
==============  ==============================================================

The worker calls :func:`run_ops_duties` once per scheduler tick; alerts are
evaluated at most once a minute across all nodes (``claim_tick``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import smtplib
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.certificates import certificate_records
from hub.models import Channel, Message, Partner, utcnow
from hub.ops_models import Alert
from hub.partners import preferences
from hub.settings import Settings
from hub.states import State

__all__ = [
    "Condition",
    "AlertSlice",
    "ACTIVE",
    "CERTIFICATE_THRESHOLDS",
    "conditions",
    "evaluate",
    "notify",
    "acknowledge",
    "list_alerts",
    "open_alert_count",
    "run_ops_duties",
    "AlertError",
]

log = logging.getLogger(__name__)

ACTIVE = ("open", "acknowledged")
CERTIFICATE_THRESHOLDS = (7, 14, 30)
#: how often alerts are evaluated across all nodes (seconds)
EVALUATE_EVERY = 60.0
#: defaults of [alerts] grace_minutes and group_partners (used when evaluate() gets no settings)
GRACE_MINUTES = 15.0
GROUP_PARTNERS = 3
VOLUME_FACTOR = 3
VOLUME_MARGIN = 10
VOLUME_MIN_MEAN = 10


class AlertError(ValueError):
    """An alert action was refused (no comment, unknown alert, already closed)."""


@dataclass(frozen=True)
class Condition:
    key: str
    kind: str
    severity: str
    title: str
    detail: str
    partner_id: int | None = None


def _reason(error: str | None) -> str:
    """A failure reason as alerts compare it: the first line, numbers folded (ports, counts, ids)."""
    text = (error or "").strip()
    line = text.splitlines()[0] if text else "no reason recorded"
    return re.sub(r"\d+", "#", " ".join(line.split()))[:300]


def _failures(session: Session, group_partners: int = GROUP_PARTNERS) -> list[Condition]:
    """Failed and dead messages: one alert per partner for both states (a message going from failed to dead
    stays in the same alert); when ``group_partners`` or more partners fail with the same reason, that
    reason is one alert across them (a hub-side outage), and those messages leave the partners' own."""
    problems = (State.FAILED, State.DEAD)
    rows = session.execute(
        select(Message.partner_id, Partner.code, Message.state, Message.error, func.count(Message.id),
               func.max(Message.id))
        .outerjoin(Partner, Partner.id == Message.partner_id)
        .where(Message.state.in_(problems))
        .group_by(Message.partner_id, Partner.code, Message.state, Message.error)
    ).all()
    by_reason: dict[str, set[str]] = {}
    for _pid, code, _state, error, _count, _last in rows:
        by_reason.setdefault(_reason(error), set()).add(code or "no partner")
    outages = {reason for reason, who in by_reason.items() if len(who) >= group_partners}

    per_partner: dict[str, dict] = {}
    per_outage: dict[str, dict] = {}
    for partner_id, code, state, error, count, last_id in rows:
        who = code or "no partner"
        reason = _reason(error)
        if reason in outages:
            group = per_outage.setdefault(reason, {"partners": set(), State.FAILED: 0, State.DEAD: 0, "last": 0})
            group["partners"].add(who)
        else:
            group = per_partner.setdefault(who, {"partner_id": partner_id, State.FAILED: 0, State.DEAD: 0,
                                                 "last": 0, "reasons": set()})
            group["reasons"].add(reason)
        group[state] += count
        group["last"] = max(group["last"], last_id)

    def counts(group: dict) -> str:
        return ", ".join(f"{group[s]} {s}" for s in problems if group[s])

    found = []
    for who, group in sorted(per_partner.items()):
        reasons = sorted(group["reasons"])
        found.append(Condition(
            key=f"failure:{who}", kind="failure", severity="critical" if group[State.DEAD] else "warning",
            partner_id=group["partner_id"], title=f"{who}: message(s) {counts(group)}",
            detail=f"Messages of {who}: {counts(group)}; latest message {group['last']}. "
                   f"Reason{'s' if len(reasons) > 1 else ''}: {'; '.join(reasons[:3])}"
                   f"{' and more' if len(reasons) > 3 else ''}.",
        ))
    for reason, group in sorted(per_outage.items()):
        partners = sorted(group["partners"])
        digest = hashlib.sha256(reason.encode()).hexdigest()[:16]
        found.append(Condition(
            key=f"outage:{digest}", kind="failure", severity="critical",
            title=f"{len(partners)} partners fail with the same reason: {reason[:150]}",
            detail=f"Messages of {', '.join(partners)}: {counts(group)}, all with the reason “{reason}” "
                   f"(numbers shown as #); latest message {group['last']}. Likely on our side.",
        ))
    return found


def _ack_overdue(session: Session) -> list[Condition]:
    stmt = (
        select(Message.partner_id, Partner.code, func.count(Message.id), func.max(Message.id))
        .outerjoin(Partner, Partner.id == Message.partner_id)
        .where(Message.state == State.ACK_OVERDUE)
        .group_by(Message.partner_id, Partner.code)
    )
    found = []
    for partner_id, code, count, last_id in session.execute(stmt):
        who = code or "no partner"
        found.append(Condition(
            key=f"ack_overdue:{who}", kind="ack_overdue", severity="warning", partner_id=partner_id,
            title=f"{who}: {count} acknowledgement(s) overdue",
            detail=f"{count} delivered message(s) to {who} have no acknowledgement (MDN, CONTRL, APERAK) "
                   f"within the partner's expected time; latest message {last_id}.",
        ))
    return found


def _certificates(session: Session, now: dt.datetime, settings: Settings | None = None) -> list[Condition]:
    """Certificates expiring within 30/14/7 days or expired, each told apart by its fingerprint; the hub's own
    AS2 certificate too when ``settings`` are given."""
    codes = dict(session.execute(select(Partner.code, Partner.id)).all())
    found = []
    for record in certificate_records(session, settings):
        days = record.days_left(now)
        if days is None or days > max(CERTIFICATE_THRESHOLDS):
            continue
        threshold = 0 if days <= 0 else min(t for t in CERTIFICATE_THRESHOLDS if days <= t)
        what = "has expired" if threshold == 0 else f"expires within {threshold} days ({days:.1f} days left)"
        short = record.fingerprint[:16]
        if record.partner:
            where = f"Partner {record.partner}, channel {record.channel}: the {record.key.replace('_', ' ')}"
            title = f"{record.partner}: certificate {record.key} of channel {record.channel} {what}"
            todo = "Upload the new certificate in the console (the old one stays until you remove it)."
        else:
            where = f"The hub's own AS2 certificate ({record.source})"
            title = f"Hub: our AS2 certificate {what}"
            todo = "Make a new key pair, give partners the new certificate and set [hub] as2_key / as2_cert."
        found.append(Condition(
            key=f"certificate:{record.partner or 'hub'}/{record.channel}/{record.key}/{short}:{threshold}",
            kind="certificate", severity="critical" if threshold <= 7 else "warning",
            partner_id=codes.get(record.partner), title=title,
            detail=f"{where} {record.subject} (SHA-256 {short}…) {what}. {todo}",
        ))
    return found


def _silence(session: Session, now: dt.datetime) -> list[Condition]:
    found = []
    for partner in session.scalars(select(Partner).where(Partner.active.is_(True))):
        hours = preferences(partner).alert_silence_hours
        if not hours:
            continue
        last = session.scalar(
            select(func.max(Message.created_at)).where(Message.partner_id == partner.id, Message.direction == "in")
        )
        since = last or partner.created_at
        if since is not None and now - since > dt.timedelta(hours=hours):
            when = f"since {last:%Y-%m-%d %H:%M} UTC" if last else "ever"
            found.append(Condition(
                key=f"silence:{partner.code}", kind="silence", severity="warning", partner_id=partner.id,
                title=f"{partner.code}: no message for more than {hours:g} h",
                detail=f"Nothing received from {partner.name} ({partner.code}) {when}; "
                       f"its profile expects something every {hours:g} hours.",
            ))
    return found


def _polling(session: Session) -> list[Condition]:
    stmt = (
        select(Channel, Partner.code)
        .join(Partner)
        .where(Channel.active.is_(True), Channel.last_error.is_not(None), Channel.last_error != "")
    )
    return [
        Condition(
            key=f"polling:{code}/{channel.name}", kind="polling", severity="warning", partner_id=channel.partner_id,
            title=f"{code}: polling channel {channel.name} fails",
            detail=f"The last poll of {code}/{channel.name} ({channel.kind}) failed: {channel.last_error}",
        )
        for channel, code in session.execute(stmt)
    ]


def _volume(session: Session, now: dt.datetime) -> list[Condition]:
    today = dt.datetime.combine(now.date(), dt.time())
    week_ago = today - dt.timedelta(days=7)
    in_window = (Message.direction == "in", Message.partner_id.is_not(None), Message.created_at >= week_ago,
                 Message.created_at < now)
    is_today = Message.created_at >= today
    stmt = (
        select(Message.partner_id, func.count(Message.id).filter(is_today),
               func.count(Message.id).filter(~is_today))
        .where(*in_window)
        .group_by(Message.partner_id)
    )
    codes = dict(session.execute(select(Partner.id, Partner.code)).all())
    half_day_over = now - today >= dt.timedelta(hours=12)
    found = []
    for partner_id, today_count, week_count in session.execute(stmt):
        mean = week_count / 7
        code = codes.get(partner_id, str(partner_id))
        if today_count > VOLUME_FACTOR * mean + VOLUME_MARGIN:
            found.append(Condition(
                key=f"volume_spike:{code}", kind="volume", severity="warning", partner_id=partner_id,
                title=f"{code}: {today_count} messages today, usually {mean:.1f} a day",
                detail=f"Inbound from {code} today: {today_count}; mean of the 7 days before: {mean:.1f} "
                       f"(alert above {VOLUME_FACTOR} x mean + {VOLUME_MARGIN}).",
            ))
        elif today_count == 0 and mean >= VOLUME_MIN_MEAN and half_day_over:
            found.append(Condition(
                key=f"volume_drop:{code}", kind="volume", severity="warning", partner_id=partner_id,
                title=f"{code}: no messages today, usually {mean:.1f} a day",
                detail=f"Nothing received from {code} today (UTC) although the 7 days before averaged "
                       f"{mean:.1f} messages a day.",
            ))
    return found


def conditions(session: Session, now: dt.datetime, settings: Settings | None = None) -> list[Condition]:
    """Every alert condition that holds at ``now`` (naive UTC), one per key (the first found)."""
    group = settings.alerts_group_partners if settings is not None else GROUP_PARTNERS
    found: dict[str, Condition] = {}
    for condition in (*_failures(session, group), *_ack_overdue(session), *_certificates(session, now, settings),
                      *_silence(session, now), *_polling(session), *_volume(session, now)):
        found.setdefault(condition.key, condition)
    return list(found.values())


_SEVERITY = {"warning": 1, "critical": 2}


def evaluate(session: Session, settings: Settings | None = None, *, now: dt.datetime | None = None) -> list[Alert]:
    """Open, bump and close alerts to match :func:`conditions` at ``now``; send the newly opened ones.

    An active alert whose condition is no longer seen stays active through the
    grace period (``[alerts] grace_minutes`` after it was last seen), so a
    message retried out of ``failed`` and back does not close and reopen (and
    resend) it; a certificate alert superseded by the next threshold closes at
    once. An alert whose condition grows worse (a failed message going dead)
    takes the higher severity without being sent again. Commits. Returns the
    alerts opened by this evaluation.
    """
    now = now or utcnow()
    grace = dt.timedelta(minutes=settings.alerts_grace_minutes if settings is not None else GRACE_MINUTES)
    active = {a.key: a for a in session.scalars(select(Alert).where(Alert.state.in_(ACTIVE)))}
    opened = []
    seen = conditions(session, now, settings)
    for condition in seen:
        alert = active.pop(condition.key, None)
        if alert is not None:
            alert.count += 1
            alert.last_seen = now
            alert.title = condition.title
            alert.detail = condition.detail
            if _SEVERITY.get(condition.severity, 0) > _SEVERITY.get(alert.severity, 0):
                alert.severity = condition.severity
            continue
        alert = Alert(
            key=condition.key, kind=condition.kind, severity=condition.severity, partner_id=condition.partner_id,
            title=condition.title, detail=condition.detail, state="open", count=1, first_seen=now, last_seen=now,
        )
        session.add(alert)
        opened.append(alert)
    superseded = {c.key.rsplit(":", 1)[0] for c in seen if c.kind == "certificate"}
    for alert in active.values():
        replaced = alert.kind == "certificate" and alert.key.rsplit(":", 1)[0] in superseded
        if not replaced and now - alert.last_seen < grace:
            continue  # cleared only just now: wait for the grace period
        alert.state = "closed"
        alert.closed_at = now
    session.commit()
    if opened and settings is not None:
        for alert in opened:
            alert.notified = notify(settings, alert)
        session.commit()
    return opened


def _payload(alert: Alert) -> dict:
    return {
        "id": alert.id, "key": alert.key, "kind": alert.kind, "severity": alert.severity,
        "title": alert.title, "detail": alert.detail, "state": alert.state,
        "first_seen": alert.first_seen.isoformat() + "Z",
    }


def notify(settings: Settings, alert: Alert, *, timeout: float = 10.0) -> str:
    """Send a newly opened alert by e-mail and webhook (where configured); returns what happened."""
    outcome = []
    if settings.alerts_email and settings.smtp_host:
        mail = EmailMessage()
        mail["From"] = settings.smtp_sender
        mail["To"] = settings.alerts_email
        mail["Subject"] = f"[Kontor {alert.severity}] {alert.title}"
        link = f"{settings.web_base_url.rstrip('/')}/ops/alerts/{alert.id}" if settings.web_base_url else ""
        mail.set_content(f"{alert.detail}\n\nAlert {alert.id} ({alert.key}), opened "
                         f"{alert.first_seen:%Y-%m-%d %H:%M} UTC.\n{link}\n")
        try:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
                smtp.send_message(mail)
            outcome.append(f"e-mail to {settings.alerts_email}")
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("alert %s: e-mail failed: %s", alert.id, exc)
            outcome.append(f"e-mail failed: {exc}")
    if settings.alerts_webhook_url:
        request = urllib.request.Request(
            settings.alerts_webhook_url, data=json.dumps(_payload(alert)).encode(), method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "Kontor alerts"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) checked in settings
                outcome.append(f"webhook {response.status}")
        except (OSError, urllib.error.URLError) as exc:
            log.warning("alert %s: webhook failed: %s", alert.id, exc)
            outcome.append(f"webhook failed: {exc}")
    return "; ".join(outcome) or "not sent (no e-mail or webhook configured)"


def acknowledge(session: Session, alert_id: int, *, actor: str, comment: str | None) -> Alert:
    """Mark an open alert as seen, with a comment; it stays active until its condition clears. Commits."""
    from hub.accounts import audit

    text = (comment or "").strip()
    if not text:
        raise AlertError("a comment is required")
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"no alert {alert_id}")
    if alert.state != "open":
        raise AlertError(f"alert {alert_id} is {alert.state}, not open")
    alert.state = "acknowledged"
    alert.acknowledged_by = actor
    alert.acknowledged_at = utcnow()
    alert.comment = text
    audit(session, actor, "alert.acknowledge", target=f"alert:{alert_id}", detail=text, partner_id=alert.partner_id)
    session.commit()
    return alert


@dataclass
class AlertSlice:
    items: list[Alert]
    next_before: int | None
    before: int | None


def list_alerts(session: Session, *, state: str = "", before: int | None = None, limit: int = 50) -> AlertSlice:
    """Alerts newest first, keyset-paged on id; ``state`` is open, acknowledged, closed, active or empty (all)."""
    stmt = select(Alert)
    if state == "active":
        stmt = stmt.where(Alert.state.in_(ACTIVE))
    elif state:
        stmt = stmt.where(Alert.state == state)
    if before:
        stmt = stmt.where(Alert.id < before)
    rows = list(session.scalars(stmt.order_by(Alert.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AlertSlice(rows, rows[-1].id if more and rows else None, before)


def open_alert_count(session: Session) -> dict[str, int]:
    stmt = select(Alert.state, func.count(Alert.id)).where(Alert.state.in_(ACTIVE)).group_by(Alert.state)
    return dict(session.execute(stmt).all())


def run_ops_duties(session_factory: sessionmaker[Session], settings: Settings, *, actor: str) -> None:
    """The operations duties of a scheduler tick: alerts (once a minute, after encrypting any channel
    secret a partner file brought in as plaintext), retention (once a day)."""
    from hub.retention import RETENTION_EVERY, run_retention
    from hub.secrets import seal_channel_secrets
    from hub.scheduler import claim_tick

    if claim_tick(session_factory, "alerts", EVALUATE_EVERY):
        try:
            with session_factory() as session:
                seal_channel_secrets(session, settings)
                evaluate(session, settings)
        except Exception:  # noqa: BLE001 - alerting must not stop the worker's other duties
            log.exception("alert evaluation failed")
    if settings.retention_payload_days and claim_tick(session_factory, "retention", RETENTION_EVERY):
        try:
            with session_factory() as session:
                run_retention(session, settings, actor=actor)
        except Exception:  # noqa: BLE001
            log.exception("retention failed")

