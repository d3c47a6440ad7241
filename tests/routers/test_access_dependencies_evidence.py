"""Loading by path id and the right to the object, as one dependency (app/web/access/): the
same refusals as before, checked before anything is read from the form, nothing written; and
ids typed in the path, so that a fixed path is never taken for an id."""

from hashlib import sha256

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, SQLModel

from app.models.evidence import Confidentiality, Evidence, EvidenceCreate, EvidenceRevision
from app.models.user import Role, User
from app.services.accounts import api_tokens as api_token_service
from app.services.evidence import service as evidence_service
from tests.factories import (
    HX,
    NOW,
    PDF,
    csrf,
    make_assessment,
    make_certification,
    make_department,
    make_user,
    sign_in,
)

# Sign-in bookkeeping (a session's sliding expiry, a token's "last used") may be written by
# any request; everything else must stay as it was after a refusal.
BOOKKEEPING = {"user_session", "api_token", "login_attempt"}
RESTRICTED = "This evidence is restricted to its department."
NOT_OWNER = "Only the owner, an administrator or top management may change this."
MISSING = "This evidence does not exist."


def fingerprint(session: Session) -> dict[str, str]:
    """One digest per table over all its rows: any insert, update or delete changes it."""
    conn = session.connection()
    digests = {}
    for table in SQLModel.metadata.sorted_tables:
        if table.name in BOOKKEEPING:
            continue
        rows = sorted(repr(tuple(row)) for row in conn.execute(sa.select(table)))
        digests[table.name] = sha256("\n".join(rows).encode()).hexdigest()
    return digests


def english_user(session: Session, role: Role, **overrides: object) -> User:
    return make_user(session, roles=[role], locale="en", **overrides)


def evidence_of(
    session: Session, owner: User, confidentiality: Confidentiality = Confidentiality.restricted
) -> Evidence:
    """Evidence of the owner's department, restricted to it unless said otherwise."""
    evidence = evidence_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=EvidenceCreate(
            title="薪酬台账",
            owner_id=owner.id,
            department_id=owner.department_id,
            confidentiality=confidentiality,
        ),
    )
    session.commit()
    return evidence


def post(client: TestClient, url: str, htmx: bool, **data: str) -> Response:
    """A form post as the page sends it: with htmx the token rides in a header."""
    if htmx:
        response: Response = client.post(
            url, data=data, headers={**HX, "X-CSRF-Token": csrf(client)}
        )
    else:
        response = client.post(url, data={**data, "csrf_token": csrf(client)})
    return response


def assert_refused(response: Response, status: int, message: str, htmx: bool) -> None:
    assert response.status_code == status, response.text
    assert message in response.text
    if htmx:  # a toast; the page stays as it was
        assert response.headers.get("HX-Reswap") == "none"
    else:
        assert "<nav" in response.text


@pytest.fixture
def departments(session: Session) -> tuple[int, int]:
    return make_department(session).id or 0, make_department(session).id or 0


class TestVisibleEvidence:
    @pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
    def test_restricted_evidence_is_403_in_another_department(
        self, client: TestClient, session: Session, departments: tuple[int, int], htmx: bool
    ) -> None:
        hr, sales = departments
        evidence = evidence_of(session, english_user(session, Role.owner, department_id=hr))
        sign_in(client, session, english_user(session, Role.viewer, department_id=sales))
        headers = HX if htmx else {}
        response = client.get(f"/evidence/{evidence.id}", headers=headers)
        assert_refused(response, 403, RESTRICTED, htmx)
        same_department = english_user(session, Role.viewer, department_id=hr)
        sign_in(client, session, same_department)
        assert client.get(f"/evidence/{evidence.id}").status_code == 200

    def test_its_files_are_403_in_another_department_too(
        self, client: TestClient, session: Session, departments: tuple[int, int]
    ) -> None:
        hr, sales = departments
        evidence = evidence_of(session, english_user(session, Role.owner, department_id=hr))
        revision = EvidenceRevision(evidence_id=evidence.id or 0, number=1, uploaded_at=NOW)
        session.add(revision)
        session.commit()
        url = f"/evidence/{evidence.id}/revisions/{revision.id}/download"
        sign_in(client, session, english_user(session, Role.owner, department_id=sales))
        assert_refused(client.get(url), 403, RESTRICTED, htmx=False)
        sign_in(client, session, english_user(session, Role.viewer, department_id=hr))
        assert_refused(client.get(url), 404, "This revision has no file.", htmx=False)

    def test_a_missing_id_is_404_after_the_sign_in_check(
        self, client: TestClient, session: Session
    ) -> None:
        anonymous = client.get("/evidence/999999")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"].startswith("/login")
        sign_in(client, session, english_user(session, Role.viewer))
        assert_refused(client.get("/evidence/999999"), 404, MISSING, htmx=False)
        assert_refused(client.get("/evidence/999999", headers=HX), 404, MISSING, htmx=True)

    def test_the_api_applies_the_same_rule_to_the_token_owner(
        self, client: TestClient, session: Session, departments: tuple[int, int]
    ) -> None:
        hr, sales = departments
        evidence = evidence_of(session, english_user(session, Role.owner, department_id=hr))
        outsider = english_user(session, Role.viewer, department_id=sales)
        _token, secret = api_token_service.create(
            session=session, now=NOW, user_id=outsider.id or 0, name="t"
        )
        session.commit()
        bearer = {"Authorization": f"Bearer {secret}", "Accept-Language": "en"}
        refused = client.get(f"/api/v1/evidence/{evidence.id}", headers=bearer)
        assert refused.status_code == 403
        assert refused.json() == {"detail": RESTRICTED}
        download = client.get(
            f"/api/v1/evidence/{evidence.id}/revisions/1/download", headers=bearer
        )
        assert download.status_code == 403
        # No browser session stands in for the token.
        sign_in(client, session, english_user(session, Role.admin))
        assert client.get(f"/api/v1/evidence/{evidence.id}").status_code == 401


class TestEditableEvidence:
    @pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
    def test_an_owner_cannot_change_someone_elses_evidence(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        # Open to everyone, and of no department: only the owner rule refuses.
        evidence = evidence_of(session, english_user(session, Role.owner), Confidentiality.internal)
        sign_in(client, session, english_user(session, Role.owner))
        before = fingerprint(session)
        for url, data in [
            (f"/evidence/{evidence.id}", {"title": "改名", "kind": "document"}),
            (f"/evidence/{evidence.id}/submit", {}),
            (f"/evidence/{evidence.id}/obsolete", {}),
            (f"/evidence/{evidence.id}/links", {"kind": "requirement", "target_id": "1"}),
        ]:
            assert_refused(post(client, url, htmx, **data), 403, NOT_OWNER, htmx)
        edit = client.get(f"/evidence/{evidence.id}/edit", headers=HX if htmx else {})
        assert_refused(edit, 403, NOT_OWNER, htmx)
        assert fingerprint(session) == before

    def test_an_upload_by_someone_else_is_refused_and_nothing_is_kept(
        self, client: TestClient, session: Session
    ) -> None:
        # Open to everyone, and of no department: only the owner rule refuses.
        evidence = evidence_of(session, english_user(session, Role.owner), Confidentiality.internal)
        sign_in(client, session, english_user(session, Role.owner))
        before = fingerprint(session)
        response = client.post(
            f"/evidence/{evidence.id}/revisions",
            files={"file": ("a.pdf", PDF)},
            headers={**HX, "HX-Target": "evidence-revisions", "X-CSRF-Token": csrf(client)},
        )
        assert_refused(response, 403, NOT_OWNER, htmx=True)
        assert fingerprint(session) == before

    def test_the_permission_is_checked_before_the_lookup(
        self, client: TestClient, session: Session
    ) -> None:
        """A viewer learns nothing about which ids exist: 403 for a missing one too."""
        sign_in(client, session, english_user(session, Role.viewer))
        refused = post(client, "/evidence/999999/submit", htmx=False)
        assert_refused(refused, 403, "You do not have permission to do this.", htmx=False)
        sign_in(client, session, english_user(session, Role.owner))
        assert_refused(post(client, "/evidence/999999/submit", htmx=False), 404, MISSING, False)


class TestPlainLoading:
    @pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
    def test_a_certification_change_needs_the_permission_then_the_record(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        certification = make_certification(session)
        sign_in(client, session, english_user(session, Role.executive))
        before = fingerprint(session)
        for certification_id in (certification.id, 999999):
            response = post(client, f"/certification/{certification_id}", htmx, body="改")
            assert_refused(response, 403, "You do not have permission to do this.", htmx)
        assert fingerprint(session) == before
        sign_in(client, session, english_user(session, Role.admin))
        before = fingerprint(session)  # signing in is recorded
        missing = post(client, "/certification/999999/status", htmx, status="applied")
        assert_refused(missing, 404, "This certification record does not exist.", htmx)
        assert fingerprint(session) == before

    @pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
    def test_a_missing_self_assessment_is_404_and_nothing_is_deleted(
        self, client: TestClient, session: Session, htmx: bool
    ) -> None:
        make_assessment(session)
        sign_in(client, session, english_user(session, Role.admin))
        before = fingerprint(session)
        response = post(client, "/self-assessments/999999/delete", htmx)
        assert_refused(response, 404, "This self-assessment does not exist.", htmx)
        assert fingerprint(session) == before


class TestIdsInThePath:
    @pytest.mark.parametrize(
        "url",
        [
            "/evidence/abc",
            "/evidence/abc/edit",
            "/evidence/1x/revisions/1/download",
            "/certification/abc",
            "/self-assessments/abc",
            "/requirements/abc",
            "/dossiers/abc",
            "/admin/users/abc",
            "/admin/departments/abc",
        ],
    )
    def test_a_word_where_an_id_belongs_is_404(
        self, client: TestClient, session: Session, url: str
    ) -> None:
        sign_in(client, session, english_user(session, Role.admin))
        assert client.get(url).status_code == 404
        assert client.get(url, headers=HX).status_code == 404

    def test_a_word_where_an_api_id_belongs_is_404(
        self, client: TestClient, session: Session
    ) -> None:
        admin = english_user(session, Role.admin)
        _token, secret = api_token_service.create(
            session=session, now=NOW, user_id=admin.id or 0, name="t"
        )
        session.commit()
        bearer = {"Authorization": f"Bearer {secret}"}
        for url in ("/api/v1/evidence/abc", "/api/v1/requirements/abc"):
            assert client.get(url, headers=bearer).status_code == 404

    @pytest.mark.parametrize(
        "url",
        [
            "/evidence/new",
            "/evidence/import",
            "/evidence/export.xlsx",
            "/self-assessments/new",
            "/self-assessments/import",
            "/self-assessments/template.xlsx",
            "/certification/new",
            "/certification/settings",
            "/admin/users/new",
        ],
    )
    def test_the_fixed_paths_beside_an_id_still_answer(
        self, client: TestClient, session: Session, url: str
    ) -> None:
        sign_in(client, session, english_user(session, Role.admin))
        assert client.get(url).status_code == 200
