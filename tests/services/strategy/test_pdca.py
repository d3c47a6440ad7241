"""PDCA: phases in order; closing opens the next cycle and carries open tasks."""

import pytest
from sqlmodel import Session

from app.errors import Conflict
from app.models.initiative import Element, InitiativeCreate, TaskCreate, TaskStatus
from app.models.pdca import Phase
from app.services.strategy import initiatives as initiative_service
from app.services.strategy import pdca as pdca_service
from tests.factories import NOW, make_capability


def test_skipping_a_phase_is_refused(session: Session) -> None:
    cycle = pdca_service.start(session=session, now=NOW, actor_id=None, period="2026")
    with pytest.raises(Conflict):
        pdca_service.advance(session=session, now=NOW, actor_id=None, cycle=cycle, to=Phase.check)
    assert cycle.phase == Phase.plan


def test_only_one_open_cycle(session: Session) -> None:
    pdca_service.start(session=session, now=NOW, actor_id=None, period="2026")
    with pytest.raises(Conflict):
        pdca_service.start(session=session, now=NOW, actor_id=None, period="2027")


def test_close_opens_next_and_carries_open_tasks(session: Session) -> None:
    cycle = pdca_service.start(session=session, now=NOW, actor_id=None, period="2026")
    initiative = initiative_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=InitiativeCreate(title="MES 上线", capability_id=make_capability(session).id or 0),
    )
    tasks = [
        initiative_service.create_task(
            session=session,
            now=NOW,
            actor_id=None,
            data=TaskCreate(
                title=f"任务{n}", element=Element.data, initiative_id=initiative.id or 0
            ),
        )
        for n in range(3)
    ]
    initiative_service.set_task_status(
        session=session, now=NOW, actor_id=None, task=tasks[0], status=TaskStatus.done
    )
    with pytest.raises(Conflict):
        pdca_service.close(session=session, now=NOW, actor_id=None, cycle=cycle, next_period="2027")
    for phase in (Phase.do, Phase.check, Phase.act):
        pdca_service.advance(session=session, now=NOW, actor_id=None, cycle=cycle, to=phase)
    successor, carried = pdca_service.close(
        session=session, now=NOW, actor_id=None, cycle=cycle, next_period="2027"
    )
    assert carried == 2
    assert successor.previous_id == cycle.id
    assert pdca_service.current(session=session) == successor
    moved = pdca_service.carried_tasks(session=session, cycle_id=successor.id or 0)
    assert sorted(t.title for t in moved) == ["任务1", "任务2"]
    session.refresh(tasks[0])
    assert tasks[0].cycle_id == cycle.id
