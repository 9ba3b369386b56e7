"""partner API: OAuth2 clients and tokens; TOTP replay guard

Revision ID: 0003_api
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_api"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=400), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_api_client_partner_id_partner"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_client")),
        sa.UniqueConstraint("client_id", name=op.f("uq_api_client_client_id")),
    )
    op.create_index(op.f("ix_api_client_partner_id"), "api_client", ["partner_id"], unique=False)
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=400), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["client_pk"], ["api_client.id"], name=op.f("fk_api_token_client_pk_api_client"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_index(op.f("ix_api_token_client_pk"), "api_token", ["client_pk"], unique=False)
    op.create_index(op.f("ix_api_token_expires_at"), "api_token", ["expires_at"], unique=False)
    op.create_table(
        "totp_use",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("enabled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name=op.f("fk_totp_use_user_id_user_account"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_totp_use")),
    )


def downgrade() -> None:
    op.drop_table("totp_use")
    op.drop_index(op.f("ix_api_token_expires_at"), table_name="api_token")
    op.drop_index(op.f("ix_api_token_client_pk"), table_name="api_token")
    op.drop_table("api_token")
    op.drop_index(op.f("ix_api_client_partner_id"), table_name="api_client")
    op.drop_table("api_client")
