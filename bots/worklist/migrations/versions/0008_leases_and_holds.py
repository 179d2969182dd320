"""Reliability: item leases (one sweep per item at a time), sweep runs with a heartbeat, the
failure kind of each check, and portal holds a person releases (refused credentials).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from bots.core.dbtypes import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("worklist_items") as batch:
        batch.add_column(sa.Column("lease_holder", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", UTCDateTime(), nullable=True))
    with op.batch_alter_table("status_history") as batch:
        batch.add_column(sa.Column("failure", sa.String(32), nullable=True))
    op.create_table(
        "sweep_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("flow_run_id", sa.String(64), nullable=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("ending", sa.String(16), nullable=True),
        sa.Column("selected", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "portal_holds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("portal", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("held_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("released_by", sa.String(100), nullable=True),
    )
    op.create_index("ix_hold_portal", "portal_holds", ["portal", "released_at"])
    # One active hold per portal, however many runs meet the refusal at the same moment
    active = sa.text("released_at IS NULL")
    op.create_index(
        "uq_hold_active", "portal_holds", ["portal"], unique=True, sqlite_where=active, postgresql_where=active
    )


def downgrade() -> None:
    op.drop_index("uq_hold_active", table_name="portal_holds")
    op.drop_index("ix_hold_portal", table_name="portal_holds")
    op.drop_table("portal_holds")
    op.drop_table("sweep_runs")
    with op.batch_alter_table("status_history") as batch:
        batch.drop_column("failure")
    with op.batch_alter_table("worklist_items") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_holder")
