"""The evidence index: the evidence log's records as rows, so that searching evidence and finding
a file by its content hash no longer read the log (which stays the source of truth).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from bots.core.dbtypes import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_index",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.Column("portal", sa.String(32), nullable=False),
        sa.Column("page_url", sa.Text, nullable=False),
        sa.Column("captured_at", UTCDateTime, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("flow_run_id", sa.String(64)),
        sa.Column("path", sa.String(200)),
        sa.Column("stored_sha256", sa.String(64)),
        sa.Column("key_id", sa.String(32)),
    )
    op.create_index("ix_evidence_sha", "evidence_index", ["sha256"])
    op.create_index("ix_evidence_item", "evidence_index", ["item_id", "seq"])
    op.create_index("ix_evidence_run", "evidence_index", ["run_id", "seq"])
    op.create_index("ix_evidence_captured", "evidence_index", ["captured_at"])
    op.create_index("ix_evidence_portal", "evidence_index", ["portal", "captured_at"])
    op.create_table(
        "evidence_index_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("log_offset", sa.BigInteger, nullable=False),
        sa.Column("relocations_offset", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evidence_index_state")
    op.drop_table("evidence_index")
