"""drop the file-name index an edited migration left behind

Revision ID: a14e00000001
Revises: f13d00000006
Create Date: 2026-12-03 13:00:00

Revision 3c5e0a9d41b7 was changed after it had been applied: it now also drops
ix_evidence_revision_original_name. A database that ran the first version of it still has
the index (it only costs writes; search goes through evidence.search_text). Drop it where it
is still there, so every database ends with the same schema.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a14e00000001"
down_revision: str | None = "f13d00000006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_evidence_revision_original_name"


def upgrade() -> None:
    existing = sa.inspect(op.get_bind()).get_indexes("evidence_revision")
    if any(index["name"] == INDEX for index in existing):
        op.drop_index(INDEX, table_name="evidence_revision")


def downgrade() -> None:
    # The schema before this revision has no such index either (3c5e0a9d41b7 drops it).
    pass
