"""Catalogue indexes: keyset order (name, id); pg_trgm search indexes on PostgreSQL

Revision ID: 0005_catalog
Revises: 0004
"""
from alembic import op

revision = "0005_catalog"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_product_name_id", "product", ["name", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # needs a role that may create the extension (a superuser, or the extension already there)
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # GIN trigram indexes on PostgreSQL; on SQLite the dialect options are ignored and these are
    # plain B-trees (unused by '%word%' searches, but the models declare one index for both)
    op.create_index("ix_product_name_trgm", "product", ["name"], unique=False,
                    postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"})
    op.create_index("ix_product_sku_trgm", "product", ["sku"], unique=False,
                    postgresql_using="gin", postgresql_ops={"sku": "gin_trgm_ops"})


def downgrade() -> None:
    op.drop_index("ix_product_sku_trgm", table_name="product")
    op.drop_index("ix_product_name_trgm", table_name="product")
    op.drop_index("ix_product_name_id", table_name="product")
