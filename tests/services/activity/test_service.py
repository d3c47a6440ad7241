"""The activity log: every change recorded, events chained by hash."""

from sqlmodel import Session, col, select

from app.models.activity import ActivityEvent
from app.models.department import DepartmentCreate
from app.services.accounts import departments as department_service
from app.services.activity import chain as activity_chain
from app.services.activity import key as activity_key
from app.services.activity import service as activity
from tests.factories import NOW


def test_a_change_records_before_and_after_linked_to_the_previous_event(session: Session) -> None:
    department = department_service.create(
        session=session, now=NOW, actor_id=None, data=DepartmentCreate(name="信息中心", code="IT9")
    )
    department_service.update(
        session=session,
        now=NOW,
        actor_id=None,
        department=department,
        data=DepartmentCreate(name="数字化中心", code="IT9"),
    )
    created, updated = session.exec(
        select(ActivityEvent).order_by(col(ActivityEvent.id).desc()).limit(2)
    ).all()[::-1]
    assert created.verb == "create"
    assert updated.before == {"name": "信息中心"}
    assert updated.after == {"name": "数字化中心"}
    assert updated.prev_hash == created.hash


def test_hash_covers_the_content(session: Session) -> None:
    event = activity.record(
        session=session,
        now=NOW,
        actor_id=None,
        verb="update",
        object_type="x",
        object_id=1,
        after={"a": 1},
    )
    original = event.hash
    event.after = {"a": 2}
    assert activity.digest(event, key=activity_key.chain_key(session)) != original


def test_verify_on_this_database(session: Session) -> None:
    from sqlalchemy import update

    from app.models.activity import ActivityEvent

    for n in range(3):
        activity.record(
            session=session,
            now=NOW,
            actor_id=None,
            verb="update",
            object_type="x",
            object_id=n,
            before={"名称": "旧"},
            after={"名称": f"新{n}", "n": n},
        )
    session.flush()
    key = activity_key.chain_key(session)
    assert activity_chain.verify(session=session, key=key, anchors=[]).broken_at is None
    last = session.exec(select(ActivityEvent).order_by(col(ActivityEvent.id).desc())).first()
    assert last is not None
    session.execute(
        update(ActivityEvent).where(col(ActivityEvent.id) == last.id).values(after={"名称": "篡改"})
    )
    session.expire_all()
    report = activity_chain.verify(session=session, key=key, anchors=[])
    assert report.broken_at == last.id
