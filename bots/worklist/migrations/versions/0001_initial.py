"""Worklist items, service lines and status history. Times are naive UTC in the database.

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worklist_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payer_id", sa.String(length=32), nullable=False),
        sa.Column("account_number", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("patient_name", sa.String(length=200), nullable=True),
        sa.Column("dos_from", sa.Date(), nullable=False),
        sa.Column("dos_to", sa.Date(), nullable=False),
        sa.Column("billed_cents", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("payer_claim_number", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("status_category", sa.String(length=4), nullable=True),
        sa.Column("status_code", sa.String(length=8), nullable=True),
        sa.Column("status_text", sa.String(length=200), nullable=True),
        sa.Column("status_date", sa.Date(), nullable=True),
        sa.Column("allowed_cents", sa.Integer(), nullable=True),
        sa.Column("paid_cents", sa.Integer(), nullable=True),
        sa.Column("patient_resp_cents", sa.Integer(), nullable=True),
        sa.Column("check_number", sa.String(length=64), nullable=True),
        sa.Column("check_date", sa.Date(), nullable=True),
        sa.Column("carc_codes", sa.String(length=200), nullable=True),
        sa.Column("rarc_codes", sa.String(length=200), nullable=True),
        sa.Column("next_action", sa.String(length=200), nullable=True),
        sa.Column("next_follow_up_at", sa.DateTime(), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("payer_id", "account_number", name="uq_item_key"),
    )
    with op.batch_alter_table("worklist_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_worklist_items_next_follow_up_at"), ["next_follow_up_at"], unique=False)

    op.create_table(
        "service_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("procedure_code", sa.String(length=16), nullable=False),
        sa.Column("modifiers", sa.String(length=32), nullable=False),
        sa.Column("diagnosis_pointers", sa.String(length=16), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("billed_cents", sa.Integer(), nullable=False),
        sa.Column("paid_cents", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["worklist_items.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "line_no", name="uq_line"),
    )
    with op.batch_alter_table("service_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_lines_item_id"), ["item_id"], unique=False)

    op.create_table(
        "status_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("portal", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status_category", sa.String(length=4), nullable=True),
        sa.Column("status_text", sa.String(length=200), nullable=True),
        sa.Column("status_date", sa.Date(), nullable=True),
        sa.Column("paid_cents", sa.Integer(), nullable=True),
        sa.Column("next_action", sa.String(length=200), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["worklist_items.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("status_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_status_history_item_id"), ["item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_status_history_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("status_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_history_run_id"))
        batch_op.drop_index(batch_op.f("ix_status_history_item_id"))

    op.drop_table("status_history")
    with op.batch_alter_table("service_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_lines_item_id"))

    op.drop_table("service_lines")
    with op.batch_alter_table("worklist_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worklist_items_next_follow_up_at"))

    op.drop_table("worklist_items")
