"""Defects found in review, each pinned by a test: export leaks, import ownership, formula
injection, Unicode digits, obsolete re-approval, review dates moved by owners."""

import io
import zipfile
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, select

from app.errors import Conflict
from app.models.evidence import Confidentiality, Evidence, EvidenceCreate, EvidenceStatus
from app.models.user import Role
from app.services.evidence import approval
from app.services.evidence import service as evidence_service
from app.services.evidence.service import Upload, UploadLimits
from app.settings import Settings
from tests.factories import HX, NOW, csrf, make_department, make_user, sign_in


def _restricted(session: Session, department_id: int, title: str = "薪酬台账") -> Evidence:
    evidence = evidence_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=EvidenceCreate(
            title=title, confidentiality=Confidentiality.restricted, department_id=department_id
        ),
    )
    session.commit()
    return evidence


def test_export_contains_only_what_the_viewer_may_see(client: TestClient, session: Session) -> None:
    hr, sales = make_department(session), make_department(session)
    _restricted(session, hr.id or 0)
    evidence_service.create(
        session=session, now=NOW, actor_id=None, data=EvidenceCreate(title='=HYPERLINK("x")')
    )
    session.commit()
    sign_in(client, session, make_user(session, roles=[Role.owner], department_id=sales.id))
    book = load_workbook(BytesIO(client.get("/evidence/export.xlsx").content))
    cells = [c for row in book.worksheets[0].iter_rows() for c in row]
    assert all(c.value != "薪酬台账" for c in cells)
    formula = next(c for c in cells if isinstance(c.value, str) and "HYPERLINK" in c.value)
    assert formula.data_type == "s"
    assert str(formula.value).startswith("'=")


def _sheet(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["编号", "标题", "类型", "责任人", "部门"])
    for row in rows:
        sheet.append(row)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_owner_cannot_import_evidence_for_someone_else(
    client: TestClient, session: Session
) -> None:
    victim = make_user(session)
    owner = make_user(session, roles=[Role.owner])
    sign_in(client, session, owner)
    preview = client.post(
        "/evidence/import",
        files={"file": ("x.xlsx", _sheet([["R-1", "文件", "文件", victim.email]]))},
        data={"csrf_token": csrf(client)},
    )
    assert "table-danger" in preview.text.split('id="import-preview"')[1]
    mine = client.post(
        "/evidence/import",
        files={"file": ("x.xlsx", _sheet([["R-2", "我的文件", "文件", ""]]))},
        data={"csrf_token": csrf(client)},
    )
    token = mine.text.split('name="token" value="')[1].split('"')[0]
    client.post("/evidence/import/confirm", data={"token": token, "csrf_token": csrf(client)})
    imported = session.exec(select(Evidence).where(Evidence.reference == "R-2")).one()
    assert imported.owner_id == owner.id


def test_damaged_sheet_is_422_and_leaves_no_file(
    client: TestClient, session: Session, settings: Settings
) -> None:
    good = _sheet([["R-3", "文件", "文件", ""]])
    broken = BytesIO()
    with zipfile.ZipFile(BytesIO(good)) as source, zipfile.ZipFile(broken, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(
                item, data[: len(data) // 2] if item.filename.endswith("sheet1.xml") else data
            )
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    imports = settings.data_dir / "imports"
    before = set(imports.glob("*.xlsx"))
    response = client.post(
        "/evidence/import",
        files={"file": ("x.xlsx", broken.getvalue())},
        data={"csrf_token": csrf(client)},
    )
    assert response.status_code == 422
    assert set(imports.glob("*.xlsx")) == before


@pytest.mark.parametrize("url", ["/evidence?owner=²", "/requirements?owner=²"])
def test_unicode_digits_are_a_clear_422(client: TestClient, session: Session, url: str) -> None:
    sign_in(client, session, make_user(session))
    assert client.get(url).status_code == 422


def test_unicode_digit_in_a_form_is_a_field_error(client: TestClient, session: Session) -> None:
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    response = client.post(
        "/capabilities",
        data={"code": "U1", "title": "x", "requirement_ids": "²", "csrf_token": csrf(client)},
    )
    assert response.status_code == 422
    assert 'id="requirement_ids-error"' in response.text
    assert (
        client.post(
            "/account/reminders",
            data={"quiet_start": "²", "quiet_end": "7", "csrf_token": csrf(client)},
        ).status_code
        == 422
    )


def test_obsolete_evidence_cannot_be_approved_again(session: Session, tmp_path: Path) -> None:
    author, approver = make_user(session), make_user(session)
    evidence = evidence_service.create(
        session=session, now=NOW, actor_id=None, data=EvidenceCreate(title="旧程序")
    )
    limits = UploadLimits(tmp_path, 1024 * 1024, frozenset({"txt"}))
    evidence_service.add_revision(
        session=session,
        now=NOW,
        actor_id=author.id,
        evidence=evidence,
        limits=limits,
        upload=Upload("a.txt", io.BytesIO("内容".encode())),
    )
    evidence_service.make_obsolete(session=session, now=NOW, actor_id=None, evidence=evidence)
    with pytest.raises(Conflict):
        approval.submit(session=session, now=NOW, actor_id=author.id, evidence=evidence)
    with pytest.raises(Conflict):
        approval.approve(
            session=session,
            now=NOW,
            actor_id=approver.id or 0,
            evidence=evidence,
            revision_id=None,
        )
    assert evidence.status == EvidenceStatus.obsolete


def test_owner_cannot_move_the_review_date_or_give_the_item_away(
    client: TestClient, session: Session
) -> None:
    owner, other = make_user(session, roles=[Role.owner]), make_user(session)
    expired = date(2026, 1, 1)
    evidence = evidence_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=EvidenceCreate(title="文件控制程序", owner_id=owner.id, next_review_date=expired),
    )
    session.commit()
    sign_in(client, session, owner)
    response = client.post(
        f"/evidence/{evidence.id}",
        data={
            "title": "文件控制程序（修订）",
            "owner_id": str(other.id),
            "next_review_date": (expired + timedelta(days=700)).isoformat(),
            "csrf_token": csrf(client),
        },
        headers=HX,
    )
    assert response.status_code == 204
    session.refresh(evidence)
    assert (evidence.title, evidence.owner_id, evidence.next_review_date) == (
        "文件控制程序（修订）",
        owner.id,
        expired,
    )


def test_inactive_user_cannot_be_made_owner(client: TestClient, session: Session) -> None:
    gone = make_user(session, is_active=False)
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    response = client.post(
        "/evidence", data={"title": "x", "owner_id": str(gone.id), "csrf_token": csrf(client)}
    )
    assert response.status_code == 422
    assert 'id="owner_id-error"' in response.text


def test_backslash_next_does_not_leave_the_site(client: TestClient, session: Session) -> None:
    from tests.factories import PASSWORD

    user = make_user(session)
    response = client.post(
        "/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "next": "/\\evil.example",
            "csrf_token": csrf(client),
        },
        headers=HX,
    )
    assert response.headers["HX-Redirect"] == "/"


def test_pager_keeps_a_search_with_ampersand_and_percent(
    client: TestClient, session: Session
) -> None:
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    for n in range(3):
        evidence_service.create(
            session=session, now=NOW, actor_id=None, data=EvidenceCreate(title=f"R&D 50% 计划{n}")
        )
    session.commit()
    page = client.get("/evidence?q=R%26D+50%25&size=1")
    assert "q=R%26D+50%25" in page.text.replace("&amp;", "&")
