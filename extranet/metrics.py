"""``/metrics``: the hub's figures in Prometheus text format."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from extranet.extensions import db
from hub.metrics import HubCollector

bp = Blueprint("metrics", __name__)


def init_metrics(app, session_factory) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(session_factory, app.config.get("KONTOR_SETTINGS")))
    app.extensions["kontor_metrics"] = registry
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics() -> Response:
    """The figures, read in the collector's own read-only transaction. Whatever this request opened
    before (loading a signed-in user does) is ended first: on SQLite that transaction holds the
    write lock, and would keep the worker waiting for as long as the scrape takes."""
    db.session.rollback()
    registry = current_app.extensions["kontor_metrics"]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
