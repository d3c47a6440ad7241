"""Submission dossiers: one build at a time, the ZIP's contents, integrity, assessor links."""

import hashlib
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.errors import Conflict, Forbidden, NotFound
from app.jobs import dossier_build
from app.models.dossier import Dossier, DossierStatus
from app.models.evidence import (
    Confidentiality,
)
from app.models.requirement import Requirement
from app.services.certification import assessor_access
from app.services.dossiers import service as dossier_service
from app.services.files import store as file_store
from app.settings import Settings
from tests.factories import NOW, add_evidence, bound_session, first_clause, make_user


def _build(session: Session, settings: Settings) -> Dossier:
    dossier = dossier_service.request(session=session, now=NOW, actor_id=None)
    session.commit()
    assert dossier_service.claim(session=session, dossier_id=dossier.id or 0, now=NOW)
    return dossier_build.build(session=session, settings=settings, dossier_id=dossier.id or 0)


def test_only_one_dossier_is_built_at_a_time(session: Session) -> None:
    dossier_service.request(session=session, now=NOW, actor_id=None)
    with pytest.raises(Conflict):
        dossier_service.request(session=session, now=NOW, actor_id=None)
    # A build that went silent (the server restarted) does not block the next one forever.
    later = NOW + dossier_service.STALE_AFTER + timedelta(seconds=1)
    fresh = dossier_service.request(session=session, now=later, actor_id=None)
    assert fresh.active is True
    stale = session.exec(select(Dossier).where(Dossier.status == DossierStatus.failed)).one()
    assert stale.active is None


def test_the_zip_opens_and_its_manifest_matches_every_file(
    session: Session, settings: Settings
) -> None:
    clause = first_clause(session)
    _evidence, revision = add_evidence(
        session, settings, clause, "两化融合方针", "方针正文".encode()
    )
    add_evidence(
        session,
        settings,
        clause,
        "薪酬管理办法",
        b"restricted",
        confidentiality=Confidentiality.restricted,
    )
    dossier = _build(session, settings)
    assert dossier.status == DossierStatus.ready
    assert dossier.active is None
    path = dossier_service.path_of(dossier_build.dossiers_dir(settings), dossier)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == dossier.sha256

    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = archive.read("manifest.sha256").decode().splitlines()
        listed = {name: digest for digest, name in (line.split("  ", 1) for line in manifest)}
        assert set(listed) == names - {"manifest.sha256"}
        for name, digest in listed.items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == digest, name
        evidence_files = [n for n in names if n.startswith("evidence/")]
        assert len(evidence_files) == 1  # the restricted one is listed, not shipped
        assert archive.read(evidence_files[0]) == "方针正文".encode()
        assert f"/{clause.clause}/" in evidence_files[0]
        index = archive.read("index.html").decode()
        clauses = session.exec(select(Requirement).where(Requirement.chapter_id != None)).all()  # noqa: E711
        for requirement in clauses:
            assert f"<td>{requirement.clause}</td>" in index
        assert "薪酬管理办法" in index
        assert {"index.pdf", "register.xlsx", "reports/readiness.pdf"} <= names
        assert "reports/corrective-actions.pdf" in names
    assert revision.sha256 in listed.values()


def test_an_altered_file_fails_the_build(
    session: Session, connection: Any, settings: Settings
) -> None:
    _evidence, revision = add_evidence(
        session, settings, first_clause(session), "文件控制程序", b"original content"
    )
    stored = file_store.path_for(settings.files_dir, revision.sha256 or "")
    stored.chmod(0o600)
    stored.write_bytes(b"tampered content")
    dossier = dossier_service.request(session=session, now=NOW, actor_id=None)
    session.commit()
    dossier_build.run(lambda: bound_session(connection), settings, dossier.id or 0)
    session.refresh(dossier)
    assert dossier.status == DossierStatus.failed
    assert "files verify" in dossier.error
    assert dossier.active is None
    assert not list(dossier_build.dossiers_dir(settings).glob(f"dossier-{dossier.id}-*.part"))


def test_assessor_links_expire_and_can_be_withdrawn(session: Session, settings: Settings) -> None:
    admin = make_user(session)
    dossier = _build(session, settings)
    access, secret = assessor_access.create(
        session=session,
        now=NOW,
        actor_id=admin.id or 0,
        dossier=dossier,
        name="评定机构组长",
        days=7,
    )
    session.commit()
    assert access.token_hash != secret
    found, shown = assessor_access.resolve(session=session, now=NOW, secret=secret)
    assert (found.id, shown.id) == (access.id, dossier.id)
    with pytest.raises(Forbidden, match="过期"):
        assessor_access.resolve(session=session, now=NOW + timedelta(days=7), secret=secret)
    with pytest.raises(NotFound):
        assessor_access.resolve(session=session, now=NOW, secret=secret + "x")
    assessor_access.revoke(
        session=session, now=NOW, actor_id=admin.id or 0, access_id=access.id or 0
    )
    with pytest.raises(Forbidden, match="撤回"):
        assessor_access.resolve(session=session, now=NOW, secret=secret)


def test_a_build_declared_stale_meanwhile_does_not_report_success(
    session: Session, settings: Settings
) -> None:
    add_evidence(session, settings, first_clause(session), "两化融合方针", "方针".encode())
    dossier = dossier_service.request(session=session, now=NOW, actor_id=None)
    session.commit()
    assert dossier_service.claim(session=session, dossier_id=dossier.id or 0, now=NOW)
    session.commit()
    # Another worker gives up on it (it looked silent) before it finishes.
    session.execute(
        update(Dossier)
        .where(col(Dossier.id) == dossier.id)
        .values(status=DossierStatus.failed, active=None)
    )
    session.commit()
    with pytest.raises(RuntimeError):
        dossier_build.build(session=session, settings=settings, dossier_id=dossier.id or 0)
    session.refresh(dossier)
    assert dossier.status == DossierStatus.failed
    assert not list(dossier_build.dossiers_dir(settings).glob(f"dossier-{dossier.id}-*"))


def test_old_dossier_files_are_swept_unless_a_link_still_opens_them(
    session: Session, settings: Settings
) -> None:
    admin = make_user(session)
    built = [_build(session, settings) for _ in range(4)]
    shared = built[0]
    assessor_access.create(
        session=session, now=NOW, actor_id=admin.id or 0, dossier=shared, name="机构", days=7
    )
    session.commit()
    folder = dossier_build.dossiers_dir(settings)
    removed = dossier_service.sweep(session=session, dossiers_dir=folder, now=NOW, keep=2)
    assert removed == 1  # built[1]: not among the newest two, no live link
    assert not dossier_service.path_of(folder, built[1]).exists()
    for kept in (shared, built[2], built[3]):
        assert dossier_service.path_of(folder, kept).exists()
        assert kept.status == DossierStatus.ready
    assert built[1].status == DossierStatus.failed


def test_long_and_special_file_names_keep_their_extension() -> None:
    from app.services.dossiers.contents import _safe

    name = _safe("RH-01-" + "管理制度" * 60 + ".pdf")
    assert name.endswith("管理.pdf")
    assert len(name) == 120
    assert _safe("方针#2%.pdf") == "方针_2_.pdf"


def test_clause_folders_are_safe_names_too(session: Session, settings: Settings) -> None:
    # An imported framework may number its clauses with any characters.
    clause = first_clause(session)
    clause.clause = 'A.5/1:"x"<y>'
    session.add(clause)
    session.commit()
    add_evidence(session, settings, clause, "信息安全方针", b"policy")
    dossier = _build(session, settings)
    path = dossier_service.path_of(dossier_build.dossiers_dir(settings), dossier)
    with zipfile.ZipFile(path) as archive:
        [shipped] = [n for n in archive.namelist() if n.startswith("evidence/")]
    assert shipped.split("/")[2] == "A.5_1__x__y_"
    assert not set('\\:*?"<>|') & set(shipped)
