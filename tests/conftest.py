"""Test harness: a database built by the real migrations, one rolled-back transaction per test.

SQLite by default; set TEST_DATABASE_URL (scripts/with-postgres.sh does) to run the same
suite on a real PostgreSQL server.
"""

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from app.cli import FRAMEWORKS_DIR, alembic_config
from app.db import make_engine
from app.main import create_app
from app.models.capability import Capability
from app.models.department import Department
from app.models.goal import Goal
from app.models.requirement import Requirement
from app.models.user import Role, User, UserRole
from app.security import csrf_token_for, hash_password
from app.services.accounts import auth as auth_service
from app.services.requirements import framework as framework_service
from app.settings import Settings
from app.web.http import CSRF_COOKIE

SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"
PASSWORD_HASH = hash_password(PASSWORD, fast=True)
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def database_url(tmp_root: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_root / 'test.db'}"


def make_settings(data_dir: Path, url: str) -> Settings:
    return Settings(
        environment="test",
        data_dir=data_dir,
        database_url=url,
        secret_key=SECRET,  # type: ignore[arg-type]
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


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("ronghe")
    return make_settings(root / "data", database_url(root))


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


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = prepare_database(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Any]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


def _session(connection: Any) -> Session:
    # Commits inside the code under test only release savepoints; the outer transaction
    # is rolled back after the test, so every test starts from the migrated, seeded state.
    return Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def session(connection: Any) -> Iterator[Session]:
    with _session(connection) as s:
        yield s


@pytest.fixture
def app(settings: Settings, connection: Any, engine: Engine) -> FastAPI:
    application = create_app(settings)
    application.state.engine.dispose()
    application.state.session_factory = lambda: _session(connection)
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


# --- factories ------------------------------------------------------------------------------

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


def make_department(session: Session, **overrides: Any) -> Department:
    n = next(_counter)
    department = Department(**{"name": f"部门{n}", "code": f"D{n}", **overrides})
    session.add(department)
    session.commit()
    return department


def first_clause(session: Session) -> Requirement:
    requirement = session.exec(
        select(Requirement).where(Requirement.key == "IIMS.LEAD.POLICY")
    ).one()
    return requirement


def sign_in(client: TestClient, session: Session, user: User) -> None:
    """Give the client a live login session for the user, as /login would."""
    from datetime import timedelta

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


HX = {"HX-Request": "true"}


def make_capability(session: Session, **overrides: Any) -> Capability:
    n = next(_counter)
    capability = Capability(
        **{"code": f"C{n}", "title": f"能力{n}", "created_at": NOW, **overrides}
    )
    session.add(capability)
    session.commit()
    return capability


def make_goal(session: Session, capability_id: int, **overrides: Any) -> Goal:
    from datetime import date

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
