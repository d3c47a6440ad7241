"""What an audit programme covers: applicable clauses × departments, audited or only planned.

A cell is "audited" once any audit of the programme recorded a result for that clause in that
department, "planned" while it is only in some audit's scope; a clause in no audit's scope at
all is uncovered. One GROUP BY over the checklist, whatever the number of audits.
"""

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from app.models.audit import Audit, AuditKind, AuditProgramme, ChecklistItem, ChecklistResult
from app.models.department import Department
from app.models.requirement import Requirement, RequirementStatus


class Cell(StrEnum):
    audited = "audited"
    planned = "planned"


@dataclass
class CoverageRow:
    requirement: Requirement
    cells: dict[int, Cell]  # by department id; absent = not in any scope

    @property
    def state(self) -> Cell | None:
        if Cell.audited in self.cells.values():
            return Cell.audited
        return Cell.planned if self.cells else None


@dataclass
class Coverage:
    departments: list[Department]
    rows: list[CoverageRow]

    def count(self, state: Cell | None) -> int:
        return sum(1 for row in self.rows if row.state == state)

    @property
    def percent_audited(self) -> int:
        return round(100 * self.count(Cell.audited) / len(self.rows)) if self.rows else 0


def for_programme(*, session: Session, programme: AuditProgramme) -> Coverage:
    audited = func.max(case((col(ChecklistItem.result) != ChecklistResult.not_audited, 1), else_=0))
    cells = session.exec(
        select(ChecklistItem.requirement_id, ChecklistItem.department_id, audited)
        .join(Audit, col(Audit.id) == ChecklistItem.audit_id)
        .where(Audit.programme_id == programme.id, Audit.kind == AuditKind.internal)
        .group_by(col(ChecklistItem.requirement_id), col(ChecklistItem.department_id))
    ).all()
    by_requirement: dict[int, dict[int, Cell]] = {}
    for requirement_id, department_id, was_audited in cells:
        by_requirement.setdefault(requirement_id, {})[department_id] = (
            Cell.audited if was_audited else Cell.planned
        )
    department_ids = {d for row in by_requirement.values() for d in row}
    departments = (
        list(
            session.exec(
                select(Department)
                .where(col(Department.id).in_(department_ids))
                .order_by(col(Department.name))
            ).all()
        )
        if department_ids
        else []
    )
    applicable = session.exec(
        select(Requirement)
        .outerjoin(RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id)
        .where(
            col(Requirement.chapter_id).is_not(None),
            func.coalesce(RequirementStatus.applicable, True),
        )
        .order_by(col(Requirement.framework_id), col(Requirement.position))
    ).all()
    rows = [CoverageRow(r, by_requirement.get(r.id or 0, {})) for r in applicable]
    return Coverage(departments=departments, rows=rows)
