"""Hostile input on pages and sessions, swept across the whole app rather than case by case.

* Script in every free-text column of every table (found by walking the models, so a new
  column is covered without anyone remembering it) is shown as text on every page a crawl
  reaches, for an administrator, a viewer and an assessor holding a dossier link.
* Every answer of those crawls carries the security headers; every download is an
  attachment with a harmless file name; reports answer with a document or a clear refusal.
* Every unsafe browser route refuses a request without its CSRF token and changes nothing.
* A session cookie planted before sign-in is never the one used after it.
"""

import re
import zipfile
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from hashlib import sha256
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select
from sqlmodel.sql.sqltypes import AutoString

from app.jobs import dossier_build
from app.main import API_PREFIX, ROUTER_MODULES, create_app
from app.models.dossier import Dossier, DossierStatus
from app.models.notification import (
    CalendarDay,
    Channel,
    DeliveryStatus,
    DueKind,
    Notification,
    WebhookChannel,
    WebhookKind,
)
from app.models.user import Role, User
from app.security import csrf_token_for
from app.services.accounts import api_tokens as api_token_service
from app.services.accounts import auth as auth_service
from app.services.certification import assessor_access
from app.web.http import CSRF_COOKIE
from tests.factories import (
    HX,
    NOW,
    PASSWORD,
    SECRET,
    csrf,
    fill_path,
    first_clause,
    make_department,
    make_settings,
    make_user,
    new_database,
    owned_objects,
    prepare_database,
    set_cookie,
    sign_in,
)

# --- the hostile data set -------------------------------------------------------------------

# {n} numbers the column, so a page showing it can be traced back to the column.
PAYLOAD = "<script>alert({n})</script>\"'><img src=x onerror=alert({n})>"
# For columns too short for the whole payload: still a tag, still both quotes.
SHORT_PAYLOAD = "\"'<x{n}>"
# Address columns get a script URL in front: a page must never turn one into a live link.
URL_PAYLOAD = "javascript:alert({n})//" + PAYLOAD
# Upload names can hold neither path separators nor control characters (file_check.check_name
# refuses them), so this column gets what an upload could really have stored.
UPLOAD_NAME_PAYLOAD = "\"'><img src=x onerror=alert({n})>.txt"

# Columns left alone because the app acts on their value rather than showing it as typed:
# secrets and their hashes (sign-in, file checks), e-mail addresses (sign-in), locales and
# MIME types (sent as headers), codes looked up by value or put into URLs, stored file
# names (paths on disk), the reminder ledger's unique key and in-app link, the scheduler's
# lease and the activity log (a hash chain over its rows). Enum columns are skipped by type.
# Everything else, including columns added later, gets the payload.
SKIPPED_TABLES = frozenset({"activity_event", "scheduler_lease"})
SKIPPED_NAMES = frozenset(
    {"password_hash", "token_hash", "calendar_token_hash", "sha256", "secret", "email", "locale"}
)
SKIPPED_COLUMNS = frozenset(
    {
        "api_token.prefix",
        "framework.code",
        "framework.version",
        "requirement.key",
        "certification_grade.code",
        "certification.grade_sought",
        "certification.grade_awarded",
        "evidence_revision.mime_type",
        "dossier.file_name",
        "notification.subject_type",
        "notification.threshold",
        "notification.route",
        "notification.link",
    }
)
SPECIAL_PAYLOADS = {("evidence_revision", "original_name"): UPLOAD_NAME_PAYLOAD}

# The payload as markup (must never appear in HTML), and as escaped text (may, and shows
# which column it came from).
RAW = re.compile(r"<script>alert\(|<img src=x onerror|<x\d+>")
ESCAPED = re.compile(r"&lt;script&gt;alert\((\d+)\)|&lt;x(\d+)&gt;|onerror=alert\((\d+)\)&gt;")
SCRIPT_URL = re.compile(r"^\s*(javascript|vbscript|data):", re.IGNORECASE)

CSRF_REFUSAL = "该表单已过期或并非来自融合系统"


@dataclass
class TextColumn:
    number: int
    table: sa.Table
    column: sa.Column[Any]

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column.name}"

    def value(self, row: int) -> str | None:
        template = SPECIAL_PAYLOADS.get((self.table.name, self.column.name))
        if template is None:
            template = URL_PAYLOAD if self.column.name == "url" else PAYLOAD
        value = template.format(n=self.number) + f"#{row}"  # unique columns stay unique
        length = getattr(self.column.type, "length", None)
        if length is not None and len(value) > length:
            value = SHORT_PAYLOAD.format(n=self.number) + f"#{row}"
        return value if length is None or len(value) <= length else None


def text_columns() -> list[TextColumn]:
    found: list[TextColumn] = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name in SKIPPED_TABLES:
            continue
        for column in table.columns:
            kind = column.type
            if isinstance(kind, sa.Enum) or not isinstance(kind, sa.String | AutoString):
                continue
            if column.name in SKIPPED_NAMES or f"{table.name}.{column.name}" in SKIPPED_COLUMNS:
                continue
            found.append(TextColumn(len(found) + 1, table, column))
    return found


def overwrite(engine: Engine, columns: list[TextColumn], tables: set[str] | None = None) -> None:
    """Every row's free text becomes the payload; rows are numbered per table."""
    by_table: dict[str, list[TextColumn]] = {}
    for c in columns:
        if tables is None or c.table.name in tables:
            by_table.setdefault(c.table.name, []).append(c)
    with engine.begin() as conn:
        for group in by_table.values():
            table = group[0].table
            keys = list(table.primary_key.columns)
            for row, pk in enumerate(conn.execute(sa.select(*keys).order_by(*keys)).all()):
                values = {c.column.name: v for c in group if (v := c.value(row)) is not None}
                if values:
                    where = [k == v for k, v in zip(keys, pk, strict=True)]
                    conn.execute(table.update().where(*where).values(values))


@dataclass
class Hostile:
    engine: Engine
    app: FastAPI
    columns: list[TextColumn]
    api_secret: str
    assessor_path: str
    dossier_file: Path


def _user(session: Session, email: str) -> User:
    return session.exec(select(User).where(User.email == email)).one()


def _complete_the_demo(session: Session) -> tuple[str, int]:
    """What the demo lacks but pages show: messages, a webhook, a calendar day, an API token,
    and a dossier waiting to be built."""
    admin = _user(session, "admin@demo.example.com")
    viewer = _user(session, "viewer@demo.example.com")
    for n, (recipient, channel, status) in enumerate(
        [
            (admin, Channel.in_app, DeliveryStatus.sent),
            (viewer, Channel.in_app, DeliveryStatus.sent),
            (admin, Channel.email, DeliveryStatus.dead),
        ]
    ):
        session.add(
            Notification(
                kind=DueKind.task,
                subject_type="task",
                subject_id=n + 1,
                due_date=date(2026, 12, 1),
                threshold="due",
                recipient_id=recipient.id or 0,
                channel=channel,
                route=str(channel),
                title="t",
                link="/",
                status=status,
                last_error="e",
                created_at=NOW,
                next_attempt_at=NOW,
            )
        )
    session.add(WebhookChannel(name="群", kind=WebhookKind.generic, url="http://127.0.0.1:9/x"))
    session.add(CalendarDay(day=date(2027, 1, 4), is_workday=False, note="调休"))
    _token, secret = api_token_service.create(
        session=session, now=NOW, user_id=admin.id or 0, name="token"
    )
    dossier = Dossier(status=DossierStatus.building, active=True, requested_at=NOW)
    session.add(dossier)
    session.commit()
    return secret, dossier.id or 0


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    root = tmp_path_factory.mktemp("hostile")
    settings = make_settings(root / "data", new_database(root, "ronghe_hostile_pages"))
    engine = prepare_database(settings, demo=True)
    columns = text_columns()
    with Session(engine) as session:
        api_secret, dossier_id = _complete_the_demo(session)
    overwrite(engine, columns)
    with Session(engine) as session:
        # Built after the overwrite, so the archive's names and index carry the payload too.
        dossier = dossier_build.build(session=session, settings=settings, dossier_id=dossier_id)
        _access, link_secret = assessor_access.create(
            session=session,
            now=datetime.now(UTC),
            actor_id=_user(session, "admin@demo.example.com").id or 0,
            dossier=dossier,
            name="评定机构",
            days=7,
        )
        session.commit()
        dossier_file = dossier_build.dossiers_dir(settings) / (dossier.file_name or "")
    overwrite(engine, columns, {"assessor_access"})
    app = create_app(settings)
    yield Hostile(
        engine,
        app,
        columns,
        api_secret,
        f"/assessor/{link_secret}",
        dossier_file,
    )
    app.state.engine.dispose()
    engine.dispose()


# --- the crawl ------------------------------------------------------------------------------


class _Links(HTMLParser):
    """Every address a user (or htmx) could follow from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.follow: list[tuple[str, str | None]] = []  # (address, htmx target or None)
        self.addresses: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for name in ("href", "src", "action", "formaction", "hx-get", "hx-post", "data-url"):
            if name in values:
                self.addresses.append(values[name])
        if values.get("href"):
            self.follow.append((values["href"], None))
        if values.get("hx-get"):
            target = values.get("hx-target", "")
            self.follow.append((values["hx-get"], target[1:] if target.startswith("#") else ""))


@dataclass
class Answer:
    url: str
    htmx: bool
    status: int
    headers: httpx.Headers
    body: str  # decoded for text answers, empty for files
    addresses: list[str] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", ""))

    @property
    def is_html(self) -> bool:
        return "html" in self.content_type

    @property
    def is_download(self) -> bool:
        return "content-disposition" in self.headers


@dataclass
class Crawl:
    who: str
    answers: list[Answer]

    def escaped_columns(self) -> set[int]:
        seen: set[int] = set()
        for a in self.answers:
            if a.is_html:
                for m in ESCAPED.finditer(a.body):
                    seen.add(int(next(g for g in m.groups() if g)))
        return seen


def _pattern(url: str, htmx: bool) -> str:
    # Pages of one kind (/goals/3, /goals/4 …) count as one, so the crawl spreads over the app.
    return re.sub(r"\d+", "N", url) + (" hx" if htmx else "")


def crawl(
    client: TestClient, start: str, *, within: str = "/", limit: int = 400, per_kind: int = 4
) -> list[Answer]:
    """Breadth-first over same-site GET links (href and hx-get) from `start`, bounded."""
    queue: deque[tuple[str, str | None]] = deque([(start, None)])
    seen: set[tuple[str, str | None]] = set()
    kinds: Counter[str] = Counter()
    answers: list[Answer] = []
    while queue and len(answers) < limit:
        url, target = queue.popleft()
        if (url, target) in seen:
            continue
        seen.add((url, target))
        kind = _pattern(url, target is not None)
        if kinds[kind] >= per_kind:
            continue
        kinds[kind] += 1
        headers = {} if target is None else {**HX, **({"HX-Target": target} if target else {})}
        response = client.get(url, headers=headers)
        content_type = response.headers.get("content-type", "")
        textual = not response.headers.get("content-disposition") and any(
            t in content_type for t in ("html", "json", "text/plain")
        )
        answer = Answer(
            url, target is not None, response.status_code, response.headers, response.text
        )
        if not textual:
            answer.body = ""
            kinds[kind] = per_kind  # one file of a kind will do: PDFs are slow to make
        answers.append(answer)
        found: list[tuple[str, str | None]] = []
        if response.is_redirect:
            found.append((response.headers["location"], None))
        if answer.is_html:
            parser = _Links()
            parser.feed(answer.body)
            answer.addresses = parser.addresses
            found += parser.follow
        for address, next_target in found:
            parts = urlsplit(urljoin(f"http://testserver{url}", address))
            if parts.scheme != "http" or parts.netloc != "testserver":
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if path.startswith(("/static/", "/logout")) or not path.startswith(within):
                continue
            queue.append((path, next_target))
    return answers


def _signed_in(app: FastAPI, engine: Engine, email: str) -> TestClient:
    client = TestClient(app, base_url="http://testserver", follow_redirects=False)
    with Session(engine) as session:
        user = _user(session, email)
        token = auth_service.start_session(
            session=session, now=datetime.now(UTC), user=user, lifetime=timedelta(hours=1)
        )
        locale = user.locale
        session.commit()
    set_cookie(client, "ronghe_session", token)
    set_cookie(client, "ronghe_locale", locale)  # as signing in through /login does
    return client


WHO = ["admin", "viewer", "assessor"]
# Lower bounds on answers and on pages (HTML, 200) collected: a crawl that silently shrinks
# fails here. The assessor sees one page and the files it lists.
MIN_ANSWERS = {"admin": 120, "viewer": 80, "assessor": 8}
MIN_PAGES = {"admin": 100, "viewer": 65, "assessor": 1}


@pytest.fixture(scope="module")
def crawls(hostile: Hostile) -> dict[str, Crawl]:
    # The assessor goes first, and the visits it leaves are made hostile too, for any page
    # that lists them.
    with TestClient(hostile.app, base_url="http://testserver", follow_redirects=False) as client:
        assessor = crawl(client, hostile.assessor_path, within=hostile.assessor_path)
    overwrite(hostile.engine, hostile.columns, {"assessor_visit"})
    found = {"assessor": Crawl("assessor", assessor)}
    # The viewer reads in English, so the catalogue's English texts are shown too.
    for who in ("admin", "viewer"):
        with _signed_in(hostile.app, hostile.engine, f"{who}@demo.example.com") as client:
            found[who] = Crawl(who, crawl(client, "/"))
    return found


class TestScriptInEveryTextColumn:
    @pytest.mark.parametrize("who", WHO)
    def test_the_crawl_reaches_the_app(self, crawls: dict[str, Crawl], who: str) -> None:
        answers = crawls[who].answers
        pages = sum(a.is_html and a.status == 200 for a in answers)
        assert len(answers) >= MIN_ANSWERS[who], [a.url for a in answers]
        assert pages >= MIN_PAGES[who]

    @pytest.mark.parametrize("who", WHO)
    def test_no_page_fails(self, crawls: dict[str, Crawl], who: str) -> None:
        assert [(a.url, a.status) for a in crawls[who].answers if a.status >= 500] == []

    @pytest.mark.parametrize("who", WHO)
    def test_the_payload_is_never_markup(self, crawls: dict[str, Crawl], who: str) -> None:
        # text/plain answers are htmx error toasts, shown through textContent; JSON is data.
        leaks = [
            (a.url, found.group(0))
            for a in crawls[who].answers
            if a.is_html or not a.content_type
            for found in [RAW.search(a.body)]
            if found
        ]
        assert leaks == []
        assert crawls[who].escaped_columns(), "the hostile text should show, as text"

    @pytest.mark.parametrize("who", WHO)
    def test_no_address_runs_script(self, crawls: dict[str, Crawl], who: str) -> None:
        live = [
            (a.url, address)
            for a in crawls[who].answers
            for address in a.addresses
            if SCRIPT_URL.match(address)
        ]
        assert live == []

    def test_almost_every_text_column_is_shown(
        self, hostile: Hostile, crawls: dict[str, Crawl]
    ) -> None:
        # Columns never shown (derived search text, login attempts' addresses …) are fine;
        # a drop in the share would mean the crawl or the data set has shrunk.
        shown = set().union(*(c.escaped_columns() for c in crawls.values()))
        missing = sorted(c.name for c in hostile.columns if c.number not in shown)
        assert len(shown) >= 0.8 * len(hostile.columns), missing

    def test_api_answers_carry_it_only_as_json_strings(self, hostile: Hostile) -> None:
        ids = _api_ids(hostile.engine)
        carrying = 0
        with TestClient(hostile.app, base_url="http://testserver") as client:
            client.headers["Authorization"] = f"Bearer {hostile.api_secret}"
            for path in _api_reads():
                url = _fill(API_PREFIX + path, ids)
                response = client.get(url)
                assert response.status_code == 200, url
                assert response.headers["x-content-type-options"] == "nosniff"
                if "content-disposition" in response.headers:
                    assert _download_problems(response.headers) == [], url
                    continue
                assert response.headers["content-type"].startswith("application/json"), url
                strings = list(_strings(response.json()))
                # Every occurrence in the body is inside a parsed string, none outside one.
                assert len(RAW.findall(response.text)) == sum(len(RAW.findall(s)) for s in strings)
                carrying += any(RAW.search(s) for s in strings)
        assert carrying >= 8

    def test_the_dossier_index_shows_it_as_text(self, hostile: Hostile) -> None:
        with zipfile.ZipFile(hostile.dossier_file) as archive:
            index = archive.read("index.html").decode("utf-8")
        assert RAW.search(index) is None
        assert ESCAPED.search(index)
        parser = _Links()
        parser.feed(index)
        assert [a for a in parser.addresses if SCRIPT_URL.match(a)] == []


def _api_reads() -> list[str]:
    return [
        route.path
        for module in ROUTER_MODULES
        if hasattr(module, "api_router")
        for route in module.api_router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or set())
    ]


def _api_ids(engine: Engine) -> dict[str, int | str]:
    """The first row of each kind an API path names, from the hostile data set."""
    tables = SQLModel.metadata.tables
    names = {"review": "management_review"}
    ids: dict[str, int | str] = {}
    with engine.connect() as conn:
        for kind in ("goal", "capability", "requirement", "audit", "nonconformity", "review"):
            table = tables[names.get(kind, kind)]
            ids[f"{kind}_id"] = conn.execute(sa.select(sa.func.min(table.c.id))).scalar_one()
        revisions = tables["evidence_revision"]
        revision = conn.execute(
            sa.select(revisions.c.evidence_id, revisions.c.id)
            .where(revisions.c.sha256.is_not(None))
            .limit(1)
        ).one()
    ids["evidence_id"], ids["revision_id"] = int(revision[0]), int(revision[1])
    return ids


def _fill(path: str, ids: dict[str, int | str]) -> str:
    filled = fill_path(path, ids)
    assert "{" not in filled, filled
    return filled


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


# --- security headers and downloads -------------------------------------------------------

SAFE_REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}


def _csp(value: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def _header_problems(headers: httpx.Headers) -> list[str]:
    problems = []
    csp = _csp(headers.get("content-security-policy", ""))
    scripts = csp.get("script-src", csp.get("default-src"))
    if (
        scripts is None
        or "'self'" not in scripts
        or {"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} & set(scripts)
    ):
        problems.append(f"script-src {scripts}")
    if csp.get("object-src", csp.get("default-src")) not in (["'self'"], ["'none'"]):
        problems.append("object-src")
    if csp.get("base-uri") not in (["'self'"], ["'none'"]):
        problems.append("base-uri")
    if csp.get("frame-ancestors") != ["'none'"] or headers.get("x-frame-options") != "DENY":
        problems.append("framing")
    if headers.get("x-content-type-options") != "nosniff":
        problems.append("nosniff")
    if headers.get("referrer-policy") not in SAFE_REFERRER_POLICIES:
        problems.append("referrer-policy")
    return problems


# Types a browser shows as a document, running any script in it, should it open one inline.
MARKUP_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
}


def _download_problems(headers: httpx.Headers) -> list[str]:
    """An attachment (never shown inline) whose suggested name is one plain file name."""
    disposition = headers.get("content-disposition", "")
    problems = []
    if not disposition.lower().startswith("attachment"):
        problems.append("not an attachment")
    if not disposition.isascii() or disposition.count('"') not in (0, 2):
        problems.append("disposition not plain ASCII with one quoted name")
    names = re.findall(r'filename="([^"]*)"', disposition)
    names += [unquote(n) for n in re.findall(r"filename\*=(?i:utf-8)''([^;\s]+)", disposition)]
    if not names:
        problems.append("no file name")
    for name in names:
        if (
            not name.strip()
            or name.startswith(".")
            or any(c in name for c in "/\\")
            or not name.isprintable()
        ):
            problems.append(f"unsafe name {name!r}")
    if headers.get("content-type", "").split(";")[0].strip() in MARKUP_TYPES:
        problems.append("markup content type")
    return problems


class TestHeaders:
    @pytest.mark.parametrize("who", WHO)
    def test_every_answer_has_the_security_headers(
        self, crawls: dict[str, Crawl], who: str
    ) -> None:
        problems = {
            a.url: found for a in crawls[who].answers if (found := _header_problems(a.headers))
        }
        assert problems == {}

    @pytest.mark.parametrize("who", WHO)
    def test_every_file_is_an_attachment_with_a_safe_name(
        self, crawls: dict[str, Crawl], who: str
    ) -> None:
        files = [a for a in crawls[who].answers if a.status == 200 and not a.body]
        assert all(a.is_download for a in files), [a.url for a in files if not a.is_download]
        problems = {a.url: found for a in files if (found := _download_problems(a.headers))}
        assert problems == {}
        if who != "viewer":
            assert len(files) >= 3  # registers, reports, evidence files, the dossier

    @pytest.mark.parametrize("who", WHO)
    def test_reports_answer_with_a_document_or_a_clear_refusal(
        self, crawls: dict[str, Crawl], who: str
    ) -> None:
        reports = [a for a in crawls[who].answers if re.search(r"format=(pdf|docx)", a.url)]
        wrong = [
            (a.url, a.status, a.content_type)
            for a in reports
            if not (
                (
                    a.status == 200
                    and a.is_download
                    and ("pdf" in a.content_type or "word" in a.content_type)
                )
                or 400 <= a.status < 500
                or a.status == 503
            )
        ]
        assert wrong == []
        if who == "admin":
            assert {"pdf", "docx"} <= {a.url.rsplit("=", 1)[1] for a in reports}
            assert len(reports) >= 4


# --- CSRF on every unsafe route -----------------------------------------------------------

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# A valid token, but for another browser's CSRF cookie.
FOREIGN_TOKEN = csrf_token_for(SECRET, "the-csrf-cookie-of-another-browser")


def _unsafe_routes(api: bool) -> list[tuple[str, str]]:
    """Every state-changing route; sign-in, sign-out and setup included, none is exempt."""
    found = []
    for module in ROUTER_MODULES:
        router = getattr(module, "api_router", None) if api else module.router
        if router is None:
            continue
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in sorted((route.methods or set()) & UNSAFE):
                found.append((method, (API_PREFIX if api else "") + route.path))
    return found


def fingerprint(session: Session) -> dict[str, str]:
    """One digest per table over all its rows: any insert, update or delete changes it."""
    conn = session.connection()
    digests = {}
    for table in SQLModel.metadata.sorted_tables:
        rows = sorted(repr(tuple(row)) for row in conn.execute(sa.select(table)))
        digests[table.name] = sha256("\n".join(rows).encode()).hexdigest()
    return digests


def _path_ids(session: Session, admin: User) -> dict[str, int | str]:
    other = make_user(session, roles=[Role.viewer])
    token, _secret = api_token_service.create(
        session=session, now=NOW, user_id=admin.id or 0, name="t"
    )
    session.commit()
    return {
        "requirement_id": first_clause(session).id or 0,
        "department_id": make_department(session).id or 0,
        "user_id": other.id or 0,
        "token_id": token.id or 0,
        # Real objects, so a route that skipped the check would find something to change.
        **owned_objects(session, admin.id or 0),
    }


def _forged(client: TestClient, method: str, url: str, htmx: bool) -> Iterator[tuple[str, Any]]:
    """The same request three ways a forger could try, each with the token missing or wrong."""
    headers = dict(HX) if htmx else {}
    form = {"note": "forged", "name": "forged"}
    yield "no token", client.request(method, url, data=form, headers=headers)
    if htmx:
        foreign = client.request(
            method, url, data=form, headers={**headers, "X-CSRF-Token": FOREIGN_TOKEN}
        )
    else:
        foreign = client.request(method, url, data={**form, "csrf_token": FOREIGN_TOKEN})
    yield "another session's token", foreign
    own = csrf(client)
    for name in ("csrf_token", "x-csrf-token"):
        set_cookie(client, name, own)
    yield "token only in a cookie", client.request(method, url, data=form, headers=headers)
    for name in ("csrf_token", "x-csrf-token"):
        client.cookies.delete(name, domain="testserver.local")


class TestCsrf:
    @pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
    def test_every_unsafe_route_refuses_a_forged_request(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        admin = make_user(session, roles=[Role.admin])
        ids = _path_ids(session, admin)
        sign_in(client, session, admin)
        csrf(client)  # the browser has its own CSRF cookie, as after any page view
        routes = _unsafe_routes(api=False)
        before = fingerprint(session)
        wrong = []
        for method, path in routes:
            for variant, response in _forged(client, method, _fill(path, ids), htmx):
                refused = response.status_code == 403 and CSRF_REFUSAL in response.text
                if htmx:
                    refused = refused and response.headers.get("HX-Reswap") == "none"
                if not refused:
                    wrong.append((method, path, variant, response.status_code))
        assert wrong == []
        after = fingerprint(session)
        assert [t for t in before if before[t] != after[t]] == []
        assert len(routes) >= 90
        # The same session with its real token gets through, so the refusals were the token's.
        form = {"name": "质量部", "code": "QA9"}
        if htmx:
            accepted = client.post(
                "/admin/departments", data=form, headers={**HX, "X-CSRF-Token": csrf(client)}
            )
        else:
            accepted = client.post("/admin/departments", data={**form, "csrf_token": csrf(client)})
        assert accepted.status_code == (204 if htmx else 303)

    def test_the_api_ignores_the_browser_session(
        self, client: TestClient, session: Session
    ) -> None:
        # The API is exempt from CSRF because only a Bearer token signs it in; a browser's
        # cookies, which a forged request would carry, must count for nothing there.
        admin = make_user(session, roles=[Role.admin])
        ids = _path_ids(session, admin)
        sign_in(client, session, admin)
        csrf(client)
        routes = _unsafe_routes(api=True)
        before = fingerprint(session)
        statuses = {
            (method, path): client.request(method, _fill(path, ids), json={}).status_code
            for method, path in routes
        }
        assert {k: v for k, v in statuses.items() if v != 401} == {}
        assert fingerprint(session) == before
        assert len(routes) >= 3


# --- sessions -------------------------------------------------------------------------------


def _login(client: TestClient, email: str, htmx: bool = False) -> httpx.Response:
    response: httpx.Response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf(client), "next": "/"},
        headers=HX if htmx else {},
    )
    return response


def _authenticates(app: FastAPI, token: str) -> bool:
    """Whether a browser holding only this session cookie is signed in."""
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as other:
        set_cookie(other, "ronghe_session", token)
        return bool(other.get("/account").status_code == 200)


class TestSessionFixation:
    @pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
    def test_a_planted_cookie_is_replaced_at_sign_in(
        self, app: FastAPI, client: TestClient, session: Session, htmx: bool
    ) -> None:
        user = make_user(session, name="受害者")
        planted = "planted-by-an-attacker-" + "x" * 20
        set_cookie(client, "ronghe_session", planted)
        response = _login(client, user.email, htmx)
        assert response.status_code == (204 if htmx else 303)
        issued = response.cookies.get("ronghe_session")
        assert issued
        assert issued != planted
        assert "受害者" in client.get("/account").text
        assert not _authenticates(app, planted)

    def test_a_signed_out_session_planted_back_stays_dead(
        self, app: FastAPI, client: TestClient, session: Session
    ) -> None:
        attacker = make_user(session)
        sign_in(client, session, attacker)
        old = client.cookies.get("ronghe_session") or ""
        assert client.post("/logout", data={"csrf_token": csrf(client)}).status_code == 303
        set_cookie(client, "ronghe_session", old)
        victim = make_user(session)
        response = _login(client, victim.email)
        assert response.cookies.get("ronghe_session") not in (None, old)
        assert not _authenticates(app, old)

    def test_signing_in_over_another_account_starts_a_new_session(
        self, app: FastAPI, client: TestClient, session: Session
    ) -> None:
        first = make_user(session, name="先登录者")
        second = make_user(session, name="后登录者")
        sign_in(client, session, first)
        old = client.cookies.get("ronghe_session") or ""
        response = _login(client, second.email)
        new = response.cookies.get("ronghe_session")
        assert new
        assert new != old
        page = client.get("/account").text
        assert "后登录者" in page
        assert "先登录者" not in page
        # The replaced session ends: whoever planted or copied it holds nothing now.
        assert not _authenticates(app, old)
        assert _authenticates(app, new)


class TestSessionEnds:
    def test_a_deactivated_users_session_and_token_stop_working(
        self, app: FastAPI, client: TestClient, session: Session
    ) -> None:
        user = make_user(session)
        _token, secret = api_token_service.create(
            session=session, now=NOW, user_id=user.id or 0, name="t"
        )
        session.commit()
        with TestClient(app, base_url="http://testserver", follow_redirects=False) as theirs:
            sign_in(theirs, session, user)
            token = theirs.cookies.get("ronghe_session") or ""
            assert _authenticates(app, token)
            sign_in(client, session, make_user(session, roles=[Role.admin]))
            response = client.post(
                f"/admin/users/{user.id}",
                data={
                    "name": user.name,
                    "email": user.email,
                    "locale": "zh_CN",
                    "is_active": "false",
                    "roles": "viewer",
                    "csrf_token": csrf(client),
                },
            )
            assert response.status_code == 303
            page = theirs.get("/account")
            assert page.status_code == 303
            assert page.headers["location"].startswith("/login")
        assert not _authenticates(app, token)
        api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
        assert api.status_code == 401


def _set_cookies(*responses: httpx.Response) -> list[str]:
    """Every cookie set (not deleted) by these answers."""
    cookies = [c for r in responses for c in r.headers.get_list("set-cookie")]
    return [c for c in cookies if "max-age=0" not in c.lower() and '=""' not in c]


class TestCookieFlags:
    def _sign_in_and_out(self, client: TestClient, session: Session) -> list[httpx.Response]:
        user = make_user(session)
        first = client.get("/login")  # a first visit gets its CSRF cookie
        login = _login(client, user.email)
        logout = client.post("/logout", data={"csrf_token": csrf(client)})
        return [first, login, logout]

    def test_every_cookie_is_http_only_and_same_site(
        self, client: TestClient, session: Session
    ) -> None:
        cookies = _set_cookies(*self._sign_in_and_out(client, session))
        names = {c.split("=", 1)[0] for c in cookies}
        assert {"ronghe_session", CSRF_COOKIE, "ronghe_locale", "ronghe_toast"} <= names
        for cookie in cookies:
            flags = {f.strip().lower() for f in cookie.split(";")[1:]}
            assert "httponly" in flags, cookie
            assert flags & {"samesite=lax", "samesite=strict"}, cookie
            assert "secure" not in flags, cookie  # plain HTTP: a Secure cookie would be lost

    def test_cookies_are_secure_behind_https(self, app: FastAPI, session: Session) -> None:
        app.state.settings = app.state.settings.model_copy(update={"secure_cookies": True})
        with TestClient(app, base_url="https://testserver", follow_redirects=False) as browser:
            cookies = _set_cookies(*self._sign_in_and_out(browser, session))
        names = {c.split("=", 1)[0] for c in cookies}
        assert {"ronghe_session", CSRF_COOKIE, "ronghe_locale", "ronghe_toast"} <= names
        for cookie in cookies:
            assert "secure" in {f.strip().lower() for f in cookie.split(";")[1:]}, cookie
