"""Join the area branches; a partial index for the workers' claim query

Revision ID: 0004
Revises: 0003_api, 0003_as2, 0003_ops, 0003_portal
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = ("0003_api", "0003_as2", "0003_ops", "0003_portal")
branch_labels = None
depends_on = None

CLAIMABLE = sa.text("state IN ('received', 'queued', 'failed')")


def upgrade() -> None:
    op.create_index("ix_message_claimable", "message", ["direction", "id"], unique=False,
                    postgresql_where=CLAIMABLE, sqlite_where=CLAIMABLE)


def downgrade() -> None:
    op.drop_index("ix_message_claimable", table_name="message")
