"""Restricted evidence: its department, owner and overseers see it; others get 403."""

import pytest
from sqlmodel import Session

from app.actor import Actor
from app.errors import Forbidden
from app.models.evidence import Confidentiality, Evidence
from app.models.user import Role
from app.services.evidence.access import may_view, require_view
from tests.factories import NOW, make_department, make_user


def _viewer(session: Session, roles: list[Role], **overrides: object) -> Actor:
    user = make_user(session, roles=roles, **overrides)
    return Actor(user=user, roles=frozenset(roles), session_id=None)


def test_rule(session: Session) -> None:
    finance, quality = make_department(session), make_department(session)
    evidence = Evidence(
        title="薪酬台账",
        confidentiality=Confidentiality.restricted,
        department_id=finance.id,
        created_at=NOW,
        updated_at=NOW,
    )
    assert may_view(_viewer(session, [Role.owner], department_id=finance.id), evidence)
    assert may_view(_viewer(session, [Role.auditor], department_id=quality.id), evidence)
    outsider = _viewer(session, [Role.owner], department_id=quality.id)
    assert not may_view(outsider, evidence)
    with pytest.raises(Forbidden):
        require_view(outsider, evidence)
    evidence.confidentiality = Confidentiality.internal
    assert may_view(outsider, evidence)
