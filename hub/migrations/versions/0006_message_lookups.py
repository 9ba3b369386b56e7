"""Message look-ups: interchange and message reference filters, and the answers of a message

Revision ID: 0006_message_lookups
Revises: 0005_catalog

The console's reference filter searched ``interchange_ref`` only behind
``(partner_id, direction)`` and ``message_ref`` not at all, and every detail
page looks up the messages that answer it (``answers_id``): each was a scan
of the whole table at a million messages.
"""
from alembic import op

revision = "0006_message_lookups"
down_revision = "0005_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_message_interchange_ref", "message", ["interchange_ref"], unique=False)
    op.create_index("ix_message_message_ref", "message", ["message_ref"], unique=False)
    op.create_index("ix_message_answers", "message", ["answers_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_message_answers", table_name="message")
    op.drop_index("ix_message_message_ref", table_name="message")
    op.drop_index("ix_message_interchange_ref", table_name="message")
