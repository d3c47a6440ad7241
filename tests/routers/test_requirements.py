"""The clause tree, requirement detail and status editing; the same under /api/v1."""

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, col, select

from app.models.activity import ActivityEvent
from app.models.requirement import ImplementationStatus, Requirement, RequirementStatus
from app.models.user import Role
from app.services.accounts import api_tokens as api_token_service
from app.services.requirements import framework as framework_service
from app.services.requirements import service as requirement_service
from tests.factories import (
    HX,
    NOW,
    clause,
    csrf,
    first_clause,
    make_department,
    make_evidence,
    make_user,
    sign_in,
)


def _tree_part(response: Response) -> str:
    return response.text.split('id="requirement-tree"')[1]


def _chapter(session: Session, requirement: Requirement) -> Requirement:
    chapter = session.get(Requirement, requirement.chapter_id)
    assert chapter is not None
    return chapter


def _status(session: Session, requirement: Requirement) -> RequirementStatus:
    status = session.exec(
        select(RequirementStatus).where(RequirementStatus.requirement_id == requirement.id)
    ).one()
    session.refresh(status)
    return status


class TestTree:
    def test_full_page_lists_every_chapter(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session))
        response = client.get("/requirements")
        assert response.status_code == 200
        assert response.headers["vary"].startswith("HX-Request")
        for title in ["可持续竞争优势", "领导作用", "策划", "支持", "实施与运行", "评测", "改进"]:
            assert title in response.text
        assert "<nav" in response.text

    def test_htmx_gets_only_the_tree_fragment(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session))
        response = client.get("/requirements", headers={**HX, "HX-Target": "requirement-tree"})
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div id="requirement-tree">')
        assert "<nav" not in response.text

    def test_htmx_with_unknown_target_gets_the_full_page(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session))
        response = client.get("/requirements", headers={**HX, "HX-Target": "elsewhere"})
        assert "<nav" in response.text

    def test_filter_by_owner_shows_only_their_clauses(
        self, client: TestClient, session: Session
    ) -> None:
        owner = make_user(session, roles=[Role.owner], name="赵责任")
        requirement = first_clause(session)
        status = _status(session, requirement)
        status.owner_id = owner.id
        session.add(status)
        session.commit()
        sign_in(client, session, owner)
        response = client.get(f"/requirements?owner={owner.id}")
        assert "两化融合方针" in response.text
        assert "管理者代表" not in response.text.split('id="requirement-tree"')[1]

    def test_filter_with_no_match_says_so(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session))
        response = client.get("/requirements?applicable=no")
        assert "没有符合筛选条件的要求" in response.text

    def test_bad_filter_value_is_422_not_500(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session))
        assert client.get("/requirements?status=bogus").status_code == 422

    def test_chapters_come_closed_and_load_their_clauses_when_opened(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session))
        chapter = _chapter(session, first_clause(session))
        response = client.get("/requirements")
        tree = _tree_part(response)
        assert "两化融合方针" not in tree  # a clause: only its chapter is on the page
        assert f'hx-get="/requirements/{chapter.id}/subtree"' in tree
        assert f'hx-target="#clauses-{chapter.id}"' in tree
        # Without JavaScript the chapter's link asks for the page with that chapter open.
        no_js = f"/requirements?framework={chapter.framework_id}&amp;open={chapter.id}"
        assert f'href="{no_js}#chapter-{chapter.id}"' in tree

    def test_open_shows_that_chapter_with_its_clauses_and_coverage(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session))
        policy = first_clause(session)
        make_evidence(session, ("IIMS.LEAD.POLICY",))
        chapter = _chapter(session, policy)
        response = client.get(f"/requirements?framework={chapter.framework_id}&open={chapter.id}")
        tree = _tree_part(response)
        assert f'<details class="chapter" id="chapter-{chapter.id}" open>' in tree
        assert tree.count("<details") - tree.count(" open>") == 6  # the other chapters stay shut
        row = tree.split(f'id="clause-{policy.id}"')[1].split("</tr>")[0]
        assert f'href="/requirements/{policy.id}"' in row
        assert 'data-coverage="2"' in row
        assert "已覆盖" in row
        assert "证据：1 / 5" in tree  # the chapter's roll-up counts it

    def test_open_with_an_unknown_chapter_opens_nothing(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session))
        response = client.get("/requirements?open=987654")
        assert response.status_code == 200
        assert " open>" not in _tree_part(response)
        assert client.get("/requirements?open=abc").status_code == 422

    def test_a_filter_with_few_matches_shows_them_expanded(
        self, client: TestClient, session: Session
    ) -> None:
        status = _status(session, clause(session, "IIMS.SUP.FUNDS"))
        status.implementation_status = ImplementationStatus.implemented
        session.add(status)
        session.commit()
        sign_in(client, session, make_user(session))
        response = client.get("/requirements?status=implemented")
        tree = _tree_part(response)
        assert "资金投入" in tree
        assert tree.count("<details") == 1
        assert "1 条符合" in tree

    def test_a_filter_with_many_matches_leaves_them_to_load_per_chapter(
        self, client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(requirement_service, "EXPAND_MATCHES_MAX", 3)
        sign_in(client, session, make_user(session))
        response = client.get("/requirements?status=not_started&applicable=yes")
        tree = _tree_part(response)
        assert "两化融合方针" not in tree
        assert " open>" not in tree
        assert "38 条要求符合筛选条件" in tree
        chapter = _chapter(session, first_clause(session))
        # Opening a chapter asks for its matches only, with the same filters.
        assert (
            f'hx-get="/requirements/{chapter.id}/subtree?status=not_started&amp;applicable=yes"'
            in tree
        )


class TestSubtree:
    def _get(
        self, client: TestClient, node: Requirement, query: str = "", htmx: bool = True
    ) -> Response:
        headers = {**HX, "HX-Target": f"clauses-{node.id}"} if htmx else {}
        response: Response = client.get(f"/requirements/{node.id}/subtree{query}", headers=headers)
        return response

    def test_htmx_gets_the_chapter_clauses_alone(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.viewer]))
        policy = first_clause(session)
        make_evidence(session, ("IIMS.LEAD.POLICY",))
        response = self._get(client, _chapter(session, policy))
        assert response.status_code == 200
        assert response.headers["vary"].startswith("HX-Request")
        assert response.text.lstrip().startswith('<div class="table-responsive">')
        assert "<nav" not in response.text
        for title in ["最高管理者", "两化融合方针", "管理者代表"]:
            assert title in response.text
        assert "资金投入" not in response.text  # another chapter's
        row = response.text.split(f'id="clause-{policy.id}"')[1].split("</tr>")[0]
        assert f'href="/requirements/{policy.id}"' in row
        assert 'data-coverage="2"' in row

    def test_without_htmx_goes_to_the_tree_with_the_chapter_open(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session))
        chapter = _chapter(session, first_clause(session))
        response = self._get(client, chapter, "?status=planned", htmx=False)
        assert response.status_code == 303
        assert response.headers["location"] == (
            f"/requirements?framework={chapter.framework_id}&open={chapter.id}"
            f"&status=planned#chapter-{chapter.id}"
        )
        page = client.get(response.headers["location"].split("#")[0])
        assert "<nav" in page.text

    def test_htmx_for_another_region_is_sent_to_the_tree(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session))
        chapter = _chapter(session, first_clause(session))
        response = client.get(
            f"/requirements/{chapter.id}/subtree", headers={**HX, "HX-Target": "elsewhere"}
        )
        assert response.status_code == 204
        assert response.headers["HX-Redirect"].endswith(f"open={chapter.id}#chapter-{chapter.id}")

    def test_filters_narrow_the_clauses(self, client: TestClient, session: Session) -> None:
        policy = first_clause(session)
        status = _status(session, policy)
        status.implementation_status = ImplementationStatus.implemented
        session.add(status)
        session.commit()
        sign_in(client, session, make_user(session))
        chapter = _chapter(session, policy)
        response = self._get(client, chapter, "?status=implemented")
        assert "两化融合方针" in response.text
        assert "管理者代表" not in response.text
        response = self._get(client, chapter, "?status=planned")
        assert "没有符合筛选条件的要求" in response.text
        assert self._get(client, chapter, "?status=bogus").status_code == 422

    def test_a_section_gets_the_clauses_below_it(
        self, client: TestClient, session: Session
    ) -> None:
        framework_service.load(session=session, now=NOW, catalogue=_nested_catalogue())
        session.commit()
        section = session.exec(select(Requirement).where(Requirement.key == "NEST.A.ONE")).one()
        sign_in(client, session, make_user(session))
        response = self._get(client, section)
        assert "甲一一" in response.text
        assert "甲一二" in response.text
        assert "甲二" not in response.text  # a sibling, not below
        redirect = self._get(client, section, htmx=False)
        assert redirect.headers["location"].endswith(
            f"open={section.chapter_id}#clause-{section.id}"
        )
        leaf = session.exec(select(Requirement).where(Requirement.key == "NEST.A.TWO")).one()
        assert "该条款下没有下级条款" in self._get(client, leaf).text

    def test_unknown_node_is_404_in_chinese(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session))
        for headers in ({**HX, "HX-Target": "clauses-987654"}, {}):
            response = client.get("/requirements/987654/subtree", headers=headers)
            assert response.status_code == 404
            assert "该要求条款不存在" in response.text

    def test_signed_out_is_sent_to_sign_in_like_the_tree(self, client: TestClient) -> None:
        response = client.get("/requirements/1/subtree")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=/requirements/1/subtree")


def _nested_catalogue() -> framework_service.CatalogueFile:
    def node(key: str, clause: str, title: str, *children: dict[str, object]) -> dict[str, object]:
        return {
            "key": key,
            "clause": clause,
            "title": {"zh_CN": title, "en": title},
            "confidence": "verified",
            "children": list(children),
        }

    return framework_service.CatalogueFile.model_validate(
        {
            "framework": {"code": "NEST", "version": "1", "title": {"zh_CN": "嵌套", "en": "Nest"}},
            "requirements": [
                node(
                    "NEST.A",
                    "1",
                    "甲",
                    node(
                        "NEST.A.ONE",
                        "1.1",
                        "甲一",
                        node("NEST.A.ONE.X", "1.1.1", "甲一一"),
                        node("NEST.A.ONE.Y", "1.1.2", "甲一二"),
                    ),
                    node("NEST.A.TWO", "1.2", "甲二"),
                )
            ],
        }
    )


class TestDetail:
    def test_shows_summary_evidence_and_confidence(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session))
        requirement = session.exec(
            select(Requirement).where(Requirement.key == "IIMS.PLAN.ASSESS")
        ).one()
        response = client.get(f"/requirements/{requirement.id}")
        assert response.status_code == 200
        assert requirement.summary_zh in response.text
        assert requirement.expected_evidence_zh[0] in response.text
        assert "未核实" in response.text  # the clause number is a placeholder

    def test_viewer_sees_no_edit_form(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.viewer]))
        response = client.get(f"/requirements/{first_clause(session).id}")
        assert "/status" not in response.text

    def test_unknown_id_is_404_in_chinese(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session))
        response = client.get("/requirements/987654")
        assert response.status_code == 404
        assert "该要求条款不存在" in response.text


class TestUpdateStatus:
    def _post(
        self, client: TestClient, requirement_id: int, data: dict[str, str], htmx: bool
    ) -> Response:
        headers = {**HX, "HX-Target": "requirement-status"} if htmx else {}
        response: Response = client.post(
            f"/requirements/{requirement_id}/status",
            data={**data, "csrf_token": csrf(client)},
            headers=headers,
        )
        return response

    def test_admin_sets_owner_and_status_with_htmx(
        self, client: TestClient, session: Session
    ) -> None:
        admin = make_user(session, roles=[Role.admin])
        owner = make_user(session, roles=[Role.owner])
        department = make_department(session)
        sign_in(client, session, admin)
        requirement = first_clause(session)
        response = self._post(
            client,
            requirement.id or 0,
            {
                "applicable": "true",
                "implementation_status": "in_progress",
                "owner_id": str(owner.id),
                "department_id": str(department.id),
                "notes": "年度复核",
            },
            htmx=True,
        )
        assert response.status_code == 200
        assert response.text.lstrip().startswith(
            '<div class="card shadow-sm" id="requirement-status">'
        )
        assert "showToast" in response.headers["HX-Trigger"]
        status = _status(session, requirement)
        assert (status.owner_id, status.department_id, status.implementation_status) == (
            owner.id,
            department.id,
            "in_progress",
        )
        event = session.exec(select(ActivityEvent).order_by(col(ActivityEvent.id).desc())).first()
        assert event is not None
        assert event.object_type == "requirement_status"
        assert event.after is not None
        assert event.after["implementation_status"] == "in_progress"

    def test_same_save_without_htmx_renders_the_whole_page(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        response = self._post(
            client, first_clause(session).id or 0, {"implementation_status": "planned"}, htmx=False
        )
        assert response.status_code == 200
        assert "<nav" in response.text
        assert "已保存" in response.text

    def test_exclusion_needs_a_reason_and_changes_nothing(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        requirement = first_clause(session)
        for htmx in (True, False):
            response = self._post(
                client,
                requirement.id or 0,
                {"applicable": "false", "exclusion_reason": "短"},
                htmx=htmx,
            )
            assert response.status_code == 422
            assert 'id="exclusion_reason-error"' in response.text
        assert _status(session, requirement).applicable is True

    def test_unknown_owner_and_bad_status_are_field_errors(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        requirement = first_clause(session)
        response = self._post(
            client, requirement.id or 0, {"implementation_status": "done!"}, htmx=True
        )
        assert response.status_code == 422
        assert 'id="implementation_status-error"' in response.text
        response = self._post(client, requirement.id or 0, {"owner_id": "999999"}, htmx=True)
        assert response.status_code == 422
        assert 'id="owner_id-error"' in response.text

    def test_over_long_notes_rejected(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        requirement = first_clause(session)
        response = self._post(client, requirement.id or 0, {"notes": "长" * 4001}, htmx=False)
        assert response.status_code == 422
        assert "最多" in response.text
        assert _status(session, requirement).notes == ""

    def test_unknown_requirement_is_404(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        assert self._post(client, 987654, {}, htmx=False).status_code == 404


class TestApi:
    def _token(self, session: Session, roles: list[Role]) -> dict[str, str]:
        user = make_user(session, roles=roles)
        _token, secret = api_token_service.create(
            session=session, now=NOW, user_id=user.id or 0, name="ci"
        )
        session.commit()
        return {"Authorization": f"Bearer {secret}"}

    def test_list_is_paginated_with_total(self, client: TestClient, session: Session) -> None:
        headers = self._token(session, [Role.viewer])
        response = client.get("/api/v1/requirements?size=10&page=2", headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert body["total"] == 45
        assert len(body["items"]) == 10
        assert body["items"][0]["status"]["implementation_status"] == "not_started"

    def test_without_token_is_401_json(self, client: TestClient) -> None:
        response = client.get("/api/v1/requirements")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "detail" in response.json()

    def test_revoked_token_is_401(self, client: TestClient, session: Session) -> None:
        user = make_user(session)
        token, secret = api_token_service.create(
            session=session, now=NOW, user_id=user.id or 0, name="x"
        )
        api_token_service.revoke(
            session=session, now=NOW, user_id=user.id or 0, token_id=token.id or 0
        )
        session.commit()
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code
            == 401
        )

    def test_admin_updates_status_and_validation_is_422(
        self, client: TestClient, session: Session
    ) -> None:
        headers = self._token(session, [Role.admin])
        requirement = first_clause(session)
        url = f"/api/v1/requirements/{requirement.id}/status"
        ok = client.put(url, headers=headers, json={"implementation_status": "implemented"})
        assert ok.status_code == 200
        assert ok.json()["status"]["implementation_status"] == "implemented"
        bad = client.put(url, headers=headers, json={"applicable": False, "exclusion_reason": ""})
        assert bad.status_code == 422
        assert bad.json()["field"] == "exclusion_reason"
        assert _status(session, requirement).applicable is True

    def test_viewer_cannot_update(self, client: TestClient, session: Session) -> None:
        headers = self._token(session, [Role.viewer])
        response = client.put(
            f"/api/v1/requirements/{first_clause(session).id}/status", headers=headers, json={}
        )
        assert response.status_code == 403

    def test_openapi_documents_the_api(self, client: TestClient) -> None:
        paths = client.get("/api/v1/openapi.json").json()["paths"]
        assert "/api/v1/requirements/{requirement_id}/status" in paths
        assert "/login" not in paths

    def test_the_published_422_body_is_the_one_the_api_sends(
        self, client: TestClient, session: Session
    ) -> None:
        schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
        assert set(schemas["ValidationError"]["properties"]) == {"field", "message"}
        user = make_user(session, roles=[Role.admin])
        _token, secret = api_token_service.create(
            session=session, now=NOW, user_id=user.id or 0, name="t"
        )
        session.commit()
        refused = client.put(
            f"/api/v1/requirements/{first_clause(session).id}/status",
            headers={"Authorization": f"Bearer {secret}"},
            json={"implementation_status": "nonsense"},
        )
        assert refused.status_code == 422
        (error,) = refused.json()["detail"]
        assert set(error) == {"field", "message"}
