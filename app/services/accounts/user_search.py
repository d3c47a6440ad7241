"""Finding a person by name or e-mail address, for pickers that never list all the staff."""

from sqlalchemy import or_
from sqlmodel import Session, col, select

from app.models.department import Department
from app.models.user import User
from app.services.search_terms import MATCH_LIMIT, Option, contains, words


def find(*, session: Session, term: str) -> tuple[list[Option], bool]:
    """People whose name or e-mail address contains every word of the term, those still active
    first; people who left stay findable, since what they owned still needs a new owner. The
    flag says more matched than are shown."""
    query = select(User.id, User.name, Department.name, User.is_active).outerjoin(
        Department, col(Department.id) == User.department_id
    )
    for word in words(term):
        query = query.where(or_(contains(User.name, word), contains(User.email, word)))
    rows = session.exec(
        query.order_by(col(User.is_active).desc(), col(User.name), col(User.id)).limit(
            MATCH_LIMIT + 1
        )
    ).all()
    options = [
        Option(uid, name, department or "", not active)
        for uid, name, department, active in rows[:MATCH_LIMIT]
        if uid is not None
    ]
    return options, len(rows) > MATCH_LIMIT
