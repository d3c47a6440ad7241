"""Audit pages: planning, list, detail, checklist rows inline, report files, API."""

from io import BytesIO

from docx import Document
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import Session, col, func, select

from app.models.audit import Audit, ChecklistItem, ChecklistResult, Finding
from app.models.evidence import Confidentiality, Evidence, EvidenceRequirement, EvidenceRevision
from app.models.nonconformity import Nonconformity
from app.models.user import Role
from app.services.accounts import api_tokens as api_token_service
from tests.factories import HX, NOW, clauses, csrf, make_audit, make_department, make_user, sign_in


def _plan_form(session: Session, **overrides: object) -> dict[str, object]:
    lead = make_user(session, roles=[Role.auditor])
    return {
        "title": "2026年第二次内部审核",
        "kind": "internal",
        "lead_auditor_id": str(lead.id),
        "planned_start": "2026-12-01",
        "planned_end": "2026-12-05",
        "requirement_ids": [str(r.id) for r in clauses(session, 2)],
        "department_ids": [str(make_department(session).id)],
        **overrides,
    }


def _audit_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Audit)).one()


class TestPlanning:
    def test_planning_an_audit_builds_its_checklist(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        form = _plan_form(session)
        response = client.post("/audits", data={**form, "csrf_token": csrf(client)})
        assert response.status_code == 303
        audit = session.exec(select(Audit).where(Audit.title == "2026年第二次内部审核")).one()
        assert response.headers["location"] == f"/audits/{audit.id}"
        items = session.exec(select(func.count()).where(ChecklistItem.audit_id == audit.id)).one()
        assert items == 2
        page = client.get(f"/audits/{audit.id}")
        assert "2026年第二次内部审核" in page.text
        assert 'id="advance-audit"' in page.text

    def test_htmx_planning_redirects_with_hx_redirect(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        response = client.post(
            "/audits", data=_plan_form(session), headers={**HX, "X-CSRF-Token": csrf(client)}
        )
        assert response.status_code == 204
        assert response.headers["HX-Redirect"].startswith("/audits/")

    def test_bad_plans_come_back_with_the_message_next_to_the_field(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        before = _audit_count(session)
        for overrides, field, message in (
            ({"requirement_ids": []}, "requirement_ids", "至少选择一个条款"),
            ({"planned_end": "2026-11-01"}, "planned_end", "结束日期不能早于开始日期"),
            ({"requirement_ids": ["x"]}, "requirement_ids", "请从给定选项中选择"),
            ({"kind": "audit-everything"}, "kind", "请从给定选项中选择"),
        ):
            response = client.post(
                "/audits", data={**_plan_form(session, **overrides), "csrf_token": csrf(client)}
            )
            assert response.status_code == 422, field
            assert f'id="{field}-error"' in response.text, field
            assert message in response.text, field
        assert _audit_count(session) == before

    def test_auditors_cannot_plan(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.auditor]))
        response = client.post("/audits", data={**_plan_form(session), "csrf_token": csrf(client)})
        assert response.status_code == 403


class TestList:
    def test_full_page_and_fragment(self, client: TestClient, session: Session) -> None:
        make_audit(session, title="供应链审核")
        sign_in(client, session, make_user(session, roles=[Role.viewer]))
        page = client.get("/audits")
        assert page.status_code == 200
        assert "<nav" in page.text
        assert "供应链审核" in page.text
        fragment = client.get("/audits?status=planned", headers={**HX, "HX-Target": "audit-list"})
        assert fragment.text.lstrip().startswith('<div id="audit-list">')
        assert "供应链审核" in fragment.text
        closed = client.get("/audits?status=closed", headers={**HX, "HX-Target": "audit-list"})
        assert "供应链审核" not in closed.text
        assert client.get("/audits?status=nonsense").status_code == 422


def _item(session: Session, audit: Audit) -> ChecklistItem:
    item = session.exec(
        select(ChecklistItem)
        .where(ChecklistItem.audit_id == audit.id)
        .order_by(col(ChecklistItem.position))
    ).first()
    assert item is not None
    return item


class TestChecklist:
    def test_a_row_saves_inline_and_raises_a_nonconformity(
        self, client: TestClient, session: Session
    ) -> None:
        auditor = make_user(session, roles=[Role.auditor])
        audit = make_audit(session, lead=auditor, start=True)
        item = _item(session, audit)
        sign_in(client, session, auditor)
        page = client.get(f"/audits/{audit.id}/checklist")
        assert page.status_code == 200
        assert f'id="item-{item.id}"' in page.text

        response = client.post(
            f"/audits/{audit.id}/checklist/{item.id}",
            data={"result": "minor_nc", "notes": "内审记录缺少签字"},
            headers={**HX, "HX-Target": f"item-{item.id}", "X-CSRF-Token": csrf(client)},
        )
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div class="checklist-item')
        assert "showToast" in response.headers["HX-Trigger"]
        finding = session.exec(select(Finding).where(Finding.checklist_item_id == item.id)).one()
        assert f"/nonconformities/{finding.nonconformity_id}" in response.text
        assert session.get(Nonconformity, finding.nonconformity_id) is not None

    def test_without_htmx_the_row_save_redirects_back_to_the_item(
        self, client: TestClient, session: Session
    ) -> None:
        auditor = make_user(session, roles=[Role.auditor])
        audit = make_audit(session, lead=auditor, start=True)
        item = _item(session, audit)
        sign_in(client, session, auditor)
        response = client.post(
            f"/audits/{audit.id}/checklist/{item.id}",
            data={"result": "conforming", "notes": "", "csrf_token": csrf(client)},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/audits/{audit.id}/checklist#item-{item.id}"
        session.refresh(item)
        assert item.result == ChecklistResult.conforming

    def test_bad_rows_are_refused_next_to_the_field_and_change_nothing(
        self, client: TestClient, session: Session
    ) -> None:
        auditor = make_user(session, roles=[Role.auditor])
        audit = make_audit(session, lead=auditor, start=True)
        item = _item(session, audit)
        sign_in(client, session, auditor)
        headers = {**HX, "HX-Target": f"item-{item.id}", "X-CSRF-Token": csrf(client)}
        url = f"/audits/{audit.id}/checklist/{item.id}"
        no_notes = client.post(url, data={"result": "observation", "notes": ""}, headers=headers)
        assert no_notes.status_code == 422
        assert f'id="notes-{item.id}-error"' in no_notes.text
        assert "请描述" in no_notes.text
        bad = client.post(url, data={"result": "excellent"}, headers=headers)
        assert bad.status_code == 422
        plain = client.post(url, data={"result": "excellent", "csrf_token": csrf(client)})
        assert plain.status_code == 422
        assert "请从给定选项中选择" in plain.text
        session.refresh(item)
        assert item.result == ChecklistResult.not_audited

    def test_only_the_audit_team_records_results(
        self, client: TestClient, session: Session
    ) -> None:
        audit = make_audit(session, start=True)
        item = _item(session, audit)
        sign_in(client, session, make_user(session, roles=[Role.auditor]))
        response = client.post(
            f"/audits/{audit.id}/checklist/{item.id}",
            data={"result": "conforming", "csrf_token": csrf(client)},
        )
        assert response.status_code == 403

    def test_a_checklist_of_over_two_hundred_items_is_paged_and_filtered(
        self, client: TestClient, session: Session
    ) -> None:
        auditor = make_user(session, roles=[Role.auditor])
        departments = [make_department(session).id or 0 for _ in range(6)]
        audit = make_audit(
            session,
            lead=auditor,
            requirements=clauses(session, 38),
            department_ids=departments,
            start=True,
        )
        sign_in(client, session, auditor)
        first = client.get(f"/audits/{audit.id}/checklist")
        assert first.text.count('class="checklist-item') == 25
        assert "228 个检查项中已有 0 个得出结果" in first.text  # progress counts every item
        assert f'href="/audits/{audit.id}/checklist?page=10&size=25"' in first.text
        last = client.get(f"/audits/{audit.id}/checklist?page=10")
        assert last.text.count('class="checklist-item') == 228 - 9 * 25
        whole = client.get(f"/audits/{audit.id}/checklist?size=200")
        assert whole.text.count('class="checklist-item') == 200
        only = client.get(
            f"/audits/{audit.id}/checklist?department={departments[0]}&size=50",
            headers={**HX, "HX-Target": "checklist-rows"},
        )
        assert only.text.lstrip().startswith('<div id="checklist-rows">')
        assert only.text.count('class="checklist-item') == 38
        item = _item(session, audit)
        client.post(
            f"/audits/{audit.id}/checklist/{item.id}",
            data={"result": "conforming", "csrf_token": csrf(client)},
        )
        todo = client.get(f"/audits/{audit.id}/checklist?todo=1&size=200")
        assert f'id="item-{item.id}"' not in todo.text
        assert "pagination" in todo.text  # 227 left: two pages of 200


class TestIndependenceAndStatus:
    def test_an_override_lets_the_audit_start(self, client: TestClient, session: Session) -> None:
        own = make_department(session)
        lead = make_user(session, roles=[Role.auditor], department_id=own.id)
        audit = make_audit(session, lead=lead, department_ids=[own.id or 0])
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        page = client.get(f"/audits/{audit.id}")
        assert 'id="independence-alert"' in page.text
        start = {"status": "in_progress", "csrf_token": csrf(client)}
        refused = client.post(f"/audits/{audit.id}/status", data=start)
        assert refused.status_code == 409
        assert lead.name in refused.text
        client.post(
            f"/audits/{audit.id}/independence/{lead.id}",
            data={"reason": "唯一熟悉该流程的内审员", "csrf_token": csrf(client)},
        )
        assert client.post(f"/audits/{audit.id}/status", data=start).status_code == 303
        session.refresh(audit)
        assert audit.status == "in_progress"

    def test_the_conclusion_saves_inline(self, client: TestClient, session: Session) -> None:
        auditor = make_user(session, roles=[Role.auditor])
        audit = make_audit(session, lead=auditor, start=True)
        sign_in(client, session, auditor)
        response = client.post(
            f"/audits/{audit.id}/summary",
            data={"summary": "体系总体运行有效"},
            headers={**HX, "HX-Target": "audit-conclusion", "X-CSRF-Token": csrf(client)},
        )
        assert response.text.lstrip().startswith(
            '<div class="card shadow-sm" id="audit-conclusion">'
        )
        assert "体系总体运行有效" in response.text
        plain = client.post(
            f"/audits/{audit.id}/summary",
            data={"summary": "体系总体运行有效。", "csrf_token": csrf(client)},
        )
        assert plain.status_code == 303
        page = client.get(plain.headers["location"])
        # The lead auditor gets the form, not just the text: closing needs a conclusion.
        assert 'id="summary"' in page.text
        assert "体系总体运行有效。" in page.text


class TestReport:
    def _audit_with_finding(self, client: TestClient, session: Session) -> Audit:
        auditor = make_user(session, roles=[Role.auditor])
        audit = make_audit(session, lead=auditor, start=True, title="信息化部专项审核")
        item = _item(session, audit)
        sign_in(client, session, auditor)
        client.post(
            f"/audits/{audit.id}/checklist/{item.id}",
            data={"result": "minor_nc", "notes": "数据备份记录不完整", "csrf_token": csrf(client)},
        )
        return audit

    def test_page_pdf_and_word_say_the_same(self, client: TestClient, session: Session) -> None:
        audit = self._audit_with_finding(client, session)
        page = client.get(f"/audits/{audit.id}/report")
        assert page.status_code == 200
        assert "信息化部专项审核" in page.text
        assert "数据备份记录不完整" in page.text

        pdf = client.get(f"/audits/{audit.id}/report?format=pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        assert "attachment" in pdf.headers["content-disposition"]
        text = "".join(p.extract_text() for p in PdfReader(BytesIO(pdf.content)).pages)
        assert "信息化部专项审核" in text
        assert "数据备份记录不完整" in text
        assert "审核发现" in text  # the findings heading, in Chinese

        word = client.get(f"/audits/{audit.id}/report?format=docx")
        document = Document(BytesIO(word.content))
        headings = [p.text for p in document.paragraphs]
        assert any("信息化部专项审核" in h for h in headings)
        assert "审核发现" in headings
        cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
        assert "数据备份记录不完整" in cells

    def test_an_unknown_format_is_refused(self, client: TestClient, session: Session) -> None:
        audit = make_audit(session)
        sign_in(client, session, make_user(session, roles=[Role.viewer]))
        assert client.get(f"/audits/{audit.id}/report?format=exe").status_code == 422
        assert client.get("/audits/999999/report").status_code == 404


def test_programme_page_shows_the_coverage_matrix(client: TestClient, session: Session) -> None:
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    created = client.post(
        "/audits/programmes",
        data={"title": "2026年度内审方案", "year": "2026", "csrf_token": csrf(client)},
    )
    assert created.status_code == 303
    refused = client.post(
        "/audits/programmes", data={"title": "", "year": "1900", "csrf_token": csrf(client)}
    )
    assert refused.status_code == 422
    assert 'id="title-error"' in refused.text
    programme_url = created.headers["location"]
    programme_id = int(programme_url.rsplit("/", 1)[1])
    make_audit(session, programme_id=programme_id)
    page = client.get(programme_url)
    assert 'id="coverage-matrix"' in page.text
    assert "2026年度内审方案" in page.text


def test_api_lists_audits_with_results(client: TestClient, session: Session) -> None:
    audit = make_audit(session)
    user = make_user(session, roles=[Role.viewer])
    _token, secret = api_token_service.create(
        session=session, now=NOW, user_id=user.id or 0, name="t"
    )
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    listed = client.get("/api/v1/audits", headers=headers).json()
    assert audit.id in [a["id"] for a in listed["items"]]
    detail = client.get(f"/api/v1/audits/{audit.id}", headers=headers).json()
    assert detail["results"]["not_audited"] == 2
    assert client.get("/api/v1/audits").status_code == 401


class TestReviewFindings:
    """Pinned by the review of the audit feature."""

    def test_restricted_evidence_stays_hidden_on_the_checklist(
        self, client: TestClient, session: Session
    ) -> None:
        hr = make_department(session)
        requirement = clauses(session, 1)[0]
        evidence = Evidence(
            title="薪酬数据管理办法（限人力资源部）",
            confidentiality=Confidentiality.restricted,
            department_id=hr.id,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(evidence)
        session.flush()
        revision = EvidenceRevision(evidence_id=evidence.id or 0, number=1, uploaded_at=NOW)
        session.add_all(
            [
                revision,
                EvidenceRequirement(
                    evidence_id=evidence.id or 0, requirement_id=requirement.id or 0
                ),
            ]
        )
        session.commit()
        auditor = make_user(session, roles=[Role.auditor])
        audit = make_audit(session, lead=auditor, requirements=[requirement], start=True)
        item = _item(session, audit)
        sign_in(client, session, auditor)
        pinned = client.post(
            f"/audits/{audit.id}/checklist/{item.id}",
            data={
                "result": "conforming",
                "revision_ids": str(revision.id),
                "csrf_token": csrf(client),
            },
        )
        assert pinned.status_code == 303
        assert "薪酬数据管理办法" in client.get(f"/audits/{audit.id}/checklist").text

        sign_in(client, session, make_user(session, roles=[Role.viewer]))
        page = client.get(f"/audits/{audit.id}/checklist")
        assert "薪酬数据管理办法" not in page.text
        assert "受限证据" in page.text

    def test_only_evidence_linked_to_the_clause_can_be_pinned(
        self, client: TestClient, session: Session
    ) -> None:
        unrelated = Evidence(title="与本条款无关的文件", created_at=NOW, updated_at=NOW)
        session.add(unrelated)
        session.flush()
        revision = EvidenceRevision(evidence_id=unrelated.id or 0, number=1, uploaded_at=NOW)
        session.add(revision)
        session.commit()
        auditor = make_user(session, roles=[Role.auditor])
        audit = make_audit(session, lead=auditor, start=True)
        item = _item(session, audit)
        sign_in(client, session, auditor)
        response = client.post(
            f"/audits/{audit.id}/checklist/{item.id}",
            data={"result": "conforming", "revision_ids": str(revision.id)},
            headers={**HX, "HX-Target": f"item-{item.id}", "X-CSRF-Token": csrf(client)},
        )
        assert response.status_code == 422
        session.refresh(item)
        assert item.result == ChecklistResult.not_audited

    def test_control_characters_do_not_break_the_word_report(
        self, client: TestClient, session: Session
    ) -> None:
        auditor = make_user(session, roles=[Role.auditor])
        audit = make_audit(session, lead=auditor, start=True)
        sign_in(client, session, auditor)
        client.post(
            f"/audits/{audit.id}/summary",
            data={"summary": "结论\x01有效", "csrf_token": csrf(client)},
        )
        word = client.get(f"/audits/{audit.id}/report?format=docx")
        assert word.status_code == 200
        assert any("结论有效" in p.text for p in Document(BytesIO(word.content)).paragraphs)

    def test_a_programme_for_an_unknown_cycle_is_refused(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        response = client.post(
            "/audits/programmes",
            data={
                "title": "方案",
                "year": "2026",
                "cycle_id": "999999",
                "csrf_token": csrf(client),
            },
        )
        assert response.status_code == 422
