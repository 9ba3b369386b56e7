"""The ops console's free text: a pg_trgm GIN index over the searched message columns (PostgreSQL)

Revision ID: 0010_message_search
Revises: 0009_merge_0008

The free-text filter was ``lower(column) LIKE '%term%'`` over seven columns:
a scan of the whole message table for every page. On PostgreSQL one GIN
trigram index of the columns joined by newlines answers ``ILIKE '%term%'``
on that expression (``hub.monitor``); the pg_trgm extension is there since
0005_catalog. SQLite gets no index: there each page searches a bounded run
of messages instead. Building it reads the whole table once and blocks
writes to ``message`` meanwhile (about a minute at a million messages).
"""
from alembic import op
import sqlalchemy as sa

revision = "0010_message_search"
down_revision = "0009_merge_0008"
branch_labels = None
depends_on = None

SEARCH = (  # as hub.models spells it
    "((((((((((((coalesce(interchange_ref, '') || chr(10)) || coalesce(message_ref, '')) || chr(10))"
    " || coalesce(business_ref, '')) || chr(10)) || coalesce(filename, '')) || chr(10))"
    " || coalesce(sender_id, '')) || chr(10)) || coalesce(recipient_id, '')) || chr(10))"
    " || coalesce(error, ''))"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("ix_message_search_trgm", "message", [sa.literal_column(SEARCH).label("search")],
                    unique=False, postgresql_using="gin", postgresql_ops={"search": "gin_trgm_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_message_search_trgm", table_name="message")
