"""Migrations from empty reach exactly the models' schema, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from hub.models import Base


def test_upgrade_from_empty_matches_the_models(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    tables = set(inspect(engine).get_table_names())
    assert {"partner", "message", "message_event", "purchase_order", "payload"} <= tables


def test_upgrade_twice_is_harmless(db_url):
    from hub.db import upgrade

    upgrade(db_url)
    upgrade(db_url)
