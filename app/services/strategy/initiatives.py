"""Initiatives and their four-element tasks."""

from datetime import datetime

from sqlmodel import Session, col, select

from app.errors import Invalid, NotFound
from app.i18n import gettext as _
from app.models.capability import Capability
from app.models.initiative import Initiative, InitiativeCreate, Task, TaskCreate, TaskStatus
from app.models.pdca import PdcaCycle, Phase
from app.models.user import User
from app.services.activity import service as activity
from app.services.loading import found


def get(*, session: Session, initiative_id: int) -> Initiative:
    return found(session.get(Initiative, initiative_id), _("This initiative does not exist."))


def get_task(*, session: Session, task_id: int) -> Task:
    return found(session.get(Task, task_id), _("This task does not exist."))


def for_capability(*, session: Session, capability_id: int) -> list[tuple[Initiative, list[Task]]]:
    initiatives = session.exec(
        select(Initiative)
        .where(Initiative.capability_id == capability_id)
        .order_by(col(Initiative.id))
    ).all()
    ids = [i.id for i in initiatives]
    tasks = (
        session.exec(
            select(Task)
            .where(col(Task.initiative_id).in_(ids))
            .order_by(col(Task.due_date), col(Task.id))
        ).all()
        if ids
        else []
    )
    by_initiative: dict[int | None, list[Task]] = {}
    for task in tasks:
        by_initiative.setdefault(task.initiative_id, []).append(task)
    return [(i, by_initiative.get(i.id, [])) for i in initiatives]


def _check_owner(session: Session, owner_id: int | None) -> None:
    owner = session.get(User, owner_id) if owner_id is not None else None
    if owner_id is not None and (owner is None or not owner.is_active):
        raise Invalid(_("Choose an active user as owner."), field="owner_id")


def create(
    *, session: Session, now: datetime, actor_id: int | None, data: InitiativeCreate
) -> Initiative:
    """An implementation plan (实施方案) of a capability."""
    if session.get(Capability, data.capability_id) is None:
        raise NotFound(_("This capability does not exist."))
    _check_owner(session, data.owner_id)
    initiative = Initiative(**data.model_dump(), created_at=now)
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=initiative,
        object_type="initiative",
        after=data.model_dump(),
    )
    return initiative


def _open_cycle_id(session: Session) -> int | None:
    return session.exec(
        select(PdcaCycle.id)
        .where(col(PdcaCycle.capability_id).is_(None), PdcaCycle.phase != Phase.closed)
        .order_by(col(PdcaCycle.id).desc())
        .limit(1)
    ).first()


def create_task(*, session: Session, now: datetime, actor_id: int | None, data: TaskCreate) -> Task:
    """A task of an initiative, planned in the current PDCA cycle."""
    get(session=session, initiative_id=data.initiative_id)
    _check_owner(session, data.owner_id)
    task = Task(**data.model_dump(), cycle_id=_open_cycle_id(session), created_at=now)
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=task,
        object_type="task",
        after=data.model_dump(),
    )
    return task


def set_task_status(
    *, session: Session, now: datetime, actor_id: int | None, task: Task, status: TaskStatus
) -> Task:
    """Move a task between open, in progress, done and cancelled."""
    if task.status == status:
        return task
    before = {"status": task.status}
    task.status = status
    session.add(task)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="update",
        object_type="task",
        object_id=task.id,
        before=before,
        after={"status": status},
    )
    return task
