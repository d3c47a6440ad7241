"""The schema exists only through migrations, and they match the models exactly."""

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from app.cli import alembic_config
from app.db import make_engine
from tests.factories import make_settings


def test_migrated_schema_has_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_autogenerate_finds_no_difference(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_upgrading_a_database_with_data_keeps_every_reference(tmp_path: Path) -> None:
    """SQLite rebuilds a table to alter it; rows pointing at it must not stop the upgrade."""
    url = f"sqlite:///{tmp_path / 'upgrade.db'}"
    settings = make_settings(tmp_path, url)
    config = alembic_config(settings)
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = url
    command.upgrade(config, "7a2422f0174e")  # audits and nonconformities, before 1b74160a5fd6
    engine = make_engine(settings)
    now = "2026-11-25 09:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_account (id, name, locale, is_active, email, password_hash,"
                " created_at, password_changed_at) VALUES (1, '陈静', 'zh_CN', 1, 'a@b.cn', 'x',"
                " :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO audit (id, title, kind, criteria, lead_auditor_id, planned_start,"
                " planned_end, status, summary, created_at, updated_at) VALUES (1, '内审',"
                " 'internal', '', 1, '2026-11-01', '2026-11-02', 'closed', '', :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO nonconformity (id, title, description, source, grade, status,"
                " raised_on, correction, root_cause, reopened_count, created_at, updated_at,"
                " audit_id) VALUES (1, '备份', '', 'internal_audit', 'minor', 'open',"
                " '2026-11-02', '', '', 0, :now, :now, 1)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO finding (id, audit_id, grade, statement, created_at,"
                " nonconformity_id) VALUES (1, 1, 'minor_nc', '缺记录', :now, 1)"
            ),
            {"now": now},
        )
    engine.dispose()

    command.upgrade(config, "head")

    engine = make_engine(settings)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT nonconformity_id FROM finding")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == []
    engine.dispose()


def test_existing_evidence_is_searchable_after_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'search.db'}"
    settings = make_settings(tmp_path, url)
    config = alembic_config(settings)
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = url
    command.upgrade(config, "2a7c08dfe8ae")  # before evidence.search_text
    engine = make_engine(settings)
    now = "2026-11-25 09:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO evidence (id, reference, title, description, kind, confidentiality,"
                " url, status, created_at, updated_at) VALUES (1, 'QP-07', '内部审核控制程序',"
                " 'Annual PLAN', 'document', 'internal', '', 'approved', :now, :now)"
            ),
            {"now": now},
        )
        for number, name in ((1, "Audit-V1.PDF"), (2, "audit-v2.pdf")):
            conn.execute(
                text(
                    "INSERT INTO evidence_revision (evidence_id, number, size, mime_type,"
                    " original_name, change_note, uploaded_at) VALUES (1, :n, 0, '', :name, '',"
                    " :now)"
                ),
                {"n": number, "name": name, "now": now},
            )
    engine.dispose()

    command.upgrade(config, "head")

    engine = make_engine(settings)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT search_text FROM evidence")).scalar()
    engine.dispose()
    assert stored == "内部审核控制程序\nannual plan\nqp-07\naudit-v1.pdf\naudit-v2.pdf"
