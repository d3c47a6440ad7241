"""Certification pages: the record, the timeline and its forms, grades and rules, the API."""

from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.clock import local_date
from app.models.certification import Certification, CertificationStatus, Milestone
from app.models.user import Role
from app.services.accounts import api_tokens as api_token_service
from app.services.certification import plan, service
from tests.factories import HX, NOW, csrf, make_certification, make_user, sign_in


def milestone(session: Session, certification: Certification, key: str) -> Milestone:
    assert certification.id is not None
    found = service.milestones(session=session, certification_id=certification.id)
    return next(m for m in found if plan.key(m) == key)


def admin(client: TestClient, session: Session) -> None:
    sign_in(client, session, make_user(session, roles=[Role.admin]))


def count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Certification)).one()


class TestPage:
    def test_empty_state_and_viewers_see_no_forms(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.viewer]))
        page = client.get("/certification")
        assert page.status_code == 200
        assert 'id="no-certification"' in page.text
        assert 'id="new-certification"' not in page.text
        make_certification(session)
        page = client.get("/certification")
        assert "评定机构甲" in page.text
        assert 'id="cert-timeline"' in page.text
        assert 'id="status-form"' not in page.text

    def test_overdue_milestones_are_marked(self, client: TestClient, session: Session) -> None:
        certification = make_certification(session)
        application = milestone(session, certification, "application")
        application.planned_on = local_date(NOW) - timedelta(days=400)
        session.add(application)
        session.commit()
        admin(client, session)
        page = client.get("/certification")
        assert 'id="step-application" data-overdue="true"' in page.text

    def test_earlier_cycles_stay_reachable(self, client: TestClient, session: Session) -> None:
        first = make_certification(session)
        service.set_status(
            session=session,
            now=NOW,
            actor_id=None,
            certification=first,
            status=CertificationStatus.withdrawn,
        )
        make_certification(session, body="评定机构乙")
        admin(client, session)
        page = client.get("/certification")
        assert "评定机构乙" in page.text
        assert f'href="/certification/{first.id}"' in page.text
        earlier = client.get(f"/certification/{first.id}")
        assert 'id="earlier-cycle"' in earlier.text
        assert client.get("/certification/999999").status_code == 404


class TestCreate:
    def test_create_and_refuse_a_second_open_cycle(
        self, client: TestClient, session: Session
    ) -> None:
        admin(client, session)
        form = {"body": "评定机构丙", "grade_sought": "AA", "csrf_token": csrf(client)}
        response = client.post("/certification", data=form)
        assert response.status_code == 303
        assert response.headers["location"] == "/certification"
        again = client.post("/certification", data=form, headers=HX)
        assert again.status_code == 409
        assert count(session) == 1

    def test_htmx_create_redirects(self, client: TestClient, session: Session) -> None:
        admin(client, session)
        response = client.post(
            "/certification", data={"body": "机构"}, headers={**HX, "X-CSRF-Token": csrf(client)}
        )
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == "/certification"

    def test_bad_input_comes_back_next_to_the_field(
        self, client: TestClient, session: Session
    ) -> None:
        admin(client, session)
        for overrides, field in (
            ({"issued_on": "2026-05-01", "expires_on": "2026-04-01"}, "expires_on"),
            ({"grade_sought": "Z"}, "grade_sought"),
            ({"issued_on": "yesterday"}, "issued_on"),
            ({"issued_on": "9998-06-01"}, "issued_on"),
        ):
            response = client.post(
                "/certification", data={"body": "机构", **overrides, "csrf_token": csrf(client)}
            )
            assert response.status_code == 422, field
            assert f'id="{field}-error"' in response.text, field
        assert count(session) == 0

    def test_viewers_cannot_create(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.executive]))
        response = client.post("/certification", data={"body": "x", "csrf_token": csrf(client)})
        assert response.status_code == 403


class TestRecordAndStatus:
    def test_edit_record_plain_and_htmx(self, client: TestClient, session: Session) -> None:
        certification = make_certification(session)
        admin(client, session)
        url = f"/certification/{certification.id}"
        plain = client.post(url, data={"body": "新机构", "csrf_token": csrf(client)})
        assert plain.status_code == 303
        fragment = client.post(
            url,
            data={"body": "新机构二", "issued_on": "2027-01-01", "expires_on": "2026-01-01"},
            headers={**HX, "HX-Target": "cert-record", "X-CSRF-Token": csrf(client)},
        )
        assert fragment.status_code == 422
        assert fragment.text.lstrip().startswith('<div id="cert-record">')
        assert 'id="expires_on-error"' in fragment.text
        session.refresh(certification)
        assert certification.body == "新机构"

    def test_status_buttons(self, client: TestClient, session: Session) -> None:
        certification = make_certification(session)
        admin(client, session)
        url = f"/certification/{certification.id}/status"
        headers = {**HX, "HX-Target": "cert-record", "X-CSRF-Token": csrf(client)}
        refused = client.post(url, data={"status": "certified"}, headers=headers)
        assert refused.status_code == 409
        assert 'id="status-error"' in refused.text
        moved = client.post(url, data={"status": "assessing"}, headers=headers)
        assert moved.status_code == 200
        assert "HX-Trigger" in moved.headers
        assert moved.text.lstrip().startswith('<div id="cert-record">')
        plain = client.post(url, data={"status": "preparing", "csrf_token": csrf(client)})
        assert plain.status_code == 303

    def test_far_future_dates_are_refused_next_to_the_field(
        self, client: TestClient, session: Session
    ) -> None:
        certification = make_certification(session)
        admin(client, session)
        url = f"/certification/{certification.id}"
        headers = {**HX, "HX-Target": "cert-record", "X-CSRF-Token": csrf(client)}
        record = {"grade_awarded": "AA", "certificate_number": "AIITRE-1", "body": "机构"}
        refused = client.post(url, data={**record, "issued_on": "9998-06-01"}, headers=headers)
        assert refused.status_code == 422
        assert 'id="issued_on-error"' in refused.text
        session.refresh(certification)
        assert (certification.issued_on, certification.grade_awarded) == (None, None)
        # A record saved before the range was checked: certifying is refused, not a 500.
        certification.grade_awarded = "AA"
        certification.certificate_number = "AIITRE-1"
        certification.issued_on = date(9998, 6, 1)
        session.add(certification)
        session.commit()
        assert client.post(f"{url}/status", data={"status": "assessing"}, headers=headers)
        certified = client.post(f"{url}/status", data={"status": "certified"}, headers=headers)
        assert certified.status_code == 422
        assert 'id="status-error"' in certified.text
        session.refresh(certification)
        assert (certification.status, certification.expires_on) == ("assessing", None)


class TestPlanAndMilestones:
    def test_generate_plan_plain_and_htmx(self, client: TestClient, session: Session) -> None:
        certification = make_certification(session)
        admin(client, session)
        url = f"/certification/{certification.id}/plan"
        missing = client.post(
            url,
            data={},
            headers={**HX, "HX-Target": "cert-milestones", "X-CSRF-Token": csrf(client)},
        )
        assert missing.status_code == 422
        assert 'id="plan-application_on-error"' in missing.text
        fragment = client.post(
            url,
            data={"application_on": "2027-01-04"},
            headers={**HX, "HX-Target": "cert-milestones", "X-CSRF-Token": csrf(client)},
        )
        assert fragment.status_code == 200
        assert fragment.text.lstrip().startswith('<div id="cert-milestones">')
        assert "2027-01-18" in fragment.text
        plain = client.post(url, data={"csrf_token": csrf(client)})
        assert plain.status_code == 303
        page = client.get("/certification")
        assert "never overwritten" in page.text or "不会覆盖" in page.text

    def test_plan_dates_out_of_range_are_a_field_error(
        self, client: TestClient, session: Session
    ) -> None:
        certification = make_certification(session)
        admin(client, session)
        url = f"/certification/{certification.id}/plan"
        headers = {**HX, "HX-Target": "cert-milestones", "X-CSRF-Token": csrf(client)}
        far = client.post(url, data={"application_on": "9999-12-25"}, headers=headers)
        assert far.status_code == 422
        assert 'id="plan-application_on-error"' in far.text
        certification.issued_on = date(9998, 6, 1)  # saved before the range was checked
        session.add(certification)
        session.commit()
        stored = client.post(url, data={"application_on": "2027-01-04"}, headers=headers)
        assert stored.status_code == 422
        assert 'id="plan-application_on-error"' in stored.text
        assert milestone(session, certification, "application").planned_on is None

    def test_milestone_form(self, client: TestClient, session: Session) -> None:
        certification = make_certification(session)
        stage1 = milestone(session, certification, "stage1")
        application = milestone(session, certification, "application")
        application.planned_on = date(2027, 1, 4)
        session.add(application)
        session.commit()
        admin(client, session)
        url = f"/certification/milestones/{stage1.id}"
        headers = {**HX, "HX-Target": "cert-milestones", "X-CSRF-Token": csrf(client)}
        early = client.post(url, data={"planned_on": "2026-12-01"}, headers=headers)
        assert early.status_code == 422
        assert f'id="milestone-{stage1.id}-planned_on-error"' in early.text
        no_evidence = client.post(
            url, data={"planned_on": "2027-02-01", "evidence_id": "999999"}, headers=headers
        )
        assert no_evidence.status_code == 422
        assert f'id="milestone-{stage1.id}-evidence_id-error"' in no_evidence.text
        session.refresh(stage1)
        assert stage1.planned_on is None
        saved = client.post(
            url, data={"planned_on": "2027-02-01", "notes": "现场"}, headers=headers
        )
        assert saved.status_code == 200
        assert "2027-02-01" in saved.text
        plain = client.post(url, data={"planned_on": "2027-02-02", "csrf_token": csrf(client)})
        assert plain.status_code == 303
        session.refresh(stage1)
        assert stage1.planned_on == date(2027, 2, 2)


class TestSettings:
    def test_grades(self, client: TestClient, session: Session) -> None:
        make_certification(session, grade_sought="AAA")
        admin(client, session)
        page = client.get("/certification/settings")
        assert page.status_code == 200
        assert 'id="grade-list"' in page.text
        headers = {**HX, "HX-Target": "cert-grades", "X-CSRF-Token": csrf(client)}
        added = client.post("/certification/grades", data={"code": "AAAA"}, headers=headers)
        assert added.status_code == 200
        assert added.text.lstrip().startswith('<div id="cert-grades"')
        assert "AAAA" in added.text
        in_use = client.post("/certification/grades/AAA/delete", headers=headers)
        assert in_use.status_code == 409
        moved = client.post(
            "/certification/grades/AAAA/move", data={"direction": "up", "csrf_token": csrf(client)}
        )
        assert moved.status_code == 303
        assert service.grades(session=session) == ["A", "AA", "AAAA", "AAA"]
        removed = client.post(
            "/certification/grades/AAAA/delete", data={"csrf_token": csrf(client)}
        )
        assert removed.status_code == 303
        assert client.post("/certification/grades/NOPE/delete", headers=headers).status_code == 404

    def test_rules(self, client: TestClient, session: Session) -> None:
        admin(client, session)
        headers = {**HX, "HX-Target": "cert-rules", "X-CSRF-Token": csrf(client)}
        bad = client.post("/certification/rules", data={"days-stage1": "2000"}, headers=headers)
        assert bad.status_code == 422
        assert 'id="days-stage1-error"' in bad.text
        huge = client.post(
            "/certification/rules", data={"days-stage1": "9" * 5000}, headers=headers
        )
        assert huge.status_code == 422
        assert 'id="days-stage1-error"' in huge.text
        good = client.post("/certification/rules", data={"days-stage1": "20"}, headers=headers)
        assert good.status_code == 200
        assert 'value="20"' in good.text
        plain = client.post(
            "/certification/rules", data={"days-stage1": "", "csrf_token": csrf(client)}
        )
        assert plain.status_code == 303


class TestApi:
    def test_current_record_with_milestones(self, client: TestClient, session: Session) -> None:
        user = make_user(session, roles=[Role.viewer])
        _token, secret = api_token_service.create(
            session=session, now=NOW, user_id=user.id or 0, name="t"
        )
        session.commit()
        auth = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/v1/certification", headers=auth).json() == {
            "certification": None,
            "milestones": [],
        }
        make_certification(session)
        body = client.get("/api/v1/certification", headers=auth).json()
        assert body["certification"]["body"] == "评定机构甲"
        assert len(body["milestones"]) == 12
        assert body["milestones"][0]["kind"] == "application"
        assert client.get("/api/v1/certification").status_code == 401
