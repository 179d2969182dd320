"""Review tasks and their append-only decision log.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from bots.worklist.migrations.ops import append_only

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_tasks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("worklist_items.id"), nullable=False, index=True),
        sa.Column("open_item_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("payer_id", sa.String(32), nullable=False),
        sa.Column("portal", sa.String(32), nullable=False),
        sa.Column("category", sa.String(40), nullable=True),
        sa.Column("codes", sa.String(200), nullable=False),
        sa.Column("rules_version", sa.String(32), nullable=True),
        sa.Column("facts_json", sa.Text(), nullable=False),
        sa.Column("evidence_json", sa.Text(), nullable=False),
        sa.Column("line_ids", sa.String(200), nullable=False),
        sa.Column("proposal_json", sa.Text(), nullable=False),
        sa.Column("open_balance_cents", sa.Integer(), nullable=False),
        sa.Column("filing_deadline", sa.Date(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("last_edited_by", sa.String(64), nullable=True),
        sa.Column("lease_holder", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("apply_key", sa.String(40), nullable=True),
        sa.Column("apply_attempts", sa.Integer(), nullable=False),
        sa.Column("portal_reference", sa.String(64), nullable=True),
        sa.Column("apply_error", sa.Text(), nullable=True),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("open_item_id", name="uq_review_open_item"),
    )
    op.create_index("ix_review_queue", "review_tasks", ["state", "priority", "id"])
    op.create_index("ix_review_payer", "review_tasks", ["payer_id", "state", "priority", "id"])
    op.create_index("ix_review_category", "review_tasks", ["category", "state", "priority", "id"])
    op.create_index("ix_review_assignee", "review_tasks", ["assignee", "state", "priority", "id"])
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("review_tasks.id"), nullable=False, index=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=False),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("form_json", sa.Text(), nullable=False),
    )
    append_only("review_decisions")


def downgrade() -> None:
    op.drop_table("review_decisions")
    op.drop_table("review_tasks")
