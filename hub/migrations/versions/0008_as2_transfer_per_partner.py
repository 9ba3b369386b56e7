"""AS2 Message-IDs unique per partner and direction, not across all partners

Revision ID: 0008_as2_transfer_per_partner
Revises: 0007_assortment

A received Message-ID is recognised as a resend only when the same partner
sends it again (``hub.as2.DbAs2Hub.seen``); another partner using the same
Message-ID is a different message and must be storable.
"""
from alembic import op

revision = "0008_as2_transfer_per_partner"
down_revision = "0007_assortment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("as2_transfer") as batch:
        batch.drop_constraint("uq_as2_transfer_direction_message_id", type_="unique")
        batch.create_unique_constraint("uq_as2_transfer_direction_partner_id_message_id",
                                       ["direction", "partner_id", "message_id"])


def downgrade() -> None:
    with op.batch_alter_table("as2_transfer") as batch:
        batch.drop_constraint("uq_as2_transfer_direction_partner_id_message_id", type_="unique")
        batch.create_unique_constraint("uq_as2_transfer_direction_message_id", ["direction", "message_id"])
