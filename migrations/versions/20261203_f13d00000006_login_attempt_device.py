"""login attempts name the known browser they came from

Revision ID: f13d00000006
Revises: d13d00000004
Create Date: 2026-12-03 10:00:00

Sign-in throttling counts a browser that proves an earlier sign-in to the account (the
known-device cookie) apart from everyone else. Existing attempts came from no known browser.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f13d00000006"
down_revision: str | None = "d13d00000004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("login_attempt", sa.Column("device", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("login_attempt") as batch_op:
        batch_op.drop_column("device")
