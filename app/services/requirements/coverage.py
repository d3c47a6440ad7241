"""Requirement coverage by evidence: per requirement and per chapter, computed in SQL.

A requirement is *covered* when at least one linked evidence item is current (approved, not
obsolete, review date not passed); *stale* when it has linked evidence but none is current;
*none* when nothing is linked. Chapters count their applicable clauses at each level.
"""

from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import cast

from sqlalchemy import ColumnElement, case, exists, func
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


def level(today: date) -> ColumnElement[int]:
    """The coverage level of the enclosing query's Requirement row, as SQL."""
    linked = exists().where(col(EvidenceRequirement.requirement_id) == Requirement.id)
    current = linked.where(
        col(Evidence.id) == EvidenceRequirement.evidence_id, current_clause(today)
    )
    # EXISTS stops at the first current item; a MAX over the links read every one of them
    # (large data set: 1,000 links on a clause, the chapter roll-up 27 → 0.2 ms). "Nothing
    # linked" is asked first: it is one index probe, and PostgreSQL evaluates the "current"
    # test as one hashed pass over every link in the database, which a catalogue without
    # evidence (1,209 clauses) then never starts (the roll-up query 53–90 → 4 ms).
    return case(
        (~linked, int(Coverage.none)),
        (current, int(Coverage.covered)),
        else_=int(Coverage.stale),
    )


def by_requirement(*, session: Session, framework_id: int, today: date) -> dict[int, Coverage]:
    rows = session.execute(
        sa_select(col(Requirement.id), level(today)).where(
            col(Requirement.framework_id) == framework_id
        )
    ).all()
    return {int(cast(int, rid)): Coverage(int(cast(int, value))) for rid, value in rows}


def by_chapter(*, session: Session, framework_id: int, today: date) -> dict[int, ChapterCoverage]:
    """Applicable clauses per chapter at each coverage level."""
    clauses = (
        sa_select(col(Requirement.chapter_id).label("chapter_id"), level(today).label("level"))
        .join(RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id)
        .where(
            col(Requirement.framework_id) == framework_id,
            col(Requirement.chapter_id).is_not(None),
            col(RequirementStatus.applicable),
        )
        .subquery()
    )
    # Grouped by level rather than summed per level: SQLite inlines the sub-query, and three
    # sums would evaluate the level's EXISTS three times a clause (measured: 12.5 → 5 ms).
    rows = session.execute(
        sa_select(clauses.c.chapter_id, clauses.c.level, func.count()).group_by(
            clauses.c.chapter_id, clauses.c.level
        )
    ).all()
    result: dict[int, ChapterCoverage] = {}
    for chapter_id, value, n in cast("list[tuple[int, int, int]]", rows):
        counts = result.setdefault(chapter_id, ChapterCoverage())
        setattr(counts, Coverage(value).name, n)
    return result
