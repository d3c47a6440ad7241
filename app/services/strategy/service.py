"""Strategies and their competitive advantages."""

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.errors import Conflict
from app.i18n import gettext as _
from app.models.capability import CapabilityAdvantage
from app.models.strategy import (
    AdvantageCreate,
    CompetitiveAdvantage,
    Strategy,
    StrategyCreate,
    StrategyStatus,
)
from app.services.activity import service as activity
from app.services.loading import found


def get(*, session: Session, strategy_id: int) -> Strategy:
    return found(session.get(Strategy, strategy_id), _("This strategy does not exist."))


def get_all(*, session: Session) -> list[Strategy]:
    return list(session.exec(select(Strategy).order_by(col(Strategy.id))).all())


def get_advantage(*, session: Session, advantage_id: int) -> CompetitiveAdvantage:
    return found(
        session.get(CompetitiveAdvantage, advantage_id),
        _("This competitive advantage does not exist."),
    )


def advantages(*, session: Session) -> list[CompetitiveAdvantage]:
    return list(
        session.exec(
            select(CompetitiveAdvantage).order_by(
                col(CompetitiveAdvantage.strategy_id), col(CompetitiveAdvantage.position)
            )
        ).all()
    )


def create(
    *, session: Session, now: datetime, actor_id: int | None, data: StrategyCreate
) -> Strategy:
    """A new strategy, in draft until top management approves it."""
    strategy = Strategy(**data.model_dump(), created_at=now)
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=strategy,
        object_type="strategy",
        after=data.model_dump(),
    )
    return strategy


def update(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    strategy: Strategy,
    data: StrategyCreate,
) -> Strategy:
    """Change title, description or horizon; an approved strategy goes back to draft."""
    fields = data.model_dump()
    before, after = activity.changes(strategy, fields)
    if not after:
        return strategy
    for name, value in fields.items():
        setattr(strategy, name, value)
    if strategy.status is StrategyStatus.approved:
        # Approval covered the old wording; a changed strategy needs approving again.
        before["status"], after["status"] = strategy.status, StrategyStatus.draft
        strategy.status = StrategyStatus.draft
        strategy.approved_at = None
        strategy.approved_by_id = None
    session.add(strategy)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="update",
        object_type="strategy",
        object_id=strategy.id,
        before=before,
        after=after,
    )
    return strategy


def approve(*, session: Session, now: datetime, actor_id: int, strategy: Strategy) -> Strategy:
    """Top management approves the strategy; a retired one cannot be approved."""
    if strategy.status is not StrategyStatus.draft:
        raise Conflict(_("Only a draft strategy can be approved."))
    strategy.status = StrategyStatus.approved
    strategy.approved_at = now
    strategy.approved_by_id = actor_id
    session.add(strategy)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="approve",
        object_type="strategy",
        object_id=strategy.id,
        before={"status": "draft"},
        after={"status": "approved"},
    )
    return strategy


def create_advantage(
    *, session: Session, now: datetime, actor_id: int | None, data: AdvantageCreate
) -> CompetitiveAdvantage:
    """Add a sustainable competitive advantage to a strategy, at the end of its list."""
    get(session=session, strategy_id=data.strategy_id)
    last = session.exec(
        select(func.max(CompetitiveAdvantage.position)).where(
            CompetitiveAdvantage.strategy_id == data.strategy_id
        )
    ).one()
    advantage = CompetitiveAdvantage(**data.model_dump(), position=(last or 0) + 1)
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=advantage,
        object_type="competitive_advantage",
        after=data.model_dump(),
    )
    return advantage


def delete_advantage(
    *, session: Session, now: datetime, actor_id: int | None, advantage: CompetitiveAdvantage
) -> None:
    """Remove an advantage that no capability serves yet."""
    linked = session.exec(
        select(func.count())
        .select_from(CapabilityAdvantage)
        .where(CapabilityAdvantage.advantage_id == advantage.id)
    ).one()
    if linked:
        raise Conflict(
            _("This advantage cannot be deleted: %(n)d capabilities serve it.", n=linked)
        )
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="delete",
        object_type="competitive_advantage",
        object_id=advantage.id,
        before={"title": advantage.title},
    )
    session.delete(advantage)
