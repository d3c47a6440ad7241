"""The large data set generator, at a small scale: counts, links and an intact activity chain."""

from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models.activity import ActivityEvent
from app.models.audit import ChecklistItem, Finding
from app.models.evidence import EvidenceRevision, StoredFile
from app.models.nonconformity import CorrectiveAction, Nonconformity
from app.models.notification import Notification
from app.models.user import User
from app.services.activity import chain as activity_chain
from app.services.activity import key as activity_key
from app.services.files import store as file_store
from seed.large import Counts, generate
from tests.factories import NOW

SCALE = 0.02


class TestGenerate:
    def test_builds_the_scaled_data_set_with_a_valid_chain(
        self, session: Session, tmp_path: Path
    ) -> None:
        events_before = session.exec(select(func.count()).select_from(ActivityEvent)).one()
        seen: list[str] = []

        report = generate(
            session=session,
            files_dir=tmp_path / "files",
            now=NOW,
            scale=SCALE,
            progress=lambda table, done, total: seen.append(table),
        )

        counts = Counts.scaled(SCALE)

        def count(model: type) -> int:
            return int(session.exec(select(func.count()).select_from(model)).one())

        assert count(User) == counts.users
        assert count(EvidenceRevision) == counts.revisions
        assert count(StoredFile) == counts.revisions
        assert count(ChecklistItem) == counts.checklist_items
        assert count(Finding) == counts.findings
        assert count(Nonconformity) == counts.nonconformities
        assert count(CorrectiveAction) == counts.actions
        assert count(Notification) == counts.notifications
        assert count(ActivityEvent) == events_before + counts.events
        assert report.counts["evidence"] == counts.evidence
        assert {"user_account", "evidence_revision", "activity_event"} <= set(seen)
        revision = session.exec(select(EvidenceRevision).limit(1)).one()
        assert revision.sha256 is not None
        assert file_store.path_for(tmp_path / "files", revision.sha256).stat().st_size > 100
        assert session.exec(
            select(func.count())
            .select_from(ChecklistItem)
            .where(col(ChecklistItem.audit_id) == report.big_audit_id)
        ).one() == min(300, counts.checklist_items // 2)
        chain = activity_chain.verify(
            session=session, key=activity_key.chain_key(session), anchors=[]
        )
        assert chain.broken_at is None
        assert chain.checked == events_before + counts.events
