"""Alerts: one per incident (at most one open per key), and every attempt to deliver one.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from bots.core.dbtypes import UTCDateTime
from bots.worklist.migrations.ops import append_only

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

OPEN = sa.text("resolved_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("portal", sa.String(64), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("times_seen", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
    )
    op.create_index("uq_alert_open_key", "alerts", ["key"], unique=True, sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("ix_alert_raised", "alerts", ["raised_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("attempted_at", UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_alert_deliveries_alert_id", "alert_deliveries", ["alert_id"])
    append_only("alert_deliveries")


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_alert_id", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    if op.get_bind().dialect.name == "postgresql":  # SQLite drops a table's triggers with it
        op.execute("DROP FUNCTION alert_deliveries_append_only()")
    op.drop_index("ix_alert_raised", table_name="alerts")
    op.drop_index("uq_alert_open_key", table_name="alerts")
    op.drop_table("alerts")
