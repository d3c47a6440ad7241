"""Goals and their measurements: append-only, corrections supersede, status by one rule."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.clock import local_date
from app.errors import Conflict, Invalid, NotFound
from app.i18n import gettext as _
from app.models.capability import Capability
from app.models.goal import Frequency, Goal, GoalCreate, Measurement
from app.models.user import User
from app.services.activity import service as activity
from app.services.loading import found
from app.services.strategy.goal_status import Assessment, assess, period_start

VALUE_LIMIT = 1e12


def get(*, session: Session, goal_id: int) -> Goal:
    return found(session.get(Goal, goal_id), _("This goal does not exist."))


def get_measurement(*, session: Session, measurement_id: int) -> Measurement:
    return found(session.get(Measurement, measurement_id), _("This measurement does not exist."))


def for_capabilities(*, session: Session, capability_ids: list[int]) -> list[Goal]:
    if not capability_ids:
        return []
    return list(
        session.exec(
            select(Goal).where(col(Goal.capability_id).in_(capability_ids)).order_by(col(Goal.id))
        ).all()
    )


def _check(session: Session, data: GoalCreate) -> None:
    if session.get(Capability, data.capability_id) is None:
        raise NotFound(_("This capability does not exist."))
    if data.deadline <= data.baseline_date:
        raise Invalid(_("The deadline must come after the baseline date."), field="deadline")
    for name in ("baseline", "target"):
        value = getattr(data, name)
        if value != value or abs(value) > VALUE_LIMIT:  # NaN is the only value unequal to itself
            raise Invalid(_("Enter a number."), field=name)
    owner = session.get(User, data.owner_id) if data.owner_id is not None else None
    if data.owner_id is not None and (owner is None or not owner.is_active):
        raise Invalid(_("Choose an active user as owner."), field="owner_id")
    if data.target == data.baseline:
        raise Invalid(_("The target must differ from the baseline."), field="target")
    rising = data.target > data.baseline
    if rising != (data.direction == "increase"):
        raise Invalid(
            _("The target lies on the wrong side of the baseline for the chosen direction."),
            field="target",
        )


def create(*, session: Session, now: datetime, actor_id: int | None, data: GoalCreate) -> Goal:
    """A measurable goal of a capability: baseline, target, deadline, direction, frequency."""
    _check(session, data)
    goal = Goal(**data.model_dump(), created_at=now)
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=goal,
        object_type="goal",
        after=data.model_dump(),
    )
    return goal


def update(
    *, session: Session, now: datetime, actor_id: int | None, goal: Goal, data: GoalCreate
) -> Goal:
    """Change a goal's definition; its measurements stay as recorded."""
    _check(session, data)
    fields = data.model_dump()
    before, after = activity.changes(goal, fields)
    for name, value in fields.items():
        setattr(goal, name, value)
    session.add(goal)
    if after:
        activity.record(
            session=session,
            now=now,
            actor_id=actor_id,
            verb="update",
            object_type="goal",
            object_id=goal.id,
            before=before,
            after=after,
        )
    return goal


def history(*, session: Session, goal_id: int) -> list[Measurement]:
    """Every recorded value, newest period first, corrections next to what they replaced."""
    return list(
        session.exec(
            select(Measurement)
            .where(Measurement.goal_id == goal_id)
            .order_by(col(Measurement.period).desc(), col(Measurement.revision).desc())
        ).all()
    )


def current_series(*, session: Session, goal_ids: list[int]) -> dict[int, list[Measurement]]:
    """The values in force (not superseded) per goal, oldest period first, in one query."""
    series: dict[int, list[Measurement]] = {goal_id: [] for goal_id in goal_ids}
    if not goal_ids:
        return series
    rows = session.exec(
        select(Measurement)
        .where(col(Measurement.goal_id).in_(goal_ids), col(Measurement.superseded_by_id).is_(None))
        .order_by(col(Measurement.goal_id), col(Measurement.period))
    ).all()
    for row in rows:
        series[row.goal_id].append(row)
    return series


def latest_values(
    *, session: Session, goal_ids: list[int] | None = None
) -> dict[int, tuple[date, float]]:
    """The latest value in force per goal, found by the database (for lists and dashboards).

    One index seek per goal (the newest period in force, by the unique goal/period/revision
    index) rather than grouping every measurement: 1 ms instead of 6 ms for 300 goals with
    10,000 values."""
    newest = (
        select(Measurement.id)
        .where(
            Measurement.goal_id == Goal.id,
            col(Measurement.superseded_by_id).is_(None),
        )
        .order_by(col(Measurement.period).desc())
        .limit(1)
        .correlate(Goal)
        .scalar_subquery()
    )
    query = sa_select(col(Goal.id), col(Measurement.period), col(Measurement.value)).join(
        Measurement, col(Measurement.id) == newest
    )
    if goal_ids is not None:
        query = query.where(col(Goal.id).in_(goal_ids))
    rows = cast("Sequence[tuple[int, date, float]]", session.execute(query).all())
    return {goal_id: (period, value) for goal_id, period, value in rows}


def assessments(*, session: Session, goals: list[Goal], today: date) -> dict[int, Assessment]:
    """Status of each goal by the documented rule."""
    latest = latest_values(session=session, goal_ids=[g.id for g in goals if g.id is not None])
    result: dict[int, Assessment] = {}
    for goal in goals:
        assert goal.id is not None
        period, value = latest.get(goal.id, (None, None))
        result[goal.id] = assess(goal, value, period, today)
    return result


@dataclass(frozen=True)
class Reading:
    period: date
    value: float
    note: str = ""


def _validated(goal: Goal, reading: Reading, today: date) -> date:
    if reading.value != reading.value or abs(reading.value) > VALUE_LIMIT:
        raise Invalid(_("Enter a number."), field="value")
    frequency = Frequency(goal.frequency)
    period = period_start(frequency, reading.period)
    if period > period_start(frequency, today):
        raise Invalid(_("A period in the future cannot be measured yet."), field="period")
    if period < period_start(frequency, goal.baseline_date):
        raise Invalid(_("The period lies before the goal's baseline date."), field="period")
    return period


def record(
    *, session: Session, now: datetime, actor_id: int | None, goal: Goal, reading: Reading
) -> Measurement:
    """The first value for a period; a second one is refused: correct the first instead."""
    period = _validated(goal, reading, local_date(now))
    existing = session.exec(
        select(Measurement).where(
            Measurement.goal_id == goal.id,
            Measurement.period == period,
            col(Measurement.superseded_by_id).is_(None),
        )
    ).first()
    if existing is not None:
        raise Conflict(
            _(
                "A value for this period is already recorded. "
                "Correct it instead; the correction supersedes it."
            ),
            field="period",
        )
    assert goal.id is not None
    measurement = Measurement(
        goal_id=goal.id,
        period=period,
        revision=1,
        value=reading.value,
        note=reading.note.strip(),
        recorded_at=now,
        recorded_by_id=actor_id,
    )
    _insert(session, measurement)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="record",
        object_type="measurement",
        object_id=measurement.id,
        after={"goal_id": goal.id, "period": period, "value": reading.value},
    )
    return measurement


def correct(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    measurement: Measurement,
    value: float,
    note: str,
) -> Measurement:
    """A corrected value: a new revision that supersedes the old one, which stays in history."""
    if measurement.superseded_by_id is not None:
        raise Conflict(_("This value has already been corrected; correct the newest one."))
    if not note.strip():
        raise Invalid(_("Say why the value is corrected."), field="note")
    goal = get(session=session, goal_id=measurement.goal_id)
    _validated(goal, Reading(measurement.period, value), local_date(now))
    replacement = Measurement(
        goal_id=measurement.goal_id,
        period=measurement.period,
        revision=measurement.revision + 1,
        value=value,
        note=note.strip(),
        recorded_at=now,
        recorded_by_id=actor_id,
    )
    _insert(session, replacement)
    measurement.superseded_by_id = replacement.id
    session.add(measurement)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="correct",
        object_type="measurement",
        object_id=measurement.id,
        before={"value": measurement.value},
        after={"value": value, "superseded_by": replacement.id, "note": note.strip()},
    )
    return replacement


def _insert(session: Session, measurement: Measurement) -> None:
    # The unique (goal, period, revision) key settles a race between two recorders.
    try:
        with session.begin_nested():
            session.add(measurement)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            _("Someone else recorded this period at the same moment. Reload and check.")
        ) from exc
