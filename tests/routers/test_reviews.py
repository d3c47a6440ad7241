"""Management review pages: planning, the review page's inline forms with and without htmx,
holding and signing, actions, the report in three forms, and the JSON API."""

from datetime import date
from io import BytesIO
from typing import Any

from docx import Document
from fastapi.testclient import TestClient
from httpx import Response
from pypdf import PdfReader
from sqlmodel import Session, select

from app.models.review import (
    ManagementReview,
    ManagementReviewCreate,
    ReviewAction,
    ReviewActionCreate,
    ReviewActionStatus,
    ReviewStatus,
)
from app.models.user import Role, User
from app.services.accounts import api_tokens as api_token_service
from app.services.reviews import service as review_service
from tests.factories import HX, NOW, csrf, make_user, sign_in

TITLE = "2026年度管理评审"


def _review(
    session: Session,
    chair: User,
    *,
    held: bool = False,
    signed: bool = False,
    action_owner: User | None = None,
) -> ManagementReview:
    review = review_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=ManagementReviewCreate(
            title=TITLE,
            planned_on=date(2026, 11, 20),
            chair_id=chair.id or 0,
            location="一号会议室",
        ),
    )
    if held or signed or action_owner:
        review_service.mark_held(
            session=session, now=NOW, actor_id=None, review=review, held_on=date(2026, 11, 20)
        )
    if action_owner is not None:
        review_service.add_action(
            session=session,
            now=NOW,
            actor_id=None,
            review=review,
            data=ReviewActionCreate(
                description="建立数据治理委员会",
                owner_id=action_owner.id or 0,
                due_date=date(2027, 3, 31),
            ),
        )
    if signed:
        review_service.sign(session=session, now=NOW, actor_id=chair.id or 0, review=review)
    session.commit()
    return review


def _action(session: Session, review: ManagementReview) -> ReviewAction:
    return session.exec(select(ReviewAction).where(ReviewAction.review_id == review.id)).one()


def _post(client: TestClient, url: str, target: str | None = None, **data: Any) -> Response:
    response: Response
    if target is None:
        response = client.post(url, data={**data, "csrf_token": csrf(client)})
    else:
        headers = {**HX, "HX-Target": target, "X-CSRF-Token": csrf(client)}
        response = client.post(url, data=data, headers=headers)
    return response


def _admin(client: TestClient, session: Session) -> User:
    admin = make_user(session, roles=[Role.admin])
    sign_in(client, session, admin)
    return admin


class TestList:
    def test_lists_reviews_with_chair_and_open_actions(
        self, client: TestClient, session: Session
    ) -> None:
        chair = make_user(session, roles=[Role.executive], name="李总")
        _review(session, chair, action_owner=make_user(session))
        sign_in(client, session, make_user(session))
        page = client.get("/reviews")
        assert page.status_code == 200
        assert "<nav" in page.text
        row = page.text.split(TITLE)[1].split("</tr>")[0]
        assert "李总" in row
        assert '<td class="text-end">1</td>' in row
        assert 'href="/reviews/new"' not in page.text  # a viewer plans nothing

    def test_pages_with_htmx_render_only_the_list(
        self, client: TestClient, session: Session
    ) -> None:
        chair = make_user(session, roles=[Role.executive])
        for _ in range(3):
            _review(session, chair)
        sign_in(client, session, make_user(session))
        response = client.get("/reviews?page=2&size=2", headers={**HX, "HX-Target": "review-list"})
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div id="review-list">')
        assert response.text.count(f">{TITLE}</a>") == 1
        assert "3" in response.text.split("text-secondary small")[1]


class TestCreate:
    def test_admin_plans_a_review(self, client: TestClient, session: Session) -> None:
        _admin(client, session)
        chair = make_user(session, roles=[Role.executive], name="李总")
        form = client.get("/reviews/new")
        assert form.status_code == 200
        assert "李总" in form.text
        response = _post(
            client, "/reviews", title=TITLE, planned_on="2026-12-20", chair_id=str(chair.id)
        )
        assert response.status_code == 303
        review = session.exec(select(ManagementReview)).one()
        assert response.headers["location"] == f"/reviews/{review.id}"
        assert (review.chair_id, review.status) == (chair.id, ReviewStatus.planned)

    def test_a_chair_outside_top_management_is_refused_next_to_the_field(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        owner = make_user(session, roles=[Role.owner])
        response = _post(
            client, "/reviews", title=TITLE, planned_on="2026-12-20", chair_id=str(owner.id)
        )
        assert response.status_code == 422
        assert 'id="chair_id-error"' in response.text
        missing = _post(client, "/reviews", chair_id=str(owner.id))
        assert missing.status_code == 422
        assert 'id="title-error"' in missing.text
        assert 'id="planned_on-error"' in missing.text
        assert session.exec(select(ManagementReview)).first() is None

    def test_only_the_administrator_plans(self, client: TestClient, session: Session) -> None:
        chair = make_user(session, roles=[Role.executive])
        sign_in(client, session, chair)
        assert client.get("/reviews/new").status_code == 403
        response = _post(
            client, "/reviews", title=TITLE, planned_on="2026-12-20", chair_id=str(chair.id)
        )
        assert response.status_code == 403


class TestDetail:
    def test_live_package_until_held_then_frozen(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        review = _review(session, make_user(session, roles=[Role.executive]))
        page = client.get(f"/reviews/{review.id}")
        assert page.status_code == 200
        assert 'id="inputs-live"' in page.text
        assert "7." in page.text  # all seven input sections
        held = _post(client, f"/reviews/{review.id}/held", held_on="2026-11-24")
        assert held.status_code == 303
        page = client.get(f"/reviews/{review.id}")
        assert 'id="inputs-frozen"' in page.text
        assert 'id="inputs-live"' not in page.text
        session.refresh(review)
        assert review.inputs is not None

    def test_unknown_review_is_404(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session))
        assert client.get("/reviews/999999").status_code == 404


class TestHeaderAttendeesMinutes:
    def test_edit_header_with_and_without_htmx(self, client: TestClient, session: Session) -> None:
        _admin(client, session)
        chair = make_user(session, roles=[Role.executive])
        review = _review(session, chair)
        fields = {"planned_on": "2026-12-01", "chair_id": str(chair.id), "location": "二号会议室"}
        inline = _post(client, f"/reviews/{review.id}", "review-header", title="年度评审", **fields)
        assert inline.status_code == 200
        assert inline.text.lstrip().startswith('<div id="review-header">')
        assert "年度评审" in inline.text
        assert "showToast" in inline.headers["hx-trigger"]
        plain = _post(client, f"/reviews/{review.id}", title="年度评审（定稿）", **fields)
        assert plain.status_code == 303
        session.refresh(review)
        assert (review.title, review.location) == ("年度评审（定稿）", "二号会议室")
        bad = _post(client, f"/reviews/{review.id}", "review-header", title="", **fields)
        assert bad.status_code == 422
        assert 'id="title-error"' in bad.text

    def test_attendees_with_and_without_htmx(self, client: TestClient, session: Session) -> None:
        _admin(client, session)
        review = _review(session, make_user(session, roles=[Role.executive]))
        a, b = make_user(session, name="甲"), make_user(session, name="乙")
        url = f"/reviews/{review.id}/attendees"
        headers = {**HX, "HX-Target": "review-attendees", "X-CSRF-Token": csrf(client)}
        inline = client.post(url, data={"attendee_ids": [str(a.id), str(b.id)]}, headers=headers)
        assert inline.status_code == 200
        assert inline.text.lstrip().startswith('<div class="card shadow-sm" id="review-attendees">')
        assert f'value="{a.id}" id="attendee-{a.id}" checked' in inline.text
        plain = client.post(url, data={"attendee_ids": [str(b.id)], "csrf_token": csrf(client)})
        assert plain.status_code == 303
        names = [
            u.name for u in review_service.attendees(session=session, review_id=review.id or 0)
        ]
        assert names == ["乙"]
        bad = client.post(url, data={"attendee_ids": ["x"]}, headers=headers)
        assert bad.status_code == 422
        assert 'id="attendee_ids-error"' in bad.text

    def test_minutes_with_and_without_htmx(self, client: TestClient, session: Session) -> None:
        _admin(client, session)
        review = _review(session, make_user(session, roles=[Role.executive]), held=True)
        url = f"/reviews/{review.id}/minutes"
        inline = _post(
            client, url, "review-minutes", minutes="讨论了目标达成", decisions="增加预算"
        )
        assert inline.status_code == 200
        assert 'id="review-minutes"' in inline.text.split("\n")[0]
        assert "讨论了目标达成" in inline.text
        assert _post(client, url, minutes="纪要", decisions="决定").status_code == 303
        session.refresh(review)
        assert (review.minutes, review.decisions) == ("纪要", "决定")
        too_long = _post(client, url, "review-minutes", minutes="长" * 8001)
        assert too_long.status_code == 422
        assert 'id="minutes-error"' in too_long.text


class TestHeld:
    def test_future_date_and_second_time_are_refused(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        review = _review(session, make_user(session, roles=[Role.executive]))
        url = f"/reviews/{review.id}/held"
        future = _post(client, url, "review-header", held_on="2026-12-31")
        assert future.status_code == 422
        assert 'id="held_on-error"' in future.text
        session.refresh(review)
        assert (review.status, review.inputs) == (ReviewStatus.planned, None)
        done = _post(client, url, "review-header", held_on="2026-11-24")
        assert done.status_code == 204
        assert done.headers["hx-redirect"] == f"/reviews/{review.id}"
        again = _post(client, url, held_on="2026-11-24")
        assert again.status_code == 409
        assert "该评审已标记为已召开" in again.text
        assert "<nav" in again.text


class TestSign:
    def test_the_chair_signs_and_the_record_locks(
        self, client: TestClient, session: Session
    ) -> None:
        chair = make_user(session, roles=[Role.executive])
        review = _review(session, chair, held=True)
        sign_in(client, session, chair)
        page = client.get(f"/reviews/{review.id}")
        assert f'action="/reviews/{review.id}/sign"' in page.text
        signed = _post(client, f"/reviews/{review.id}/sign", "review-header")
        assert signed.status_code == 204
        session.refresh(review)
        assert review.status == ReviewStatus.signed
        assert 'id="review-locked"' in client.get(f"/reviews/{review.id}").text

    def test_another_executive_or_the_administrator_cannot_sign(
        self, client: TestClient, session: Session
    ) -> None:
        review = _review(session, make_user(session, roles=[Role.executive]), held=True)
        sign_in(client, session, make_user(session, roles=[Role.executive]))
        other = _post(client, f"/reviews/{review.id}/sign")
        assert other.status_code == 403
        assert "Only the chair" in other.text or "主持人" in other.text
        toast = _post(client, f"/reviews/{review.id}/sign", "review-header")
        assert toast.status_code == 403
        assert toast.headers["content-type"].startswith("text/plain")
        _admin(client, session)
        assert _post(client, f"/reviews/{review.id}/sign").status_code == 403
        session.refresh(review)
        assert review.status == ReviewStatus.held

    def test_signing_a_planned_review_is_a_conflict(
        self, client: TestClient, session: Session
    ) -> None:
        chair = make_user(session, roles=[Role.executive])
        review = _review(session, chair)
        sign_in(client, session, chair)
        response = _post(client, f"/reviews/{review.id}/sign", "review-header")
        assert response.status_code == 409
        assert response.text.lstrip().startswith('<div id="review-header">')

    def test_every_edit_of_a_signed_review_is_409_with_nothing_changed(
        self, client: TestClient, session: Session
    ) -> None:
        chair = make_user(session, roles=[Role.executive])
        review = _review(session, chair, signed=True)
        _admin(client, session)
        attempts = [
            (
                f"/reviews/{review.id}",
                "review-header",
                {"title": "改", "planned_on": "2026-11-20", "chair_id": str(chair.id)},
            ),
            (
                f"/reviews/{review.id}/attendees",
                "review-attendees",
                {"attendee_ids": str(chair.id)},
            ),
            (f"/reviews/{review.id}/minutes", "review-minutes", {"minutes": "改"}),
            (
                f"/reviews/{review.id}/actions",
                "review-actions",
                {"description": "补充", "owner_id": str(chair.id), "due_date": "2027-01-01"},
            ),
            (f"/reviews/{review.id}/held", "review-header", {"held_on": "2026-11-20"}),
        ]
        for url, target, data in attempts:
            inline = _post(client, url, target, **data)
            assert inline.status_code == 409, url
            plain = _post(client, url, **data)
            assert plain.status_code == 409, url
            assert "<nav" in plain.text
        session.refresh(review)
        assert (review.title, review.minutes) == (TITLE, "")
        assert review_service.attendees(session=session, review_id=review.id or 0) == []
        assert review_service.actions(session=session, review_id=review.id or 0) == []


class TestActions:
    def test_add_with_and_without_htmx_and_a_due_date_before_the_review(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        review = _review(session, make_user(session, roles=[Role.executive]), held=True)
        owner = make_user(session, name="张伟")
        url = f"/reviews/{review.id}/actions"
        fields = {"owner_id": str(owner.id)}
        inline = _post(
            client, url, "review-actions", description="甲", due_date="2027-01-31", **fields
        )
        assert inline.status_code == 200
        assert 'id="review-actions"' in inline.text.split("\n")[0]
        assert "张伟" in inline.text
        assert (
            _post(client, url, description="乙", due_date="2027-02-28", **fields).status_code == 303
        )
        early = _post(
            client, url, "review-actions", description="丙", due_date="2026-11-01", **fields
        )
        assert early.status_code == 422
        assert 'id="due_date-error"' in early.text
        descriptions = [
            a.description for a in review_service.actions(session=session, review_id=review.id or 0)
        ]
        assert descriptions == ["甲", "乙"]

    def test_owner_marks_own_action_done_but_not_anothers(
        self, client: TestClient, session: Session
    ) -> None:
        owner = make_user(session, roles=[Role.owner])
        review = _review(session, make_user(session, roles=[Role.executive]), action_owner=owner)
        action = _action(session, review)
        url = f"/reviews/{review.id}/actions/{action.id}/done"
        sign_in(client, session, make_user(session, roles=[Role.owner]))
        assert _post(client, url, "review-actions").status_code == 403
        sign_in(client, session, owner)
        inline = _post(client, url, "review-actions")
        assert inline.status_code == 200
        assert 'id="review-actions"' in inline.text.split("\n")[0]
        session.refresh(action)
        assert action.status == ReviewActionStatus.done
        again = _post(client, url)
        assert again.status_code == 409
        assert "<nav" in again.text

    def test_verified_by_someone_else_with_a_note_even_after_sign_off(
        self, client: TestClient, session: Session
    ) -> None:
        chair = make_user(session, roles=[Role.executive])
        owner = make_user(session, roles=[Role.executive])  # an overseer, yet owns the action
        review = _review(session, chair, action_owner=owner)
        review_service.sign(session=session, now=NOW, actor_id=chair.id or 0, review=review)
        session.commit()
        action = _action(session, review)
        base = f"/reviews/{review.id}/actions/{action.id}"
        sign_in(client, session, owner)
        assert _post(client, f"{base}/done").status_code == 303
        own = _post(client, f"{base}/verify", note="自己看过")
        assert own.status_code == 403
        assert "someone else" in own.text or "他人" in own.text
        sign_in(client, session, chair)
        empty = _post(client, f"{base}/verify", "review-actions")
        assert empty.status_code == 422
        assert 'id="note-error"' in empty.text
        verified = _post(client, f"{base}/verify", "review-actions", note="委员会已成立")
        assert verified.status_code == 200
        assert "委员会已成立" in verified.text
        session.refresh(action)
        assert (action.status, action.verified_by_id) == (ReviewActionStatus.verified, chair.id)

    def test_an_executive_who_reported_it_done_may_not_verify_it(
        self, client: TestClient, session: Session
    ) -> None:
        chair = make_user(session, roles=[Role.executive])
        owner = make_user(session, roles=[Role.owner])
        review = _review(session, chair, action_owner=owner)
        action = _action(session, review)
        base = f"/reviews/{review.id}/actions/{action.id}"
        reporter = make_user(session, roles=[Role.executive], locale="en")
        sign_in(client, session, reporter)
        assert _post(client, f"{base}/done", "review-actions").status_code == 200
        session.refresh(action)
        assert action.done_by_id == reporter.id
        assert f'action="{base}/verify"' not in client.get(f"/reviews/{review.id}").text
        toast = _post(client, f"{base}/verify", "review-actions", note="我看过")
        assert toast.status_code == 403
        assert toast.headers["content-type"].startswith("text/plain")
        assert toast.text == "You marked this action done, so someone else verifies it."
        plain = _post(client, f"{base}/verify", note="我看过")
        assert plain.status_code == 403
        assert "You marked this action done" in plain.text
        session.refresh(action)
        assert action.status == ReviewActionStatus.done
        sign_in(client, session, chair)
        assert f'action="{base}/verify"' in client.get(f"/reviews/{review.id}").text
        assert _post(client, f"{base}/verify", note="已核实").status_code == 303

    def test_cancel_with_a_reason(self, client: TestClient, session: Session) -> None:
        review = _review(
            session, make_user(session, roles=[Role.executive]), action_owner=make_user(session)
        )
        action = _action(session, review)
        _admin(client, session)
        url = f"/reviews/{review.id}/actions/{action.id}/cancel"
        assert _post(client, url, "review-actions").status_code == 422
        assert _post(client, url, note="并入信息化规划").status_code == 303
        session.refresh(action)
        assert action.status == ReviewActionStatus.cancelled

    def test_an_action_of_another_review_is_404(self, client: TestClient, session: Session) -> None:
        chair = make_user(session, roles=[Role.executive])
        review = _review(session, chair, action_owner=make_user(session))
        other = _review(session, chair)
        _admin(client, session)
        url = f"/reviews/{other.id}/actions/{_action(session, review).id}/cancel"
        assert _post(client, url, note="x").status_code == 404


class TestReport:
    def _signed(self, client: TestClient, session: Session) -> ManagementReview:
        chair = make_user(session, roles=[Role.executive], name="李志强")
        review = _review(session, chair, action_owner=make_user(session, name="张伟"))
        review_service.record_minutes(
            session=session,
            now=NOW,
            actor_id=None,
            review=review,
            minutes="审议了年度目标达成情况",
            decisions="批准数据治理专项预算",
        )
        review_service.sign(session=session, now=NOW, actor_id=chair.id or 0, review=review)
        session.commit()
        sign_in(client, session, make_user(session))
        return review

    def test_print_page_has_every_part(self, client: TestClient, session: Session) -> None:
        review = self._signed(client, session)
        page = client.get(f"/reviews/{review.id}/report")
        assert page.status_code == 200
        for text in (
            TITLE,
            "李志强",
            "审议了年度目标达成情况",
            "批准数据治理专项预算",
            "建立数据治理委员会",
        ):
            assert text in page.text
        assert page.text.count("<h2>") == 10  # seven inputs, minutes, decisions, actions
        assert 'href="?format=pdf"' in page.text

    def test_pdf_and_word_carry_the_same_record(self, client: TestClient, session: Session) -> None:
        review = self._signed(client, session)
        pdf = client.get(f"/reviews/{review.id}/report?format=pdf")
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(BytesIO(pdf.content)).pages)
        for expected in (TITLE, "李志强", "批准数据治理专项预算", "建立数据治理委员会"):
            assert expected in text
        word = client.get(f"/reviews/{review.id}/report?format=docx")
        assert word.status_code == 200
        document = Document(BytesIO(word.content))
        paragraphs = [p.text for p in document.paragraphs]
        assert paragraphs[0] == TITLE
        assert "审议了年度目标达成情况" in paragraphs
        headings = [
            p.text
            for p in document.paragraphs
            if p.style is not None and p.style.name == "Heading 1"
        ]
        assert len(headings) == 10
        cells = {c.text for t in document.tables for row in t.rows for c in row.cells}
        assert {"李志强", "张伟", "建立数据治理委员会"} <= cells

    def test_unknown_format_is_422(self, client: TestClient, session: Session) -> None:
        review = self._signed(client, session)
        assert client.get(f"/reviews/{review.id}/report?format=xls").status_code == 422


class TestApi:
    def test_list_and_detail_with_the_inputs(self, client: TestClient, session: Session) -> None:
        viewer = make_user(session)
        _token, secret = api_token_service.create(
            session=session, now=NOW, user_id=viewer.id or 0, name="集成"
        )
        chair = make_user(session, roles=[Role.executive], name="李总")
        review = _review(session, chair, action_owner=make_user(session))
        headers = {"Authorization": f"Bearer {secret}"}
        listing = client.get("/api/v1/reviews", headers=headers).json()
        assert listing["total"] == 1
        [item] = listing["items"]
        assert (item["title"], item["chair"], item["open_actions"]) == (TITLE, "李总", 1)
        assert "inputs" not in item
        detail = client.get(f"/api/v1/reviews/{review.id}", headers=headers).json()
        assert detail["inputs_frozen"] is True
        assert detail["inputs"]["version"] == 1
        assert detail["actions"][0]["description"] == "建立数据治理委员会"
        assert client.get("/api/v1/reviews").status_code == 401
        assert client.get("/api/v1/reviews/999999", headers=headers).status_code == 404
