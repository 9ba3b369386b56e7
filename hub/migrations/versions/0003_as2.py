"""AS2 transfer log

Revision ID: 0003_as2
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_as2"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "as2_transfer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("message_fk", sa.Integer(), nullable=True),
        sa.Column("mic", sa.String(length=200), nullable=True),
        sa.Column("mdn_headers", sa.JSON(), nullable=True),
        sa.Column("mdn_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["message_fk"], ["message.id"], name=op.f("fk_as2_transfer_message_fk_message")),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_as2_transfer_partner_id_partner")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_as2_transfer")),
        sa.UniqueConstraint("direction", "message_id", name=op.f("uq_as2_transfer_direction_message_id")),
    )
    with op.batch_alter_table("as2_transfer") as batch:
        batch.create_index(batch.f("ix_as2_transfer_message_fk"), ["message_fk"], unique=False)
        batch.create_index(batch.f("ix_as2_transfer_partner_id"), ["partner_id"], unique=False)


def downgrade() -> None:
    op.drop_table("as2_transfer")
