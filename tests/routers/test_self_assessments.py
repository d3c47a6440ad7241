"""Self-assessment pages: charts with tables, entry by hand, import, weak-view links, API."""

from io import BytesIO
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from openpyxl import Workbook
from sqlmodel import Session, func, select

from app.models.self_assessment import (
    AssessmentView,
    SelfAssessment,
    ViewLink,
)
from app.models.user import Role
from app.services.accounts import api_tokens as api_token_service
from app.services.self_assessments import excel, service
from tests.factories import HX, NOW, csrf, make_assessment, make_capability, make_user, sign_in

VIEWS = {
    "foundation": 60.4,
    "application": 57.8,
    "integration": 49.5,
    "collaboration": 44.0,
    "competitiveness": 53.6,
    "benefits": 52.3,
}


def count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(SelfAssessment)).one()


def editor(client: TestClient, session: Session, role: Role = Role.executive) -> None:
    sign_in(client, session, make_user(session, roles=[role]))


class TestPage:
    def test_empty_then_charts_with_tables(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.viewer]))
        empty = client.get("/self-assessments")
        assert empty.status_code == 200
        assert 'id="no-assessments"' in empty.text
        assert 'id="new-assessment"' not in empty.text
        make_assessment(session, 2024, overall_score=55.2, **VIEWS)
        make_assessment(session, 2025, **{**VIEWS, "collaboration": 50.7})
        page = client.get("/self-assessments")
        assert 'id="trend-data"' in page.text
        assert 'id="radar-data"' in page.text
        assert 'id="trend-table"' in page.text
        assert 'id="radar-table"' in page.text
        assert "61.8" in page.text
        assert "50.7" in page.text
        assert "44.0" in page.text
        assert 'data-weak="true"' in page.text

    def test_editors_see_the_entry_links(self, client: TestClient, session: Session) -> None:
        editor(client, session)
        page = client.get("/self-assessments")
        assert 'id="new-assessment"' in page.text
        assert client.get("/self-assessments/new").status_code == 200
        assert client.get("/self-assessments/import").status_code == 200
        template = client.get("/self-assessments/template.xlsx")
        assert template.status_code == 200
        assert template.content[:2] == b"PK"


class TestEntry:
    def test_create_duplicate_and_bad_values(self, client: TestClient, session: Session) -> None:
        editor(client, session)
        form = {"year": "2025", "overall_score": "61.8", "stage": "integration", **VIEWS}
        created = client.post("/self-assessments", data={**form, "csrf_token": csrf(client)})
        assert created.status_code == 303
        existing = service.by_year(session=session, year=2025)
        assert existing is not None
        assert existing.stage == "integration"
        again = client.post("/self-assessments", data={**form, "csrf_token": csrf(client)})
        assert again.status_code == 409
        assert 'id="year-error"' in again.text
        assert f'href="/self-assessments/{existing.id}"' in again.text
        bad = client.post(
            "/self-assessments",
            data={
                "year": "2026",
                "overall_score": "101",
                "foundation": "abc",
                "csrf_token": csrf(client),
            },
        )
        assert bad.status_code == 422
        assert 'id="overall_score-error"' in bad.text
        assert 'id="foundation-error"' in bad.text
        assert count(session) == 1

    def test_edit_and_delete(self, client: TestClient, session: Session) -> None:
        assessment = make_assessment(session, 2025, **VIEWS)
        editor(client, session, Role.admin)
        url = f"/self-assessments/{assessment.id}"
        assert client.get(url).status_code == 200
        saved = client.post(
            url, data={"year": "2025", "overall_score": "63", "csrf_token": csrf(client)}
        )
        assert saved.status_code == 303
        session.refresh(assessment)
        assert assessment.overall_score == 63
        deleted = client.post(f"{url}/delete", data={"csrf_token": csrf(client)})
        assert deleted.status_code == 303
        assert count(session) == 0

    def test_viewers_cannot_enter_results(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        response = client.post(
            "/self-assessments",
            data={"year": "2025", "overall_score": "50", "csrf_token": csrf(client)},
        )
        assert response.status_code == 403


def upload(client: TestClient, content: bytes) -> Response:
    response: Response = client.post(
        "/self-assessments/import",
        data={"csrf_token": csrf(client)},
        files={"file": ("sa.xlsx", content, "application/octet-stream")},
    )
    return response


def preview_token(client: TestClient, *rows: list[Any]) -> str:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(excel.HEADERS)
    for row in rows:
        sheet.append(row)
    buffer = BytesIO()
    book.save(buffer)
    preview = upload(client, buffer.getvalue())
    assert preview.status_code == 200
    return preview.text.split('name="token" value="')[1].split('"')[0]


class TestImport:
    def test_preview_then_confirm(self, client: TestClient, session: Session) -> None:
        editor(client, session)
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(excel.HEADERS)
        sheet.append([2023, 48.5, "单项覆盖", 55, 50.2, 41.3, 38.6, 47.9, 45.1])
        sheet.append([2024, "=B2", "单项覆盖", 60, 57, 49, 44, 53, 52])
        buffer = BytesIO()
        book.save(buffer)
        preview = upload(client, buffer.getvalue())
        assert preview.status_code == 200
        assert 'id="import-preview"' in preview.text
        assert count(session) == 0
        token = preview.text.split('name="token" value="')[1].split('"')[0]
        confirmed = client.post(
            "/self-assessments/import/confirm", data={"token": token, "csrf_token": csrf(client)}
        )
        assert confirmed.status_code == 303
        assert count(session) == 1
        again = client.post(
            "/self-assessments/import/confirm", data={"token": token, "csrf_token": csrf(client)}
        )
        assert again.status_code == 404
        assert "该文件已导入" in again.text
        assert count(session) == 1

    def test_the_preview_is_claimed_before_it_is_imported(
        self,
        app: FastAPI,
        client: TestClient,
        session: Session,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Of two confirms sent together, the second must find the preview gone while the
        # first is still importing.
        editor(client, session)
        token = preview_token(client, [2023, 48.5])
        imports = app.state.settings.data_dir / "imports"
        unclaimed: list[str] = []
        all_years = service.all_years

        def checking(**kwargs: Any) -> list[SelfAssessment]:
            unclaimed.extend(p.name for p in imports.glob(f"*{token}.*"))
            return all_years(**kwargs)

        monkeypatch.setattr(service, "all_years", checking)
        confirmed = client.post(
            "/self-assessments/import/confirm", data={"token": token, "csrf_token": csrf(client)}
        )
        assert confirmed.status_code == 303
        assert unclaimed == []
        assert not any(imports.glob(f"*{token}*"))  # and the claimed one is gone too
        assert count(session) == 1

    def test_a_year_recorded_meanwhile_is_a_409_and_imports_nothing(
        self, client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        editor(client, session)
        token = preview_token(client, [2022, 40], [2023, 48.5])
        make_assessment(session, 2023, overall_score=50, **VIEWS)
        # The other transaction's row is not yet visible to this one's duplicate check.
        monkeypatch.setattr(service, "by_year", lambda **_kw: None)
        monkeypatch.setattr(service, "all_years", lambda **_kw: [])
        response = client.post(
            "/self-assessments/import/confirm",
            data={"token": token, "csrf_token": csrf(client)},
            headers=HX,
        )
        assert response.status_code == 409
        assert "未导入任何" in response.text or "nothing was imported" in response.text
        assert count(session) == 1

    def test_damaged_files_are_a_clear_422(self, client: TestClient, session: Session) -> None:
        editor(client, session)
        response = upload(client, b"this is not a spreadsheet")
        assert response.status_code == 422
        assert 'id="file-error"' in response.text
        missing = client.post("/self-assessments/import", data={"csrf_token": csrf(client)})
        assert missing.status_code == 422


class TestLinks:
    def test_link_and_unlink_with_and_without_htmx(
        self, client: TestClient, session: Session
    ) -> None:
        make_assessment(session, 2025, **{**VIEWS, "collaboration": 50.7})
        capability = make_capability(session, title="供应链协同能力")
        editor(client, session)
        headers = {**HX, "HX-Target": "sa-views", "X-CSRF-Token": csrf(client)}
        linked = client.post(
            "/self-assessments/links",
            data={"view": "collaboration", "target": f"capability:{capability.id}"},
            headers=headers,
        )
        assert linked.status_code == 200
        assert linked.text.lstrip().startswith('<div id="sa-views"')
        assert "供应链协同能力" in linked.text
        twice = client.post(
            "/self-assessments/links",
            data={"view": "collaboration", "target": f"capability:{capability.id}"},
            headers=headers,
        )
        assert twice.status_code == 409
        assert 'id="link-collaboration-target-error"' in twice.text
        bad = client.post(
            "/self-assessments/links",
            data={"view": "collaboration", "target": "nonsense", "csrf_token": csrf(client)},
        )
        assert bad.status_code == 422
        link = session.exec(
            select(ViewLink).where(ViewLink.view == AssessmentView.collaboration)
        ).one()
        removed = client.post(f"/self-assessments/links/{link.id}/delete", headers=headers)
        assert removed.status_code == 200
        assert f'href="/capabilities/{capability.id}"' not in removed.text
        plain = client.post(
            "/self-assessments/links",
            data={
                "view": "collaboration",
                "target": f"capability:{capability.id}",
                "csrf_token": csrf(client),
            },
        )
        assert plain.status_code == 303


class TestApi:
    def test_list(self, client: TestClient, session: Session) -> None:
        make_assessment(session, 2024, overall_score=55.2, **VIEWS)
        make_assessment(session, 2025, **VIEWS)
        user = make_user(session, roles=[Role.viewer])
        _token, secret = api_token_service.create(
            session=session, now=NOW, user_id=user.id or 0, name="t"
        )
        session.commit()
        body = client.get(
            "/api/v1/self-assessments", headers={"Authorization": f"Bearer {secret}"}
        ).json()
        assert [i["year"] for i in body["items"]] == [2024, 2025]
        assert body["latest"]["overall"] == 61.8
