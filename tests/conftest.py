"""Shared fixtures: a real, migrated database per test.

The database is an SQLite file by default. ``--db-url URL`` (or
``KONTOR_TEST_DATABASE_URL``) runs the same tests on PostgreSQL: a scratch
database is created for the run, migrated once from empty, and emptied
between tests. ``make test`` runs the suite both ways.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from hub import db as hubdb
from hub.models import Base
from hub.settings import load_settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"


def pytest_addoption(parser):
    parser.addoption(
        "--db-url",
        default=os.environ.get("KONTOR_TEST_DATABASE_URL", ""),
        help="run database tests on this PostgreSQL server URL (postgresql+psycopg://...)",
    )


@pytest.fixture(scope="session")
def corpus() -> Path:
    """../shared/corpus beside the checkout (CI has it there)."""
    if not CORPUS.is_dir():
        pytest.skip(f"shared corpus not found at {CORPUS}")
    return CORPUS


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "kontor.db"
    hubdb.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _postgres_database(request):
    base = request.config.getoption("--db-url")
    if not base:
        yield None
        return
    url = make_url(base)
    name = f"kontor_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    test_url = url.set(database=name).render_as_string(hide_password=False)
    hubdb.upgrade(test_url)
    yield test_url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def db_url(request, tmp_path, _postgres_database, _sqlite_template) -> str:
    """A migrated, empty database for this test: SQLite file, or the run's PostgreSQL."""
    if _postgres_database:
        _empty_postgres(_postgres_database)
        return _postgres_database
    path = tmp_path / "kontor.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def settings(tmp_path, db_url):
    """Settings for a hub living in tmp_path, on the test's database, with no config file."""
    return load_settings(
        config_file=False,
        environ={},
        database_url=db_url,
        var_dir=tmp_path / "var",
        partners_dir=tmp_path / "partners",
        web_secret_key="test-secret",
        backoffice_token="test-backoffice-token",
        sftp_enabled=False,
    )


@pytest.fixture
def engine(db_url):
    engine = hubdb.make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine):
    return hubdb.make_session_factory(engine)


@pytest.fixture
def session(session_factory):
    with session_factory() as session:
        yield session
