"""What an approver approved stays in force: a new address, title or period of approved evidence
is a revision of its own that waits for approval, and an approval names the revision it saw."""

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, func, select

from app.errors import Conflict, Invalid
from app.i18n import use_locale
from app.models.evidence import (
    Evidence,
    EvidenceCreate,
    EvidenceKind,
    EvidenceRevision,
    EvidenceStatus,
    EvidenceUpdate,
)
from app.models.user import Role, User
from app.services.evidence import approval
from app.services.evidence import service as evidence_service
from app.services.evidence.service import Upload, UploadLimits
from tests.factories import NOW, PDF, TODAY, make_user


@pytest.fixture
def limits(tmp_path: Path) -> UploadLimits:
    return UploadLimits(
        files_dir=tmp_path / "files", max_bytes=1024 * 1024, extensions=frozenset({"pdf"})
    )


def _edit(session: Session, evidence: Evidence, actor: User, **changes: Any) -> Any:
    values = evidence.model_dump(include=set(EvidenceCreate.model_fields))
    latest = evidence_service.latest_revision(session=session, evidence_id=evidence.id or 0)
    if latest is not None:
        # As the edit form: what the newest revision proposes.
        values.update(latest.model_dump(include=set(approval.reviewed_fields(evidence.kind))))
    return approval.update(
        session=session,
        now=NOW,
        actor_id=actor.id,
        evidence=evidence,
        data=EvidenceUpdate(**{**values, **changes}),
    )


def _approve(session: Session, evidence: Evidence, author: User, approver: User) -> None:
    revision = approval.submit(session=session, now=NOW, actor_id=author.id, evidence=evidence)
    approval.approve(
        session=session,
        now=NOW,
        actor_id=approver.id or 0,
        evidence=evidence,
        revision_id=revision.id,
    )
    session.commit()


def _approved_link(session: Session, owner: User, approver: User) -> Evidence:
    evidence = evidence_service.create(
        session=session,
        now=NOW,
        actor_id=owner.id,
        data=EvidenceCreate(
            title="ERP 中的采购记录",
            kind=EvidenceKind.link,
            url="https://erp.example.cn/purchase",
            owner_id=owner.id,
        ),
    )
    _approve(session, evidence, owner, approver)
    return evidence


def _approved_document(
    session: Session, owner: User, approver: User, limits: UploadLimits
) -> Evidence:
    evidence = evidence_service.create(
        session=session,
        now=NOW,
        actor_id=owner.id,
        data=EvidenceCreate(title="文件控制程序", owner_id=owner.id),
    )
    evidence_service.add_revision(
        session=session,
        now=NOW,
        actor_id=owner.id,
        evidence=evidence,
        upload=Upload("文件控制程序.pdf", io.BytesIO(PDF), date(2026, 1, 1), date(2026, 12, 31)),
        limits=limits,
    )
    _approve(session, evidence, owner, approver)
    return evidence


def _current(session: Session, evidence: Evidence) -> bool:
    return (
        session.exec(
            select(func.count())
            .select_from(Evidence)
            .where(Evidence.id == evidence.id, evidence_service.current_clause(TODAY))
        ).one()
        == 1
    )


@pytest.fixture
def people(session: Session) -> tuple[User, User]:
    return make_user(session, roles=[Role.owner]), make_user(session, roles=[Role.executive])


class TestApprovedLink:
    def test_a_new_address_waits_for_approval_while_the_approved_one_stays_in_force(
        self, session: Session, people: tuple[User, User]
    ) -> None:
        owner, approver = people
        evidence = _approved_link(session, owner, approver)
        change = _edit(session, evidence, owner, url="https://evil.example.com/")
        session.commit()
        assert change.proposal is not None
        assert change.proposal.number == 2
        assert evidence.url == "https://erp.example.cn/purchase"
        assert evidence.status == EvidenceStatus.approved
        assert _current(session, evidence)
        effective = evidence_service.effective_revision(
            session=session, evidence_id=evidence.id or 0
        )
        assert effective is not None
        assert effective.url == "https://erp.example.cn/purchase"
        pending = approval.pending_revision(session=session, evidence_id=evidence.id or 0)
        assert pending is not None
        assert (pending.url, pending.approved_at, pending.uploaded_by_id) == (
            "https://evil.example.com/",
            None,
            owner.id,
        )
        _approve(session, evidence, owner, approver)
        assert evidence.url == "https://evil.example.com/"

    def test_the_new_title_is_searched_only_once_approved(
        self, session: Session, people: tuple[User, User]
    ) -> None:
        owner, approver = people
        evidence = _approved_link(session, owner, approver)
        _edit(session, evidence, owner, title="改名后的记录")
        session.commit()
        assert evidence.title == "ERP 中的采购记录"
        assert "改名后的记录" not in evidence.search_text
        _approve(session, evidence, owner, approver)
        assert evidence.title == "改名后的记录"
        assert "改名后的记录" in evidence.search_text

    def test_a_harmless_field_changes_directly_without_a_revision(
        self, session: Session, people: tuple[User, User]
    ) -> None:
        owner, approver = people
        evidence = _approved_link(session, owner, approver)
        change = _edit(session, evidence, owner, description="每月导出一次", retention_years=5)
        assert change.proposal is None
        assert (evidence.description, evidence.retention_years) == ("每月导出一次", 5)
        assert approval.pending_revision(session=session, evidence_id=evidence.id or 0) is None
        assert len(evidence_service.revisions(session=session, evidence_id=evidence.id or 0)) == 1

    def test_the_kind_cannot_change_once_it_has_revisions(
        self, session: Session, people: tuple[User, User]
    ) -> None:
        owner, approver = people
        evidence = _approved_link(session, owner, approver)
        with use_locale("zh_CN"), pytest.raises(Conflict) as refused:
            _edit(session, evidence, owner, kind=EvidenceKind.document)
        assert refused.value.field == "kind"
        session.rollback()
        session.refresh(evidence)
        assert evidence.kind == EvidenceKind.link


class TestApprovedDocument:
    def test_a_new_title_or_period_is_a_revision_of_the_same_file(
        self, session: Session, people: tuple[User, User], limits: UploadLimits
    ) -> None:
        owner, approver = people
        evidence = _approved_document(session, owner, approver, limits)
        change = _edit(
            session, evidence, owner, period_to=date(2027, 12, 31), title="文件控制程序 B 版"
        )
        proposal = change.proposal
        assert proposal is not None
        first = evidence_service.effective_revision(session=session, evidence_id=evidence.id or 0)
        assert first is not None
        assert first.number == 1
        assert (proposal.sha256, proposal.original_name) == (first.sha256, first.original_name)
        assert (proposal.period_from, proposal.period_to) == (date(2026, 1, 1), date(2027, 12, 31))
        assert first.period_to == date(2026, 12, 31)
        assert evidence.title == "文件控制程序"
        assert evidence.status == EvidenceStatus.approved

    def test_a_period_that_ends_before_it_starts_is_refused(
        self, session: Session, people: tuple[User, User], limits: UploadLimits
    ) -> None:
        owner, approver = people
        evidence = _approved_document(session, owner, approver, limits)
        with pytest.raises(Invalid) as refused:
            _edit(session, evidence, owner, period_to=date(2025, 1, 1))
        assert refused.value.field == "period_to"

    def test_an_upload_after_a_proposed_title_keeps_the_proposal(
        self, session: Session, people: tuple[User, User], limits: UploadLimits
    ) -> None:
        owner, approver = people
        evidence = _approved_document(session, owner, approver, limits)
        _edit(session, evidence, owner, title="新标题")
        revision, _stored = evidence_service.add_revision(
            session=session,
            now=NOW,
            actor_id=owner.id,
            evidence=evidence,
            upload=Upload("v3.pdf", io.BytesIO(PDF + b"%v3\n")),
            limits=limits,
        )
        assert (revision.number, revision.title) == (3, "新标题")

    @pytest.mark.parametrize("edited", ["before the upload", "while the upload waits"])
    def test_an_address_edited_on_a_document_survives_the_next_approval(
        self, session: Session, people: tuple[User, User], limits: UploadLimits, edited: str
    ) -> None:
        """A document's address is no part of its review: the edit holds, and approving a
        later file does not put back the address the file's revision was uploaded with."""
        owner, approver = people
        evidence = _approved_document(session, owner, approver, limits)
        new_url = "https://wiki.example.cn/qp-07"

        def edit() -> None:
            change = _edit(session, evidence, owner, url=new_url)
            assert change.proposal is None
            assert evidence.url == new_url

        if edited == "before the upload":
            edit()
        evidence_service.add_revision(
            session=session,
            now=NOW,
            actor_id=owner.id,
            evidence=evidence,
            upload=Upload("v2.pdf", io.BytesIO(PDF + b"%v2\n")),
            limits=limits,
        )
        if edited == "while the upload waits":
            edit()
        _approve(session, evidence, owner, approver)
        assert evidence.url == new_url
        session.expire_all()
        stored = session.get(Evidence, evidence.id)
        assert stored is not None
        assert stored.url == new_url

    def test_a_draft_never_approved_takes_a_new_title_at_once(
        self, session: Session, people: tuple[User, User]
    ) -> None:
        owner, _approver = people
        evidence = evidence_service.create(
            session=session,
            now=NOW,
            actor_id=owner.id,
            data=EvidenceCreate(title="草稿", owner_id=owner.id),
        )
        change = _edit(session, evidence, owner, title="草稿二")
        assert change.proposal is None
        assert evidence.title == "草稿二"
        with pytest.raises(Invalid) as refused:
            _edit(session, evidence, owner, period_from=date(2026, 1, 1))
        assert refused.value.field == "period_from"


class TestApproveWhatWasSeen:
    def test_a_revision_added_after_the_page_was_read_is_not_approved_unseen(
        self, session: Session, people: tuple[User, User], limits: UploadLimits
    ) -> None:
        owner, approver = people
        evidence = evidence_service.create(
            session=session, now=NOW, actor_id=owner.id, data=EvidenceCreate(title="程序")
        )
        evidence_service.add_revision(
            session=session,
            now=NOW,
            actor_id=owner.id,
            evidence=evidence,
            upload=Upload("v1.pdf", io.BytesIO(PDF)),
            limits=limits,
        )
        seen = approval.submit(session=session, now=NOW, actor_id=owner.id, evidence=evidence)
        evidence_service.add_revision(
            session=session,
            now=NOW,
            actor_id=owner.id,
            evidence=evidence,
            upload=Upload("v2.pdf", io.BytesIO(PDF + b"%v2\n")),
            limits=limits,
        )
        newer = approval.submit(session=session, now=NOW, actor_id=owner.id, evidence=evidence)
        session.commit()
        with use_locale("zh_CN"), pytest.raises(Conflict) as refused:
            approval.approve(
                session=session,
                now=NOW,
                actor_id=approver.id or 0,
                evidence=evidence,
                revision_id=seen.id,
            )
        assert "重新加载" in refused.value.message
        session.rollback()
        assert (
            evidence_service.effective_revision(session=session, evidence_id=evidence.id or 0)
            is None
        )
        newer_now = session.get(EvidenceRevision, newer.id)
        assert newer_now is not None
        assert newer_now.approved_at is None
        approval.approve(
            session=session,
            now=NOW,
            actor_id=approver.id or 0,
            evidence=evidence,
            revision_id=newer.id,
        )
        assert newer.approved_by_id == approver.id

    def test_a_superseded_draft_never_comes_back_for_review(
        self, session: Session, people: tuple[User, User], limits: UploadLimits
    ) -> None:
        owner, approver = people
        evidence = _approved_document(session, owner, approver, limits)
        evidence_service.add_revision(
            session=session,
            now=NOW,
            actor_id=owner.id,
            evidence=evidence,
            upload=Upload("v2.pdf", io.BytesIO(PDF + b"%v2\n")),
            limits=limits,
        )
        change = _edit(session, evidence, owner, title="新标题")
        assert change.proposal.number == 3
        _approve(session, evidence, owner, approver)
        assert approval.pending_revision(session=session, evidence_id=evidence.id or 0) is None
        with pytest.raises(Conflict):
            approval.submit(session=session, now=NOW, actor_id=owner.id, evidence=evidence)
