"""Console users and sessions; the append-only login events and access log.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from bots.worklist.migrations.ops import append_only

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("totp_secret", sa.String(64), nullable=True),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("console_users.id"), nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("end_reason", sa.String(16), nullable=True),
    )
    op.create_table(
        "login_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
    )
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("what", sa.String(200), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
    )
    op.create_index("ix_access_log_username", "access_log", ["username", "id"])
    op.create_index("ix_access_log_action", "access_log", ["action", "id"])
    append_only("login_events")
    append_only("access_log")


def downgrade() -> None:
    for table in ("access_log", "login_events", "console_sessions", "console_users"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":  # SQLite drops a table's triggers with it
        for table in ("access_log", "login_events"):
            op.execute(f"DROP FUNCTION {table}_append_only()")
