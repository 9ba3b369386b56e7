"""Signed-in sessions can be ended: user_account.session_epoch

Revision ID: 0012_session_epoch
Revises: 0011_supplier_document_message

A session (and a remember-me cookie) carries the epoch its user had when it
was signed in; a password reset or change, and turning TOTP on or off, moves
the epoch on, so every other session of that user ends at its next request.
Existing users start at 0, the epoch of sessions signed in before this
revision.
"""
import sqlalchemy as sa
from alembic import op

revision = "0012_session_epoch"
down_revision = "0011_supplier_document_message"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("session_epoch", sa.Integer(), nullable=False, server_default=sa.text("0")))


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("session_epoch")
