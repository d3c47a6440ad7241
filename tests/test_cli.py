"""The `ronghe` command on a real database file: migrate, seed, create-admin."""

from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from app.cli import cli
from app.db import make_engine
from app.models.requirement import Requirement
from app.models.user import Role, User
from app.services.accounts import users as user_service
from app.settings import Settings
from tests.factories import rewrite_chain_from

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The CLI reads RONGHE_* like production; each test gets its own SQLite file.
    monkeypatch.setenv("RONGHE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("RONGHE_DATABASE_URL", raising=False)
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    return tmp_path


def _session(data_dir: Path) -> Session:
    return Session(make_engine(Settings(data_dir=data_dir)))


def test_seed_twice_changes_nothing_the_second_time(data_dir: Path) -> None:
    first = runner.invoke(cli, ["seed", "--demo"])
    assert first.exit_code == 0, first.output
    assert "created 45" in first.output
    second = runner.invoke(cli, ["seed", "--demo"])
    assert "created 0, updated 0, unchanged 45" in second.output
    assert "statuses set: 0" in second.output
    with _session(data_dir) as session:
        assert session.exec(select(func.count()).select_from(Requirement)).one() == 45
        assert session.exec(select(func.count()).select_from(User)).one() == 5


def test_malformed_file_is_refused_whole(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "framework:\n  code: X\n  version: '1'\n  title: {zh_CN: 甲}\nrequirements: []\n",
        encoding="utf-8",
    )
    result = runner.invoke(cli, ["seed", "--file", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output
    assert "framework.title.en" in result.output
    with _session(data_dir) as session:
        assert session.exec(select(func.count()).select_from(Requirement)).one() == 0


def test_create_admin_reads_the_password_from_stdin(data_dir: Path) -> None:
    result = runner.invoke(
        cli,
        ["create-admin", "--email", "Root@Example.com", "--name", "系统管理员", "--password-stdin"],
        input="long enough password\n",
    )
    assert result.exit_code == 0, result.output
    with _session(data_dir) as session:
        user = user_service.get_by_email(session=session, email="root@example.com")
        assert user is not None
        assert user_service.roles_of(session=session, user_id=user.id or 0) == {Role.admin}


def test_create_admin_refuses_a_short_password_and_a_duplicate(data_dir: Path) -> None:
    short = runner.invoke(
        cli,
        ["create-admin", "--email", "a@example.com", "--name", "A", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code == 2
    args = ["create-admin", "--email", "a@example.com", "--name", "A", "--password-stdin"]
    assert runner.invoke(cli, args, input="long enough password\n").exit_code == 0
    again = runner.invoke(cli, args, input="long enough password\n")
    assert again.exit_code == 2
    assert "not created" in again.output


def test_files_verify_reports_missing_and_altered_files(data_dir: Path) -> None:
    assert runner.invoke(cli, ["seed", "--demo"]).exit_code == 0
    clean = runner.invoke(cli, ["files", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "0 missing, 0 altered" in clean.output
    stored = sorted(p for p in (data_dir / "files").rglob("*") if p.is_file())
    assert len(stored) >= 2
    stored[0].chmod(0o600)
    stored[0].write_bytes(b"tampered")
    stored[1].unlink()
    (data_dir / "files" / "ab" / "cd").mkdir(parents=True, exist_ok=True)
    (data_dir / "files" / "ab" / "cd" / ("ab" + "0" * 62)).write_bytes(b"stray")
    result = runner.invoke(cli, ["files", "verify"])
    assert result.exit_code == 1
    assert f"ALTERED  {stored[0].name}" in result.output
    assert f"MISSING  {stored[1].name}" in result.output
    assert "1 orphans" in result.output


def test_activity_verify_detects_altered_and_deleted_events(data_dir: Path) -> None:
    from sqlalchemy import text

    assert runner.invoke(cli, ["seed", "--demo"]).exit_code == 0
    intact = runner.invoke(cli, ["activity", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "intact" in intact.output
    engine = make_engine(Settings(data_dir=data_dir))
    with engine.begin() as conn:
        original: str = conn.execute(
            text("SELECT verb FROM activity_event WHERE id = 5")
        ).scalar_one()
        conn.execute(text("UPDATE activity_event SET verb = 'approve' WHERE id = 5"))
    altered = runner.invoke(cli, ["activity", "verify"])
    assert altered.exit_code == 1
    assert "BROKEN at event 5: its content was altered" in altered.output
    with engine.begin() as conn:
        conn.execute(text("UPDATE activity_event SET verb = :v WHERE id = 5"), {"v": original})
    assert runner.invoke(cli, ["activity", "verify"]).exit_code == 0
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM activity_event WHERE id = 9"))
    deleted = runner.invoke(cli, ["activity", "verify"])
    assert deleted.exit_code == 1
    assert "BROKEN at event 10: an event before it was deleted or altered" in deleted.output


def _demo_with_anchor(data_dir: Path, backup_to: Path) -> None:
    assert runner.invoke(cli, ["seed", "--demo"]).exit_code == 0
    backed_up = runner.invoke(cli, ["backup", "--to", str(backup_to)])
    assert backed_up.exit_code == 0, backed_up.output
    intact = runner.invoke(cli, ["activity", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "keyed" in intact.output
    assert "anchor" in intact.output


def test_activity_verify_detects_a_chain_recomputed_without_the_key(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from sqlalchemy import update

    from app.models.activity import ActivityEvent

    _demo_with_anchor(data_dir, tmp_path_factory.mktemp("backup") / "b")
    with _session(data_dir) as session:
        session.execute(
            update(ActivityEvent).where(col(ActivityEvent.id) == 5).values(verb="approve")
        )
        rewrite_chain_from(session, 5)
        session.commit()
    altered = runner.invoke(cli, ["activity", "verify"])
    assert altered.exit_code == 1
    assert "BROKEN at event 5: its content was altered" in altered.output


def test_activity_verify_names_the_missing_tail(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from sqlalchemy import text

    _demo_with_anchor(data_dir, tmp_path_factory.mktemp("backup") / "b")
    engine = make_engine(Settings(data_dir=data_dir))
    with engine.begin() as conn:
        last: int = conn.execute(text("SELECT max(id) FROM activity_event")).scalar_one()
        conn.execute(text("DELETE FROM activity_event WHERE id > :id"), {"id": last - 3})
    shortened = runner.invoke(cli, ["activity", "verify"])
    assert shortened.exit_code == 1
    assert "the newest events are missing: the anchor of" in shortened.output
    assert f"event {last}" in shortened.output
    assert f"the log ends at event {last - 3}" in shortened.output


def test_migrate_creates_the_activity_key_and_the_demo_loads_after_it(data_dir: Path) -> None:
    key = data_dir / "activity_key"
    assert (key.stat().st_mode & 0o777) == 0o600
    again = runner.invoke(cli, ["migrate"])
    assert again.exit_code == 0, again.output
    assert runner.invoke(cli, ["seed", "--demo"]).exit_code == 0
    assert runner.invoke(cli, ["activity", "verify"]).exit_code == 0
    assert key.read_bytes() == (data_dir / "activity_key").read_bytes()


def test_a_host_with_another_key_is_refused_at_startup(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.services.activity.key import ChainKeyError

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: served.append(args))
    monkeypatch.setenv("RONGHE_ACTIVITY_KEY", "z" * 40)
    for command in (["migrate"], ["serve"]):
        refused = runner.invoke(cli, command)
        assert refused.exit_code == 2, refused.output
        assert "is not the key this database's activity log is signed with" in refused.output
        assert "RONGHE_ACTIVITY_KEY" in refused.output
    assert served == []
    with pytest.raises(ChainKeyError, match="is not the key"), TestClient(create_app()):
        pass


def test_a_second_host_without_the_key_is_refused_and_creates_none(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: served.append(args))
    other = tmp_path_factory.mktemp("second-host")
    monkeypatch.setenv("RONGHE_DATA_DIR", str(other))
    monkeypatch.setenv("RONGHE_DATABASE_URL", f"sqlite:///{data_dir / 'ronghe.db'}")
    refused = runner.invoke(cli, ["serve"])
    assert refused.exit_code == 2
    assert "signed with a key this host does not have" in refused.output
    assert "copy activity_key" in refused.output
    assert served == []
    assert not (other / "activity_key").exists()


def test_a_read_only_data_directory_stops_migrate_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("RONGHE_DATA_DIR", str(data))
    monkeypatch.setenv("RONGHE_DATABASE_URL", f"sqlite:///{tmp_path / 'ronghe.db'}")
    real_open = os.open

    def read_only(path: str, flags: int, *args: int) -> int:
        if Path(path).parent == data and flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    refused = runner.invoke(cli, ["migrate"])
    assert refused.exit_code == 2, refused.output
    assert "activity_key cannot be created: Read-only file system" in refused.output
    assert "RONGHE_ACTIVITY_KEY" in refused.output

    monkeypatch.setattr(os, "open", real_open)
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    assert runner.invoke(cli, ["seed", "--demo"]).exit_code == 0


def test_activity_verify_detects_a_chain_rewritten_entirely_without_the_key(
    data_dir: Path,
) -> None:

    assert runner.invoke(cli, ["seed", "--demo"]).exit_code == 0
    assert not (data_dir / "activity_anchors.jsonl").exists()
    with _session(data_dir) as session:
        rewrite_chain_from(session, 0, downgrade=True)
        session.commit()
    rewritten = runner.invoke(cli, ["activity", "verify"])
    assert rewritten.exit_code == 1
    assert "BROKEN at event 1: it is hashed without the key after the key came in" in (
        rewritten.output
    )
