"""Restricted evidence in reminders: only a recipient who may open the document reads its title;
everyone else, and every group channel, is told that a restricted document is due."""

from datetime import UTC, date, datetime

from sqlmodel import Session, col, select

from app.models.evidence import Confidentiality, Evidence, EvidenceStatus
from app.models.notification import Channel, Notification, WebhookChannel, WebhookKind
from app.models.user import Role, User
from app.services.reminders import service as reminders
from app.settings import Settings
from tests.factories import make_department, make_user

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai
DUE = date(2026, 11, 16)  # nine days ago: overdue, and escalated after seven
SECRET_TITLE = "高管薪酬核定办法"


def _restricted_evidence(session: Session, owner: User, department_id: int | None) -> Evidence:
    evidence = Evidence(
        title=SECRET_TITLE,
        confidentiality=Confidentiality.restricted,
        status=EvidenceStatus.approved,
        owner_id=owner.id,
        department_id=department_id,
        next_review_date=DUE,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(evidence)
    session.commit()
    return evidence


def _rows(session: Session, evidence: Evidence, **where: object) -> list[Notification]:
    query = select(Notification).where(
        Notification.subject_type == "evidence", Notification.subject_id == evidence.id
    )
    for name, value in where.items():
        query = query.where(col(getattr(Notification, name)) == value)
    return list(session.exec(query).all())


def _head_of(session: Session, department_id: int | None) -> User:
    """The head of the owner's production department, a member of it."""
    return make_user(session, roles=[Role.owner], department_id=department_id)


class TestEscalation:
    def test_a_head_who_may_not_open_it_gets_a_neutral_title(
        self, session: Session, settings: Settings
    ) -> None:
        production, personnel = make_department(session), make_department(session)
        owner = make_user(session, roles=[Role.owner], department_id=production.id)
        head = _head_of(session, production.id)
        production.head_id = head.id
        session.add(production)
        # Kept by the personnel department: the production head may not open it (403).
        evidence = _restricted_evidence(session, owner, personnel.id)

        reminders.plan(session=session, now=NOW, settings=settings)

        to_head = _rows(session, evidence, recipient_id=head.id)
        assert {row.channel for row in to_head} == {Channel.in_app, Channel.email}
        for row in to_head:
            assert row.threshold == "escalate"
            assert SECRET_TITLE not in row.title
            assert row.title.startswith(f"受限文件（#{evidence.id}）证据复审")
            assert "已逾期 9 天" in row.title
            assert row.link == f"/evidence/{evidence.id}"  # no title in the address either
        # The owner's own reminder still names the document.
        (mine,) = _rows(session, evidence, recipient_id=owner.id, channel=Channel.in_app)
        assert SECRET_TITLE in mine.title

    def test_a_head_who_may_open_it_reads_the_title(
        self, session: Session, settings: Settings
    ) -> None:
        production = make_department(session)
        owner = make_user(session, roles=[Role.owner], department_id=production.id)
        head = _head_of(session, production.id)
        production.head_id = head.id
        session.add(production)
        evidence = _restricted_evidence(session, owner, production.id)  # their own department
        representative = make_user(session, roles=[Role.admin])  # administrators see all

        reminders.plan(session=session, now=NOW, settings=settings)

        for recipient in (head, representative):
            rows = _rows(session, evidence, recipient_id=recipient.id, threshold="escalate")
            assert {row.channel for row in rows} == {Channel.in_app, Channel.email}
            assert all(SECRET_TITLE in row.title for row in rows)

    def test_internal_evidence_is_named_to_everyone(
        self, session: Session, settings: Settings
    ) -> None:
        production, personnel = make_department(session), make_department(session)
        owner = make_user(session, roles=[Role.owner], department_id=production.id)
        head = _head_of(session, production.id)
        production.head_id = head.id
        session.add(production)
        evidence = _restricted_evidence(session, owner, personnel.id)
        evidence.confidentiality = Confidentiality.internal
        session.add(evidence)
        session.commit()

        reminders.plan(session=session, now=NOW, settings=settings)

        rows = _rows(session, evidence, recipient_id=head.id)
        assert rows
        assert all(SECRET_TITLE in row.title for row in rows)


class TestGroupChannels:
    def test_a_webhook_never_carries_a_restricted_title(
        self, session: Session, settings: Settings
    ) -> None:
        production = make_department(session)
        owner = make_user(session, roles=[Role.owner], department_id=production.id)
        evidence = _restricted_evidence(session, owner, production.id)
        group = WebhookChannel(name="质量群", kind=WebhookKind.wecom, url="https://im.example/x")
        session.add(group)
        session.commit()

        reminders.plan(session=session, now=NOW, settings=settings)

        (posted,) = _rows(session, evidence, channel=Channel.webhook)
        assert posted.webhook_id == group.id
        assert SECRET_TITLE not in posted.title
        assert posted.title.startswith(f"受限文件（#{evidence.id}）证据复审")
        # The owner, who may open it, still reads the title in person.
        (mine,) = _rows(session, evidence, recipient_id=owner.id, channel=Channel.in_app)
        assert SECRET_TITLE in mine.title
