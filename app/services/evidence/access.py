"""Who may see an evidence item: one rule, in Python for one item and in SQL for lists."""

from typing import Any

from sqlalchemy import ColumnElement, or_, true
from sqlmodel import col

from app.actor import Actor
from app.errors import Forbidden
from app.i18n import gettext as _
from app.models.evidence import Confidentiality, Evidence
from app.models.user import Role

# Restricted evidence is open to these roles across departments.
SEE_ALL = frozenset({Role.admin, Role.executive, Role.auditor})


def open_to_all(evidence: Evidence) -> bool:
    """Every signed-in user may see it: the only evidence a group channel may name."""
    return evidence.confidentiality != Confidentiality.restricted


def may_view(actor: Actor, evidence: Evidence) -> bool:
    if open_to_all(evidence) or not SEE_ALL.isdisjoint(actor.roles):
        return True
    return evidence.owner_id == actor.id or (
        evidence.department_id is not None and evidence.department_id == actor.user.department_id
    )


def require_view(actor: Actor, evidence: Evidence) -> None:
    if not may_view(actor, evidence):
        raise Forbidden(_("This evidence is restricted to its department."))


def visible_clause(actor: Actor) -> ColumnElement[bool]:
    """The same rule as `may_view`, as a WHERE clause."""
    if not SEE_ALL.isdisjoint(actor.roles):
        return true()
    conditions: list[Any] = [
        col(Evidence.confidentiality) != Confidentiality.restricted,
        col(Evidence.owner_id) == actor.id,
    ]
    if actor.user.department_id is not None:
        conditions.append(col(Evidence.department_id) == actor.user.department_id)
    return or_(*conditions)
