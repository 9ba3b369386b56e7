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
