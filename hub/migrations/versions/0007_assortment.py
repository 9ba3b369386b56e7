"""Partner assortments (a partner may see and order only some products) and partner-set portal settings

Revision ID: 0007_assortment
Revises: 0006_message_lookups

``partner.assortment_restricted`` switches a partner from the whole
catalogue to its ``assortment_item`` rows, each naming a product (by id,
loaded by SKU) or a whole category. ``partner.portal_settings`` holds what
the partner's admins set in the portal (the approval threshold), over the profile.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_assortment"
down_revision = "0006_message_lookups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("partner") as batch:
        batch.add_column(sa.Column("assortment_restricted", sa.Boolean(), nullable=False,
                                   server_default=sa.text("false")))
        batch.add_column(sa.Column("portal_settings", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    op.create_table(
        "assortment_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("category", sa.String(length=80), nullable=True),
        sa.CheckConstraint("(product_id IS NULL) <> (category IS NULL)",
                           name=op.f("ck_assortment_item_product_or_category")),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_assortment_item_partner_id_partner"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], name=op.f("fk_assortment_item_product_id_product"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assortment_item")),
        sa.UniqueConstraint("partner_id", "product_id", name=op.f("uq_assortment_item_partner_id_product_id")),
        sa.UniqueConstraint("partner_id", "category", name=op.f("uq_assortment_item_partner_id_category")),
    )
    op.create_index(op.f("ix_assortment_item_partner_id"), "assortment_item", ["partner_id"], unique=False)
    op.create_index(op.f("ix_assortment_item_product_id"), "assortment_item", ["product_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_assortment_item_product_id"), table_name="assortment_item")
    op.drop_index(op.f("ix_assortment_item_partner_id"), table_name="assortment_item")
    op.drop_table("assortment_item")
    with op.batch_alter_table("partner") as batch:
        batch.drop_column("portal_settings")
        batch.drop_column("assortment_restricted")
