"""keyed, anchored activity chain

Revision ID: d13d00000004
Revises: b13d00000002
Create Date: 2026-12-03 08:00:00

Existing events keep their plain SHA-256 hashes and are marked with that rule (1); events
written from now on are keyed (2). Nothing is re-hashed here: the key may not be available
where migrations run, and re-hashing would launder whatever was edited before the upgrade.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d13d00000004"
down_revision: str | None = "b13d00000002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "activity_event",
        sa.Column("hash_rule", sa.Integer(), server_default="1", nullable=False),
    )


def downgrade() -> None:
    with op.batch_alter_table("activity_event") as batch_op:
        batch_op.drop_column("hash_rule")
