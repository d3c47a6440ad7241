"""four-eyes history and evidence metadata revisions

Revision ID: b13d00000002
Revises: 3c5e0a9d41b7
Create Date: 2026-12-03 08:00:00

- nc_participant: who took which part in a nonconformity, filled from what is known today (the
  owners on record and the activity log), so a former owner stays barred from verifying.
- evidence_revision.title and .url: each revision carries the title and address it proposes,
  so changing them on approved evidence goes through review like a new file; every existing
  revision gets the item's present title and address (a default used only for that, then
  dropped).
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import app.models.base

revision: str = "b13d00000002"
down_revision: str | None = "3c5e0a9d41b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000

# The parts as the application names them (app.models.nonconformity.NcPart), frozen here.
PARTS = (
    "owner",
    "action_owner",
    "correction",
    "root_cause",
    "start",
    "actions",
    "verification_request",
)
NC_VERBS = {
    "correction": "correction",
    "root_cause": "root_cause",
    "status": "start",
    "request_verification": "verification_request",
}


def upgrade() -> None:
    op.create_table(
        "nc_participant",
        sa.Column("nonconformity_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.Enum(*PARTS, name="ncpart"), nullable=False),
        sa.Column("since", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["nonconformity_id"],
            ["nonconformity.id"],
            name=op.f("fk_nc_participant_nonconformity_id_nonconformity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_nc_participant_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint(
            "nonconformity_id", "user_id", "part", name=op.f("pk_nc_participant")
        ),
    )
    with op.batch_alter_table("nc_participant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nc_participant_user_id"), ["user_id"], unique=False)
    _fill_participants()

    with op.batch_alter_table("evidence_revision", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("title", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("url", sa.String(length=1000), nullable=False, server_default="")
        )
    op.execute(
        "UPDATE evidence_revision SET"
        " title = (SELECT title FROM evidence WHERE evidence.id = evidence_revision.evidence_id),"
        " url = (SELECT url FROM evidence WHERE evidence.id = evidence_revision.evidence_id)"
    )
    # The default only filled the rows already there; the models have none.
    with op.batch_alter_table("evidence_revision", schema=None) as batch_op:
        batch_op.alter_column("title", existing_type=sa.String(length=200), server_default=None)
        batch_op.alter_column("url", existing_type=sa.String(length=1000), server_default=None)


def _known_parts() -> Iterator[tuple[int, int, str]]:
    """(nonconformity, user, part) for everything on record: the owner fields, then the log."""
    conn = op.get_bind()
    for nc_id, owner_id, requested_by in conn.execute(
        sa.text("SELECT id, owner_id, verification_requested_by_id FROM nonconformity")
    ):
        yield nc_id, owner_id, "owner"
        yield nc_id, requested_by, "verification_request"
    action_nc: dict[str, int] = {}
    for action_id, nc_id, owner_id in conn.execute(
        sa.text("SELECT id, nonconformity_id, owner_id FROM corrective_action")
    ):
        action_nc[str(action_id)] = nc_id
        yield nc_id, owner_id, "action_owner"
    events = sa.table(
        "activity_event",
        sa.column("actor_id", sa.Integer()),
        sa.column("verb", sa.String()),
        sa.column("object_type", sa.String()),
        sa.column("object_id", sa.String()),
        sa.column("before", sa.JSON()),
        sa.column("after", sa.JSON()),
    )
    rows = conn.execute(
        sa.select(
            events.c.actor_id,
            events.c.verb,
            events.c.object_type,
            events.c.object_id,
            events.c.before,
            events.c.after,
        ).where(events.c.object_type.in_(["nonconformity", "corrective_action"]))
    )
    for actor_id, verb, object_type, object_id, before, after in rows:
        before, after = before or {}, after or {}
        if object_type == "nonconformity":
            if not object_id.isdigit():
                continue
            nc_id = int(object_id)
            if verb in ("create", "update"):
                yield nc_id, before.get("owner_id"), "owner"
                yield nc_id, after.get("owner_id"), "owner"
            elif verb in NC_VERBS:
                yield nc_id, actor_id, NC_VERBS[verb]
        elif object_id in action_nc:
            nc_id = action_nc[object_id]
            if verb in ("create", "status"):
                yield nc_id, actor_id, "actions"
            if verb == "create":
                yield nc_id, after.get("owner_id"), "action_owner"


def _fill_participants() -> None:
    conn = op.get_bind()
    users = {row[0] for row in conn.execute(sa.text("SELECT id FROM user_account"))}
    ncs = {row[0] for row in conn.execute(sa.text("SELECT id FROM nonconformity"))}
    found = {
        (nc_id, user_id, part)
        for nc_id, user_id, part in _known_parts()
        if isinstance(user_id, int) and user_id in users and nc_id in ncs
    }
    # When each part was taken is not known for the past; the migration's time stands in.
    since = datetime.now(UTC)
    table = sa.table(
        "nc_participant",
        sa.column("nonconformity_id", sa.Integer()),
        sa.column("user_id", sa.Integer()),
        sa.column("part", sa.Enum(*PARTS, name="ncpart")),
        sa.column("since", app.models.base.UTCDateTime(timezone=True)),
    )
    rows: list[dict[str, Any]] = [
        {"nonconformity_id": n, "user_id": u, "part": p, "since": since}
        for n, u, p in sorted(found)
    ]
    for offset in range(0, len(rows), BATCH):
        conn.execute(sa.insert(table), rows[offset : offset + BATCH])


def downgrade() -> None:
    with op.batch_alter_table("evidence_revision", schema=None) as batch_op:
        batch_op.drop_column("url")
        batch_op.drop_column("title")
    with op.batch_alter_table("nc_participant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nc_participant_user_id"))
    op.drop_table("nc_participant")
    sa.Enum(name="ncpart").drop(op.get_bind(), checkfirst=True)
