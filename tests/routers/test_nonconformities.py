"""Nonconformity pages: the board, raising one, the inline CAPA forms, verification, deadlines,
and the JSON API; each htmx endpoint with and without HX headers."""

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models.nonconformity import (
    ActionStatus,
    CorrectiveAction,
    NcDeadline,
    NcGrade,
    NcSource,
    NcStatus,
    Nonconformity,
    Verification,
)
from app.models.user import Role, User
from app.services.accounts import api_tokens as api_token_service
from app.web.deps import get_now
from tests.factories import (
    HX,
    NOW,
    add_action,
    csrf,
    first_clause,
    fresh_nc,
    make_department,
    make_nc,
    make_user,
    post_nc,
    ready_for_verification,
    sign_in,
)


@pytest.fixture(autouse=True)
def frozen_clock(app: FastAPI) -> None:
    """Requests see the same day as the factories, so date rules read the same every day."""
    app.dependency_overrides[get_now] = lambda: NOW


def signed_in(client: TestClient, session: Session, role: Role) -> User:
    user = make_user(session, roles=[role], locale="en")  # messages checked in English
    sign_in(client, session, user)
    return user


class TestBoard:
    def test_lists_open_ones_with_counts_filters_and_pages(
        self, client: TestClient, session: Session
    ) -> None:
        owner = make_user(session, roles=[Role.owner], locale="en")
        department = make_department(session)
        late = make_nc(
            session, owner, title="逾期的不符合", grade=NcGrade.major, department_id=department.id
        )
        late.due_date = date(2026, 1, 1)  # raised earlier in the year, now past due
        late.raised_on = date(2025, 12, 1)
        session.add(late)
        make_nc(session, title="一般不符合")
        closed = make_nc(session, title="已关闭的不符合")
        closed.status = NcStatus.closed
        session.add(closed)
        session.commit()
        signed_in(client, session, Role.viewer)
        page = client.get("/nonconformities")
        assert page.status_code == 200
        assert "逾期的不符合" in page.text
        assert "一般不符合" in page.text
        assert "已关闭的不符合" not in page.text
        assert 'id="overdue-count">1<' in page.text
        assert 'id="overdue-nonconformities"' in page.text
        major = client.get(
            "/nonconformities?grade=major&overdue=1", headers={**HX, "HX-Target": "nc-list"}
        )
        assert major.text.lstrip().startswith('<div id="nc-list">')
        assert "逾期的不符合" in major.text
        assert "一般不符合" not in major.text
        by_department = client.get(f"/nonconformities?department={department.id}").text
        assert "逾期的不符合" in by_department
        assert "一般不符合" not in by_department
        everything = client.get("/nonconformities?status=all").text
        assert "已关闭的不符合" in everything
        first = client.get("/nonconformities?size=1").text
        assert "page=2&size=1" in first
        assert client.get("/nonconformities?status=bogus").status_code == 422

    def test_overdue_actions_are_listed(self, client: TestClient, session: Session) -> None:
        nc = make_nc(session)
        action = add_action(session, nc, description="补充培训记录", due_date=date(2026, 12, 1))
        action.due_date = date(2026, 11, 1)  # as if the plan slipped
        session.add(action)
        session.commit()
        signed_in(client, session, Role.viewer)
        page = client.get("/nonconformities").text
        block = page.split('id="overdue-actions"')[1]
        assert "补充培训记录" in block

    def test_overdue_cards_show_the_ten_longest_and_count_the_rest(
        self, client: TestClient, session: Session
    ) -> None:
        for n in range(12):
            nc = make_nc(session, title=f"逾期不符合{n:02d}")
            nc.due_date = date(2026, 10, 1 + n)
            action = add_action(
                session, nc, description=f"逾期措施{n:02d}", due_date=date(2026, 12, 1)
            )
            action.due_date = date(2026, 10, 1 + n)
            session.add_all([nc, action])
        done = add_action(session, nc, description="已完成的措施", due_date=date(2026, 12, 1))
        done.status = ActionStatus.done
        session.add(done)
        session.commit()
        signed_in(client, session, Role.viewer)
        page = client.get("/nonconformities").text
        late_ncs = page.split('id="overdue-nonconformities"')[1].split("</ul>")[0]
        assert late_ncs.count("逾期不符合") == 10
        assert "逾期不符合00" in late_ncs  # the longest overdue first
        assert "逾期不符合11" not in late_ncs
        assert 'href="/nonconformities?overdue=1">All 12 overdue' in late_ncs
        late_actions = page.split('id="overdue-actions"')[1].split("</ul>")[0]
        assert late_actions.count("逾期措施") == 10
        assert "12 actions are overdue; these are the 10 longest" in late_actions
        # The board's own rows count each nonconformity's open and all actions.
        row = page.split('id="nc-list"')[1].split("逾期不符合11")[1].split("</tr>")[0]
        assert "1 / 2" in row


class TestRaise:
    def test_auditor_raises_one_with_the_default_deadline(
        self, client: TestClient, session: Session
    ) -> None:
        signed_in(client, session, Role.auditor)
        owner = make_user(session, roles=[Role.owner], locale="en")
        form = client.get("/nonconformities/new")
        assert form.status_code == 200
        assert 'id="deadline-defaults"' in form.text
        response = post_nc(
            client,
            "/nonconformities",
            htmx=False,
            title="数据备份未按计划执行",
            source="external_audit",
            grade="minor",
            requirement_id=str(first_clause(session).id),
            owner_id=str(owner.id),
        )
        assert response.status_code == 303
        nc = session.exec(
            select(Nonconformity).where(Nonconformity.title == "数据备份未按计划执行")
        ).one()
        assert response.headers["location"] == f"/nonconformities/{nc.id}"
        assert nc.due_date == NOW.date() + timedelta(days=90)
        detail = client.get(f"/nonconformities/{nc.id}")
        assert detail.status_code == 200
        assert first_clause(session).clause in detail.text

    def test_bad_input_is_shown_next_to_the_fields(
        self, client: TestClient, session: Session
    ) -> None:
        signed_in(client, session, Role.auditor)
        response = post_nc(
            client,
            "/nonconformities",
            htmx=False,
            title="",
            grade="catastrophic",
            due_date="2020-01-01",
        )
        assert response.status_code == 422
        assert 'id="title-error"' in response.text
        assert 'id="grade-error"' in response.text
        early = post_nc(client, "/nonconformities", htmx=False, title="X", due_date="2020-01-01")
        assert early.status_code == 422
        assert 'id="due_date-error"' in early.text
        assert session.exec(select(Nonconformity)).all() == []

    def test_owners_may_not_raise(self, client: TestClient, session: Session) -> None:
        signed_in(client, session, Role.owner)
        assert client.get("/nonconformities/new").status_code == 403
        assert post_nc(client, "/nonconformities", htmx=False, title="X").status_code == 403


class TestHeader:
    def test_edit_and_reject_an_impossible_due_date(
        self, client: TestClient, session: Session
    ) -> None:
        nc = make_nc(session)
        signed_in(client, session, Role.executive)
        bad = post_nc(
            client, f"/nonconformities/{nc.id}", htmx=False, title="改", due_date="2020-01-01"
        )
        assert bad.status_code == 422
        assert 'id="due_date-error"' in bad.text
        assert fresh_nc(session, nc).title != "改"
        ok = post_nc(client, f"/nonconformities/{nc.id}", htmx=False, title="改", grade="major")
        assert ok.status_code == 303
        changed = fresh_nc(session, nc)
        assert changed.title == "改"
        assert changed.due_date == changed.raised_on + timedelta(days=30)

    def test_the_owner_cannot_be_changed_while_verification_is_pending(
        self, client: TestClient, session: Session
    ) -> None:
        owner = make_user(session, roles=[Role.executive], locale="en")
        nc = ready_for_verification(session, owner)
        successor = make_user(session, roles=[Role.owner], locale="en")
        sign_in(client, session, owner)
        response = post_nc(
            client,
            f"/nonconformities/{nc.id}",
            htmx=False,
            title=nc.title,
            owner_id=str(successor.id),
        )
        assert response.status_code == 409
        assert 'id="owner_id-error"' in response.text
        assert "verification is pending" in response.text
        assert fresh_nc(session, nc).owner_id == owner.id


class TestWork:
    def test_owner_records_correction_with_and_without_htmx(
        self, client: TestClient, session: Session
    ) -> None:
        owner = signed_in(client, session, Role.owner)
        nc = make_nc(session, owner)
        url = f"/nonconformities/{nc.id}/correction"
        today = NOW.date().isoformat()
        response = post_nc(client, url, correction="已补签", correction_done_on=today)
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div id="nc-work">')
        assert "showToast" in response.headers["hx-trigger"]
        plain = post_nc(
            client, url, htmx=False, correction="已补签并归档", correction_done_on=today
        )
        assert plain.status_code == 303
        assert fresh_nc(session, nc).correction == "已补签并归档"

    def test_a_done_date_before_the_raise_is_refused(
        self, client: TestClient, session: Session
    ) -> None:
        owner = signed_in(client, session, Role.owner)
        nc = make_nc(session, owner)
        response = post_nc(
            client,
            f"/nonconformities/{nc.id}/correction",
            correction="已补签",
            correction_done_on="2020-01-01",
        )
        assert response.status_code == 422
        assert 'id="correction-correction_done_on-error"' in response.text
        assert fresh_nc(session, nc).correction == ""
        plain = post_nc(
            client,
            f"/nonconformities/{nc.id}/correction",
            htmx=False,
            correction="已补签",
            correction_done_on="2020-01-01",
        )
        assert plain.status_code == 422
        assert "<nav" in plain.text

    def test_someone_elses_nonconformity_is_forbidden(
        self, client: TestClient, session: Session
    ) -> None:
        nc = make_nc(session, make_user(session, roles=[Role.owner], locale="en"))
        signed_in(client, session, Role.owner)
        response = post_nc(client, f"/nonconformities/{nc.id}/correction", correction="x")
        assert response.status_code == 403

    def test_root_cause_method_must_be_offered(self, client: TestClient, session: Session) -> None:
        owner = signed_in(client, session, Role.owner)
        nc = make_nc(session, owner)
        url = f"/nonconformities/{nc.id}/root-cause"
        bad = post_nc(client, url, root_cause_method="guessing", root_cause="因为")
        assert bad.status_code == 422
        assert 'id="root_cause-root_cause_method-error"' in bad.text
        early = post_nc(
            client,
            url,
            root_cause_method="five_whys",
            root_cause="因为",
            effectiveness_check_date="2020-01-01",
        )
        assert early.status_code == 422
        assert 'id="root_cause-effectiveness_check_date-error"' in early.text
        ok = post_nc(client, url, htmx=False, root_cause_method="fishbone", root_cause="职责不清")
        assert ok.status_code == 303
        assert fresh_nc(session, nc).root_cause == "职责不清"

    def test_start_moves_it_in_progress_once(self, client: TestClient, session: Session) -> None:
        owner = signed_in(client, session, Role.owner)
        nc = make_nc(session, owner)
        assert post_nc(client, f"/nonconformities/{nc.id}/start", htmx=False).status_code == 303
        assert fresh_nc(session, nc).status == NcStatus.in_progress
        again = post_nc(client, f"/nonconformities/{nc.id}/start")
        assert again.status_code == 409
        assert 'id="status-__all__-error"' in again.text


class TestActions:
    def test_add_then_the_action_owner_marks_it_done(
        self, client: TestClient, session: Session
    ) -> None:
        nc_owner = make_user(session, roles=[Role.owner], locale="en")
        doer = make_user(session, roles=[Role.owner], locale="en")
        nc = make_nc(session, nc_owner)
        sign_in(client, session, nc_owner)
        missing = post_nc(client, f"/nonconformities/{nc.id}/actions", description="")
        assert missing.status_code == 422
        assert 'id="action-description-error"' in missing.text
        added = post_nc(
            client,
            f"/nonconformities/{nc.id}/actions",
            description="修订备份制度",
            owner_id=str(doer.id),
            due_date=(NOW.date() + timedelta(days=20)).isoformat(),
        )
        assert added.status_code == 200
        assert "修订备份制度" in added.text
        assert (
            post_nc(
                client, f"/nonconformities/{nc.id}/actions", htmx=False, description="培训"
            ).status_code
            == 303
        )
        assert fresh_nc(session, nc).status == NcStatus.in_progress
        action = session.exec(
            select(CorrectiveAction).where(CorrectiveAction.description == "修订备份制度")
        ).one()
        sign_in(client, session, doer)
        url = f"/nonconformities/actions/{action.id}/status"
        bad = post_nc(client, url, status="finished")
        assert bad.status_code == 422
        assert f'id="action-{action.id}-status-error"' in bad.text
        done = post_nc(client, url, status="done")
        assert done.status_code == 200
        session.expire_all()
        saved = session.get(CorrectiveAction, action.id)
        assert saved is not None
        assert saved.status == ActionStatus.done
        other = session.exec(
            select(CorrectiveAction).where(CorrectiveAction.description == "培训")
        ).one()
        # Not the doer's action, nor the doer's nonconformity.
        forbidden = post_nc(client, f"/nonconformities/actions/{other.id}/status", status="done")
        assert forbidden.status_code == 403
        sign_in(client, session, nc_owner)
        cancel = post_nc(
            client, f"/nonconformities/actions/{other.id}/status", htmx=False, status="cancelled"
        )
        assert cancel.status_code == 422
        assert f'id="action-{other.id}-note-error"' in cancel.text
        cancelled = post_nc(
            client,
            f"/nonconformities/actions/{other.id}/status",
            htmx=False,
            status="cancelled",
            note="由另一项措施覆盖",
        )
        assert cancelled.status_code == 303

    def test_the_owner_plans_actions_on_their_own_nonconformity_only(
        self, client: TestClient, session: Session
    ) -> None:
        owner = signed_in(client, session, Role.owner)
        mine = make_nc(session, owner)
        page = client.get(f"/nonconformities/{mine.id}").text
        assert f'action="/nonconformities/{mine.id}/actions"' in page
        added = post_nc(client, f"/nonconformities/{mine.id}/actions", description="补充培训")
        assert added.status_code == 200
        assert "补充培训" in added.text
        plain = post_nc(
            client, f"/nonconformities/{mine.id}/actions", htmx=False, description="复查"
        )
        assert plain.status_code == 303
        theirs = make_nc(session, make_user(session, roles=[Role.owner], locale="en"))
        assert f'action="/nonconformities/{theirs.id}/actions"' not in (
            client.get(f"/nonconformities/{theirs.id}").text
        )
        refused = post_nc(client, f"/nonconformities/{theirs.id}/actions", description="越权")
        assert refused.status_code == 403
        assert (
            session.exec(
                select(CorrectiveAction).where(CorrectiveAction.nonconformity_id == theirs.id)
            ).all()
            == []
        )


class TestVerification:
    def test_request_is_refused_while_actions_are_open(
        self, client: TestClient, session: Session
    ) -> None:
        owner = signed_in(client, session, Role.owner)
        nc = make_nc(session, owner)
        add_action(session, nc, owner)
        url = f"/nonconformities/{nc.id}/request-verification"
        no_cause = post_nc(client, url)
        assert no_cause.status_code == 409
        assert "Record the root cause first." in no_cause.text
        nc.root_cause = "职责不清"
        session.add(nc)
        session.commit()
        response = post_nc(client, url)
        assert response.status_code == 409
        assert "done or cancelled" in response.text
        assert fresh_nc(session, nc).status == NcStatus.in_progress

    def test_request_verification_without_htmx(self, client: TestClient, session: Session) -> None:
        owner = signed_in(client, session, Role.owner)
        nc = ready_for_verification(session, owner)
        nc.status = NcStatus.in_progress
        session.add(nc)
        session.commit()
        response = post_nc(client, f"/nonconformities/{nc.id}/request-verification", htmx=False)
        assert response.status_code == 303
        assert fresh_nc(session, nc).status == NcStatus.verification

    def test_the_owner_may_not_verify(self, client: TestClient, session: Session) -> None:
        owner = make_user(session, roles=[Role.executive], locale="en")
        nc = ready_for_verification(session, owner)
        sign_in(client, session, owner)
        page = client.get(f"/nonconformities/{nc.id}").text
        assert "someone else verifies it" in page
        response = post_nc(client, f"/nonconformities/{nc.id}/verify", verdict="effective")
        assert response.status_code == 403
        assert "someone other than the owner" in response.text
        assert fresh_nc(session, nc).status == NcStatus.verification

    def test_a_refusal_is_a_toast_with_htmx_and_a_page_without(
        self, client: TestClient, session: Session
    ) -> None:
        nc = ready_for_verification(session, make_user(session, roles=[Role.owner], locale="en"))
        requester = make_user(session, roles=[Role.executive], locale="en")
        nc.verification_requested_by_id = requester.id  # as if they had sent it
        session.add(nc)
        session.commit()
        sign_in(client, session, requester)
        page = client.get(f"/nonconformities/{nc.id}").text
        assert "asked for its verification" in page
        assert f'action="/nonconformities/{nc.id}/verify"' not in page
        toast = post_nc(client, f"/nonconformities/{nc.id}/verify", verdict="effective")
        assert toast.status_code == 403
        assert toast.headers["content-type"].startswith("text/plain")
        assert toast.headers["hx-reswap"] == "none"
        assert toast.text.startswith("Verification must be by someone other than the owner")
        plain = post_nc(client, f"/nonconformities/{nc.id}/verify", htmx=False, verdict="effective")
        assert plain.status_code == 403
        assert "<nav" in plain.text
        assert "whoever asked for the verification" in plain.text
        assert fresh_nc(session, nc).status == NcStatus.verification

    def test_effective_closes_it(self, client: TestClient, session: Session) -> None:
        nc = ready_for_verification(session, make_user(session, roles=[Role.owner], locale="en"))
        signed_in(client, session, Role.auditor)
        bad = post_nc(client, f"/nonconformities/{nc.id}/verify", verdict="maybe")
        assert bad.status_code == 422
        assert 'id="verify-verdict-error"' in bad.text
        response = post_nc(
            client, f"/nonconformities/{nc.id}/verify", verdict="effective", notes="抽查 5 份记录"
        )
        assert response.status_code == 200
        assert "showToast" in response.headers["hx-trigger"]
        assert fresh_nc(session, nc).status == NcStatus.closed
        page = client.get(f"/nonconformities/{nc.id}").text
        assert "抽查 5 份记录" in page
        assert f'action="/nonconformities/{nc.id}/correction"' not in page  # read-only now
        again = post_nc(client, f"/nonconformities/{nc.id}/verify", htmx=False, verdict="effective")
        assert again.status_code == 409

    def test_not_effective_reopens_it_and_keeps_the_record(
        self, client: TestClient, session: Session
    ) -> None:
        nc = ready_for_verification(session, make_user(session, roles=[Role.owner], locale="en"))
        signed_in(client, session, Role.auditor)
        response = post_nc(
            client,
            f"/nonconformities/{nc.id}/verify",
            htmx=False,
            verdict="not_effective",
            notes="仍发现未备份",
        )
        assert response.status_code == 303
        reopened = fresh_nc(session, nc)
        assert reopened.status == NcStatus.in_progress
        assert reopened.reopened_count == 1
        assert len(session.exec(select(Verification)).all()) == 1
        page = client.get(f"/nonconformities/{nc.id}").text
        assert "仍发现未备份" in page


class TestDeadlines:
    def test_admin_edits_with_validation(self, client: TestClient, session: Session) -> None:
        signed_in(client, session, Role.admin)
        page = client.get("/nonconformities/deadlines")
        assert page.status_code == 200
        name = f"days-{NcSource.internal_audit}-{NcGrade.major}"
        bad = client.post(
            "/nonconformities/deadlines",
            data={name: "0"},
            headers={**HX, "HX-Target": "nc-deadlines", "X-CSRF-Token": csrf(client)},
        )
        assert bad.status_code == 422
        assert f'id="{name}-error"' in bad.text
        assert session.exec(select(NcDeadline)).all() == []
        ok = client.post(
            "/nonconformities/deadlines",
            data={name: "21"},
            headers={**HX, "HX-Target": "nc-deadlines", "X-CSRF-Token": csrf(client)},
        )
        assert ok.status_code == 200
        assert ok.text.lstrip().startswith('<div id="nc-deadlines"')
        plain = client.post(
            "/nonconformities/deadlines", data={name: "20", "csrf_token": csrf(client)}
        )
        assert plain.status_code == 303
        session.expire_all()
        stored = session.get(NcDeadline, (NcSource.internal_audit, NcGrade.major))
        assert stored is not None
        assert stored.days == 20

    def test_others_only_read_them(self, client: TestClient, session: Session) -> None:
        signed_in(client, session, Role.auditor)
        page = client.get("/nonconformities/deadlines")
        assert page.status_code == 200
        assert "<input class" not in page.text
        response = client.post("/nonconformities/deadlines", data={"csrf_token": csrf(client)})
        assert response.status_code == 403


class TestApi:
    def _token(self, session: Session) -> dict[str, Any]:
        user = make_user(session, roles=[Role.viewer], locale="en")
        _token, secret = api_token_service.create(
            session=session, now=NOW, user_id=user.id or 0, name="t"
        )
        session.commit()
        return {"Authorization": f"Bearer {secret}"}

    def test_list_and_detail(self, client: TestClient, session: Session) -> None:
        nc = make_nc(session, title="接口里的不符合")
        add_action(session, nc)
        headers = self._token(session)
        listing = client.get("/api/v1/nonconformities?size=10", headers=headers)
        assert listing.status_code == 200
        body = listing.json()
        assert body["total"] >= 1
        item = next(i for i in body["items"] if i["id"] == nc.id)
        assert item["open_actions"] == 1
        assert item["status"] == "in_progress"
        detail = client.get(f"/api/v1/nonconformities/{nc.id}", headers=headers).json()
        assert detail["title"] == "接口里的不符合"
        assert len(detail["actions"]) == 1
        assert client.get("/api/v1/nonconformities/999999", headers=headers).status_code == 404
        assert client.get("/api/v1/nonconformities").status_code == 401
