"""SQLite: the payload's bytes as the last column, so large payloads are written in pieces

Revision ID: 0013_payload_data_last
Revises: 0012_session_epoch

``hub.messages.store_payload`` writes a large payload on SQLite by
inserting a ``zeroblob`` of its size and filling it through incremental
blob I/O. SQLite keeps a zeroblob unmaterialised only when it is the last
field of the row; with ``created_at`` after ``data`` it built the whole
blob in memory (100 MB for a 100 MB AS2 message). The table is rebuilt with
``data`` last. PostgreSQL stores a bytea out of line whatever its position:
nothing to do there.
"""
from alembic import op

revision = "0013_payload_data_last"
down_revision = "0012_session_epoch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("payload", recreate="always",
                              partial_reordering=[("id", "sha256", "size", "created_at", "data")]) as batch:
        pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("payload", recreate="always",
                              partial_reordering=[("id", "sha256", "size", "data", "created_at")]) as batch:
        pass
