"""Killing the server mid-upload and the scheduler mid-reminder-run (SIGKILL, real processes):
after a restart there is no orphan file, no half-written row, and no reminder lost or sent
twice beyond the one documented case.

Every test has a database of its own (a SQLite file, or a database on the PostgreSQL server of
TEST_DATABASE_URL), because the processes under test really commit. Uploads go to `ronghe
serve` over HTTP; reminder passes are the scheduler's own, e-mailing a local SMTP server that
can hold a chosen message so that the kill lands in the middle of its delivery.
"""

import asyncio
import hashlib
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from select import select as wait_readable
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, func, select

from app.db import make_engine
from app.errors import Conflict
from app.jobs import housekeeping
from app.jobs.reminder_delivery import CLAIM_TIMEOUT
from app.jobs.scheduler import LEASE_TTL, reminder_pass
from app.models.activity import ActivityEvent
from app.models.capability import Capability
from app.models.department import Department
from app.models.evidence import Evidence, EvidenceCreate, EvidenceKind, EvidenceRevision, StoredFile
from app.models.initiative import Element, Initiative, Task
from app.models.notification import Channel, DeliveryStatus, Notification, SchedulerLease
from app.models.user import Role, User, UserRole
from app.services.evidence import service as evidence_service
from app.services.evidence.service import Upload, UploadLimits
from app.services.files import store as file_store
from app.services.files.verify import sweep_orphans, verify
from app.settings import Settings
from tests.factories import (
    NOW,
    PASSWORD,
    PASSWORD_HASH,
    SECRET,
    add_admin,
    free_port,
    make_settings,
    migrate,
    new_database,
    server_env,
    wait_until,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/self/fd").is_dir(), reason="watching a server's open files needs /proc"
    ),
]

MIB = 1024 * 1024
PIECE = 256 * 1024
EMAIL = "zhou.min@example.com"
BOUNDARY = "ronghe-faults-boundary"
# 4 MB of Chinese text. The type check reads the first 64 KiB, which here end after a whole
# character; it used to cut 4 more bytes off, ending inside one, and refused the file.
CONTENT = ("第一章 质量方针\n" * 183_000).encode()
SHA256 = hashlib.sha256(CONTENT).hexdigest()
SETTLED = {DeliveryStatus.sent, DeliveryStatus.skipped}


@contextmanager
def _sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A session factory on the settings' database, as the scheduler gets one."""
    engine = make_engine(settings)
    try:
        yield sessionmaker(engine, class_=Session, expire_on_commit=False)
    finally:
        engine.dispose()


def _take_store_lock(session: Session) -> None:
    """Hold what a new StoredFile row must wait for, as housekeeping's orphan sweep does."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE stored_file IN SHARE MODE"))
    else:
        session.connection()  # BEGIN IMMEDIATE: SQLite's write lock (app/db.py)


def _no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- uploads ---------------------------------------------------------------------------------


def _evidence_database(root: Path, name: str) -> tuple[Settings, int]:
    """A migrated database with an administrator and one evidence item that has no file yet."""
    settings = make_settings(root / "data", new_database(root, name))
    engine = make_engine(settings)
    migrate(engine, settings)
    with Session(engine) as session:
        user = add_admin(session, "周敏", EMAIL)
        evidence = evidence_service.create(
            session=session,
            now=NOW,
            actor_id=user.id,
            data=EvidenceCreate(title="质量手册", kind=EvidenceKind.document, owner_id=user.id),
        )
        session.commit()
        evidence_id = evidence.id or 0
    engine.dispose()
    return settings, evidence_id


class Server:
    """`ronghe serve` in a process of its own. Its temporary directory is private, so that the
    upload body it is receiving can be seen, and anything it leaves there found."""

    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings = settings
        self.root = root
        self.tmpdir = root / "server-tmp"
        self.tmpdir.mkdir()
        self.url = f"http://127.0.0.1:{free_port()}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = server_env(self.settings, TMPDIR=str(self.tmpdir))
        port = self.url.rsplit(":", 1)[1]
        with (self.root / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", port],
                cwd=self.root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def up() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail((self.root / "server.log").read_text())
            try:
                return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, "the server did not start", seconds=60)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def receiving_a_file(self) -> bool:
        """The form parser has started spooling an upload to a temporary file."""
        assert self.process is not None
        for fd in Path(f"/proc/{self.process.pid}/fd").iterdir():
            try:
                if os.readlink(fd).startswith(str(self.tmpdir)):
                    return True
            except OSError:
                continue
        return False


def _multipart() -> tuple[bytes, bytes]:
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="change_note"\r\n\r\n'
        "断电后重新上传\r\n"
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="质量手册.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


@contextmanager
def _signed_in(url: str) -> Iterator[httpx.Client]:
    """A browser-like client signed in through the login form."""
    with httpx.Client(base_url=url, timeout=30) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert token is not None
        answer = client.post(
            "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token[1]}
        )
        assert answer.status_code == 303, answer.text
        yield client


def _upload_headers(client: httpx.Client, evidence_id: int) -> dict[str, str]:
    page = client.get(f"/evidence/{evidence_id}")
    assert page.status_code == 200
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert token is not None
    head, tail = _multipart()
    return {
        "X-CSRF-Token": token[1],
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(len(head) + len(CONTENT) + len(tail)),
    }


class SlowUpload(threading.Thread):
    """Posts CONTENT as a new revision in 256 KiB pieces, and stops after the first 2 MB until
    `resume` is set, like a slow connection."""

    def __init__(self, client: httpx.Client, evidence_id: int) -> None:
        super().__init__(daemon=True)
        self.client, self.evidence_id = client, evidence_id
        self.headers = _upload_headers(client, evidence_id)
        self.resume = threading.Event()
        self.response: httpx.Response | None = None
        self.error: httpx.TransportError | None = None

    def body(self) -> Iterator[bytes]:
        head, tail = _multipart()
        yield head
        for offset in range(0, len(CONTENT), PIECE):
            if offset >= 2 * MIB:
                self.resume.wait(30)
            yield CONTENT[offset : offset + PIECE]
        yield tail

    def run(self) -> None:
        try:
            self.response = self.client.post(
                f"/evidence/{self.evidence_id}/revisions", content=self.body(), headers=self.headers
            )
        except httpx.TransportError as exc:
            self.error = exc


def _files(settings: Settings) -> list[Path]:
    """Everything in the file store, temporary upload files included."""
    return sorted(p for p in settings.files_dir.rglob("*") if p.is_file())


def _upload_rows(settings: Settings, evidence_id: int) -> dict[str, Any]:
    with _sessions(settings) as factory, factory() as session:

        def count(model: Any, *where: Any) -> int:
            return int(session.exec(select(func.count()).select_from(model).where(*where)).one())

        evidence = session.get(Evidence, evidence_id)
        assert evidence is not None
        return {
            "revisions": count(EvidenceRevision),
            "stored_files": count(StoredFile),
            "upload_events": count(ActivityEvent, col(ActivityEvent.verb) == "upload"),
            "status": evidence.status,
        }


NOTHING_UPLOADED = {"revisions": 0, "stored_files": 0, "upload_events": 0, "status": "draft"}


def _upload_succeeds(client: httpx.Client, settings: Settings, evidence_id: int) -> None:
    """The same upload, sent whole, is stored, listed and downloads byte for byte."""
    head, tail = _multipart()
    answer = client.post(
        f"/evidence/{evidence_id}/revisions",
        content=head + CONTENT + tail,
        headers=_upload_headers(client, evidence_id),
    )
    assert answer.status_code == 200, answer.text
    assert json.loads(answer.headers["HX-Trigger"])["showToast"]["message"] == "修订版 1 已上传。"
    link = re.search(rf"/evidence/{evidence_id}/revisions/\d+/download", answer.text)
    assert link is not None
    assert client.get(link[0]).content == CONTENT
    assert _upload_rows(settings, evidence_id) == {
        "revisions": 1,
        "stored_files": 1,
        "upload_events": 1,
        "status": "draft",
    }
    assert _files(settings) == [file_store.path_for(settings.files_dir, SHA256)]
    with _sessions(settings) as factory, factory() as session:
        report = verify(session=session, files_dir=settings.files_dir)
    assert (report.ok, report.orphans) == (True, [])


def test_killed_while_the_file_arrives_nothing_is_left_and_the_same_upload_then_succeeds(
    tmp_path: Path,
) -> None:
    settings, evidence_id = _evidence_database(tmp_path, "ronghe_faults_upload_body")
    server = Server(settings, tmp_path)
    server.start()
    try:
        with _signed_in(server.url) as client:
            upload = SlowUpload(client, evidence_id)
            upload.start()
            wait_until(server.receiving_a_file, "the server never started receiving the file")
            # Meanwhile everyone else is served at once: the upload holds no database lock.
            with httpx.Client(base_url=server.url, cookies=client.cookies, timeout=5) as other:
                assert other.get(f"/evidence/{evidence_id}").status_code == 200

            server.kill()
            upload.resume.set()
            upload.join(30)
            assert (upload.response, isinstance(upload.error, httpx.TransportError)) == (None, True)
            # The half-received body was an unnamed temporary file, gone with the process.
            assert list(server.tmpdir.iterdir()) == []
            assert _files(settings) == []
            assert _upload_rows(settings, evidence_id) == NOTHING_UPLOADED

            server.start()
            page = client.get(f"/evidence/{evidence_id}")  # the sign-in survived the restart
            assert page.status_code == 200
            assert "质量手册.txt" not in page.text
            _upload_succeeds(client, settings, evidence_id)
    finally:
        server.stop()


def test_killed_after_storing_the_file_before_its_rows_commit_housekeeping_removes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings, evidence_id = _evidence_database(tmp_path, "ronghe_faults_upload_commit")
    stored = file_store.path_for(settings.files_dir, SHA256)
    server = Server(settings, tmp_path)
    server.start()
    try:
        with _signed_in(server.url) as client:
            upload = SlowUpload(client, evidence_id)
            upload.start()
            wait_until(server.receiving_a_file, "the server never started receiving the file")
            with _sessions(settings) as factory, factory() as locker:
                # The server stores the file, then waits for this lock to write its rows.
                _take_store_lock(locker)
                upload.resume.set()
                wait_until(stored.exists, "the server never stored the file")
                server.kill()
                locker.rollback()
            upload.join(30)
            assert (upload.response, isinstance(upload.error, httpx.TransportError)) == (None, True)
            assert _files(settings) == [stored]  # complete, named by its hash, and no row names it
            assert _upload_rows(settings, evidence_id) == NOTHING_UPLOADED

            server.start()
            assert client.get(f"/evidence/{evidence_id}").status_code == 200
            now = datetime.now(UTC)
            with _sessions(settings) as factory:
                housekeeping.run(settings, factory, now=now)
                assert stored.exists()  # for an hour it may be an upload about to commit
                later = now + timedelta(seconds=file_store.PARTIAL_MAX_AGE_SECONDS + 60)
                housekeeping.run(settings, factory, now=later)
            assert _files(settings) == []
            _no_errors_logged(caplog)
            _upload_succeeds(client, settings, evidence_id)
    finally:
        server.stop()


def test_an_orphan_swept_while_the_same_file_is_uploaded_again_fails_that_upload_visibly(
    tmp_path: Path,
) -> None:
    """An upload finds its content in the store already (an orphan from a kill), then the
    sweep deletes that file while the upload waits to write its rows. The upload must fail
    rather than commit a revision whose file is gone; trying again then works."""
    settings, evidence_id = _evidence_database(tmp_path, "ronghe_faults_upload_race")
    limits = UploadLimits.from_settings(settings)
    orphan = file_store.store(io.BytesIO(CONTENT), settings.files_dir, limits.max_bytes).path
    long_ago = time.time() - file_store.PARTIAL_MAX_AGE_SECONDS - 60
    os.utime(orphan, (long_ago, long_ago))
    loaded, locked, read = threading.Event(), threading.Event(), threading.Event()
    outcome: list[object] = []

    class Stream(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            chunk = super().read(size)
            if not chunk:
                read.set()
            return chunk

    def add_revision(factory: sessionmaker[Session], stream: io.BytesIO) -> None:
        with factory() as session:
            evidence = session.get(Evidence, evidence_id)
            assert evidence is not None
            session.commit()
            loaded.set()
            locked.wait(30)
            try:
                evidence_service.add_revision(
                    session=session,
                    now=NOW,
                    actor_id=None,
                    evidence=evidence,
                    upload=Upload("质量手册.txt", stream),
                    limits=limits,
                )
                session.commit()
                outcome.append("committed")
            except Conflict as exc:
                session.rollback()
                outcome.append(exc)

    with _sessions(settings) as factory:
        uploader = threading.Thread(target=add_revision, args=(factory, Stream(CONTENT)))
        uploader.start()
        with factory() as sweeper:
            assert loaded.wait(30)
            _take_store_lock(sweeper)
            locked.set()
            # store() has read everything and, finding the content stored, removed its
            # temporary file; the upload's rows now wait for the lock.
            assert read.wait(30)
            wait_until(lambda: not list(settings.files_dir.glob(".upload-*")), "store() hangs")
            now = datetime.now(UTC)
            assert sweep_orphans(session=sweeper, files_dir=settings.files_dir, now=now) == 1
            sweeper.commit()
        uploader.join(30)
        (refused,) = outcome
        assert isinstance(refused, Conflict)
        assert (refused.status_code, refused.field) == (409, "file")
        assert _upload_rows(settings, evidence_id) == NOTHING_UPLOADED
        assert _files(settings) == []

        outcome.clear()
        add_revision(factory, io.BytesIO(CONTENT))
        assert outcome == ["committed"]
        assert _files(settings) == [orphan]
        with factory() as session:
            assert verify(session=session, files_dir=settings.files_dir).ok


# --- reminders -------------------------------------------------------------------------------

START = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
TODAY = date(2026, 11, 24)
TASKS = 100
HELD = 40  # the e-mail whose delivery the kill interrupts


def _seed_due_tasks(url: str, data_dir: Path) -> None:
    """Tasks due from 40 days ago to 30 days ahead, for four owners of a department with a
    head, and an administrator: reminders before, on and after the due day, and escalations."""
    settings = make_settings(data_dir, url)
    engine = make_engine(settings)
    migrate(engine, settings)
    with Session(engine) as session:

        def user(name: str, role: Role, department_id: int | None = None) -> User:
            person = User(
                name=name,
                email=f"{name}@example.com",
                password_hash=PASSWORD_HASH,
                created_at=START,
                password_changed_at=START,
                department_id=department_id,
            )
            session.add(person)
            session.flush()
            session.add(UserRole(user_id=person.id or 0, role=role))
            return person

        user("admin", Role.admin)
        head = user("head", Role.owner)
        department = Department(name="生产部", code="PROD", head_id=head.id)
        session.add(department)
        session.flush()
        owners = [user(f"owner{n}", Role.owner, department.id) for n in range(4)]
        capability = Capability(code="MES", title="生产管控能力", created_at=START)
        session.add(capability)
        session.flush()
        initiative = Initiative(
            capability_id=capability.id or 0, title="MES 一期", created_at=START
        )
        session.add(initiative)
        session.flush()
        for n in range(TASKS):
            session.add(
                Task(
                    initiative_id=initiative.id or 0,
                    title=f"设备数据采集 {n}",
                    element=Element.technology,
                    owner_id=owners[n % len(owners)].id,
                    due_date=TODAY + timedelta(days=n % 71 - 40),
                    created_at=START,
                )
            )
        session.commit()
    engine.dispose()


class Sink:
    """An SMTP server that keeps every message and can hold one: at its MAIL FROM (before the
    message is handed over), or after its DATA (handed over, not yet acknowledged)."""

    def __init__(self, hold: tuple[str, int] | None = None) -> None:
        self.messages: list[tuple[str, str]] = []  # (recipient, subject)
        self.hold = hold
        self.holding, self.release = threading.Event(), threading.Event()

    async def _held(self) -> None:
        self.hold = None
        self.holding.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)

    async def handle_MAIL(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.hold == ("mail", len(self.messages) + 1):
            await self._held()
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        mail = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.rcpt_tos[0], str(mail["Subject"])))
        if self.hold == ("data", len(self.messages)):
            await self._held()
        return "250 OK"


@contextmanager
def _smtp(sink: Sink) -> Iterator[int]:
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        sink.release.set()
        controller.stop()


@dataclass
class Outcome:
    keys: Counter[tuple[Any, ...]]  # ledger rows by their unique key
    statuses: set[str]
    mails: Counter[tuple[str, str]]  # e-mails received, by recipient and subject
    expected_mails: set[tuple[str, str]]  # one per e-mail row of the ledger


def _emails(session: Session) -> dict[int, str]:
    return {u.id or 0: u.email for u in session.exec(select(User)).all()}


def _mail_of(row: Notification, emails: dict[int, str]) -> tuple[str, str]:
    return emails[row.recipient_id], f"[融合] {row.title}"


def _ledger(factory: sessionmaker[Session]) -> list[Notification]:
    with factory() as session:
        return list(session.exec(select(Notification).order_by(col(Notification.id))).all())


def _outcome(factory: sessionmaker[Session], sink: Sink) -> Outcome:
    rows = _ledger(factory)
    with factory() as session:
        emails = _emails(session)
    return Outcome(
        keys=Counter(
            (r.kind, r.subject_type, r.subject_id, r.due_date, r.threshold, r.recipient_id, r.route)
            for r in rows
        ),
        statuses={r.status for r in rows},
        mails=Counter(sink.messages),
        expected_mails={_mail_of(r, emails) for r in rows if r.channel == Channel.email},
    )


def _settle(factory: sessionmaker[Session], settings: Settings, moment: datetime) -> None:
    """Passes every five minutes, as the scheduler runs them, until every row is final."""
    for _ in range(6):
        reminder_pass(factory, settings, now=moment)
        if {r.status for r in _ledger(factory)} <= SETTLED:
            return
        moment += timedelta(minutes=5)
    pytest.fail("the ledger never settled")


def _reminder_settings(root: Path, url: str, smtp_port: int) -> Settings:
    settings = make_settings(root / "data", url)
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp_port})


@pytest.fixture(scope="module")
def due_tasks(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The database every reminder test starts from a copy of."""
    root = tmp_path_factory.mktemp("due-tasks")
    url = new_database(root, "ronghe_faults_due_tasks")
    _seed_due_tasks(url, root / "data")
    return url


@pytest.fixture(scope="module")
def reference(due_tasks: str, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """What uninterrupted passes do with the same data."""
    root = tmp_path_factory.mktemp("reference")
    sink = Sink()
    url = new_database(root, "ronghe_faults_reference", template=due_tasks)
    with _smtp(sink) as port:
        settings = _reminder_settings(root, url, port)
        with _sessions(settings) as factory:
            _settle(factory, settings, START)
            outcome = _outcome(factory, sink)
    # Each e-mail row's message arrived exactly once.
    assert set(outcome.mails) == outcome.expected_mails
    assert set(outcome.mails.values()) == {1}
    assert len(outcome.mails) > HELD
    return outcome


# SQLite gives no outside view of an open transaction, so for the kill during planning the
# pass announces the moment itself, just before committing the ledger rows it has inserted,
# and waits there to be killed. Nothing else in the pass is changed.
PASS = """
import sys, time
from datetime import datetime
from sqlalchemy import event
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session
from app.db import make_engine
from app.jobs.scheduler import reminder_pass
from app.settings import Settings

settings = Settings()
engine = make_engine(settings)
if sys.argv[2:] == ["announce-ledger-commit"]:
    inserted = []

    @event.listens_for(engine, "after_cursor_execute")
    def written(conn, cursor, statement, *args):
        if statement.startswith("INSERT INTO notification"):
            inserted.append(statement)

    @event.listens_for(engine, "commit")
    def committing(conn):
        if inserted:
            print("ledger rows inserted, committing", flush=True)
            time.sleep(60)

factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
reminder_pass(factory, settings, now=datetime.fromisoformat(sys.argv[1]))
"""


def _start_pass(settings: Settings, root: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "RONGHE_ENVIRONMENT": "test",
        "RONGHE_DATA_DIR": str(settings.data_dir),
        "RONGHE_DATABASE_URL": settings.effective_database_url,
        "RONGHE_SECRET_KEY": SECRET,
        "RONGHE_SMTP_HOST": settings.smtp_host,
        "RONGHE_SMTP_PORT": str(settings.smtp_port),
    }
    return subprocess.Popen(
        [sys.executable, "-c", PASS, START.isoformat(), *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
    )


def _kill_when(process: subprocess.Popen[bytes], reached: Callable[[], bool]) -> None:
    def reached_or_exited() -> bool:
        return reached() or process.poll() is not None

    wait_until(reached_or_exited, "the pass never got there", seconds=60)
    assert process.poll() is None, "the pass ended before it got there"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.stdout is not None
    process.stdout.close()


@pytest.mark.parametrize("kill_at", ["ledger-commit", "mail-from", "after-data"])
def test_a_reminder_pass_killed_midway_loses_and_repeats_nothing_once_passes_resume(
    kill_at: str,
    due_tasks: str,
    reference: Outcome,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Killed just before the planned ledger rows commit; while the 40th e-mail is being
    handed to the SMTP server; or after the server took it, before it acknowledged it."""
    sink = Sink({"mail-from": ("mail", HELD), "after-data": ("data", HELD)}.get(kill_at))
    url = new_database(tmp_path, f"ronghe_faults_{kill_at.replace('-', '_')}", template=due_tasks)
    with _smtp(sink) as port:
        settings = _reminder_settings(tmp_path, url, port)
        if kill_at == "ledger-commit":
            process = _start_pass(settings, tmp_path, "announce-ledger-commit")
            assert process.stdout is not None
            announced = process.stdout

            def about_to_commit() -> bool:
                if not wait_readable([announced], [], [], 0)[0]:
                    return False
                assert announced.readline().startswith(b"ledger rows inserted")
                return True

            _kill_when(process, about_to_commit)
        else:
            process = _start_pass(settings, tmp_path)
            _kill_when(process, sink.holding.is_set)
        sink.release.set()

        with _sessions(settings) as factory:
            rows = _ledger(factory)
            received = list(sink.messages)
            with factory() as session:
                lease = session.get(SchedulerLease, "reminders")
                emails = _emails(session)
            assert lease is not None
            assert lease.holder.endswith(f":{process.pid}")  # the dead process holds it
            sending = [r for r in rows if r.status == DeliveryStatus.sending]
            if kill_at == "ledger-commit":
                assert (rows, received) == ([], [])  # no half-written ledger, nothing sent
            else:
                (interrupted,) = sending
                assert (interrupted.channel, interrupted.attempts) == (Channel.email, 1)
                handed_over = kill_at == "after-data"
                assert len(received) == (HELD if handed_over else HELD - 1)
                assert (_mail_of(interrupted, emails) in received) == handed_over

            # A restarted scheduler waits for the dead one's lease to run out...
            reminder_pass(factory, settings, now=START + timedelta(minutes=1))
            assert [(r.id, r.status) for r in _ledger(factory)] == [(r.id, r.status) for r in rows]
            assert sink.messages == received
            after_lease = START + LEASE_TTL + timedelta(minutes=1)
            assert after_lease - START < CLAIM_TIMEOUT
            reminder_pass(factory, settings, now=after_lease)
            # ...and, for CLAIM_TIMEOUT, for the claim of the e-mail it was sending, which
            # may still be on its way.
            still_sending = [r for r in _ledger(factory) if r.status == DeliveryStatus.sending]
            assert [r.id for r in still_sending] == [r.id for r in sending]
            _settle(factory, settings, after_lease + timedelta(minutes=5))
            outcome = _outcome(factory, sink)

    assert outcome.keys == reference.keys  # none lost, none added
    assert set(outcome.keys.values()) == {1}
    assert outcome.statuses <= SETTLED
    assert set(outcome.mails) == reference.expected_mails == outcome.expected_mails
    # More than once only for the e-mail the SMTP server had taken, unacknowledged, at the kill.
    twice = {mail for mail, n in outcome.mails.items() if n > 1}
    assert twice == ({_mail_of(sending[0], emails)} if kill_at == "after-data" else set())
    assert max(outcome.mails.values()) <= 2
    _no_errors_logged(caplog)
