"""PDCA cycles: phases in strict order, closing opens the next cycle and carries open work."""

from datetime import datetime

from sqlmodel import Session, col, select, update

from app.clock import local_date
from app.errors import Conflict, Invalid
from app.i18n import gettext as _
from app.models.initiative import OPEN_TASK_STATUSES, Task
from app.models.pdca import NEXT_PHASE, PdcaCycle, Phase, PhaseChange
from app.services.activity import service as activity
from app.services.loading import found

PERIOD_MAX = 32


def get(*, session: Session, cycle_id: int) -> PdcaCycle:
    return found(session.get(PdcaCycle, cycle_id), _("This PDCA cycle does not exist."))


def current(*, session: Session) -> PdcaCycle | None:
    """The organization-wide cycle that is not yet closed."""
    return session.exec(
        select(PdcaCycle)
        .where(col(PdcaCycle.capability_id).is_(None), PdcaCycle.phase != Phase.closed)
        .order_by(col(PdcaCycle.id).desc())
        .limit(1)
    ).first()


def recent(*, session: Session, limit: int = 20) -> list[PdcaCycle]:
    """The organization-wide cycles, newest first."""
    return list(
        session.exec(
            select(PdcaCycle)
            .where(col(PdcaCycle.capability_id).is_(None))
            .order_by(col(PdcaCycle.id).desc())
            .limit(limit)
        ).all()
    )


def changes(*, session: Session, cycle_ids: list[int]) -> list[PhaseChange]:
    if not cycle_ids:
        return []
    return list(
        session.exec(
            select(PhaseChange)
            .where(col(PhaseChange.cycle_id).in_(cycle_ids))
            .order_by(col(PhaseChange.id))
        ).all()
    )


def _period(value: str) -> str:
    period = value.strip()
    if not period:
        raise Invalid(_("This field is required."), field="period")
    if len(period) > PERIOD_MAX:
        raise Invalid(_("Use at most %(max)d characters.", max=PERIOD_MAX), field="period")
    return period


def start(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    period: str,
    previous: PdcaCycle | None = None,
) -> PdcaCycle:
    """Open an organization-wide cycle in the Plan phase; only one may be open."""
    if current(session=session) is not None:
        raise Conflict(_("A PDCA cycle is already open; close it first."))
    cycle = PdcaCycle(
        period=_period(period),
        phase=Phase.plan,
        started_on=local_date(now),
        previous_id=previous.id if previous else None,
    )
    session.add(cycle)
    session.flush()
    assert cycle.id is not None
    session.add(PhaseChange(cycle_id=cycle.id, to_phase=Phase.plan, at=now, by_id=actor_id))
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="create",
        object_type="pdca_cycle",
        object_id=cycle.id,
        after={"period": cycle.period},
    )
    return cycle


def advance(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    cycle: PdcaCycle,
    to: Phase,
    note: str = "",
) -> PhaseChange:
    """Move to the next phase; skipping one, or going back, is refused."""
    current_phase = Phase(cycle.phase)
    if current_phase is Phase.closed or NEXT_PHASE.get(current_phase) is not to:
        raise Conflict(
            _("PDCA phases follow each other in order: Plan, Do, Check, Act."), field="phase"
        )
    if to is Phase.closed:
        raise Conflict(_("Close the cycle with 'Close and open the next cycle'."), field="phase")
    assert cycle.id is not None
    change = PhaseChange(
        cycle_id=cycle.id,
        from_phase=current_phase,
        to_phase=to,
        at=now,
        by_id=actor_id,
        note=note.strip(),
    )
    cycle.phase = to
    session.add_all([cycle, change])
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="advance",
        object_type="pdca_cycle",
        object_id=cycle.id,
        before={"phase": current_phase},
        after={"phase": to},
    )
    return change


def close(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    cycle: PdcaCycle,
    next_period: str,
    note: str = "",
) -> tuple[PdcaCycle, int]:
    """Close a cycle in its Act phase, open the next, and carry open tasks forward."""
    if cycle.phase != Phase.act:
        raise Conflict(_("A cycle can be closed only from its Act phase."), field="phase")
    period = _period(next_period)
    if period == cycle.period:
        raise Invalid(
            _("The next cycle needs a period of its own, e.g. the next year."), field="period"
        )
    assert cycle.id is not None
    cycle.phase = Phase.closed
    cycle.closed_on = local_date(now)
    session.add(cycle)
    session.add(
        PhaseChange(
            cycle_id=cycle.id,
            from_phase=Phase.act,
            to_phase=Phase.closed,
            at=now,
            by_id=actor_id,
            note=note.strip(),
        )
    )
    session.flush()
    successor = start(session=session, now=now, actor_id=actor_id, period=period, previous=cycle)
    carried = session.exec(
        update(Task)
        .where(col(Task.cycle_id) == cycle.id, col(Task.status).in_(OPEN_TASK_STATUSES))
        .values(cycle_id=successor.id, carried_from_cycle_id=cycle.id)
    ).rowcount
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="close",
        object_type="pdca_cycle",
        object_id=cycle.id,
        after={"next_cycle": successor.id, "carried_tasks": carried},
    )
    return successor, carried


def carried_tasks(*, session: Session, cycle_id: int) -> list[Task]:
    return list(
        session.exec(
            select(Task).where(
                Task.cycle_id == cycle_id, col(Task.carried_from_cycle_id).is_not(None)
            )
        ).all()
    )
