"""Engines, sessions and migrations.

One engine per database URL; sessions are plain SQLAlchemy sessions that the
services commit once per unit of work. SQLite runs in WAL mode with a busy
timeout so that the web threads and the worker thread of ``kontor run`` can
share the file; PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["make_engine", "make_session_factory", "upgrade", "alembic_config", "is_postgres", "READ_ONLY"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


#: execution option (``session.connection(execution_options={READ_ONLY: True})`` before the first
#: statement) for a transaction that never writes: on SQLite it begins deferred instead of IMMEDIATE
READ_ONLY = "kontor_read_only"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for ``url``; SQLite files get their folder created, WAL and foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - driver hook
            # Let SQLAlchemy own the transactions (pysqlite's own BEGIN handling is off).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # pragma: no cover - driver hook
            # BEGIN IMMEDIATE: a writer takes the lock at the start, so two
            # transactions never both read and then fail to upgrade. A
            # connection with the READ_ONLY option only reads: a deferred BEGIN,
            # which in WAL mode neither waits for a writer nor blocks one.
            read_only = conn.get_execution_options().get(READ_ONLY)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at ``url`` to ``revision`` (creating it from empty if need be)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)
