"""evidence search text, unread notification index, no file name index

Revision ID: 3c5e0a9d41b7
Revises: 2a7c08dfe8ae
Create Date: 2026-11-26 03:10:00
"""

from collections.abc import Sequence
from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision: str = "3c5e0a9d41b7"
down_revision: str | None = "2a7c08dfe8ae"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    _fill_search_text()
    # Searched through search_text now; the index only cost writes.
    with op.batch_alter_table("evidence_revision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_revision_original_name"))
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_recipient_id"))
        batch_op.create_index(
            "ix_notification_unread", ["recipient_id", "channel", "read_at"], unique=False
        )


def _fill_search_text() -> None:
    """The same text the evidence service writes (app.services.evidence.service.search_text), frozen
    here as it was when this migration was written."""
    conn = op.get_bind()
    names = {
        evidence_id: [name for _, name in rows]
        for evidence_id, rows in groupby(
            conn.execute(
                sa.text(
                    "SELECT evidence_id, original_name FROM evidence_revision"
                    " ORDER BY evidence_id, number"
                )
            ).all(),
            key=lambda row: row[0],
        )
    }
    items = conn.execute(sa.text("SELECT id, title, description, reference FROM evidence")).all()
    update = sa.text("UPDATE evidence SET search_text = :text WHERE id = :id")
    for offset in range(0, len(items), BATCH):
        conn.execute(
            update,
            [
                {
                    "id": id_,
                    "text": "\n".join(
                        [title, description, reference or "", *names.get(id_, [])]
                    ).lower(),
                }
                for id_, title, description, reference in items[offset : offset + BATCH]
            ],
        )


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_unread")
        batch_op.create_index(
            batch_op.f("ix_notification_recipient_id"), ["recipient_id"], unique=False
        )
    with op.batch_alter_table("evidence_revision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_revision_original_name"), ["original_name"], unique=False
        )
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_column("search_text")
