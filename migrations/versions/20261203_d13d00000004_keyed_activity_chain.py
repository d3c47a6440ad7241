"""keyed, anchored activity chain

Revision ID: d13d00000004
Revises: b13d00000002
Create Date: 2026-12-03 08:00:00

Existing events keep their plain SHA-256 hashes and are marked with that rule (1); events
written from now on are keyed (2). Nothing is re-hashed here: re-hashing would launder whatever
was edited before the upgrade.

The activity key is created here (in the data directory, unless RONGHE_ACTIVITY_KEY is set),
so a data directory that cannot be written stops `ronghe migrate` with a clear message instead
of every later change. The one row of `activity_key_record` names the key (its fingerprint) and
seals, under the key, where the unkeyed events end: from there on every event must be keyed.

Stop every process of the old version before upgrading; a rolling upgrade is not supported.
An old process knows nothing of the key: its events get the column's default rule (1) and a
plain hash after keyed ones, and `ronghe activity verify` reports the first of them as broken.
A downgrade drops the rule and the record, but the events written since stay keyed, and the
old version's verify reports the first of them as altered; the key file is left in place.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import app.models.base
from app.services.activity import key as activity_key

revision: str = "d13d00000004"
down_revision: str | None = "b13d00000002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.add_column(
        "activity_event",
        sa.Column("hash_rule", sa.Integer(), server_default="1", nullable=False),
    )
    record = op.create_table(
        "activity_key_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unkeyed_count", sa.Integer(), nullable=False),
        sa.Column("unkeyed_head_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("seal", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_key_record")),
    )
    bind = op.get_bind()
    # The settings come with the engine of `ronghe migrate` (or of the test harness).
    key = activity_key.ensure_key(activity_key.settings_of(bind))
    head = bind.execute(
        sa.text("SELECT id, hash FROM activity_event ORDER BY id DESC LIMIT 1")
    ).first()
    count = bind.execute(sa.text("SELECT count(*) FROM activity_event")).scalar_one()
    op.bulk_insert(
        record,
        [
            activity_key.record_values(
                key,
                unkeyed_count=int(count),
                unkeyed_head_id=int(head[0]) if head else 0,
                unkeyed_head=str(head[1]) if head else GENESIS_HASH,
                now=datetime.now(UTC),
            )
        ],
    )


def downgrade() -> None:
    op.drop_table("activity_key_record")
    with op.batch_alter_table("activity_event") as batch_op:
        batch_op.drop_column("hash_rule")
