"""Recording measurements: one per period, corrections supersede, history keeps both."""

from datetime import date
from typing import Any

import pytest
from sqlmodel import Session

from app.errors import Conflict, Invalid
from app.models.goal import GoalCreate
from app.services.strategy import goals as goal_service
from app.services.strategy.goals import Reading
from tests.factories import NOW, make_capability, make_goal


def test_second_value_for_a_period_is_409_and_says_to_correct(session: Session) -> None:
    goal = make_goal(session, make_capability(session).id or 0)
    goal_service.record(
        session=session, now=NOW, actor_id=None, goal=goal, reading=Reading(date(2026, 3, 15), 55)
    )
    with pytest.raises(Conflict, match=r"Correct it instead|更正"):
        goal_service.record(
            session=session,
            now=NOW,
            actor_id=None,
            goal=goal,
            reading=Reading(date(2026, 3, 2), 56),
        )


def test_correction_supersedes_and_history_shows_both(session: Session) -> None:
    goal = make_goal(session, make_capability(session).id or 0)
    first = goal_service.record(
        session=session, now=NOW, actor_id=None, goal=goal, reading=Reading(date(2026, 3, 1), 55)
    )
    second = goal_service.correct(
        session=session, now=NOW, actor_id=None, measurement=first, value=57, note="录入错误"
    )
    assert first.superseded_by_id == second.id
    assert second.revision == 2
    assert [m.value for m in goal_service.history(session=session, goal_id=goal.id or 0)] == [
        57,
        55,
    ]
    assert [
        m.value
        for m in goal_service.current_series(session=session, goal_ids=[goal.id or 0])[goal.id or 0]
    ] == [57]
    with pytest.raises(Conflict):
        goal_service.correct(
            session=session, now=NOW, actor_id=None, measurement=first, value=58, note="again"
        )


def test_latest_value_is_the_newest_period_in_force(session: Session) -> None:
    goal = make_goal(session, make_capability(session).id or 0)
    for month, value in [(1, 50.0), (2, 52.0)]:
        goal_service.record(
            session=session,
            now=NOW,
            actor_id=None,
            goal=goal,
            reading=Reading(date(2026, month, 1), value),
        )
    assert goal_service.latest_values(session=session)[goal.id or 0] == (date(2026, 2, 1), 52.0)


@pytest.mark.parametrize(
    ("period", "field"),
    [(date(2027, 1, 1), "period"), (date(2024, 6, 1), "period")],
)
def test_future_or_pre_baseline_period_is_refused(
    session: Session, period: date, field: str
) -> None:
    goal = make_goal(session, make_capability(session).id or 0)
    with pytest.raises(Invalid) as caught:
        goal_service.record(
            session=session, now=NOW, actor_id=None, goal=goal, reading=Reading(period, 1)
        )
    assert caught.value.field == field


def test_goal_rules(session: Session) -> None:
    capability = make_capability(session)
    base: dict[str, Any] = {
        "indicator": "x",
        "baseline": 10.0,
        "baseline_date": date(2026, 1, 1),
        "target": 20.0,
        "deadline": date(2026, 12, 31),
        "capability_id": capability.id,
    }
    with pytest.raises(Invalid) as caught:
        goal_service.create(
            session=session,
            now=NOW,
            actor_id=None,
            data=GoalCreate(**{**base, "deadline": date(2025, 12, 1)}),
        )
    assert caught.value.field == "deadline"
    with pytest.raises(Invalid) as caught:
        goal_service.create(
            session=session,
            now=NOW,
            actor_id=None,
            data=GoalCreate(**{**base, "direction": "decrease"}),
        )
    assert caught.value.field == "target"
    goal = goal_service.create(session=session, now=NOW, actor_id=None, data=GoalCreate(**base))
    assert goal.id is not None
