"""Finding the tasks a supervisor holds: opening another task lets go of them.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_review_lease", "review_tasks", ["lease_holder"])


def downgrade() -> None:
    op.drop_index("ix_review_lease", table_name="review_tasks")
