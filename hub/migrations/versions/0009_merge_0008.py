"""Join the two 0008 branches (AS2 transfers per partner; the ops console's message references)

Revision ID: 0009_merge_0008
Revises: 0008_as2_transfer_per_partner, 0008_ops_references

Nothing to change: both branches went off 0007 at the same time; this makes
the history one head again, so the next migration has a single parent.
"""

revision = "0009_merge_0008"
down_revision = ("0008_as2_transfer_per_partner", "0008_ops_references")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
