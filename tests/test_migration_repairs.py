"""Migrations that repair what an edited migration left behind on databases that ran it first."""

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from app.cli import alembic_config
from app.db import make_engine
from tests.factories import make_settings

LEFTOVER = "ix_evidence_revision_original_name"


def _revision_indexes(url: str, tmp_path: Path) -> set[str]:
    engine = make_engine(make_settings(tmp_path, url))
    try:
        return {str(i["name"]) for i in inspect(engine).get_indexes("evidence_revision")}
    finally:
        engine.dispose()


def test_a_database_that_kept_the_file_name_index_loses_it_on_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    config = alembic_config(make_settings(tmp_path, url))
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = url
    command.upgrade(config, "f13d00000006")
    # What the first version of revision 3c5e0a9d41b7 left: the index it later learned to drop.
    engine = make_engine(make_settings(tmp_path, url))
    with engine.begin() as conn:
        conn.execute(text(f"CREATE INDEX {LEFTOVER} ON evidence_revision (original_name)"))
    engine.dispose()
    assert LEFTOVER in _revision_indexes(url, tmp_path)

    command.upgrade(config, "head")

    assert LEFTOVER not in _revision_indexes(url, tmp_path)


def test_a_database_without_the_index_upgrades_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clean.db'}"
    config = alembic_config(make_settings(tmp_path, url))
    config.attributes["configure_logger"] = False
    config.attributes["database_url"] = url
    command.upgrade(config, "head")
    command.downgrade(config, "f13d00000006")
    command.upgrade(config, "head")

    assert LEFTOVER not in _revision_indexes(url, tmp_path)
