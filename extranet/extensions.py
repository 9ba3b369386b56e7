"""The extranet's extensions, created unbound and bound in :func:`extranet.create_app`."""

from __future__ import annotations

from flask import Flask, current_app, g
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["csrf", "login_manager", "db", "Database"]


class Database:
    """One SQLAlchemy session per application context, closed at teardown.

    ``db.session`` opens it on first use; services commit, the teardown
    rolls back whatever a failed request left open.
    """

    KEY = "kontor_db"

    def init_app(self, app: Flask, session_factory: sessionmaker[Session]) -> None:
        app.extensions[self.KEY] = session_factory
        app.teardown_appcontext(self._close)

    @property
    def session(self) -> Session:
        if "db_session" not in g:
            g.db_session = current_app.extensions[self.KEY]()
        return g.db_session

    @staticmethod
    def _close(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


csrf = CSRFProtect()
login_manager = LoginManager()
db = Database()
