"""The queue's age filter: open tasks by state and when they were opened.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_review_age", "review_tasks", ["state", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_review_age", table_name="review_tasks")
