"""The Flask extranet: the distributor portal (``/``), the operations console (``/ops``), sign-in.

:func:`create_app` builds a new application each call; importing this
package does nothing else. Views are thin: they call the services in
``hub.portal``, ``hub.monitor``, ``hub.orders``, ``hub.messages`` and
``hub.accounts``.
"""

from __future__ import annotations

import datetime as dt

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.settings import Settings, load_settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, session_factory: sessionmaker[Session] | None = None) -> Flask:
    """A configured extranet application on ``settings`` (default: :func:`hub.settings.load_settings`).

    ``session_factory`` defaults to one on a new engine for ``settings.database``.
    The database must already be migrated (``kontor db upgrade``).
    """
    from extranet import as2, auth, backoffice, errors, ops, portal, portal_extra
    from extranet.extensions import csrf, db, login_manager
    from extranet.filters import register_filters
    from extranet.security import init_security

    settings = settings or load_settings()
    if session_factory is None:
        from hub.db import make_engine, make_session_factory

        session_factory = make_session_factory(make_engine(settings.database))

    app = Flask(__name__)
    # ids past a row id are "not found", not a database error (set before any route is added)
    from extranet.ids import BoundedInt

    app.url_map.converters["int"] = BoundedInt
    if settings.web_proxy_hops > 0:  # behind that many trusted proxies: the client address comes from X-Forwarded-For
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.web_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    secure = settings.web_base_url.startswith("https://")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        KONTOR_SETTINGS=settings,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        SESSION_COOKIE_NAME="kontor_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=8),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        PREFERRED_URL_SCHEME="https" if secure else "http",
    )

    db.init_app(app, session_factory)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.session_protection = "basic"
    init_security(app)
    register_filters(app)

    app.register_blueprint(auth.bp)
    app.register_blueprint(portal.bp)
    app.register_blueprint(portal_extra.bp)
    app.register_blueprint(ops.bp, url_prefix="/ops")
    from extranet import ops_admin

    app.register_blueprint(ops_admin.bp, url_prefix="/ops")
    csrf.exempt(backoffice.bp)  # bearer-token API, no browser session
    app.register_blueprint(backoffice.bp)
    from extranet import ops_orders

    app.register_blueprint(ops_orders.bp)
    from extranet import ops_supplier_orders

    app.register_blueprint(ops_supplier_orders.bp)  # our purchase orders (turnaround)
    from extranet.metrics import init_metrics

    init_metrics(app, session_factory)
    csrf.exempt(as2.bp)  # partners' AS2 servers post signed messages, not forms
    app.register_blueprint(as2.bp)
    from extranet import api

    csrf.exempt(api.bp)  # OAuth2 bearer tokens, no browser session
    api.init_api(app)
    from extranet import sso

    app.register_blueprint(sso.bp)  # single sign-on (OIDC)
    app.register_blueprint(sso.account_bp)  # TOTP step and set-up, password reset
    from hub.as2 import DbAs2Hub

    app.extensions["kontor_as2"] = DbAs2Hub(session_factory, settings)
    errors.register(app)

    from hub.db import READ_ONLY

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        try:
            # a health check only reads: end whatever the request began (loading a signed-in user) and
            # read in a transaction that on SQLite neither waits for a writer nor holds one up
            db.session.rollback()
            db.session.connection(execution_options={READ_ONLY: True})
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            return jsonify(status="unavailable", database="unreachable", error=type(exc).__name__), 503
        from hub.metrics import worker_liveness

        age = worker_liveness(db.session)
        limit = max(60.0, 10 * settings.worker_poll_seconds)
        worker = "unknown" if age is None else ("alive" if age <= limit else "silent")
        body = {"status": "ok" if worker != "silent" else "degraded", "database": "reachable", "worker": worker}
        if age is not None:
            body["worker_tick_age_seconds"] = round(age, 1)
        return jsonify(body), 200 if worker != "silent" else 503

    return app
