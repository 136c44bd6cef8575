"""Create ``orders``: one row per order of any sale, as exported from the sale's ledger stream.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        # A stream entry id ("<ms>-<seq>"): unique within its sale's ledger, not across sales (two sales can
        # append in the same millisecond), hence the key (sale_id, order_id).
        sa.Column("sale_id", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("created_at", sa.TIMESTAMP(timezone=True), nullable=False),
        # The Idempotency-Key (kept so a repair can restore the idempotency record after a failover) and the
        # digest the logs print for the same key (to join logs and orders without reading the key).
        sa.Column("idempotency_key", sa.Text, nullable=False, server_default=""),
        sa.Column("key_digest", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.Text, nullable=False, server_default="confirmed"),
        # The ledger entry the row was exported from (another id than order_id for a repaired order).
        sa.Column("ledger_id", sa.Text, nullable=False),
        sa.Column("exported_at", sa.TIMESTAMP(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("sale_id", "order_id", name="orders_pkey"),
        sa.CheckConstraint("quantity > 0", name="orders_quantity_positive"),
        sa.CheckConstraint("status IN ('held', 'confirmed', 'cancelled')", name="orders_status_known"),
    )
    op.create_index("orders_buyer_idx", "orders", ["sale_id", "buyer_id"])
    op.create_index("orders_key_digest_idx", "orders", ["key_digest"])


def downgrade() -> None:
    op.drop_table("orders")
