"""Evidence pages: create, upload and download round-trip, review, access, links, Excel."""

import hashlib
from io import BytesIO
from urllib.parse import quote

from fastapi.testclient import TestClient
from httpx import Response
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, func, select

from app.models.evidence import Evidence, EvidenceRequirement, EvidenceRevision, EvidenceStatus
from app.models.user import Role
from app.settings import Settings
from tests.factories import (
    HX,
    NOW,
    PDF,
    csrf,
    first_clause,
    make_department,
    make_user,
    sign_in,
    upload_revision,
)


def _create(client: TestClient, **values: str) -> Response:
    response: Response = client.post(
        "/evidence",
        data={"title": "文件控制程序", "kind": "document", **values, "csrf_token": csrf(client)},
    )
    assert response.status_code == 303, response.text
    return response


def _evidence(session: Session, title: str = "文件控制程序") -> Evidence:
    return session.exec(select(Evidence).where(Evidence.title == title)).one()


class TestUploadAndDownload:
    def test_round_trip_with_hash_and_utf8_name(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        _create(client)
        evidence = _evidence(session)
        response = upload_revision(
            client, evidence.id or 0, period_from="2026-01-01", period_to="2026-06-30"
        )
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div id="evidence-revisions">')
        revision = session.exec(
            select(EvidenceRevision).where(EvidenceRevision.evidence_id == evidence.id)
        ).one()
        assert revision.sha256 == hashlib.sha256(PDF).hexdigest()
        download = client.get(f"/evidence/{evidence.id}/revisions/{revision.id}/download")
        assert download.status_code == 200
        assert download.content == PDF
        assert download.headers["x-content-type-options"] == "nosniff"
        disposition = download.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        assert quote("文件控制程序 V1.pdf") in disposition

    def test_upload_without_htmx_renders_the_page(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        _create(client)
        response = upload_revision(client, _evidence(session).id or 0, htmx=False)
        assert response.status_code == 200
        assert "<nav" in response.text

    def test_bad_uploads_answer_next_to_the_field(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        _create(client)
        evidence_id = _evidence(session).id or 0
        cases = [
            (b"", "a.pdf", 422),
            (PDF, "a.exe", 422),
            (b"MZ\x90\x00\x03", "a.pdf", 422),
        ]
        for content, name, status in cases:
            response = upload_revision(client, evidence_id, content=content, name=name)
            assert response.status_code == status, name
            assert 'id="file-error"' in response.text
        period = upload_revision(
            client, evidence_id, period_from="2026-06-01", period_to="2026-01-01"
        )
        assert period.status_code == 422
        assert 'id="period_to-error"' in period.text
        assert upload_revision(client, evidence_id).status_code == 200
        duplicate = upload_revision(client, evidence_id)
        assert duplicate.status_code == 409
        assert session.exec(select(func.count()).select_from(EvidenceRevision)).one() == 1

    def test_over_limit_is_413_before_reading(
        self, client: TestClient, session: Session, settings: Settings
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        _create(client)
        big = b"x" * (settings.upload_max_mb * 1024 * 1024 + 2 * 1024 * 1024)
        response = upload_revision(client, _evidence(session).id or 0, content=big, name="big.txt")
        assert response.status_code == 413


class TestReview:
    def test_submit_then_approve_by_someone_else_makes_the_clause_covered(
        self, client: TestClient, session: Session
    ) -> None:
        owner = make_user(session, roles=[Role.owner])
        sign_in(client, session, owner)
        _create(client)
        evidence = _evidence(session)
        upload_revision(client, evidence.id or 0)
        requirement = first_clause(session)
        link = client.post(
            f"/requirements/{requirement.id}/evidence",
            data={"evidence_id": str(evidence.id), "csrf_token": csrf(client)},
        )
        assert link.status_code == 303
        # The tree shows a chapter's clauses when that chapter is open.
        tree_url = f"/requirements?open={requirement.chapter_id}"
        tree = client.get(tree_url).text
        assert f'href="/requirements/{requirement.id}">' in tree
        assert (
            client.post(
                f"/evidence/{evidence.id}/submit", data={"csrf_token": csrf(client)}
            ).status_code
            == 303
        )
        assert (
            client.post(
                f"/evidence/{evidence.id}/approve", data={"csrf_token": csrf(client)}
            ).status_code
            == 403
        )
        sign_in(client, session, make_user(session, roles=[Role.executive]))
        revision = session.exec(
            select(EvidenceRevision).where(EvidenceRevision.evidence_id == evidence.id)
        ).one()
        assert (
            client.post(
                f"/evidence/{evidence.id}/approve",
                data={"csrf_token": csrf(client), "revision_id": str(revision.id)},
                headers=HX,
            ).status_code
            == 204
        )
        session.refresh(evidence)
        assert evidence.status == EvidenceStatus.approved
        row = (
            client.get(tree_url)
            .text.split(f'href="/requirements/{requirement.id}">')[1]
            .split("</tr>")[0]
        )
        assert 'data-coverage="2"' in row


class TestLinks:
    def test_link_and_unlink_go_back_where_the_form_says_on_this_site_only(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        _create(client)
        evidence = _evidence(session)
        requirement = first_clause(session)
        back = f"/requirements/{requirement.id}"
        linked = client.post(
            f"/evidence/{evidence.id}/links",
            data={
                "kind": "requirement",
                "target_id": str(requirement.id),
                "next": back,
                "csrf_token": csrf(client),
            },
        )
        assert (linked.status_code, linked.headers["location"]) == (303, back)
        rows = select(EvidenceRequirement).where(EvidenceRequirement.evidence_id == evidence.id)
        assert [r.requirement_id for r in session.exec(rows).all()] == [requirement.id]
        removed = client.post(
            f"/evidence/{evidence.id}/links/requirement/{requirement.id}/delete",
            data={"next": "https://evil.example.com/", "csrf_token": csrf(client)},
        )
        assert (removed.status_code, removed.headers["location"]) == (
            303,
            f"/evidence/{evidence.id}",
        )
        session.expire_all()
        assert session.exec(rows).all() == []

    def test_a_link_without_a_target_is_refused_next_to_the_field(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        _create(client)
        evidence = _evidence(session)
        refused = client.post(
            f"/evidence/{evidence.id}/links",
            data={"kind": "requirement", "csrf_token": csrf(client)},
        )
        assert refused.status_code == 422
        assert "请选择要关联的对象" in refused.text


class TestAccess:
    def test_restricted_evidence_and_its_file_are_403_for_other_departments(
        self, client: TestClient, session: Session
    ) -> None:
        hr, sales = make_department(session), make_department(session)
        owner = make_user(session, roles=[Role.owner], department_id=hr.id)
        sign_in(client, session, owner)
        _create(client, confidentiality="restricted", department_id=str(hr.id), title="薪酬台账")
        evidence = _evidence(session, "薪酬台账")
        upload_revision(client, evidence.id or 0)
        revision = session.exec(
            select(EvidenceRevision).where(EvidenceRevision.evidence_id == evidence.id)
        ).one()
        sign_in(client, session, make_user(session, roles=[Role.owner], department_id=sales.id))
        assert client.get(f"/evidence/{evidence.id}").status_code == 403
        assert (
            client.get(f"/evidence/{evidence.id}/revisions/{revision.id}/download").status_code
            == 403
        )
        assert "薪酬台账" not in client.get("/evidence").text
        sign_in(client, session, make_user(session, roles=[Role.auditor], department_id=sales.id))
        assert (
            client.get(f"/evidence/{evidence.id}/revisions/{revision.id}/download").status_code
            == 200
        )

    def test_owner_cannot_change_someone_elses_evidence(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        _create(client)
        evidence = _evidence(session)
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        assert upload_revision(client, evidence.id or 0).status_code == 403


class TestRegister:
    def test_search_chinese_and_file_names_with_and_without_htmx(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        _create(client, title="内部审核控制程序", reference="RH-QP-07")
        upload_revision(
            client, _evidence(session, "内部审核控制程序").id or 0, name="audit-procedure.pdf"
        )
        _create(client, title="管理评审控制程序")
        for query in ("审核", "AUDIT-PROC", "qp-07"):
            page = client.get(f"/evidence?q={quote(query)}")
            listed = page.text.split('id="evidence-table"')[1]
            assert "内部审核控制程序" in listed
            assert "管理评审控制程序" not in listed
        fragment = client.get(
            "/evidence?q=%E8%AF%84%E5%AE%A1", headers={**HX, "HX-Target": "evidence-list"}
        )
        assert fragment.text.lstrip().startswith('<div id="evidence-list">')
        assert "管理评审控制程序" in fragment.text

    def test_total_and_pages_count_title_and_file_name_matches_in_every_order(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        _create(client, title="供应商评价记录")
        _create(client, title="设备点检表")
        upload_revision(client, _evidence(session, "设备点检表").id or 0, name="供应商-点检.pdf")
        _create(client, title="培训记录")
        for sort in ("updated", "title", "review"):
            listed = []
            for number in (1, 2, 3):
                response = client.get(
                    f"/api/v1/evidence?q={quote('供应商')}&sort={sort}&size=1&page={number}",
                    headers=self._bearer(session),
                ).json()
                assert response["total"] == 2
                listed += [item["title"] for item in response["items"]]
            assert sorted(listed) == ["供应商评价记录", "设备点检表"]
        by_file = client.get(
            f"/api/v1/evidence?q={quote('点检.PDF')}", headers=self._bearer(session)
        )
        assert [i["latest_file"] for i in by_file.json()["items"]] == ["供应商-点检.pdf"]
        assert "search_text" not in by_file.json()["items"][0]  # internal, never answered

    def test_search_follows_edits_and_ignores_case_beyond_ascii(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        _create(client, title="École partner list")
        evidence = _evidence(session, "École partner list")
        upload_revision(client, evidence.id or 0, name="ΣΥΜΒΑΣΗ-2026.pdf")

        def found(query: str) -> bool:
            listed = client.get(f"/evidence?q={quote(query)}").text
            return "partner list" in listed.split('id="evidence-table"')[1]

        assert found("école")
        assert found("ÉCOLE")
        assert found("συμβαση")
        response = client.post(
            f"/evidence/{evidence.id}",
            data={"title": "Supplier partner list", "kind": "document", "csrf_token": csrf(client)},
        )
        assert response.status_code == 303
        assert not found("école")
        assert found("supplier")
        assert found("συμβαση")

    def test_like_wildcards_in_the_query_are_plain_text(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        _create(client, title="合格率 100% 记录")
        _create(client, title="合格率统计")
        for query, expected in (("100%", 1), ("%", 1), ("_", 0)):
            page = client.get(f"/evidence?q={quote(query)}")
            listed = page.text.split('id="evidence-table"')[1]
            assert listed.count("合格率") == expected, query

    def _bearer(self, session: Session) -> dict[str, str]:
        from app.services.accounts import api_tokens as api_token_service

        admin = make_user(session, roles=[Role.admin])
        _t, secret = api_token_service.create(
            session=session, now=NOW, user_id=admin.id or 0, name="x"
        )
        session.commit()
        return {"Authorization": f"Bearer {secret}"}

    def test_bad_filter_is_422(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session))
        assert client.get("/evidence?status=lost").status_code == 422


def _sheet(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["编号", "标题", "类型", "责任人", "部门", "周期", "复审", "保存", "条款", "说明"])
    for row in rows:
        sheet.append(row)
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


class TestImportExport:
    def test_preview_then_import_only_good_rows(self, client: TestClient, session: Session) -> None:
        admin = make_user(session, roles=[Role.admin])
        sign_in(client, session, admin)
        content = _sheet(
            [
                [
                    "QP-01",
                    "文件控制程序",
                    "文件",
                    admin.email,
                    "",
                    12,
                    None,
                    None,
                    "IIMS.DOC.CONTROL, 5.2",
                    "",
                ],
                ["QP-02", "", "文件", "", "", None, None, None, "", ""],
                [
                    "QP-03",
                    "记录控制程序",
                    "记录",
                    "nobody@example.com",
                    "",
                    None,
                    None,
                    None,
                    "99.9",
                    "",
                ],
                ["QP-04", '=HYPERLINK("x")', "文件", "", "", None, None, None, "", ""],
            ]
        )
        before = session.exec(select(func.count()).select_from(Evidence)).one()
        preview = client.post(
            "/evidence/import",
            files={"file": ("清单.xlsx", content)},
            data={"csrf_token": csrf(client)},
        )
        assert preview.status_code == 200
        table = preview.text.split('id="import-preview"')[1]
        assert table.count("table-danger") == 3
        assert session.exec(select(func.count()).select_from(Evidence)).one() == before
        token = preview.text.split('name="token" value="')[1].split('"')[0]
        done = client.post(
            "/evidence/import/confirm", data={"token": token, "csrf_token": csrf(client)}
        )
        assert done.status_code == 303
        imported = _evidence(session, "文件控制程序")
        links = session.exec(
            select(EvidenceRequirement).where(EvidenceRequirement.evidence_id == imported.id)
        ).all()
        assert len(links) == 2
        assert session.exec(select(func.count()).select_from(Evidence)).one() == before + 1
        again = client.post(
            "/evidence/import/confirm", data={"token": token, "csrf_token": csrf(client)}
        )
        assert again.status_code == 404  # a double-clicked confirm imports once
        assert session.exec(select(func.count()).select_from(Evidence)).one() == before + 1

    def test_not_an_excel_file(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        response = client.post(
            "/evidence/import",
            files={"file": ("x.xlsx", b"not a zip")},
            data={"csrf_token": csrf(client)},
        )
        assert response.status_code == 422
        assert 'id="file-error"' in response.text

    def test_export_lists_the_register(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        _create(client, reference="RH-QP-01")
        book = load_workbook(BytesIO(client.get("/evidence/export.xlsx").content))
        rows = list(book.worksheets[0].iter_rows(values_only=True))
        assert any(r[0] == "RH-QP-01" and r[1] == "文件控制程序" for r in rows[1:])


def test_create_validation(client: TestClient, session: Session) -> None:
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    response = client.post(
        "/evidence",
        data={"title": "", "kind": "link", "url": "ftp://x", "csrf_token": csrf(client)},
    )
    assert response.status_code == 422
    assert 'id="title-error"' in response.text
    response = client.post(
        "/evidence",
        data={"title": "MES 日志", "kind": "link", "url": "ftp://x", "csrf_token": csrf(client)},
    )
    assert response.status_code == 422
    assert 'id="url-error"' in response.text
    assert session.exec(select(func.count()).select_from(Evidence)).one() == 0


def test_api_upload_and_download(client: TestClient, session: Session) -> None:
    from app.services.accounts import api_tokens as api_token_service
    from tests.factories import NOW

    owner = make_user(session, roles=[Role.owner])
    sign_in(client, session, owner)
    _create(client)
    evidence = _evidence(session)
    _t, secret = api_token_service.create(
        session=session, now=NOW, user_id=owner.id or 0, name="scanner"
    )
    session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    created = client.post(
        f"/api/v1/evidence/{evidence.id}/revisions?period_from=2026-01-01&period_to=2025-01-01",
        headers=headers,
        files={"file": ("scan.pdf", PDF)},
    )
    assert created.status_code == 422
    assert created.json()["field"] == "period_to"
    created = client.post(
        f"/api/v1/evidence/{evidence.id}/revisions",
        headers=headers,
        files={"file": ("scan.pdf", PDF)},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    file = client.get(
        f"/api/v1/evidence/{evidence.id}/revisions/{body['id']}/download", headers=headers
    )
    assert file.content == PDF
    listed = client.get("/api/v1/evidence?q=%E6%96%87%E4%BB%B6", headers=headers).json()
    assert listed["total"] == 1
    assert listed["items"][0]["latest_file"] == "scan.pdf"
