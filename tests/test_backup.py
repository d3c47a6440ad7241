"""`ronghe backup` and `ronghe restore` on real databases of their own (SQLite, or PostgreSQL
when TEST_DATABASE_URL is set): a round trip, a tampered backup, a target that is not empty."""

import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner, Result

from app.cli import cli
from app.db import make_engine
from app.jobs import backup as backup_service
from app.models.evidence import EvidenceCreate, EvidenceKind, StoredFile
from app.services.activity import chain as activity_chain
from app.services.activity import key as activity_key
from app.services.evidence import service as evidence_service
from app.services.evidence.service import Upload, UploadLimits
from app.services.files import store as file_store
from app.settings import Settings
from tests.factories import NOW, make_settings, migrate, new_database

runner = CliRunner()

FILES = {
    "policy.txt": "信息化和工业化融合管理体系方针".encode(),
    "minutes.txt": b"management review minutes, 2026",
    "plan.txt": b"capability plan v1",
}


def _settings(root: Path, name: str) -> Settings:
    """A data directory and an empty database of its own; PostgreSQL on the throwaway server."""
    return make_settings(root / name, new_database(root / name, name))


def _migrate(settings: Settings) -> None:
    engine = make_engine(settings)
    migrate(engine, settings)
    engine.dispose()


@pytest.fixture
def source(tmp_path: Path) -> Settings:
    """A migrated database with evidence whose revisions reference stored files."""
    settings = _settings(tmp_path, "ronghe_backup_source")
    _migrate(settings)
    engine = make_engine(settings)
    limits = UploadLimits.from_settings(settings)
    with Session(engine) as session:
        for n, (name, content) in enumerate(FILES.items()):
            evidence = evidence_service.create(
                session=session,
                now=NOW,
                actor_id=None,
                data=EvidenceCreate(title=f"证据{n}", kind=EvidenceKind.record),
            )
            evidence_service.add_revision(
                session=session,
                now=NOW,
                actor_id=None,
                evidence=evidence,
                upload=Upload(name=name, stream=io.BytesIO(content)),
                limits=limits,
            )
        session.commit()
    engine.dispose()
    (settings.data_dir / "secret_key").write_text("k" * 64, encoding="utf-8")
    return settings


@pytest.fixture
def target(tmp_path: Path) -> Settings:
    return _settings(tmp_path, "ronghe_backup_target")


def _run(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> Result:
    # The CLI reads RONGHE_* like production.
    monkeypatch.setenv("RONGHE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("RONGHE_DATABASE_URL", settings.effective_database_url)
    return runner.invoke(cli, list(args))


def _rows(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            return {
                table.name: sorted((tuple(row) for row in conn.execute(table.select())), key=repr)
                for table in SQLModel.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def _hashes(settings: Settings) -> set[str]:
    engine = make_engine(settings)
    try:
        with Session(engine) as session:
            return set(session.exec(select(StoredFile.sha256)).all())
    finally:
        engine.dispose()


def _backup(monkeypatch: pytest.MonkeyPatch, source: Settings, to: Path) -> dict[str, Any]:
    result = _run(monkeypatch, source, "backup", "--to", str(to))
    assert result.exit_code == 0, result.output
    manifest: dict[str, Any] = json.loads((to / "manifest.json").read_text(encoding="utf-8"))
    return manifest


def test_round_trip_restores_rows_files_and_activity_chain(
    monkeypatch: pytest.MonkeyPatch, source: Settings, target: Settings, tmp_path: Path
) -> None:
    to = tmp_path / "backup"
    manifest = _backup(monkeypatch, source, to)
    assert (to.stat().st_mode & 0o777) == 0o700
    assert manifest["files"] == manifest["referenced_files"] == len(FILES)
    assert manifest["file_bytes"] == sum(len(c) for c in FILES.values())
    assert manifest["database"] == make_url(source.effective_database_url).get_backend_name()
    assert manifest["alembic_revision"]
    assert manifest["secret_key"] is True

    result = _run(monkeypatch, target, "restore", "--from", str(to))
    assert result.exit_code == 0, result.output

    rows = _rows(target)
    assert rows == _rows(source)
    assert len(rows["evidence_revision"]) == len(FILES)
    assert len(rows["activity_event"]) >= 2 * len(FILES)
    hashes = _hashes(target)
    assert len(hashes) == len(FILES)
    for sha in hashes:
        assert file_store.hash_file(file_store.path_for(target.files_dir, sha)) == sha
    assert (target.data_dir / "secret_key").read_text(encoding="utf-8") == "k" * 64
    for check in (["files", "verify"], ["activity", "verify"]):
        verified = _run(monkeypatch, target, *check)
        assert verified.exit_code == 0, verified.output
    assert "matches the anchor" in verified.output


def _head(settings: Settings) -> tuple[int, str, int]:
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT id, hash FROM activity_event ORDER BY id DESC LIMIT 1")
            ).one()
            event_id: int = row[0]
            head: str = row[1]
            count: int = conn.execute(text("SELECT count(*) FROM activity_event")).scalar_one()
    finally:
        engine.dispose()
    return event_id, head, count


def test_the_manifest_and_the_anchors_file_carry_the_chain_head_but_not_the_key(
    monkeypatch: pytest.MonkeyPatch, source: Settings, tmp_path: Path
) -> None:
    to = tmp_path / "backup"
    manifest = _backup(monkeypatch, source, to)
    event_id, head, count = _head(source)
    anchor = manifest["activity_anchor"]
    assert (anchor["event_id"], anchor["head"], anchor["count"]) == (event_id, head, count)
    assert anchor["source"] == "backup"
    assert activity_chain.read_anchors(source)[-1] == activity_chain.Anchor(**anchor)
    # The key travels beside the dump, never inside it.
    assert manifest["activity_key"] is True
    key = (source.data_dir / activity_key.KEY_FILE).read_bytes()
    assert (to / activity_key.KEY_FILE).read_bytes() == key
    assert ((to / activity_key.KEY_FILE).stat().st_mode & 0o777) == 0o600
    assert key.strip() not in (to / manifest["database_file"]).read_bytes()


def test_a_manifest_from_before_the_keyed_chain_still_reads(
    monkeypatch: pytest.MonkeyPatch, source: Settings, tmp_path: Path
) -> None:
    to = tmp_path / "backup"
    manifest = _backup(monkeypatch, source, to)
    del manifest["activity_key"], manifest["activity_anchor"]
    (to / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    read = backup_service.Manifest.read(to)
    assert (read.activity_key, read.activity_anchor) == (False, None)


def test_a_restored_chain_is_checked_against_the_backups_anchor(
    monkeypatch: pytest.MonkeyPatch, source: Settings, target: Settings, tmp_path: Path
) -> None:
    to = tmp_path / "backup"
    manifest = _backup(monkeypatch, source, to)
    # Anchors of a history the restore replaces must not count against it.
    activity_chain.append_anchor(
        target,
        activity_chain.Anchor(event_id=10**6, count=10**6, head="f" * 64, source="scheduler"),
    )
    result = _run(monkeypatch, target, "restore", "--from", str(to), "--force")
    assert result.exit_code == 0, result.output
    assert (target.data_dir / activity_key.KEY_FILE).read_bytes() == (
        source.data_dir / activity_key.KEY_FILE
    ).read_bytes()
    restored = activity_chain.read_anchors(target)
    assert [(a.event_id, a.source) for a in restored] == [
        (manifest["activity_anchor"]["event_id"], "restore")
    ]
    assert _run(monkeypatch, target, "activity", "verify").exit_code == 0

    event_id, _head_hash, _count = _head(target)
    engine = make_engine(target)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM activity_event WHERE id = :id"), {"id": event_id})
    engine.dispose()
    shortened = _run(monkeypatch, target, "activity", "verify")
    assert shortened.exit_code == 1
    assert f"the newest events are missing: the anchor of {manifest['created_at']}" in (
        shortened.output
    )
    assert f"event {event_id}" in shortened.output


def test_a_tampered_backup_is_refused_and_nothing_changes(
    monkeypatch: pytest.MonkeyPatch, source: Settings, target: Settings, tmp_path: Path
) -> None:
    to = tmp_path / "backup"
    _backup(monkeypatch, source, to)
    victim = next(file_store.files_on_disk(to / "files"))
    # Replaced rather than written through: the backup may share the inode with the source.
    victim.unlink()
    victim.write_bytes(b"forged")

    result = _run(monkeypatch, target, "restore", "--from", str(to))
    assert result.exit_code == 1
    assert "altered" in result.output
    assert not target.files_dir.exists()
    assert not (target.data_dir / "secret_key").exists()
    engine = make_engine(target)
    try:
        with engine.connect() as conn:
            assert not conn.dialect.get_table_names(conn)
    finally:
        engine.dispose()


def test_a_target_with_data_is_refused_without_force(
    monkeypatch: pytest.MonkeyPatch, source: Settings, target: Settings, tmp_path: Path
) -> None:
    to = tmp_path / "backup"
    _backup(monkeypatch, source, to)
    _migrate(target)

    refused = _run(monkeypatch, target, "restore", "--from", str(to))
    assert refused.exit_code == 2
    assert "--force" in refused.output
    assert _hashes(target) == set()

    forced = _run(monkeypatch, target, "restore", "--from", str(to), "--force")
    assert forced.exit_code == 0, forced.output
    assert _rows(target) == _rows(source)


def test_backup_refuses_a_directory_that_is_not_empty(
    monkeypatch: pytest.MonkeyPatch, source: Settings, tmp_path: Path
) -> None:
    to = tmp_path / "backup"
    to.mkdir()
    (to / "something").write_text("x")
    result = _run(monkeypatch, source, "backup", "--to", str(to))
    assert result.exit_code == 2
    assert not (to / "manifest.json").exists()
