"""/metrics names and values after a known flow; /healthz with worker liveness."""

from __future__ import annotations

import re

from extranet import create_app


def sample(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} {labels} not in /metrics")


def test_metrics_after_a_known_flow(hub_env, orders_bytes):
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    hub_env.drop("bad.edi", orders_bytes.replace(b"ACME000001", b"ACME000009").replace(b"4000000000075:SRV", b"1:SRV"))
    hub_env.run()
    client = create_app(hub_env.settings, session_factory=hub_env.session_factory).test_client()
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "kontor_messages", state="processed", partner="ACME", document_type="ORDERS", direction="in") == 1
    assert sample(text, "kontor_messages", state="rejected", partner="ACME", direction="in") == 1
    assert sample(text, "kontor_messages", state="delivered", document_type="ORDRSP", direction="out") == 1
    assert sample(text, "kontor_queue_depth", direction="in") == 0
    assert sample(text, "kontor_processing_latency_seconds_count") == 1
    assert sample(text, "kontor_processing_latency_seconds_bucket", le="+Inf") == 1
    assert re.search(r"^# TYPE kontor_processing_latency_seconds histogram$", text, re.M)
    assert sample(text, "kontor_worker_tick_age_seconds") < 60


def test_healthz_reports_database_and_worker(hub_env):
    client = create_app(hub_env.settings, session_factory=hub_env.session_factory).test_client()
    body = client.get("/healthz").get_json()
    assert body == {"status": "ok", "database": "reachable", "worker": "unknown"}
    hub_env.worker().tick(force=True)
    body = client.get("/healthz").get_json()
    assert body["worker"] == "alive" and body["worker_tick_age_seconds"] < 5


def test_certificate_days_left_one_series_per_certificate(hub_env):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from sqlalchemy import select

    from hub.models import Channel, Partner

    def pem(days: int, name: str) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode(), cert.fingerprint(hashes.SHA256()).hex()[:16]

    (old, old_print), (new, new_print), (ours, ours_print) = pem(10, "old"), pem(200, "new"), pem(50, "hub")
    with hub_env.session_factory() as session:
        acme = session.scalar(select(Partner).where(Partner.code == "ACME"))
        session.add(Channel(partner=acme, name="as2-roll", kind="as2", settings={"certs": [old, new]}))
        session.commit()
    own = hub_env.settings.var_path / "as2" / "cert.pem"
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text(ours)
    client = create_app(hub_env.settings, session_factory=hub_env.session_factory).test_client()
    text = client.get("/metrics").get_data(as_text=True)
    lines = [line for line in text.splitlines() if line.startswith("kontor_certificate_days_left{")]
    assert len(lines) == len(set(line.rsplit(" ", 1)[0] for line in lines))  # no duplicate series
    assert 9 < sample(text, "kontor_certificate_days_left", channel="as2-roll", fingerprint=old_print) <= 10
    assert 199 < sample(text, "kontor_certificate_days_left", channel="as2-roll", fingerprint=new_print) <= 200
    assert 49 < sample(text, "kontor_certificate_days_left", partner="", channel="hub", certificate="as2_cert",
                       fingerprint=ours_print) <= 50


def _due_now(hub_env):
    from sqlalchemy import update

    from hub.models import Message

    with hub_env.session_factory() as session:
        session.execute(update(Message).where(Message.state == "failed").values(next_attempt_at=None))
        session.commit()


def test_delivery_failures_and_certificate_days_after_a_known_flow(hub_env, orders_bytes):
    import shutil

    from hub.as2 import ensure_identity

    shutil.rmtree(hub_env.outbound)
    hub_env.outbound.write_text("a file where the partner's folder should be")
    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    client = create_app(hub_env.settings, session_factory=hub_env.session_factory).test_client()
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(r"^# TYPE kontor_delivery_failures(_total)? counter$", text, re.M)
    assert sample(text, "kontor_delivery_failures_total", partner="ACME") == 2  # ORDRSP and CONTRL
    assert sample(text, "kontor_messages", state="failed", document_type="ORDRSP", direction="out") == 1

    _due_now(hub_env)
    hub_env.worker().drain()
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "kontor_delivery_failures_total", partner="ACME") == 4

    hub_env.outbound.unlink()
    hub_env.outbound.mkdir()
    _due_now(hub_env)
    hub_env.worker().drain()
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "kontor_messages", state="delivered", document_type="ORDRSP", direction="out") == 1
    assert sample(text, "kontor_delivery_failures_total", partner="ACME") == 4  # a counter: never goes down
    assert "kontor_certificate_days_left{" not in text  # folder channels, no AS2 identity made yet

    ensure_identity(hub_env.settings)  # what the hub does at start when AS2 is used: 730 days, self-signed
    text = client.get("/metrics").get_data(as_text=True)
    assert 729 < sample(text, "kontor_certificate_days_left", partner="", channel="hub", certificate="as2_cert") <= 730


def test_the_latency_histogram_only_grows(hub_env, orders_bytes):
    import datetime as dt

    from sqlalchemy import select

    from hub.metrics import LATENCY_BUCKETS, fold_latency
    from hub.models import Message, MessageEvent, Partner, Payload, Sequence, utcnow

    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    client = create_app(hub_env.settings, session_factory=hub_env.session_factory).test_client()
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "kontor_processing_latency_seconds_count") == 1

    # a message processed three days ago still counts (the old histogram covered 24 hours)
    old = utcnow() - dt.timedelta(days=3)
    with hub_env.session_factory() as session:
        acme = session.scalar(select(Partner).where(Partner.code == "ACME"))
        message = Message(direction="in", partner=acme, document_type="ORDERS", state="processed", issues=[],
                          receipt={}, size=1, payload=Payload(sha256="0" * 64, size=1, data=b"x"), created_at=old)
        session.add(message)
        session.flush()
        session.add(MessageEvent(message_id=message.id, event="done", state="processed", actor="w",
                                 at=old + dt.timedelta(seconds=4)))
        session.commit()
    counts = []
    for _ in range(2):
        text = client.get("/metrics").get_data(as_text=True)
        counts.append(sample(text, "kontor_processing_latency_seconds_count"))
    assert counts == [2, 2]  # folded once, never twice
    assert sample(text, "kontor_processing_latency_seconds_bucket", le="5") == 2
    assert 4 <= sample(text, "kontor_processing_latency_seconds_sum") < 4 + 60

    # days later, with every event folded into the running totals, nothing is lost
    with hub_env.session_factory() as session:
        later = utcnow() + dt.timedelta(days=2)
        buckets, total, n = fold_latency(session, 720, now=later)
        assert n == 2 and buckets[-1] == 2 and len(buckets) == len(LATENCY_BUCKETS)
        mark = session.scalar(select(Sequence.value).where(Sequence.name == "latency:mark"))
        assert mark == session.scalar(select(MessageEvent.id).where(MessageEvent.event == "done")
                                      .order_by(MessageEvent.id.desc()).limit(1))
        session.rollback()
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "kontor_processing_latency_seconds_count") == 2
    second = orders_bytes.replace(b"ACME000001", b"ACME000002").replace(b"PO-2026-0001", b"PO-2026-0002")
    hub_env.drop("po2.edi", second)
    hub_env.run()
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "kontor_processing_latency_seconds_count") == 3


def _scrape_in_thread(client, seconds: float = 10.0) -> tuple[float, object]:
    """GET /metrics in a thread: (seconds it took, the response), or fails if it is still waiting."""
    import threading
    import time

    result: dict = {}

    def scrape():
        started = time.monotonic()
        try:
            result["response"] = client.get("/metrics")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=scrape, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"/metrics still waiting after {seconds:g} s"
    assert "error" not in result, result.get("error")
    return result["seconds"], result["response"]


def _write_lock(engine):
    """Another connection in the middle of a write transaction that holds the histogram rows: SQLite's
    write lock (BEGIN IMMEDIATE), and on PostgreSQL row locks on every latency row and a written message."""
    from sqlalchemy import select, update

    from hub.metrics import _latency_rows
    from hub.models import Message, Sequence

    connection = engine.connect()
    transaction = connection.begin()
    connection.execute(select(Sequence.name).where(Sequence.name.in_(_latency_rows())).with_for_update()).all()
    connection.execute(update(Message).values(attempts=Message.attempts))
    return connection, transaction


def test_a_scrape_during_a_write_transaction_answers_at_once_from_the_folded_figures(hub_env, orders_bytes, engine):
    import datetime as dt

    from hub.metrics import fold_latency
    from hub.models import utcnow

    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    with hub_env.session_factory() as session:  # the worker's fold, as a day later
        fold_latency(session, 720, now=utcnow() + dt.timedelta(days=1))
    client = create_app(hub_env.settings, session_factory=hub_env.session_factory).test_client()
    connection, transaction = _write_lock(engine)
    try:
        seconds, response = _scrape_in_thread(client)
    finally:
        transaction.rollback()
        connection.close()
    assert response.status_code == 200 and seconds < 5
    text = response.get_data(as_text=True)
    assert sample(text, "kontor_processing_latency_seconds_count") == 1
    assert sample(text, "kontor_processing_latency_seconds_bucket", le="+Inf") == 1
    assert sample(text, "kontor_messages", state="processed", partner="ACME", document_type="ORDERS", direction="in") == 1
    assert sample(text, "kontor_worker_tick_age_seconds") < 60


def test_a_signed_in_scrape_does_not_wait_for_its_own_request(hub_env, orders_bytes):
    """The reported 30-second 'database is locked': loading the signed-in user opened the request's
    own transaction, and the scrape's second connection waited for it."""
    from hub.accounts import hash_password
    from hub.models import User

    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    with hub_env.session_factory() as session:
        user = User(email="scrape-viewer@kontor.example", name="Ops", role="ops_viewer", password_hash=hash_password("x" * 16))
        session.add(user)
        session.commit()
        session_id = f"{user.id}:0"
    client = create_app(hub_env.settings, session_factory=hub_env.session_factory).test_client()
    with client.session_transaction() as cookie:
        cookie["_user_id"] = session_id
        cookie["_fresh"] = True
    seconds, response = _scrape_in_thread(client)
    assert response.status_code == 200 and seconds < 5
    assert sample(response.get_data(as_text=True), "kontor_processing_latency_seconds_count") == 1


def test_the_worker_tick_folds_the_histogram_and_a_locked_fold_is_skipped(hub_env, orders_bytes, engine, caplog):
    import datetime as dt
    import time

    from sqlalchemy import select

    from hub.metrics import fold_latency_duty
    from hub.models import Message, MessageEvent, Partner, Payload, Sequence, utcnow

    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    old = utcnow() - dt.timedelta(days=3)
    with hub_env.session_factory() as session:
        acme = session.scalar(select(Partner).where(Partner.code == "ACME"))
        message = Message(direction="in", partner=acme, document_type="ORDERS", state="processed", issues=[],
                          receipt={}, size=1, payload=Payload(sha256="0" * 64, size=1, data=b"x"), created_at=old)
        session.add(message)
        session.flush()
        event = MessageEvent(message_id=message.id, event="done", state="processed", actor="w",
                             at=old + dt.timedelta(seconds=4))
        session.add(event)
        session.commit()
        old_event = event.id
    client = create_app(hub_env.settings, session_factory=hub_env.session_factory).test_client()
    before = sample(client.get("/metrics").get_data(as_text=True), "kontor_processing_latency_seconds_count")
    with hub_env.session_factory() as session:  # the scrape folded nothing
        assert session.scalar(select(Sequence.value).where(Sequence.name == "latency:mark")) in (None, 0)
    hub_env.worker().tick(force=True)
    with hub_env.session_factory() as session:  # the tick folded up to the three-day-old event
        assert session.scalar(select(Sequence.value).where(Sequence.name == "latency:mark")) == old_event
    text = client.get("/metrics").get_data(as_text=True)
    assert before == sample(text, "kontor_processing_latency_seconds_count") == 2
    assert sample(text, "kontor_processing_latency_seconds_bucket", le="5") == 2

    if engine.dialect.name == "postgresql":  # another node holding the rows: this fold skips at once
        connection, transaction = _write_lock(engine)
        try:
            started = time.monotonic()
            with caplog.at_level("INFO", logger="hub.metrics"):
                fold_latency_duty(hub_env.session_factory, hub_env.settings)
            assert time.monotonic() - started < 5
            assert "another node is folding it" in caplog.text
        finally:
            transaction.rollback()
            connection.close()
        text = client.get("/metrics").get_data(as_text=True)
        assert sample(text, "kontor_processing_latency_seconds_count") == 2


def test_healthz_answers_while_another_transaction_writes(hub_env, orders_bytes, engine):
    """A health check only reads: behind another node's write transaction it answers at once."""
    import threading
    import time

    hub_env.drop("po.edi", orders_bytes)
    hub_env.run()
    client = create_app(hub_env.settings, session_factory=hub_env.session_factory).test_client()
    connection, transaction = _write_lock(engine)
    result: dict = {}

    def check():
        started = time.monotonic()
        result["response"] = client.get("/healthz")
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=check, daemon=True)
    try:
        thread.start()
        thread.join(10)
    finally:
        transaction.rollback()
        connection.close()
    assert not thread.is_alive(), "/healthz waited for the other transaction"
    assert result["response"].status_code in (200, 503) and result["seconds"] < 5
    assert result["response"].get_json()["database"] == "reachable"
