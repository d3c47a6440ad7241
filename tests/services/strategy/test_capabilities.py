"""Capabilities: stage transitions, refusal to delete what has goals, the element matrix."""

import pytest
from sqlmodel import Session

from app.errors import Conflict, Invalid
from app.models.capability import CapabilityCreate, Grade, Stage
from app.models.initiative import Element, InitiativeCreate, TaskCreate
from app.services.strategy import capabilities as capability_service
from app.services.strategy import initiatives as initiative_service
from tests.factories import NOW, make_capability, make_goal


def test_stage_moves_one_step_and_records_history(session: Session) -> None:
    capability = capability_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=CapabilityCreate(code="PDM", title="产品数据管理能力"),
    )
    with pytest.raises(Conflict):
        capability_service.change_stage(
            session=session,
            now=NOW,
            actor_id=None,
            capability=capability,
            to=Stage.operating,
            note="",
        )
    capability_service.change_stage(
        session=session,
        now=NOW,
        actor_id=None,
        capability=capability,
        to=Stage.planned,
        note="已立项",
    )
    history = capability_service.stage_history(session=session, capability_id=capability.id or 0)
    assert [(h.from_stage, h.to_stage) for h in history] == [
        (None, Stage.identified),
        (Stage.identified, Stage.planned),
    ]


def test_capability_with_goals_cannot_be_deleted(session: Session) -> None:
    capability = make_capability(session)
    make_goal(session, capability.id or 0)
    with pytest.raises(Conflict, match=r"archive|归档"):
        capability_service.delete_or_refuse(
            session=session, now=NOW, actor_id=None, capability=capability
        )
    capability_service.archive(session=session, now=NOW, actor_id=None, capability=capability)
    assert capability not in capability_service.get_all(session=session)


def test_target_grade_below_current_is_refused(session: Session) -> None:
    with pytest.raises(Invalid):
        capability_service.create(
            session=session,
            now=NOW,
            actor_id=None,
            data=CapabilityCreate(
                code="X1", title="x", current_grade=Grade.CL3, target_grade=Grade.CL2
            ),
        )


def test_element_matrix_counts_tasks_per_element(session: Session) -> None:
    capability = make_capability(session)
    untouched = make_capability(session)
    initiative = initiative_service.create(
        session=session,
        now=NOW,
        actor_id=None,
        data=InitiativeCreate(title="i", capability_id=capability.id or 0),
    )
    for element in (Element.data, Element.data, Element.process):
        initiative_service.create_task(
            session=session,
            now=NOW,
            actor_id=None,
            data=TaskCreate(title="t", element=element, initiative_id=initiative.id or 0),
        )
    matrix = capability_service.element_matrix(session=session)
    assert matrix[capability.id or 0] == {Element.data: 2, Element.process: 1}
    assert untouched.id not in matrix
