"""Create ``order_lines``: the lines of an order of a sale's SKUs (issue 26), one row per (order, SKU).

Revision ID: 0002
Revises: 0001

``orders`` is unchanged, so every row it holds stays valid: an order of a one-stock sale has no lines (its
``quantity`` is all there is), an order of a sale of SKUs has one line per SKU whose quantities add up to the
order's. A line belongs to its order (the foreign key) and goes with it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_lines",
        sa.Column("sale_id", sa.Text, nullable=False),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        # The line's place in the order (0-based): a repair restores the lines in the order the buyer sent them,
        # which the order's idempotency record compares on a retry.
        sa.Column("position", sa.SmallInteger, nullable=False),
        sa.PrimaryKeyConstraint("sale_id", "order_id", "sku", name="order_lines_pkey"),
        sa.ForeignKeyConstraint(
            ["sale_id", "order_id"],
            ["orders.sale_id", "orders.order_id"],
            name="order_lines_order_fkey",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("quantity > 0", name="order_lines_quantity_positive"),
    )
    op.create_index("order_lines_sku_idx", "order_lines", ["sale_id", "sku"])


def downgrade() -> None:
    op.drop_table("order_lines")
