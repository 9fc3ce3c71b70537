"""customers

Revision ID: h001_customers
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "h001_customers"
down_revision = None
branch_labels = ("host",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customers")
