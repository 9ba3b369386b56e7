"""Every message reference of a multi-message interchange, for the console's reference filter

Revision ID: 0008_ops_references
Revises: 0007_assortment

``message.message_ref`` holds the first UNH reference only: an interchange of
several messages (a MIXED one, say) could not be found by the others.
"""
from alembic import op
import sqlalchemy as sa

revision = "0008_ops_references"
down_revision = "0007_assortment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_reference",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=35), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id", "reference"),
    )
    op.create_index("ix_message_reference_reference", "message_reference", ["reference"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_message_reference_reference", table_name="message_reference")
    op.drop_table("message_reference")
