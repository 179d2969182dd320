"""Indexes for finding an item by what a person types: its account, claim or member number.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_item_account", "worklist_items", ["account_number"])
    op.create_index("ix_item_claim", "worklist_items", ["payer_claim_number"])
    op.create_index("ix_item_member", "worklist_items", ["member_id"])


def downgrade() -> None:
    for name in ("ix_item_member", "ix_item_claim", "ix_item_account"):
        op.drop_index(name, table_name="worklist_items")
