"""The readiness page, its gap list fragment, the report files and the API."""

from io import BytesIO

import pytest
from docx import Document
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import Session, select

from app.models.evidence import Confidentiality, Evidence
from app.models.nonconformity import NcGrade
from app.models.user import Role
from app.services.accounts import api_tokens as api_token_service
from app.web.deps import get_now
from tests.factories import HX, NOW, clause, make_department, make_nc, make_user, sign_in

GAPS = {**HX, "HX-Target": "readiness-gaps"}


@pytest.fixture(autouse=True)
def _frozen(app: FastAPI) -> None:
    app.dependency_overrides[get_now] = lambda: NOW


@pytest.fixture
def viewer(client: TestClient, session: Session) -> None:
    sign_in(client, session, make_user(session, roles=[Role.viewer]))


@pytest.mark.usefixtures("viewer")
class TestPage:
    def test_everyone_signed_in_sees_the_whole_picture(self, client: TestClient) -> None:
        page = client.get("/readiness")
        assert page.status_code == 200
        assert 'id="readiness-percent">0%' in page.text
        for region in (
            "readiness-checks",
            "chapter-table",
            "pre-application-checklist",
            "gap-table",
        ):
            assert f'id="{region}"' in page.text
        assert "echarts" in page.text
        assert "评定准备度" in page.text
        assert 'id="pre-check-operating" data-passed="false"' in page.text

    @pytest.mark.usefixtures("ready")
    def test_a_ready_organization_passes_every_condition(self, client: TestClient) -> None:
        page = client.get("/readiness")
        assert 'id="readiness-percent">100%' in page.text
        assert 'data-passed="false"' not in page.text
        assert "两化融合管理手册" in page.text

    @pytest.mark.usefixtures("ready")
    def test_restricted_documents_are_named_only_to_those_who_may_see_them(
        self, client: TestClient, session: Session
    ) -> None:
        for evidence in session.exec(select(Evidence)).all():
            evidence.confidentiality = Confidentiality.restricted
            evidence.department_id = make_department(session).id
            session.add(evidence)
        session.commit()
        page = client.get("/readiness")
        assert "两化融合管理手册" not in page.text
        assert "受限文件" in page.text
        assert "两化融合管理手册" not in client.get("/readiness/report").text
        sign_in(client, session, make_user(session, roles=[Role.auditor]))
        assert "两化融合管理手册" in client.get("/readiness").text

    def test_gaps_are_capped_with_a_show_all_fragment(self, client: TestClient) -> None:
        page = client.get("/readiness")
        assert page.text.count('<tr><td class="text-nowrap">') == 50
        assert 'id="show-all-gaps" href="/readiness?all=1"' in page.text
        everything = client.get("/readiness?all=1", headers=GAPS)
        assert everything.text.count('<tr><td class="text-nowrap">') == 3 * 38
        assert "show-all-gaps" not in everything.text

    def test_filtering_by_check_narrows_to_the_gap_list_under_htmx(
        self, client: TestClient, session: Session
    ) -> None:
        nc = make_nc(session, requirement_key="IIMS.LEAD.POLICY", grade=NcGrade.major)
        fragment = client.get("/readiness?check=major_nc", headers=GAPS)
        assert fragment.status_code == 200
        assert fragment.text.lstrip().startswith('<div id="readiness-gaps">')
        assert "pre-application-checklist" not in fragment.text
        assert f'href="/nonconformities/{nc.id}"' in fragment.text
        assert clause(session, "IIMS.LEAD.POLICY").clause in fragment.text
        assert fragment.text.count('<tr><td class="text-nowrap">') == 1
        assert "HX-Request" in fragment.headers["Vary"]
        full = client.get("/readiness?check=major_nc")
        assert "<html" in full.text
        assert 'id="pre-application-checklist"' in full.text
        assert '<option value="major_nc" selected' in full.text
        assert full.text.count('<tr><td class="text-nowrap">') == 1

    def test_gap_links_lead_to_where_the_gap_is_fixed(
        self, client: TestClient, session: Session
    ) -> None:
        rid = clause(session, "IIMS.LEAD.POLICY").id
        owner = client.get("/readiness?check=owner&all=1", headers=GAPS).text
        assert f'href="/requirements/{rid}"' in owner
        evidence = client.get("/readiness?check=evidence&all=1", headers=GAPS).text
        assert f'href="/evidence?requirement={rid}"' in evidence
        audit = client.get("/readiness?check=audit", headers=GAPS).text
        assert 'href="/audits"' in audit

    def test_an_unknown_check_is_refused(self, client: TestClient) -> None:
        assert client.get("/readiness?check=everything").status_code == 422
        assert client.get("/readiness?check=everything", headers=GAPS).status_code == 422


def test_signed_out_visitors_are_sent_to_sign_in(client: TestClient) -> None:
    assert client.get("/readiness").status_code in (303, 401)


@pytest.mark.usefixtures("viewer", "ready")
class TestReport:
    def test_print_page(self, client: TestClient, session: Session) -> None:
        page = client.get("/readiness/report")
        assert page.status_code == 200
        assert "评定准备度" in page.text
        assert 'href="?format=docx"' in page.text

    def test_pdf_and_word_carry_the_same_outline(self, client: TestClient) -> None:
        pdf = client.get("/readiness/report?format=pdf")
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(BytesIO(pdf.content)).pages)
        assert "两化融合管理手册" in text
        word = client.get("/readiness/report?format=docx")
        assert word.status_code == 200
        document = Document(BytesIO(word.content))
        cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
        assert any("两化融合管理手册" in c for c in cells)

    def test_other_formats_are_refused(self, client: TestClient) -> None:
        assert client.get("/readiness/report?format=xls").status_code == 422


def test_api_returns_overall_chapters_and_checklist(client: TestClient, session: Session) -> None:
    user = make_user(session, roles=[Role.viewer])
    _token, secret = api_token_service.create(
        session=session, now=NOW, user_id=user.id or 0, name="t"
    )
    session.commit()
    body = client.get("/api/v1/readiness", headers={"Authorization": f"Bearer {secret}"}).json()
    assert body["date"] == "2026-11-25"
    assert body["framework"]["code"] == "GBT23001"
    assert body["overall"]["total"] == 38
    assert body["overall"]["passing"]["owner"] == 0
    assert len(body["chapters"]) == 7
    assert [c["check"] for c in body["checklist"]] == [
        "operating",
        "internal_audit",
        "management_review",
        "no_major_nc",
        "documents",
    ]
    assert client.get("/api/v1/readiness").status_code == 401
