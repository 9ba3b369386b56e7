"""Turnaround documents become messages: supplier_document.message_id

Revision ID: 0011_supplier_document_message
Revises: 0010_message_search

A despatch advice or invoice a supplier partner makes in the portal is
recorded as that partner's inbound DESADV/INVOIC message (hub.turnaround);
``supplier_document.message_id`` links the document to it. Documents made
before this revision keep no message (NULL), and a message removed by
retention leaves its document in place (ON DELETE SET NULL).
"""
import sqlalchemy as sa
from alembic import op

revision = "0011_supplier_document_message"
down_revision = "0010_message_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("supplier_document") as batch:
        batch.add_column(sa.Column("message_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_supplier_document_message_id_message"), "message", ["message_id"], ["id"],
                                 ondelete="SET NULL")
        batch.create_index(op.f("ix_supplier_document_message_id"), ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("supplier_document") as batch:
        batch.drop_index(op.f("ix_supplier_document_message_id"))
        batch.drop_constraint(op.f("fk_supplier_document_message_id_message"), type_="foreignkey")
        batch.drop_column("message_id")
