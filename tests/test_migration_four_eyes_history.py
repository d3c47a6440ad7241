"""The b13d00000002 upgrade fills in who took part in existing nonconformities, from the owner
fields and the activity log, and gives every existing evidence revision its item's title and
address; the downgrade removes both."""

import json
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, Engine, inspect, text

from app.cli import alembic_config
from app.db import make_engine
from tests.factories import make_settings

BEFORE, AFTER = "3c5e0a9d41b7", "b13d00000002"
NOW = "2026-11-25 09:00:00"


def _event(
    conn: Connection,
    n: int,
    actor: int | None,
    verb: str,
    kind: str,
    obj: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        text(
            "INSERT INTO activity_event (at, actor_id, verb, object_type, object_id, before,"
            " after, prev_hash, hash) VALUES (:now, :actor, :verb, :kind, :obj, :before, :after,"
            " :prev, :hash)"
        ),
        {
            "now": NOW,
            "actor": actor,
            "verb": verb,
            "kind": kind,
            "obj": obj,
            "before": json.dumps(before) if before is not None else None,
            "after": json.dumps(after) if after is not None else None,
            "prev": f"{n - 1:064d}",
            "hash": f"{n:064d}",
        },
    )


def test_history_and_revision_titles_are_filled_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'four-eyes.db'}"
    settings = make_settings(tmp_path, url)
    config = alembic_config(settings)
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = url
    command.upgrade(config, BEFORE)
    engine = make_engine(settings)
    with engine.begin() as conn:
        for user_id in range(1, 7):
            conn.execute(
                text(
                    "INSERT INTO user_account (id, name, locale, is_active, email, password_hash,"
                    " created_at, password_changed_at) VALUES (:id, :name, 'zh_CN', 1, :email,"
                    " 'x', :now, :now)"
                ),
                {"id": user_id, "name": f"用户{user_id}", "email": f"u{user_id}@b.cn", "now": NOW},
            )
        # Raised by 6 (an auditor), owned by 1, handed to 2, who sent it for verification.
        conn.execute(
            text(
                "INSERT INTO nonconformity (id, title, description, source, grade, status,"
                " raised_on, raised_by_id, owner_id, verification_requested_by_id, correction,"
                " root_cause, reopened_count, created_at, updated_at) VALUES (1, '备份',"
                " '', 'internal_audit', 'minor', 'verification', '2026-11-02', 6, 2, 2, 'x',"
                " 'y', 0, :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO corrective_action (id, nonconformity_id, kind, description,"
                " owner_id, status, note, created_at) VALUES (1, 1, 'corrective', '改', 5,"
                " 'done', '', :now)"
            ),
            {"now": NOW},
        )
        _event(conn, 1, 6, "create", "nonconformity", "1", after={"owner_id": 1})
        _event(conn, 2, 1, "correction", "nonconformity", "1", after={"correction": "x"})
        _event(conn, 3, 3, "root_cause", "nonconformity", "1", after={"root_cause": "y"})
        _event(conn, 4, 1, "update", "nonconformity", "1", {"owner_id": 1}, {"owner_id": 2})
        _event(conn, 5, 4, "create", "corrective_action", "1", after={"owner_id": 5})
        _event(conn, 6, 4, "status", "corrective_action", "1", after={"status": "done"})
        _event(conn, 7, 6, "update", "nonconformity", "999", {"owner_id": 1}, {"owner_id": 6})
        conn.execute(
            text(
                "INSERT INTO evidence (id, title, description, kind, confidentiality, url, status,"
                " search_text, created_at, updated_at) VALUES (1, 'ERP 采购记录', '', 'link',"
                " 'internal', 'https://erp.example.cn/', 'approved', '', :now, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO evidence_revision (evidence_id, number, size, mime_type,"
                " original_name, change_note, uploaded_at, approved_at) VALUES (1, 1, 0, '', '',"
                " '', :now, :now)"
            ),
            {"now": NOW},
        )
    engine.dispose()

    command.upgrade(config, AFTER)

    engine = make_engine(settings)
    with engine.connect() as conn:
        parts = set(
            conn.execute(text("SELECT nonconformity_id, user_id, part FROM nc_participant")).all()
        )
        revision = conn.execute(text("SELECT title, url FROM evidence_revision")).one()
    engine.dispose()
    assert parts == {
        (1, 1, "owner"),
        (1, 1, "correction"),
        (1, 2, "owner"),
        (1, 2, "verification_request"),
        (1, 3, "root_cause"),
        (1, 4, "actions"),
        (1, 5, "action_owner"),
    }
    assert tuple(revision) == ("ERP 采购记录", "https://erp.example.cn/")

    command.downgrade(config, BEFORE)
    engine = make_engine(settings)
    with engine.connect() as conn:
        tables = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master"))}
        columns = {row[1] for row in conn.execute(text("PRAGMA table_info(evidence_revision)"))}
    engine.dispose()
    assert "nc_participant" not in tables
    assert {"title", "url"}.isdisjoint(columns)


def test_revision_title_and_address_keep_no_default_the_models_do_not_have(engine: Engine) -> None:
    """The default only filled the existing rows; the application always says what they are."""
    defaults = {
        column["name"]: column["default"]
        for column in inspect(engine).get_columns("evidence_revision")
    }
    assert (defaults["title"], defaults["url"]) == (None, None)
