"""What an Excel import may cost: a few previews per user, a time limit on reading a workbook,
and reading that neither blocks the event loop nor takes the machine's every core."""

import io
import os
import shutil
import sqlite3
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from openpyxl import Workbook
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, func, select

from app.main import create_app
from app.models.evidence import Evidence
from app.models.self_assessment import SelfAssessment
from app.models.user import Role, User
from app.services.activity.key import KEY_FILE
from app.services.evidence import service as evidence_service
from app.services.imports import time_limited
from app.services.self_assessments import service as assessment_service
from app.settings import Settings
from tests.factories import NOW, csrf, make_settings, make_user, sign_in

IMPORTS = {"register": "/evidence/import", "self-assessment": "/self-assessments/import"}
QUOTA = 2


@pytest.fixture
def import_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The suite's settings with a data directory of this test's own and a small quota."""
    return make_settings(tmp_path / "data", settings.database_url or "").model_copy(
        update={"import_previews_per_user": QUOTA}
    )


@pytest.fixture
def app(import_settings: Settings, connection: Any) -> FastAPI:
    application = create_app(import_settings)
    application.state.engine.dispose()
    application.state.session_factory = lambda: Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    return application


def _limit_reading(app: FastAPI, **update: Any) -> Settings:
    settings: Settings = app.state.settings.model_copy(update=update)
    app.state.settings = settings
    return settings


def _sheet(*rows: list[Any]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["表头"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@cache
def _slow_sheet() -> bytes:
    """A register of 1,000 rows, each 200 cells wide: about 1 MB that openpyxl needs seconds
    of CPU to read, cell by cell, although the import keeps only the first ten columns."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(["表头"])
    for n in range(1000):
        sheet.append([f"S-{n}", f"宽行{n}", "文件", *range(200)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _upload(client: TestClient, url: str, content: bytes) -> Response:
    response: Response = client.post(
        url, files={"file": ("表.xlsx", content)}, headers={"X-CSRF-Token": csrf(client)}
    )
    return response


def _token(response: Response) -> str:
    assert response.status_code == 200, response.text
    return response.text.split('name="token" value="')[1].split('"')[0]


def _confirm(client: TestClient, url: str, token: str) -> Response:
    response: Response = client.post(
        f"{url}/confirm", data={"token": token, "csrf_token": csrf(client)}
    )
    return response


def _previews(settings: Settings, user: User) -> list[Path]:
    return list((settings.data_dir / "imports").glob(f"{user.id}-*.json"))


def _files(settings: Settings) -> list[Path]:
    return [p for p in settings.data_dir.rglob("*") if p.is_file()]


def _register_count(session: Session, prefix: str) -> int:
    return session.exec(
        select(func.count()).select_from(Evidence).where(col(Evidence.reference).startswith(prefix))
    ).one()


class TestPreviewQuota:
    def test_beyond_the_quota_the_users_oldest_preview_is_dropped_and_others_keep_theirs(
        self, client: TestClient, session: Session, import_settings: Settings
    ) -> None:
        other = make_user(session, roles=[Role.admin])
        sign_in(client, session, other)
        others_token = _token(_upload(client, IMPORTS["register"], _sheet(["B-1", "别人的文件"])))

        user = make_user(session, roles=[Role.admin])
        sign_in(client, session, user)
        tokens = [
            _token(_upload(client, IMPORTS["register"], _sheet([f"A-{n}", f"文件{n}"])))
            for n in range(QUOTA)
        ]
        # The two kinds of import share the quota.
        newest = _token(_upload(client, IMPORTS["self-assessment"], _sheet([2023, 48.5])))
        assert len(_previews(import_settings, user)) == QUOTA
        expired = _confirm(client, IMPORTS["register"], tokens[0])
        assert expired.status_code == 404
        assert "导入已过期" in expired.text
        assert _register_count(session, "A-0") == 0
        assert _confirm(client, IMPORTS["register"], tokens[1]).status_code == 303
        assert _confirm(client, IMPORTS["self-assessment"], newest).status_code == 303
        assert _register_count(session, "A-1") == 1
        assert session.exec(select(func.count()).select_from(SelfAssessment)).one() == 1

        sign_in(client, session, other)
        assert len(_previews(import_settings, other)) == 1
        assert _confirm(client, IMPORTS["register"], others_token).status_code == 303
        assert _register_count(session, "B-") == 1

    def test_a_refused_upload_drops_none_of_the_users_previews(
        self, client: TestClient, session: Session, import_settings: Settings
    ) -> None:
        user = make_user(session, roles=[Role.admin])
        sign_in(client, session, user)
        tokens = [
            _token(_upload(client, IMPORTS["register"], _sheet([f"K-{n}", f"文件{n}"])))
            for n in range(QUOTA)
        ]
        before = sorted(_previews(import_settings, user))
        refused = _upload(client, IMPORTS["register"], b"PK\x03\x04 not a workbook")
        assert refused.status_code == 422
        assert "不是可读取的 Excel" in refused.text
        assert sorted(_previews(import_settings, user)) == before
        assert _confirm(client, IMPORTS["register"], tokens[0]).status_code == 303


class TestReadingTimeLimit:
    @pytest.mark.parametrize("kind", list(IMPORTS))
    def test_a_workbook_that_takes_too_long_is_refused_and_leaves_nothing(
        self, app: FastAPI, client: TestClient, session: Session, kind: str
    ) -> None:
        settings = _limit_reading(app, import_read_seconds=1)
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        slow = _slow_sheet()
        started = time.monotonic()
        response = _upload(client, IMPORTS[kind], slow)
        assert response.status_code == 422
        assert "读取该文件超过 1 秒" in response.text
        assert 'id="file-error"' in response.text
        assert time.monotonic() - started < 4
        assert _files(settings) == []
        assert _register_count(session, "S-") == 0

    def test_when_every_reader_is_busy_an_import_is_503_and_leaves_nothing(
        self,
        app: FastAPI,
        client: TestClient,
        session: Session,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        settings = _limit_reading(app, import_read_seconds=5, import_parallel_reads=1)
        monkeypatch.setattr(time_limited, "QUEUED_PER_SLOT", 0)
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        # Another import holds the only reader for two seconds.
        busy = threading.Thread(
            target=time_limited.run,
            args=(time.sleep, 2),
            kwargs={"limits": time_limited.Limits(seconds=5, parallel=1)},
        )
        busy.start()
        time.sleep(0.3)
        try:
            response = _upload(client, IMPORTS["register"], _sheet(["Q-1", "排队的文件"]))
        finally:
            busy.join()
        assert response.status_code == 503
        assert "正在读取其他导入的文件" in response.text
        assert _files(settings) == []
        assert _token(_upload(client, IMPORTS["register"], _sheet(["Q-1", "排队的文件"])))


class TestResponsiveness:
    def test_the_health_check_answers_quickly_while_workbooks_are_read(
        self, app: FastAPI, client: TestClient, session: Session
    ) -> None:
        settings = _limit_reading(app, import_read_seconds=2)
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        slow = _slow_sheet()
        answers: list[int] = []

        def upload() -> None:
            answers.append(_upload(client, IMPORTS["register"], slow).status_code)

        uploads = [threading.Thread(target=upload) for _ in range(3)]
        web_cpu = time.process_time()  # of every thread of this process, the app's included
        stored: set[Path] = set()
        for started, thread in enumerate(uploads, start=1):
            thread.start()
            # The harness runs every request on one database connection; each upload is let
            # past its sign-in check (its file is stored after it) before the next one starts.
            while len(stored) < started and thread.is_alive():
                stored |= set(_files(settings))
                time.sleep(0.01)
        slowest = 0.0
        while any(t.is_alive() for t in uploads):
            started_at = time.monotonic()
            assert client.get("/healthz").status_code == 200
            slowest = max(slowest, time.monotonic() - started_at)
            time.sleep(0.05)
        for thread in uploads:
            thread.join()
        web_cpu = time.process_time() - web_cpu
        assert slowest < 1, slowest
        # Reading costs up to 2 s of CPU per upload, spent outside this process (in a thread
        # it was 5 s each, and the health check waited for the GIL).
        assert web_cpu < 1.5, web_cpu
        # Each was cut off at the limit, or refused while the one reader was busy.
        assert len(answers) == 3
        assert set(answers) <= {422, 503}, answers
        assert _files(settings) == []


ROWS: dict[str, list[Any]] = {"register": ["C-1", "确认时的文件"], "self-assessment": [2023, 48.5]}


def _imported(session: Session, kind: str) -> int:
    """How many of the rows in ROWS were imported."""
    if kind == "register":
        return _register_count(session, "C-")
    return session.exec(select(func.count()).select_from(SelfAssessment)).one()


class TestConfirm:
    """A preview keeps the rows it showed: confirming reads no workbook again, so it neither
    waits for a reader nor costs its CPU a second time, and a preview that was shown can
    always be confirmed."""

    @pytest.mark.parametrize("kind", list(IMPORTS))
    def test_a_preview_is_confirmed_while_every_reader_is_busy(
        self, client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch, kind: str
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        token = _token(_upload(client, IMPORTS[kind], _sheet(ROWS[kind])))

        def busy(*_args: Any, **_kwargs: Any) -> Any:
            raise time_limited.Busy

        monkeypatch.setattr(time_limited, "run", busy)
        assert _confirm(client, IMPORTS[kind], token).status_code == 303
        assert _imported(session, kind) == 1

    @pytest.mark.parametrize("kind", list(IMPORTS))
    def test_a_confirm_that_meets_a_busy_database_can_be_confirmed_again(
        self, client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch, kind: str
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        token = _token(_upload(client, IMPORTS[kind], _sheet(ROWS[kind])))
        service = evidence_service if kind == "register" else assessment_service
        create = service.create

        def locked(**_kwargs: Any) -> Any:
            raise OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))

        monkeypatch.setattr(service, "create", locked)
        refused = _confirm(client, IMPORTS[kind], token)
        assert refused.status_code == 503
        assert "数据库正忙" in refused.text
        assert _imported(session, kind) == 0

        monkeypatch.setattr(service, "create", create)
        assert _confirm(client, IMPORTS[kind], token).status_code == 303
        assert _imported(session, kind) == 1

    def test_a_year_recorded_meanwhile_is_a_409_page_and_the_preview_is_dropped(
        self,
        client: TestClient,
        session: Session,
        import_settings: Settings,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        user = make_user(session, roles=[Role.admin])
        sign_in(client, session, user)
        token = _token(_upload(client, IMPORTS["self-assessment"], _sheet([2023, 48.5])))
        session.add(SelfAssessment(year=2023, overall_score=50, created_at=NOW, updated_at=NOW))
        session.commit()
        # The other transaction's row is not yet visible to this one's duplicate check.
        monkeypatch.setattr(assessment_service, "by_year", lambda **_kw: None)
        monkeypatch.setattr(assessment_service, "all_years", lambda **_kw: [])
        response = _confirm(client, IMPORTS["self-assessment"], token)
        assert response.status_code == 409
        assert "刚被他人同时录入" in response.text
        assert _previews(import_settings, user) == []


@pytest.mark.skipif(
    "TEST_DATABASE_URL" in os.environ, reason="the write lock of a whole database is SQLite's"
)
def test_other_writes_go_on_while_an_import_is_confirmed(
    settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite every transaction holds the one write lock: a confirm that held it while it
    read a workbook made every other save wait, and fail after the busy timeout."""
    database = tmp_path / "confirm.db"
    source, copy = (
        sqlite3.connect(make_url(settings.database_url or "").database or ""),
        (sqlite3.connect(database)),
    )
    source.backup(copy)
    source.close()
    copy.close()
    own = make_settings(tmp_path / "data", f"sqlite:///{database}")
    own.data_dir.mkdir()
    shutil.copy2(settings.data_dir / KEY_FILE, own.data_dir / KEY_FILE)  # the copy's key
    app = create_app(own)
    with (
        TestClient(app, base_url="http://testserver", follow_redirects=False) as client,
        Session(app.state.engine, expire_on_commit=False) as session,
    ):
        user = make_user(session, roles=[Role.admin])
        sign_in(client, session, user)  # and ends its transaction: this test holds no lock
        token = _token(_upload(client, IMPORTS["register"], _sheet(["W-1", "确认中"])))
        read = time_limited.run

        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(3)  # a workbook that takes long to read
            return read(*args, **kwargs)

        monkeypatch.setattr(time_limited, "run", slow)
        answers: list[int] = []
        confirm = threading.Thread(
            target=lambda: answers.append(_confirm(client, IMPORTS["register"], token).status_code)
        )
        started = time.monotonic()
        confirm.start()
        refused: list[str] = []
        while True:
            # Another user's save, which gives up after half a second of waiting for the lock.
            other = sqlite3.connect(database, timeout=0.5, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("UPDATE user_account SET name = '周敏' WHERE id = ?", (user.id,))
                other.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                refused.append(str(exc))
            finally:
                other.close()
            if not confirm.is_alive():
                break
            time.sleep(0.05)
        confirm.join()
        assert refused == []
        assert answers == [303]
        assert time.monotonic() - started < 2
        assert _register_count(session, "W-") == 1
    app.state.engine.dispose()
