"""Everything tests share besides fixtures: constants, database and server helpers, and factories.

Factories are plain functions taking the session and keyword `**overrides`; they commit, so a
test sees the object as a request would. Fixtures stay in conftest.py files and build on these.
"""

import hashlib
import json
import os
import re
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, create_engine, text, update
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col, select

from app.cli import FRAMEWORKS_DIR, alembic_config
from app.db import make_engine
from app.models.activity import ActivityEvent, HashRule
from app.models.audit import (
    Audit,
    AuditCreate,
    AuditKind,
    AuditMember,
    AuditProgramme,
    AuditStatus,
    ChecklistItem,
    ChecklistResult,
)
from app.models.capability import Capability
from app.models.certification import (
    AssessorAccess,
    Certification,
    CertificationCreate,
    Milestone,
)
from app.models.department import Department
from app.models.dossier import Dossier, DossierStatus
from app.models.evidence import (
    Evidence,
    EvidenceCreate,
    EvidenceRequirement,
    EvidenceRevision,
    EvidenceStatus,
    StoredFile,
)
from app.models.goal import Goal
from app.models.initiative import Element, InitiativeCreate, TaskCreate
from app.models.nonconformity import (
    ActionStatus,
    CorrectiveAction,
    CorrectiveActionCreate,
    Nonconformity,
    NonconformityCreate,
    RootCauseMethod,
)
from app.models.notification import (
    CalendarDay,
    Channel,
    DeliveryStatus,
    DueKind,
    Notification,
    WebhookChannel,
    WebhookKind,
)
from app.models.requirement import Requirement, RequirementStatus
from app.models.review import ManagementReview, ReviewAction, ReviewStatus
from app.models.self_assessment import (
    AssessmentView,
    SelfAssessment,
    SelfAssessmentCreate,
    ViewLink,
)
from app.models.strategy import (
    AdvantageCreate,
    CompetitiveAdvantage,
    Strategy,
    StrategyCreate,
    StrategyStatus,
)
from app.models.user import Role, User, UserRole
from app.security import csrf_token_for, hash_password
from app.services.accounts import auth as auth_service
from app.services.activity import service as activity
from app.services.audits import service as audit_service
from app.services.certification import service as certification_service
from app.services.evidence import service as evidence_service
from app.services.files import store as file_store
from app.services.nonconformities import service as nc_service
from app.services.requirements import framework as framework_service
from app.services.self_assessments import service as self_assessment_service
from app.services.strategy import goals as goal_service
from app.services.strategy import initiatives as initiative_service
from app.services.strategy import pdca as pdca_service
from app.services.strategy import service as strategy_service
from app.services.strategy.goals import Reading
from app.settings import Settings
from app.web.http import CSRF_COOKIE

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"  # screenshots and traces the browser tests leave

SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"
PASSWORD_HASH = hash_password(PASSWORD, fast=True)
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TODAY = NOW.date()  # also the day in Shanghai: 17:00 there

HX = {"HX-Request": "true"}
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


# --- settings, databases, processes ---------------------------------------------------------


def database_url(tmp_root: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_root / 'test.db'}"


def make_settings(data_dir: Path, url: str) -> Settings:
    return Settings(
        environment="test",
        data_dir=data_dir,
        database_url=url,
        secret_key=SECRET,
        fast_password_hashing=True,
        scheduler="off",
    )


def reset_database(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))


def migrate(engine: Engine, settings: Settings) -> None:
    config = alembic_config(settings)
    config.attributes["configure_logger"] = False
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def prepare_database(settings: Settings, *, demo: bool = False) -> Engine:
    """An empty database migrated to head, with the shipped catalogues (and the demo) loaded."""
    engine = make_engine(settings)
    reset_database(engine)
    migrate(engine, settings)
    with Session(engine) as session:
        for path in framework_service.catalogue_files(FRAMEWORKS_DIR):
            framework_service.load(
                session=session, now=NOW, catalogue=framework_service.parse(path)
            )
        if demo:
            from app.services.evidence.service import UploadLimits
            from seed.demo import load_demo

            list(load_demo(session=session, now=NOW, limits=UploadLimits.from_settings(settings)))
        session.commit()
    return engine


def new_database(root: Path, name: str, template: str | None = None) -> str:
    """A new database of its own, empty or a copy of `template`: a SQLite file under `root`, or
    a database `name` on the PostgreSQL server of TEST_DATABASE_URL. For code that commits for
    real (other processes, or data a whole module reads), which the per-test rollback cannot
    undo."""
    base = os.environ.get("TEST_DATABASE_URL")
    if base is None:
        path = root / f"{name}.db"
        if template is not None:
            source, copy = sqlite3.connect(make_url(template).database or ""), sqlite3.connect(path)
            source.backup(copy)
            source.close()
            copy.close()
        return f"sqlite:///{path}"
    admin = create_engine(make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        like = f" TEMPLATE {make_url(template).database}" if template else ""
        conn.execute(text(f"CREATE DATABASE {name}{like}"))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


@contextmanager
def statements_sent(connection: Any) -> Iterator[list[str]]:
    """The SQL statements sent on a connection meanwhile (the test's connection is the one the
    app's sessions share)."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sqlalchemy_event.listen(connection, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        sqlalchemy_event.remove(connection, "before_cursor_execute", seen)


def bound_session(connection: Any) -> Session:
    """A session inside the test's transaction: commits in the code under test only release
    savepoints, and the outer transaction is rolled back after the test."""
    return Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


def session_factory(settings: Settings) -> sessionmaker[Session]:
    """Sessions on the settings' own database, as the scheduler gets them."""
    return sessionmaker(make_engine(settings), class_=Session, expire_on_commit=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `ronghe serve` process on the settings' database and data."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RONGHE_ENVIRONMENT": "test",
        "RONGHE_DATA_DIR": str(settings.data_dir),
        "RONGHE_DATABASE_URL": settings.effective_database_url,
        "RONGHE_SECRET_KEY": SECRET,
        "RONGHE_FAST_PASSWORD_HASHING": "true",
        "RONGHE_SCHEDULER": "off",
        **extra,
    }


def wait_until(condition: Callable[[], bool], failure: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(failure)
        time.sleep(0.02)


# --- outbound: e-mail and webhooks ------------------------------------------------------------


class SmtpSink:
    """An aiosmtpd handler that keeps every envelope it is handed."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


SmtpServer = tuple[SmtpSink, int]  # the smtp_sink fixture: its handler and port


@dataclass
class Received:
    """What the webhook receiver was sent, and what it answers."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    answer: dict[str, Any] = field(default_factory=lambda: {"errcode": 0})
    # Sent instead of `answer` when set: a page an internal service might answer with.
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


WebhookServer = tuple[Received, str]  # the webhook_server fixture: what it got, its base URL


# The webhook receiver is on loopback, which outbound requests may only reach when its name is
# allowed (RONGHE_OUTBOUND_ALLOWED_HOSTS); tests that need a delivery to arrive allow it.
LISTENER_HOST = "localhost"


def allow_listener(settings: Settings) -> Settings:
    return settings.model_copy(update={"outbound_allowed_hosts": LISTENER_HOST})


def with_smtp(settings: Settings, port: int) -> Settings:
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})


def plain_text(mail: EmailMessage) -> str:
    """The text/plain part of an e-mail."""
    part = mail.get_body(("plain",))
    assert part is not None, "the e-mail has no text/plain part"
    text: str = part.get_content()
    return text


def notifications(settings: Settings) -> list[Notification]:
    """The reminder ledger of the settings' own database, oldest first."""
    with session_factory(settings)() as session:
        return list(session.exec(select(Notification).order_by(col(Notification.id))).all())


# --- people, requirements, signing in ---------------------------------------------------------

_counter = iter(range(1, 1_000_000))


def make_user(session: Session, roles: list[Role] | None = None, **overrides: Any) -> User:
    n = next(_counter)
    values: dict[str, Any] = {
        "name": f"用户{n}",
        "email": f"user{n}@example.com",
        "password_hash": PASSWORD_HASH,
        "created_at": NOW,
        "password_changed_at": NOW,
        "locale": "zh_CN",
        **overrides,
    }
    user = User(**values)
    session.add(user)
    session.flush()
    assert user.id is not None
    for role in roles if roles is not None else [Role.viewer]:
        session.add(UserRole(user_id=user.id, role=role))
    session.commit()
    return user


def add_admin(session: Session, name: str, email: str) -> User:
    """An administrator who signs in with the test password (not committed)."""
    user = User(
        name=name,
        email=email,
        password_hash=PASSWORD_HASH,
        created_at=NOW,
        password_changed_at=NOW,
    )
    session.add(user)
    session.flush()
    session.add(UserRole(user_id=user.id or 0, role=Role.admin))
    return user


def make_department(session: Session, **overrides: Any) -> Department:
    n = next(_counter)
    department = Department(**{"name": f"部门{n}", "code": f"D{n}", **overrides})
    session.add(department)
    session.commit()
    return department


def clause(session: Session, key: str) -> Requirement:
    return session.exec(select(Requirement).where(Requirement.key == key)).one()


def first_clause(session: Session) -> Requirement:
    return clause(session, "IIMS.LEAD.POLICY")


def clauses(session: Session, n: int) -> list[Requirement]:
    """The first `n` clauses of the shipped catalogue (chapters left out)."""
    return list(
        session.exec(
            select(Requirement)
            .where(col(Requirement.chapter_id).is_not(None))
            .order_by(col(Requirement.position))
            .limit(n)
        ).all()
    )


def sign_in(client: TestClient, session: Session, user: User) -> None:
    """Give the client a live login session for the user, as /login would."""
    token = auth_service.start_session(
        session=session, now=datetime.now(UTC), user=user, lifetime=timedelta(hours=1)
    )
    session.commit()
    set_cookie(client, "ronghe_session", token)
    set_cookie(client, "ronghe_locale", user.locale)


def set_cookie(client: TestClient, name: str, value: str) -> None:
    # The same domain the test server's own cookies get, so the two never coexist.
    client.cookies.set(name, value, domain="testserver.local")


def csrf(client: TestClient) -> str:
    """The CSRF token matching the client's CSRF cookie (setting one if needed)."""
    value = client.cookies.get(CSRF_COOKIE)
    if not value:
        value = "test-csrf-cookie"
        set_cookie(client, CSRF_COOKIE, value)
    return csrf_token_for(SECRET, value)


_PATH_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")  # {name}, or {name:int} with a convertor


def fill_path(path: str, ids: dict[str, int | str]) -> str:
    """A route's path with its parameters replaced by the ids given; one without an id stays."""

    def value(parameter: re.Match[str]) -> str:
        name = parameter[1]
        return str(ids[name]) if name in ids else parameter[0]

    return _PATH_PARAMETER.sub(value, path)


def route_template(path: str) -> str:
    """A route's path as it reads without convertors: `/x/{id:int}` is `/x/{id}`."""
    return _PATH_PARAMETER.sub(r"{\1}", path)


# --- strategy ---------------------------------------------------------------------------------


def make_capability(session: Session, **overrides: Any) -> Capability:
    n = next(_counter)
    capability = Capability(
        **{"code": f"C{n}", "title": f"能力{n}", "created_at": NOW, **overrides}
    )
    session.add(capability)
    session.commit()
    return capability


def make_goal(session: Session, capability_id: int, **overrides: Any) -> Goal:
    values: dict[str, Any] = {
        "indicator": "设备联网率",
        "unit": "%",
        "baseline": 40.0,
        "baseline_date": date(2025, 1, 1),
        "target": 80.0,
        "deadline": date(2026, 12, 31),
        "capability_id": capability_id,
        "created_at": NOW,
        **overrides,
    }
    goal = Goal(**values)
    session.add(goal)
    session.commit()
    return goal


# --- evidence ---------------------------------------------------------------------------------


def add_evidence(
    session: Session,
    settings: Settings,
    requirement: Requirement,
    title: str,
    content: bytes,
    **overrides: Any,
) -> tuple[Evidence, EvidenceRevision]:
    """Approved evidence for the requirement, with one approved revision whose file is stored."""
    stored = file_store.store(BytesIO(content), settings.files_dir, 10_000_000)
    if session.get(StoredFile, stored.sha256) is None:
        session.add(StoredFile(sha256=stored.sha256, size=stored.size, created_at=NOW))
    values: dict[str, Any] = {
        "title": title,
        "reference": f"RH-{title[:4]}-{len(content)}",
        "status": EvidenceStatus.approved,
        "created_at": NOW,
        "updated_at": NOW,
        **overrides,
    }
    evidence = Evidence(**values)
    session.add(evidence)
    session.flush()
    revision = EvidenceRevision(
        evidence_id=evidence.id or 0,
        number=1,
        sha256=stored.sha256,
        size=stored.size,
        original_name=f"{title}.txt",
        uploaded_at=NOW,
        approved_at=NOW,
    )
    session.add_all(
        [
            revision,
            EvidenceRequirement(evidence_id=evidence.id or 0, requirement_id=requirement.id or 0),
        ]
    )
    session.commit()
    return evidence, revision


def upload_revision(
    client: TestClient,
    evidence_id: int,
    content: bytes = PDF,
    name: str = "文件控制程序 V1.pdf",
    htmx: bool = True,
    **fields: str,
) -> Response:
    """Upload a new revision through the evidence page's form (with htmx, or as a plain post)."""
    headers = (
        {**HX, "HX-Target": "evidence-revisions", "X-CSRF-Token": csrf(client)} if htmx else {}
    )
    data = fields if htmx else {**fields, "csrf_token": csrf(client)}
    response: Response = client.post(
        f"/evidence/{evidence_id}/revisions",
        files={"file": (name, content)},
        data=data,
        headers=headers,
    )
    return response


# --- audits -----------------------------------------------------------------------------------


def make_audit(
    session: Session,
    *,
    lead: User | None = None,
    members: list[User] | None = None,
    requirements: list[Requirement] | None = None,
    department_ids: list[int] | None = None,
    start: bool = False,
    **overrides: Any,
) -> Audit:
    """An audit planned through the service (and started, with `start`)."""
    lead = lead or make_user(session, roles=[Role.auditor])
    requirements = requirements or clauses(session, 2)
    department_ids = department_ids or [make_department(session).id or 0]
    audit = audit_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=AuditCreate(
            **{
                "title": "2026年第一次内部审核",
                "lead_auditor_id": lead.id or 0,
                "planned_start": date(2026, 11, 20),
                "planned_end": date(2026, 11, 30),
                **overrides,
            }
        ),
        scope=audit_service.Scope(
            member_ids=[m.id or 0 for m in members or []],
            requirement_ids=[r.id or 0 for r in requirements],
            department_ids=department_ids,
        ),
    )
    if start:
        audit_service.advance(
            session=session, now=NOW, actor_id=None, audit=audit, to=AuditStatus.in_progress
        )
    session.commit()
    return audit


# --- nonconformities --------------------------------------------------------------------------

_NC_FORM_FIELDS = frozenset(NonconformityCreate.model_fields)


def make_nc(
    session: Session,
    owner: User | None = None,
    *,
    requirement_key: str | None = None,
    **overrides: Any,
) -> Nonconformity:
    """A nonconformity raised through the service, as on the form; overrides the form has no
    field for (`status`, ...) are written to the row afterwards."""
    values: dict[str, Any] = {
        "title": "未按规定评审数据标准",
        "owner_id": owner.id if owner else None,
    }
    if requirement_key is not None:
        values["requirement_id"] = clause(session, requirement_key).id
    values.update((k, v) for k, v in overrides.items() if k in _NC_FORM_FIELDS)
    nc = nc_service.create(
        session=session, now=NOW, actor_id=None, data=NonconformityCreate(**values)
    )
    for name, value in overrides.items():
        if name not in _NC_FORM_FIELDS:
            setattr(nc, name, value)
    session.commit()
    return nc


def add_action(
    session: Session, nc: Nonconformity, owner: User | None = None, **overrides: Any
) -> CorrectiveAction:
    data = CorrectiveActionCreate(
        **{
            "description": "修订数据标准管理办法",
            "owner_id": owner.id if owner else None,
            **overrides,
        }
    )
    action = nc_service.add_action(
        session=session, now=NOW, actor_id=None, nonconformity=nc, data=data
    )
    session.commit()
    return action


def ready_for_verification(session: Session, owner: User) -> Nonconformity:
    """A nonconformity whose owner did the work and asked for verification."""
    nc = make_nc(session, owner)
    action = add_action(session, nc, owner)
    nc_service.record_root_cause(
        session=session,
        now=NOW,
        actor_id=owner.id,
        nonconformity=nc,
        method=RootCauseMethod.five_whys,
        analysis="培训不到位",
        effectiveness_check_date=TODAY + timedelta(days=30),
    )
    nc_service.set_action_status(
        session=session,
        now=NOW,
        actor_id=owner.id,
        nonconformity=nc,
        action=action,
        status=ActionStatus.done,
    )
    nc_service.request_verification(session=session, now=NOW, actor_id=owner.id, nonconformity=nc)
    session.commit()
    return nc


def post_nc(client: TestClient, url: str, htmx: bool = True, **data: str) -> Response:
    """A form post on a nonconformity page: as its work region's htmx request, or plain."""
    response: Response
    if htmx:
        headers = {**HX, "HX-Target": "nc-work", "X-CSRF-Token": csrf(client)}
        response = client.post(url, data=data, headers=headers)
    else:
        response = client.post(url, data={**data, "csrf_token": csrf(client)})
    return response


def fresh_nc(session: Session, nc: Nonconformity) -> Nonconformity:
    """The nonconformity as the database now holds it."""
    session.expire_all()
    found = session.get(Nonconformity, nc.id)
    assert found is not None
    return found


# --- certification and self-assessments -------------------------------------------------------


def make_certification(session: Session, **overrides: Any) -> Certification:
    data = CertificationCreate(**{"body": "评定机构甲", "grade_sought": "AA", **overrides})
    certification = certification_service.create(session=session, now=NOW, actor_id=None, data=data)
    session.commit()
    return certification


ASSESSMENT_VIEWS = {
    "foundation": 66.2,
    "application": 64.5,
    "integration": 60.1,
    "collaboration": 50.7,
    "competitiveness": 58.9,
    "benefits": 61.0,
}


def make_assessment(session: Session, year: int = 2025, **overrides: Any) -> SelfAssessment:
    values: dict[str, Any] = {"year": year, "overall_score": 61.8, **ASSESSMENT_VIEWS, **overrides}
    assessment = self_assessment_service.create(
        session=session, now=NOW, actor_id=None, data=SelfAssessmentCreate(**values)
    )
    session.commit()
    return assessment


# --- readiness: an organization ready to apply for certification ------------------------------

MANUAL_ISSUED = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)  # three months end 2026-04-10
APPLICABLE = ("IIMS.LEAD.POLICY", "IIMS.EVAL.AUDIT")


def status_of(session: Session, key: str) -> RequirementStatus:
    return session.exec(
        select(RequirementStatus).where(RequirementStatus.requirement_id == clause(session, key).id)
    ).one()


def make_evidence(
    session: Session,
    keys: tuple[str, ...],
    *,
    title: str = "记录",
    approved_at: datetime | None = MANUAL_ISSUED,
    status: EvidenceStatus = EvidenceStatus.approved,
    **overrides: Any,
) -> Evidence:
    """Evidence for the clauses of `keys`, with one revision (and no file)."""
    evidence = Evidence(title=title, status=status, created_at=NOW, updated_at=NOW, **overrides)
    session.add(evidence)
    session.flush()
    session.add(
        EvidenceRevision(
            evidence_id=evidence.id or 0, number=1, uploaded_at=NOW, approved_at=approved_at
        )
    )
    for key in keys:
        session.add(
            EvidenceRequirement(
                evidence_id=evidence.id or 0, requirement_id=clause(session, key).id or 0
            )
        )
    session.commit()
    return evidence


def make_internal_audit(
    session: Session,
    results: dict[str, ChecklistResult],
    *,
    started: date = date(2026, 9, 1),
    kind: AuditKind = AuditKind.internal,
) -> Audit:
    """A closed audit with one checklist result per clause key."""
    lead = make_user(session)
    department = make_department(session)
    audit = Audit(
        title="2026年内部审核",
        kind=kind,
        lead_auditor_id=lead.id or 0,
        planned_start=started,
        planned_end=started,
        actual_start=started,
        status=AuditStatus.closed,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(audit)
    session.flush()
    for position, (key, result) in enumerate(results.items()):
        session.add(
            ChecklistItem(
                audit_id=audit.id or 0,
                requirement_id=clause(session, key).id or 0,
                department_id=department.id or 0,
                position=position,
                result=result,
            )
        )
    session.commit()
    return audit


def exclude_all_but(session: Session, keys: tuple[str, ...]) -> None:
    ids = [clause(session, key).id for key in keys]
    session.execute(
        update(RequirementStatus)
        .where(col(RequirementStatus.requirement_id).not_in(ids))
        .values(applicable=False, exclusion_reason="本组织不涉及该过程，经管理评审确认删减。")
    )
    session.commit()


@dataclass
class Ready:
    """An organization ready to apply, with handles to break one thing at a time."""

    manual: Evidence
    policy: Evidence
    audit: Audit
    review: ManagementReview
    strategy: Strategy
    advantage: CompetitiveAdvantage


def make_ready(session: Session) -> Ready:
    """Everything the readiness checks ask for, on the two APPLICABLE clauses only."""
    exclude_all_but(session, APPLICABLE)
    owner = make_user(session)
    for key in APPLICABLE:
        status = status_of(session, key)
        status.owner_id = owner.id
        session.add(status)
    manual = make_evidence(
        session, ("IIMS.DOC.GENERAL",), title="两化融合管理手册", reference="RH-MM-01"
    )
    policy = make_evidence(session, ("IIMS.LEAD.POLICY",), title="两化融合方针")
    make_evidence(session, ("IIMS.EVAL.AUDIT",), title="内部审核程序")
    audit = make_internal_audit(session, dict.fromkeys(APPLICABLE, ChecklistResult.conforming))
    review = ManagementReview(
        title="2026年度管理评审",
        planned_on=date(2026, 10, 10),
        held_on=date(2026, 10, 10),
        status=ReviewStatus.signed,
        chair_id=owner.id or 0,
        created_at=NOW,
        updated_at=NOW,
    )
    strategy = Strategy(title="数字化发展战略", status=StrategyStatus.approved, created_at=NOW)
    session.add_all([review, strategy])
    session.flush()
    advantage = CompetitiveAdvantage(title="柔性交付能力", strategy_id=strategy.id or 0)
    session.add(advantage)
    capability = make_capability(session)
    make_goal(session, capability.id or 0)
    session.commit()
    return Ready(manual, policy, audit, review, strategy, advantage)


# --- reminders --------------------------------------------------------------------------------

REMINDER_NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
REMINDER_DUE = date(2026, 12, 1)  # a week later: the 7-day reminder is due that day


# --- the activity chain -----------------------------------------------------------------------


def chain_events(session: Session) -> list[ActivityEvent]:
    session.expire_all()
    return list(session.exec(select(ActivityEvent).order_by(col(ActivityEvent.id))).all())


def plain_sha256(prev_hash: str, event: ActivityEvent) -> str:
    """The rule before the key: anyone who can read the code can recompute it."""
    payload = json.dumps(
        [
            prev_hash,
            event.at.isoformat(),
            event.actor_id,
            event.verb,
            event.object_type,
            event.object_id,
            event.before,
            event.after,
        ],
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def rewrite_chain_from(session: Session, start: int, *, downgrade: bool = False) -> None:
    """What an attacker with database write access does: recompute every hash from `start`."""
    events = chain_events(session)
    prev = activity.GENESIS_HASH
    for event in events:
        if event.id is not None and event.id >= start:
            values: dict[str, object] = {"prev_hash": prev, "hash": plain_sha256(prev, event)}
            if downgrade:
                values["hash_rule"] = HashRule.sha256
            # Through a placeholder first: the hash column is unique.
            session.execute(
                update(ActivityEvent)
                .where(col(ActivityEvent.id) == event.id)
                .values(hash=f"x{event.id}")
            )
            session.execute(
                update(ActivityEvent).where(col(ActivityEvent.id) == event.id).values(**values)
            )
            prev = str(values["hash"])
        else:
            prev = event.hash
    session.expire_all()


# --- one object of every kind -----------------------------------------------------------------


def owned_objects(session: Session, owner_id: int) -> dict[str, int | str]:
    """A strategy line whose capability, goal, initiative and task the acting user owns, so that
    object-level checks let an owner through wherever the owner role is granted; and one object
    of every other kind, by the path parameter naming it."""
    strategy = strategy_service.create(
        session=session, now=NOW, actor_id=None, data=StrategyCreate(title="战略")
    )
    advantage = strategy_service.create_advantage(
        session=session,
        now=NOW,
        actor_id=None,
        data=AdvantageCreate(title="优势", strategy_id=strategy.id or 0),
    )
    capability = make_capability(session, owner_id=owner_id)
    goal = make_goal(session, capability.id or 0, owner_id=owner_id)
    measurement = goal_service.record(
        session=session, now=NOW, actor_id=None, goal=goal, reading=Reading(date(2026, 1, 1), 50)
    )
    initiative = initiative_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=InitiativeCreate(title="方案", capability_id=capability.id or 0, owner_id=owner_id),
    )
    task = initiative_service.create_task(
        session=session,
        now=NOW,
        actor_id=None,
        data=TaskCreate(
            title="任务", element=Element.data, initiative_id=initiative.id or 0, owner_id=owner_id
        ),
    )
    cycle = pdca_service.start(session=session, now=NOW, actor_id=None, period="2026")
    evidence = evidence_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=EvidenceCreate(title="证据", owner_id=owner_id),
    )
    revision = EvidenceRevision(evidence_id=evidence.id or 0, number=1, uploaded_at=NOW)
    session.add(revision)
    session.commit()
    message = Notification(
        kind=DueKind.task,
        subject_type="task",
        subject_id=1,
        due_date=date(2026, 12, 1),
        threshold="due",
        recipient_id=owner_id,
        channel=Channel.email,
        route="email",
        title="t",
        status=DeliveryStatus.dead,
        created_at=NOW,
        next_attempt_at=NOW,
    )
    webhook = WebhookChannel(name="群", kind=WebhookKind.generic, url="http://127.0.0.1:9/x")
    session.add_all([message, webhook])
    session.add(CalendarDay(day=date(2027, 1, 1), is_workday=False))
    session.commit()
    audit, audit_item = _audit_led_by(session, owner_id)
    nonconformity, action = _nonconformity_owned_by(session, owner_id)
    review, review_action = _review_chaired_by(session, owner_id)
    certification, milestone, assessment, view_link = _certification_objects(
        session, capability.id or 0
    )
    return {
        "notification_id": message.id or 0,
        "webhook_id": webhook.id or 0,
        "day": "2027-01-01",
        "evidence_id": evidence.id or 0,
        "revision_id": revision.id or 0,
        "kind": "requirement",
        "target_id": first_clause(session).id or 0,
        "strategy_id": strategy.id or 0,
        "advantage_id": advantage.id or 0,
        "capability_id": capability.id or 0,
        "goal_id": goal.id or 0,
        "measurement_id": measurement.id or 0,
        "initiative_id": initiative.id or 0,
        "task_id": task.id or 0,
        "cycle_id": cycle.id or 0,
        "audit_id": audit.id or 0,
        "item_id": audit_item.id or 0,
        "programme_id": audit.programme_id or 0,
        **_shared_dossier(session),
        "nonconformity_id": nonconformity.id or 0,
        "action_id": action.id or 0,
        "review_id": review.id or 0,
        "review_action_id": review_action.id or 0,
        "certification_id": certification.id or 0,
        "milestone_id": milestone.id or 0,
        "code": "A",
        "assessment_id": assessment.id or 0,
        "link_id": view_link.id or 0,
    }


def _certification_objects(
    session: Session, capability_id: int
) -> tuple[Certification, Milestone, SelfAssessment, ViewLink]:
    """A certification with its milestones, a self-assessment and a weak-view link."""
    certification = certification_service.create(
        session=session, now=NOW, actor_id=None, data=CertificationCreate(body="评定机构")
    )
    milestone = certification_service.milestones(
        session=session, certification_id=certification.id or 0
    )[0]
    assessment = self_assessment_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=SelfAssessmentCreate(year=2025, overall_score=60),
    )
    view_link = self_assessment_service.link(
        session=session,
        now=NOW,
        actor_id=None,
        view=AssessmentView.collaboration,
        capability_id=capability_id,
        goal_id=None,
    )
    session.commit()
    return certification, milestone, assessment, view_link


def _shared_dossier(session: Session) -> dict[str, int | str]:
    """A finished dossier with an assessor link (the file itself is not needed here)."""
    dossier = Dossier(status=DossierStatus.ready, active=None, requested_at=NOW)
    session.add(dossier)
    session.flush()
    access = AssessorAccess(
        name="评定机构",
        token_hash="0" * 64,
        dossier_id=dossier.id or 0,
        created_at=NOW,
        expires_at=NOW,
    )
    session.add(access)
    session.commit()
    return {"dossier_id": dossier.id or 0, "access_id": access.id or 0}


def _audit_led_by(session: Session, lead_id: int) -> tuple[Audit, ChecklistItem]:
    """A started audit whose lead is the acting user (written directly: the planning rules
    would refuse a viewer as lead, and the matrix is about permissions, not planning)."""
    programme = AuditProgramme(title="方案", year=2026, created_at=NOW)
    session.add(programme)
    session.flush()
    audit = Audit(
        title="审核",
        lead_auditor_id=lead_id,
        programme_id=programme.id,
        planned_start=date(2026, 11, 1),
        planned_end=date(2026, 11, 30),
        status=AuditStatus.in_progress,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(audit)
    session.flush()
    department = make_department(session)
    item = ChecklistItem(
        audit_id=audit.id or 0,
        requirement_id=first_clause(session).id or 0,
        department_id=department.id or 0,
    )
    session.add_all([AuditMember(audit_id=audit.id or 0, user_id=lead_id), item])
    session.commit()
    return audit, item


def _nonconformity_owned_by(
    session: Session, owner_id: int
) -> tuple[Nonconformity, CorrectiveAction]:
    """A nonconformity, and an action on it, both owned by the acting user."""
    nonconformity = nc_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=NonconformityCreate(title="不符合", owner_id=owner_id),
    )
    action = nc_service.add_action(
        session=session,
        now=NOW,
        actor_id=None,
        nonconformity=nonconformity,
        data=CorrectiveActionCreate(description="措施", owner_id=owner_id),
    )
    session.commit()
    return nonconformity, action


def _review_chaired_by(session: Session, user_id: int) -> tuple[ManagementReview, ReviewAction]:
    """A held review chaired by the acting user, with an open action they own (written
    directly: the planning rules would refuse a chair outside top management)."""
    review = ManagementReview(
        title="管理评审",
        planned_on=date(2026, 11, 20),
        held_on=date(2026, 11, 20),
        chair_id=user_id,
        status=ReviewStatus.held,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(review)
    session.flush()
    action = ReviewAction(
        review_id=review.id or 0,
        description="措施",
        owner_id=user_id,
        due_date=date(2027, 1, 31),
        created_at=NOW,
    )
    session.add(action)
    session.commit()
    return review, action
