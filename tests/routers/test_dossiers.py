"""Dossier pages: build in the background with progress, download, assessor links."""

import zipfile
from datetime import UTC, datetime, timedelta
from io import BytesIO
from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from app.models.certification import AssessorAccess, AssessorVisit
from app.models.dossier import Dossier, DossierStatus
from app.models.user import Role
from app.settings import Settings
from tests.factories import HX, add_evidence, csrf, first_clause, make_user, sign_in


def _build(client: TestClient) -> int:
    response = client.post("/dossiers", data={"csrf_token": csrf(client)})
    assert response.status_code == 303
    return int(response.headers["location"].rsplit("/", 1)[1])


def test_a_dossier_is_built_and_downloaded(
    client: TestClient, session: Session, settings: Settings
) -> None:
    add_evidence(session, settings, first_clause(session), "两化融合方针", "方针".encode())
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    dossier_id = _build(client)  # the background task has run when the response arrives
    page = client.get(f"/dossiers/{dossier_id}")
    assert 'id="download-dossier"' in page.text
    assert "hx-trigger" not in page.text.split('id="dossier-progress"')[1].split(">")[0]
    fragment = client.get(
        f"/dossiers/{dossier_id}", headers={**HX, "HX-Target": "dossier-progress"}
    )
    assert fragment.text.lstrip().startswith('<div id="dossier-progress"')
    zipped = client.get(f"/dossiers/{dossier_id}/download")
    assert zipped.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(BytesIO(zipped.content)) as archive:
        assert "manifest.sha256" in archive.namelist()


def test_a_second_build_while_one_runs_is_refused(client: TestClient, session: Session) -> None:
    session.add(Dossier(status=DossierStatus.building, active=True, requested_at=datetime.now(UTC)))
    session.commit()
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    before = session.exec(select(func.count()).select_from(Dossier)).one()
    response = client.post("/dossiers", data={"csrf_token": csrf(client)})
    assert response.status_code == 409
    assert "正在生成" in response.text
    assert session.exec(select(func.count()).select_from(Dossier)).one() == before


def test_a_building_dossier_polls_for_progress(client: TestClient, session: Session) -> None:
    dossier = Dossier(
        status=DossierStatus.building,
        active=True,
        total_files=10,
        done_files=4,
        requested_at=datetime.now(UTC),
    )
    session.add(dossier)
    session.commit()
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    fragment = client.get(
        f"/dossiers/{dossier.id}", headers={**HX, "HX-Target": "dossier-progress"}
    )
    assert 'hx-trigger="every 1s"' in fragment.text
    assert "40%" in fragment.text


def test_only_administrators_build_dossiers(client: TestClient, session: Session) -> None:
    sign_in(client, session, make_user(session, roles=[Role.executive]))
    assert client.post("/dossiers", data={"csrf_token": csrf(client)}).status_code == 403
    assert client.get("/dossiers").status_code == 403


def test_an_assessor_sees_the_dossier_and_nothing_else(
    client: TestClient, session: Session, settings: Settings
) -> None:
    add_evidence(session, settings, first_clause(session), "信息安全管理办法", b"security")
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    dossier_id = _build(client)
    refused = client.post(
        f"/dossiers/{dossier_id}/assessors",
        data={"name": "", "days": "400", "csrf_token": csrf(client)},
    )
    assert refused.status_code == 422
    assert 'id="name-error"' in refused.text
    shared = client.post(
        f"/dossiers/{dossier_id}/assessors",
        data={"name": "评定机构审核组", "days": "7", "csrf_token": csrf(client)},
    )
    link = shared.text.split('<code id="new-link">')[1].split("</code>")[0]
    path = "/" + link.split("/", 3)[3]

    client.cookies.clear()  # the assessor has no account
    index = client.get(path)
    assert index.status_code == 200
    assert "manifest.sha256" in index.text
    evidence_name = next(
        line.split(">")[2].split("<")[0]
        for line in index.text.splitlines()
        if "evidence/" in line and "<a href" in line
    )
    one = client.get(f"{path}/file?path={quote(evidence_name)}")
    assert one.status_code == 200, (one.status_code, one.text.split("card-body p-4")[1][:300])
    assert one.content == b"security"
    assert client.get(f"{path}/file?path=../../secret_key").status_code == 404
    assert client.get(f"{path}/dossier.zip").status_code == 200
    assert client.get("/evidence").status_code in (303, 401)  # no way into the app itself
    visits = session.exec(select(AssessorVisit)).all()
    assert len(visits) == 4
    assert all(path.rsplit("/", 1)[1] not in v.path for v in visits)  # the key is not logged

    access = session.exec(select(AssessorAccess)).one()
    access.expires_at = access.created_at - timedelta(seconds=1)
    session.add(access)
    session.commit()
    expired = client.get(path)
    assert expired.status_code == 403
    assert "过期" in expired.text


def test_a_withdrawn_link_still_in_use_is_logged_as_refused(
    client: TestClient, session: Session, settings: Settings
) -> None:
    from app.services.certification import assessor_access

    sign_in(client, session, make_user(session, roles=[Role.admin]))
    dossier_id = _build(client)
    dossier = session.get(Dossier, dossier_id)
    assert dossier is not None
    admin = make_user(session)
    access, secret = assessor_access.create(
        session=session,
        now=dossier.requested_at,
        actor_id=admin.id or 0,
        dossier=dossier,
        name="机构",
        days=7,
    )
    assessor_access.revoke(
        session=session, now=dossier.requested_at, actor_id=admin.id or 0, access_id=access.id or 0
    )
    session.commit()
    client.cookies.clear()
    refused = client.get(f"/assessor/{secret}")
    assert refused.status_code == 403
    assert "撤回" in refused.text
    (visit,) = session.exec(select(AssessorVisit).where(AssessorVisit.access_id == access.id)).all()
    assert visit.path.endswith("(refused)")
    assert secret not in visit.path
