"""Review of evidence over HTTP: a changed address of approved link evidence waits for approval,
and an approval or return names the revision the reviewer was shown."""

import asyncio
import re
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, col, select

from app.models.evidence import Evidence, EvidenceRevision, EvidenceStatus
from app.models.user import Role, User
from app.services.accounts import api_tokens as api_token_service
from app.services.evidence import approval
from app.services.evidence import service as evidence_service
from tests.factories import HX, NOW, PDF, csrf, make_user, sign_in, upload_revision

OLD_URL = "https://erp.example.cn/purchase"
NEW_URL = "https://evil.example.com/phish"


def _post(client: TestClient, path: str, /, htmx: bool = False, **data: str) -> Response:
    response: Response
    if htmx:
        response = client.post(path, data=data, headers={**HX, "X-CSRF-Token": csrf(client)})
    else:
        response = client.post(path, data={**data, "csrf_token": csrf(client)})
    return response


def _revisions(session: Session, evidence_id: int) -> list[EvidenceRevision]:
    session.expire_all()
    return list(
        session.exec(
            select(EvidenceRevision)
            .where(EvidenceRevision.evidence_id == evidence_id)
            .order_by(col(EvidenceRevision.number))
        ).all()
    )


def _fresh(session: Session, evidence_id: int) -> Evidence:
    session.expire_all()
    found = session.get(Evidence, evidence_id)
    assert found is not None
    return found


def _seen_revision(client: TestClient, evidence_id: int) -> str:
    page = client.get(f"/evidence/{evidence_id}").text
    found = re.search(r'name="revision_id" value="(\d+)"', page)
    assert found, "the approve form carries the revision shown"
    return found.group(1)


def _approve(client: TestClient, evidence_id: int, **data: str) -> Response:
    return _post(client, f"/evidence/{evidence_id}/approve", htmx=False, **data)


def _approved_link(client: TestClient, session: Session) -> tuple[int, User, User]:
    owner = make_user(session, roles=[Role.owner])
    approver = make_user(session, roles=[Role.executive])
    sign_in(client, session, owner)
    created = _post(
        client, "/evidence", title="ERP 采购记录", kind="link", url=OLD_URL, owner_id=str(owner.id)
    )
    assert created.status_code == 303
    evidence_id = int(created.headers["location"].rsplit("/", 1)[1])
    assert _post(client, f"/evidence/{evidence_id}/submit").status_code == 303
    sign_in(client, session, approver)
    seen = _seen_revision(client, evidence_id)
    assert _approve(client, evidence_id, revision_id=seen).status_code == 303
    assert _fresh(session, evidence_id).status == EvidenceStatus.approved
    sign_in(client, session, owner)
    return evidence_id, owner, approver


def _edit(client: TestClient, evidence_id: int, htmx: bool = False, **changes: str) -> Response:
    values = {"title": "ERP 采购记录", "kind": "link", "url": OLD_URL, **changes}
    return _post(client, f"/evidence/{evidence_id}", htmx=htmx, **values)


class TestChangedAddress:
    def test_stays_unapproved_while_the_approved_address_stays_in_force(
        self, client: TestClient, session: Session
    ) -> None:
        evidence_id, _owner, _approver = _approved_link(client, session)
        response = _edit(client, evidence_id, url=NEW_URL)
        assert response.status_code == 303
        assert "修订版 2" in unquote(response.cookies.get("ronghe_toast") or "")
        evidence = _fresh(session, evidence_id)
        assert (evidence.url, evidence.status) == (OLD_URL, EvidenceStatus.approved)
        latest = _revisions(session, evidence_id)[-1]
        assert (latest.number, latest.url, latest.approved_at) == (2, NEW_URL, None)
        page = client.get(f"/evidence/{evidence_id}").text
        assert f'<a href="{OLD_URL}"' in page
        assert f'href="{NEW_URL}"' not in page
        assert 'id="proposed-changes"' in page
        assert "提交修订版 2 审核" in page

    def test_with_htmx_the_save_redirects_and_changes_the_same(
        self, client: TestClient, session: Session
    ) -> None:
        evidence_id, _owner, _approver = _approved_link(client, session)
        response = _edit(client, evidence_id, htmx=True, url=NEW_URL)
        assert response.status_code == 204
        assert response.headers["hx-redirect"] == f"/evidence/{evidence_id}"
        assert _fresh(session, evidence_id).url == OLD_URL
        assert len(_revisions(session, evidence_id)) == 2

    def test_takes_effect_once_someone_else_approves_it(
        self, client: TestClient, session: Session
    ) -> None:
        evidence_id, _owner, approver = _approved_link(client, session)
        _edit(client, evidence_id, url=NEW_URL)
        assert _post(client, f"/evidence/{evidence_id}/submit").status_code == 303
        own = _approve(client, evidence_id, revision_id=_seen_revision_id(session, evidence_id))
        assert own.status_code == 403
        sign_in(client, session, approver)
        page = client.get(f"/evidence/{evidence_id}").text
        assert NEW_URL in page.split('id="proposed-changes"')[1]
        assert (
            _approve(
                client, evidence_id, revision_id=_seen_revision(client, evidence_id)
            ).status_code
            == 303
        )
        assert _fresh(session, evidence_id).url == NEW_URL

    def test_the_edit_form_shows_the_proposal_and_saving_it_unchanged_adds_nothing(
        self, client: TestClient, session: Session
    ) -> None:
        evidence_id, _owner, _approver = _approved_link(client, session)
        _edit(client, evidence_id, url=NEW_URL)
        form = client.get(f"/evidence/{evidence_id}/edit").text
        assert f'value="{NEW_URL}"' in form
        assert 'name="period_from"' in form
        assert 'id="review-note"' in form
        again = _edit(client, evidence_id, url=NEW_URL, description="每月导出")
        assert again.status_code == 303
        assert len(_revisions(session, evidence_id)) == 2
        assert _fresh(session, evidence_id).description == "每月导出"

    def test_a_changed_kind_is_refused_next_to_the_field(
        self, client: TestClient, session: Session
    ) -> None:
        evidence_id, _owner, _approver = _approved_link(client, session)
        response = _edit(client, evidence_id, kind="document")
        assert response.status_code == 409
        assert 'id="kind-error"' in response.text
        assert "不能再更改类型" in response.text
        assert _fresh(session, evidence_id).kind == "link"

    def test_the_api_shows_the_address_in_force_and_offers_no_way_to_change_it(
        self, client: TestClient, session: Session
    ) -> None:
        evidence_id, owner, _approver = _approved_link(client, session)
        _edit(client, evidence_id, url=NEW_URL)
        _token, secret = api_token_service.create(
            session=session, now=NOW, user_id=owner.id or 0, name="t"
        )
        session.commit()
        headers = {"Authorization": f"Bearer {secret}"}
        body = client.get(f"/api/v1/evidence/{evidence_id}", headers=headers).json()
        assert body["url"] == OLD_URL
        assert [r["url"] for r in body["revisions"]] == [NEW_URL, OLD_URL]
        listed = client.get("/api/v1/evidence?q=erp", headers=headers).json()
        item = next(i for i in listed["items"] if i["id"] == evidence_id)
        assert (item["url"], item["current"]) == (OLD_URL, True)
        for method in ("put", "patch"):
            answer = getattr(client, method)(
                f"/api/v1/evidence/{evidence_id}", headers=headers, json={"url": NEW_URL}
            )
            assert answer.status_code == 405
        assert _fresh(session, evidence_id).url == OLD_URL


def _seen_revision_id(session: Session, evidence_id: int) -> str:
    return str(_revisions(session, evidence_id)[-1].id)


class TestApproveWhatWasSeen:
    def _in_review(self, client: TestClient, session: Session) -> tuple[int, User, User]:
        owner = make_user(session, roles=[Role.owner])
        approver = make_user(session, roles=[Role.executive])
        sign_in(client, session, owner)
        created = _post(client, "/evidence", title="文件控制程序", kind="document")
        evidence_id = int(created.headers["location"].rsplit("/", 1)[1])
        assert upload_revision(client, evidence_id).status_code == 200
        assert _post(client, f"/evidence/{evidence_id}/submit").status_code == 303
        return evidence_id, owner, approver

    def _newer_upload(
        self, client: TestClient, session: Session, owner: User, evidence_id: int
    ) -> None:
        sign_in(client, session, owner)
        assert (
            upload_revision(client, evidence_id, content=PDF + b"%v2\n", name="v2.pdf").status_code
            == 200
        )
        assert _post(client, f"/evidence/{evidence_id}/submit").status_code == 303

    def test_a_revision_uploaded_after_the_page_was_opened_is_refused_with_htmx(
        self, client: TestClient, session: Session
    ) -> None:
        evidence_id, owner, approver = self._in_review(client, session)
        sign_in(client, session, approver)
        seen = _seen_revision(client, evidence_id)
        self._newer_upload(client, session, owner, evidence_id)
        sign_in(client, session, approver)
        response = _post(client, f"/evidence/{evidence_id}/approve", htmx=True, revision_id=seen)
        assert response.status_code == 409
        assert response.headers["hx-reswap"] == "none"
        assert "重新加载页面" in response.text
        assert all(r.approved_at is None for r in _revisions(session, evidence_id))
        assert _fresh(session, evidence_id).status == EvidenceStatus.in_review

    def test_without_htmx_the_refusal_is_a_page(self, client: TestClient, session: Session) -> None:
        evidence_id, owner, approver = self._in_review(client, session)
        sign_in(client, session, approver)
        seen = _seen_revision(client, evidence_id)
        self._newer_upload(client, session, owner, evidence_id)
        sign_in(client, session, approver)
        response = _approve(client, evidence_id, revision_id=seen)
        assert response.status_code == 409
        assert "<nav" in response.text
        assert "修订版 2 是在您打开本页面之后新增的" in response.text
        assert all(r.approved_at is None for r in _revisions(session, evidence_id))
        fresh_seen = _seen_revision(client, evidence_id)
        assert fresh_seen != seen
        assert _approve(client, evidence_id, revision_id=fresh_seen).status_code == 303
        approved = [r.number for r in _revisions(session, evidence_id) if r.approved_at]
        assert approved == [2]

    def test_an_approval_that_names_no_revision_is_refused(
        self, client: TestClient, session: Session
    ) -> None:
        evidence_id, _owner, approver = self._in_review(client, session)
        sign_in(client, session, approver)
        for data in ({}, {"revision_id": "abc"}, {"revision_id": "99999999"}):
            assert _approve(client, evidence_id, **data).status_code == 409
        assert all(r.approved_at is None for r in _revisions(session, evidence_id))

    def test_a_return_names_the_revision_too(self, client: TestClient, session: Session) -> None:
        evidence_id, owner, approver = self._in_review(client, session)
        sign_in(client, session, approver)
        seen = _seen_revision(client, evidence_id)
        self._newer_upload(client, session, owner, evidence_id)
        sign_in(client, session, approver)
        stale = _post(client, f"/evidence/{evidence_id}/return", revision_id=seen, reason="补充")
        assert stale.status_code == 409
        assert _fresh(session, evidence_id).status == EvidenceStatus.in_review
        current = _seen_revision(client, evidence_id)
        back = _post(client, f"/evidence/{evidence_id}/return", revision_id=current, reason="补充")
        assert back.status_code == 303
        assert _fresh(session, evidence_id).status == EvidenceStatus.draft

    def test_an_approval_without_the_csrf_token_changes_nothing(
        self, client: TestClient, session: Session
    ) -> None:
        evidence_id, _owner, approver = self._in_review(client, session)
        sign_in(client, session, approver)
        seen = _seen_revision(client, evidence_id)
        response = client.post(f"/evidence/{evidence_id}/approve", data={"revision_id": seen})
        assert response.status_code == 403
        assert all(r.approved_at is None for r in _revisions(session, evidence_id))


class TestLockedOffTheEventLoop:
    """Saving, returning and approving hold the item locked until commit, and on SQLite wait up
    to 30 s for the write lock: the wait happens in the thread pool, so every other request is
    still answered meanwhile."""

    def test_save_return_and_approve_wait_for_the_lock_off_the_event_loop(
        self, client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        on_loop: list[bool] = []
        take = evidence_service.lock  # what approval.py imported as `lock`

        def watched(session: Session, evidence: Evidence) -> None:
            try:
                asyncio.get_running_loop()
                on_loop.append(True)
            except RuntimeError:
                on_loop.append(False)
            take(session, evidence)

        monkeypatch.setattr(approval, "lock", watched)
        evidence_id, _owner, approver = _approved_link(client, session)
        assert _edit(client, evidence_id, url=NEW_URL).status_code == 303
        assert _post(client, f"/evidence/{evidence_id}/submit").status_code == 303
        sign_in(client, session, approver)
        returned = _post(
            client,
            f"/evidence/{evidence_id}/return",
            revision_id=_seen_revision(client, evidence_id),
            reason="地址不对",
        )
        assert returned.status_code == 303
        assert _fresh(session, evidence_id).url == OLD_URL
        assert on_loop == [False, False, False]  # the first approval, the save, the return
