"""Finding a clause by its number or a word of its title, for pickers that never list the
whole catalogue."""

from typing import Any

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from app.i18n import localized
from app.models.requirement import Framework, Requirement
from app.services.search_terms import MATCH_LIMIT, Option, contains, starts_with, words


def _clause_label(requirement: Requirement, framework_code: str) -> str:
    # The catalogue's code first: two catalogues may share a clause number.
    return f"{framework_code} {requirement.clause} {localized(requirement, 'title')}"


def _clauses_with_code() -> Any:
    return (
        select(Requirement, Framework.code)
        .join(Framework, col(Framework.id) == Requirement.framework_id)
        .where(col(Requirement.chapter_id).is_not(None))
    )


def find(
    *, session: Session, term: str, framework_id: int | None = None
) -> tuple[list[Option], bool]:
    """Clauses whose number starts with, or whose title contains, every word of the term; the
    exact number first, then catalogue order. The flag says more matched than are shown."""
    term_words = words(term)
    query = _clauses_with_code()
    for word in term_words:
        query = query.where(
            or_(
                starts_with(Requirement.clause, word),
                contains(Requirement.title_zh, word),
                contains(Requirement.title_en, word),
            )
        )
    if framework_id is not None:
        query = query.where(col(Requirement.framework_id) == framework_id)
    first = term_words[0] if term_words else ""
    exact = case((func.lower(Requirement.clause) == first, 0), else_=1)
    rows = session.exec(
        query.order_by(exact, col(Requirement.framework_id), col(Requirement.position)).limit(
            MATCH_LIMIT + 1
        )
    ).all()
    options = [Option(r.id, _clause_label(r, code)) for r, code in rows[:MATCH_LIMIT] if r.id]
    return options, len(rows) > MATCH_LIMIT


def label(*, session: Session, requirement_id: int) -> str | None:
    """How a clause is shown in a filter in force; None when the id names no clause."""
    row = session.exec(_clauses_with_code().where(col(Requirement.id) == requirement_id)).first()
    return _clause_label(*row) if row is not None else None
