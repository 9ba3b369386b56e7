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
