"""operations: alerts; message indexes for retention and the list

Revision ID: 0003_ops
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_ops"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=15), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("notified", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_ops_alert_partner_id_partner"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_alert")),
    )
    op.create_index("ix_ops_alert_key_state", "ops_alert", ["key", "state"], unique=False)
    op.create_index("ix_ops_alert_state_id", "ops_alert", ["state", "id"], unique=False)
    op.create_index("ix_message_payload_id", "message", ["payload_id"], unique=False)
    op.create_index("ix_message_created_id", "message", ["created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_message_created_id", table_name="message")
    op.drop_index("ix_message_payload_id", table_name="message")
    op.drop_index("ix_ops_alert_state_id", table_name="ops_alert")
    op.drop_index("ix_ops_alert_key_state", table_name="ops_alert")
    op.drop_table("ops_alert")
