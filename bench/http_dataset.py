"""The data set under test: is it there, what is in it, which URLs to request, who signs in.

The sign-in is made the way bench/run.py makes it, directly in the database: a login session
of the first active administrator (sent as the `ronghe_session` cookie) and an API token of
the same user (sent as `Authorization: Bearer`). Both are ended when the run ends.
"""

import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from sqlalchemy import Engine, func, inspect, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, col, select

from app.db import make_engine
from app.models.audit import Audit, ChecklistItem
from app.models.evidence import Evidence
from app.models.requirement import Framework, Requirement
from app.models.user import Role, User, UserRole
from app.services.accounts import api_tokens
from app.services.accounts import auth as auth_service
from app.services.activity.key import ChainKeyError, check_at_startup
from app.settings import Settings

Kind = Literal["reference", "page", "tree", "json", "json-list"]
BIG_TREE = 1000  # requirements: a framework this big gets its own tree row
SESSION_LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class Target:
    path: str  # as shown in the report, e.g. /evidence?q=制度
    label: str
    kind: Kind

    @property
    def request_path(self) -> str:
        return quote(self.path, safe="/?=&")

    @property
    def auth(self) -> Literal["none", "cookie", "bearer"]:
        if self.kind == "reference":
            return "none"
        return "bearer" if self.path.startswith("/api/") else "cookie"


@dataclass(frozen=True)
class Credentials:
    admin_id: int
    session_token: str
    token_id: int
    bearer: str

    def headers(self, target: Target) -> list[str]:
        if target.auth == "cookie":
            return [f"Cookie: ronghe_session={self.session_token}; ronghe_locale=zh_CN"]
        if target.auth == "bearer":
            return [f"Authorization: Bearer {self.bearer}"]
        return []


def open_data_set(settings: Settings) -> Engine:
    """The data set's engine; a database that cannot be reached, has no schema, a key other
    than the data directory's, or no active administrator stops the benchmark."""
    engine = make_engine(settings)
    try:
        with Session(engine) as session:
            require_schema(session, settings)
            # As `ronghe serve` does: the sign-in records activity, keyed by this key.
            check_at_startup(session)
            admin = first_admin(session)
    except SQLAlchemyError as exc:
        raise SystemExit(f"bench.http: cannot reach the database: {exc.args[0]}") from exc
    except ChainKeyError as exc:
        raise SystemExit(f"bench.http: refused: {exc}") from exc
    if admin is None:
        raise SystemExit(
            "bench.http: the data set has no active administrator (no users?); "
            "generate it first (`ronghe demo --scale large`)"
        )
    return engine


def require_schema(session: Session, settings: Settings) -> None:
    if not inspect(session.connection()).has_table(User.__tablename__):
        url = make_url(settings.effective_database_url).render_as_string(hide_password=True)
        raise SystemExit(
            f"bench.http: {url} has no Ronghe tables; "
            "generate the data set first (`ronghe demo --scale large`)"
        )


def first_admin(session: Session) -> User | None:
    return session.exec(
        select(User)
        .join(UserRole, col(UserRole.user_id) == User.id)
        .where(UserRole.role == Role.admin, col(User.is_active))
        .order_by(col(User.id))
        .limit(1)
    ).first()


def count(session: Session, table: type[SQLModel]) -> int:
    return int(session.exec(select(func.count()).select_from(table)).one())


def describe(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            "evidence": count(session, Evidence),
            "requirements": count(session, Requirement),
            "frameworks": count(session, Framework),
            "users": count(session, User),
            "audits": count(session, Audit),
        }


def framework_sizes(session: Session) -> list[tuple[int, int]]:
    """(framework id, requirements) of each framework that has any."""
    rows = session.exec(
        select(Requirement.framework_id, func.count())
        .group_by(col(Requirement.framework_id))
        .order_by(col(Requirement.framework_id))
    ).all()
    return [(int(framework_id), int(n)) for framework_id, n in rows]


def biggest_audit(session: Session) -> tuple[int, int] | None:
    """(audit id, checklist items) of the audit with the longest checklist."""
    row = session.exec(
        select(ChecklistItem.audit_id, func.count())
        .group_by(col(ChecklistItem.audit_id))
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


HEALTHZ = Target("/healthz", "hello-world (reference)", "reference")
PAGES = [
    Target("/", "overview", "page"),
    Target("/dashboard", "dashboard", "page"),
    Target("/strategy", "strategy map", "page"),
    Target("/requirements", "requirement tree with coverage (first framework)", "tree"),
    Target("/evidence?q=制度", "evidence register search", "page"),
    Target("/evidence?size=10", "evidence register, 10 a page", "page"),
]
BOARDS_AND_API = [
    Target("/nonconformities", "nonconformity board", "page"),
    Target("/inbox", "inbox", "page"),
    Target("/api/v1/me", "API token-auth floor", "json"),
    Target("/api/v1/goals", "API goals", "json-list"),
    Target("/api/v1/audits", "API audits", "json-list"),
    Target("/api/v1/nonconformities", "API nonconformities", "json-list"),
]


def targets(engine: Engine) -> list[Target]:
    """/healthz first, the pages of bench/run.py, and what depends on the data: the longest
    checklist, and the tree of the biggest framework other than the first if it has at least
    BIG_TREE requirements."""
    with Session(engine) as session:
        audit = biggest_audit(session)
        big = big_framework(session)
    checklist = []
    if audit is not None:
        audit_id, items = audit
        checklist = [
            Target(f"/audits/{audit_id}/checklist", f"audit checklist ({items} items)", "page")
        ]
    tree = []
    if big is not None:
        framework_id, n = big
        label = f"requirement tree with coverage ({n:,} requirements)"
        tree = [Target(f"/requirements?framework={framework_id}", label, "tree")]
    return [HEALTHZ, *PAGES, *checklist, *BOARDS_AND_API, *tree]


def big_framework(session: Session) -> tuple[int, int] | None:
    """(framework id, requirements) of the biggest framework, if it has at least BIG_TREE
    requirements and is not the first one (which /requirements shows anyway)."""
    first = session.exec(select(Framework.id).order_by(col(Framework.id)).limit(1)).first()
    sizes = [
        (framework_id, n) for framework_id, n in framework_sizes(session) if framework_id != first
    ]
    biggest = max(sizes, key=lambda size: size[1], default=None)
    return biggest if biggest is not None and biggest[1] >= BIG_TREE else None


def sign_in(engine: Engine) -> Credentials:
    now = datetime.now(UTC)
    with Session(engine) as session:
        admin = first_admin(session)
        assert admin is not None  # open_data_set checked
        assert admin.id is not None
        session_token = auth_service.start_session(
            session=session, now=now, user=admin, lifetime=SESSION_LIFETIME
        )
        token, bearer = api_tokens.create(
            session=session, now=now, user_id=admin.id, name="bench.http"
        )
        session.commit()
        assert token.id is not None
        return Credentials(admin.id, session_token, token.id, bearer)


def sign_out(engine: Engine, credentials: Credentials) -> None:
    now = datetime.now(UTC)
    with Session(engine) as session:
        auth_service.end_session(session=session, now=now, token=credentials.session_token)
        api_tokens.revoke(
            session=session, now=now, user_id=credentials.admin_id, token_id=credentials.token_id
        )
        session.commit()


def largest_framework(engine: Engine) -> int:
    with Session(engine) as session:
        return max((n for _, n in framework_sizes(session)), default=0)


def ensure_catalogue(
    *, requirements: int, engine: Engine, ronghe: list[str], env: dict[str, str], scratch: Path
) -> str:
    """Load a synthetic catalogue of this many requirements (bench/catalogue.py), unless a
    framework at least that big is loaded already."""
    if largest_framework(engine) >= requirements:
        return f"a framework with at least {requirements:,} requirements is loaded already"
    if importlib.util.find_spec("bench.catalogue") is None:
        raise SystemExit("bench.http: bench/catalogue.py is missing; cannot make the catalogue")
    path = scratch / f"catalogue-{requirements}.yaml"
    generate = [sys.executable, "-m", "bench.catalogue", "--requirements", str(requirements)]
    run_step([*generate, "--out", str(path)], env)
    run_step([*ronghe, "seed", "--file", str(path)], env)
    return f"loaded a synthetic catalogue of {requirements:,} requirements"


def run_step(command: list[str], env: dict[str, str]) -> None:
    completed = subprocess.run(  # noqa: S603 - our own arguments, no shell
        command, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(
            f"bench.http: `{' '.join(command)}` failed:\n{completed.stdout}{completed.stderr}"
        )
