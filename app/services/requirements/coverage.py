"""Requirement coverage by evidence: per requirement and per chapter, computed in SQL.

A requirement is *covered* when at least one linked evidence item is current (approved, not
obsolete, review date not passed); *stale* when it has linked evidence but none is current;
*none* when nothing is linked. Chapters count their applicable clauses at each level.
"""

from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import Any, cast

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from app.models.evidence import Evidence, EvidenceRequirement
from app.models.requirement import Requirement, RequirementStatus
from app.services.evidence.service import current_clause


class Coverage(IntEnum):
    none = 0
    stale = 1
    covered = 2


@dataclass
class ChapterCoverage:
    covered: int = 0
    stale: int = 0
    none: int = 0

    @property
    def total(self) -> int:
        return self.covered + self.stale + self.none

    @property
    def covered_percent(self) -> int:
        return round(100 * self.covered / self.total) if self.total else 0


def _levels(today: date, framework_id: int) -> Any:
    # Filtered to the framework inside the sub-query: SQLite materialises it whole and would
    # otherwise group every evidence link of every framework first (measured: 135 → 10 ms).
    return (
        sa_select(
            col(EvidenceRequirement.requirement_id).label("requirement_id"),
            func.max(case((current_clause(today), 2), else_=1)).label("level"),
        )
        .join(Evidence, col(Evidence.id) == EvidenceRequirement.evidence_id)
        .join(Requirement, col(Requirement.id) == EvidenceRequirement.requirement_id)
        .where(col(Requirement.framework_id) == framework_id)
        .group_by(col(EvidenceRequirement.requirement_id))
        .subquery()
    )


def by_requirement(*, session: Session, framework_id: int, today: date) -> dict[int, Coverage]:
    levels = _levels(today, framework_id)
    rows = session.execute(
        sa_select(col(Requirement.id), func.coalesce(levels.c.level, 0))
        .outerjoin(levels, levels.c.requirement_id == Requirement.id)
        .where(col(Requirement.framework_id) == framework_id)
    ).all()
    return {int(cast(int, rid)): Coverage(int(cast(int, level))) for rid, level in rows}


def by_chapter(*, session: Session, framework_id: int, today: date) -> dict[int, ChapterCoverage]:
    """Applicable clauses per chapter at each coverage level."""
    levels = _levels(today, framework_id)
    level = func.coalesce(levels.c.level, 0)
    rows = session.execute(
        sa_select(
            col(Requirement.chapter_id),
            func.sum(case((level == 2, 1), else_=0)),
            func.sum(case((level == 1, 1), else_=0)),
            func.sum(case((level == 0, 1), else_=0)),
        )
        .join(RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id)
        .outerjoin(levels, levels.c.requirement_id == Requirement.id)
        .where(
            col(Requirement.framework_id) == framework_id,
            col(Requirement.chapter_id).is_not(None),
            col(RequirementStatus.applicable),
        )
        .group_by(col(Requirement.chapter_id))
    ).all()
    result: dict[int, ChapterCoverage] = {}
    for row in rows:
        chapter, covered, stale, none = (int(v or 0) for v in cast("tuple[int | None, ...]", row))
        result[chapter] = ChapterCoverage(covered, stale, none)
    return result
