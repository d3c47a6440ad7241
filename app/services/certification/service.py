"""The certification record (评定), its status, the grade list and the milestones.

The current certification is the latest record. A new one is started for each re-assessment
cycle, once the current one is no longer being prepared or assessed; earlier ones stay as history.

Status transitions:
    preparing → assessing (applied) or withdrawn (given up)
    assessing → certified, back to preparing (application withdrawn or refused), or withdrawn
    certified → suspended (e.g. surveillance overdue), withdrawn, expired
    suspended → certified (reinstated), withdrawn, expired
    withdrawn, expired: final — a new cycle starts with a new record.
Certified needs the grade awarded, the certificate number and the issue date; an empty expiry
date then becomes issue + 3 years.
"""

import re
from datetime import date, datetime

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel, Field
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from app.errors import Conflict, Invalid, NotFound
from app.i18n import gettext as _
from app.i18n.labels import label
from app.models.certification import (
    TEXT_MAX,
    Certification,
    CertificationCreate,
    CertificationGrade,
    CertificationStatus,
    Milestone,
)
from app.models.evidence import Evidence
from app.models.user import User
from app.services.activity import service as activity
from app.services.certification import plan
from app.services.loading import found

S = CertificationStatus
TRANSITIONS: dict[CertificationStatus, tuple[CertificationStatus, ...]] = {
    S.preparing: (S.assessing, S.withdrawn),
    S.assessing: (S.certified, S.preparing, S.withdrawn),
    S.certified: (S.suspended, S.withdrawn, S.expired),
    S.suspended: (S.certified, S.withdrawn, S.expired),
    S.withdrawn: (),
    S.expired: (),
}
OPEN_STATUSES = frozenset({S.preparing, S.assessing})
GRADE_PATTERN = re.compile(r"^[A-Za-z0-9+\-]{1,16}$")


class MilestoneUpdate(BaseModel):
    planned_on: date | None = None
    done_on: date | None = None
    owner_id: int | None = None
    evidence_id: int | None = None
    notes: str = Field(default="", max_length=TEXT_MAX)


# --- the record -----------------------------------------------------------------------------


def get(*, session: Session, certification_id: int) -> Certification:
    return found(
        session.get(Certification, certification_id), _("This certification record does not exist.")
    )


def current(*, session: Session) -> Certification | None:
    """The latest record: the cycle being prepared, assessed or run."""
    return session.exec(select(Certification).order_by(col(Certification.id).desc())).first()


def history(*, session: Session, limit: int = 50) -> list[Certification]:
    """Every record, newest first."""
    return list(
        session.exec(
            select(Certification).order_by(col(Certification.id).desc()).limit(limit)
        ).all()
    )


def _check(
    session: Session, data: CertificationCreate, current: Certification | None = None
) -> None:
    for field in ("issued_on", "expires_on"):
        value = getattr(data, field)
        # A date kept unchanged passes, so a record saved before the range was checked can
        # still be edited.
        if current is None or value != getattr(current, field):
            plan.check_date(value, field=field)
    codes = set(grades(session=session))
    for field in ("grade_sought", "grade_awarded"):
        value = getattr(data, field)
        if value is not None and value not in codes:
            raise Invalid(_("Choose one of the offered options."), field=field)
    if data.issued_on and data.expires_on and data.expires_on <= data.issued_on:
        raise Invalid(_("The expiry date must be after the issue date."), field="expires_on")


def create(
    *, session: Session, now: datetime, actor_id: int | None, data: CertificationCreate
) -> Certification:
    """Start a certification cycle, with its milestones still undated."""
    latest = current(session=session)
    if latest is not None and latest.status in OPEN_STATUSES:
        raise Conflict(
            _(
                "The current certification is still being prepared or assessed; "
                "finish or withdraw it before starting a new cycle."
            )
        )
    _check(session, data)
    certification = Certification(**data.model_dump(), created_at=now, updated_at=now)
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=certification,
        object_type="certification",
        after=data.model_dump(),
    )
    assert certification.id is not None
    session.add_all(plan.new_milestones(certification.id))
    session.flush()
    return certification


def update(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    certification: Certification,
    data: CertificationCreate,
) -> Certification:
    _check(session, data, certification)
    if certification.status in (S.certified, S.suspended) and not (
        data.grade_awarded and data.certificate_number and data.issued_on
    ):
        raise Invalid(
            _("A certified record keeps its grade awarded, certificate number and issue date."),
            field="grade_awarded" if not data.grade_awarded else None,
        )
    activity.update(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=certification,
        fields=data.model_dump(),
        object_type="certification",
    )
    return certification


def next_statuses(certification: Certification) -> tuple[CertificationStatus, ...]:
    return TRANSITIONS[CertificationStatus(certification.status)]


def set_status(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    certification: Certification,
    status: CertificationStatus,
) -> Certification:
    """Move the record along its life cycle (see the module docstring)."""
    old = CertificationStatus(certification.status)
    if status not in TRANSITIONS[old]:
        raise Conflict(
            _(
                "A certification cannot go from “%(old)s” to “%(new)s”.",
                old=label(old),
                new=label(status),
            ),
            field="status",
        )
    before: dict[str, object] = {"status": old}
    after: dict[str, object] = {"status": status}
    if status == S.certified:
        if not (
            certification.grade_awarded
            and certification.certificate_number
            and certification.issued_on
        ):
            raise Invalid(
                _(
                    "Enter the grade awarded, the certificate number and the issue date "
                    "before marking the certification as certified."
                ),
                field="status",
            )
        if certification.expires_on is None:
            if not plan.DATE_MIN <= certification.issued_on <= plan.DATE_MAX:
                raise plan.out_of_range("status")
            certification.expires_on = certification.issued_on + relativedelta(
                years=plan.VALIDITY_YEARS
            )
            before["expires_on"], after["expires_on"] = None, certification.expires_on
    certification.status = status
    certification.updated_at = now
    session.add(certification)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="status",
        object_type="certification",
        object_id=certification.id,
        before=before,
        after=after,
    )
    return certification


# --- grades ---------------------------------------------------------------------------------


def grades(*, session: Session) -> list[str]:
    return list(
        session.exec(
            select(CertificationGrade.code).order_by(
                col(CertificationGrade.position), col(CertificationGrade.code)
            )
        ).all()
    )


def grade_in_use(*, session: Session, code: str) -> bool:
    found = session.exec(
        select(func.count())
        .select_from(Certification)
        .where(
            or_(col(Certification.grade_sought) == code, col(Certification.grade_awarded) == code)
        )
    ).one()
    return found > 0


def add_grade(*, session: Session, now: datetime, actor_id: int | None, code: str) -> str:
    code = code.strip()
    if not GRADE_PATTERN.match(code):
        raise Invalid(
            _("Use 1 to 16 letters, digits, '+' or '-'."),
            field="code",
        )
    existing = grades(session=session)
    if code in existing:
        raise Conflict(_("This grade is already in the list."), field="code")
    session.add(CertificationGrade(code=code, position=len(existing)))
    session.flush()
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="create",
        object_type="certification_grade",
        object_id=code,
        after={"code": code},
    )
    return code


def _grade(session: Session, code: str) -> CertificationGrade:
    grade = session.get(CertificationGrade, code)
    if grade is None:
        raise NotFound(_("This grade does not exist."))
    return grade


def remove_grade(*, session: Session, now: datetime, actor_id: int | None, code: str) -> None:
    """Remove a grade no certification record names."""
    grade = _grade(session, code)
    if grade_in_use(session=session, code=code):
        raise Conflict(
            _(
                "The grade %(code)s is used by a certification record and cannot be removed.",
                code=code,
            )
        )
    session.delete(grade)
    session.flush()
    _renumber(session, grades(session=session))
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="delete",
        object_type="certification_grade",
        object_id=code,
        before={"code": code},
    )


def move_grade(
    *, session: Session, now: datetime, actor_id: int | None, code: str, up: bool
) -> None:
    """Swap a grade with its neighbour; the list order is the order of the selects."""
    _grade(session, code)
    codes = grades(session=session)
    index = codes.index(code)
    other = index - 1 if up else index + 1
    if not 0 <= other < len(codes):
        return
    before = list(codes)
    codes[index], codes[other] = codes[other], codes[index]
    _renumber(session, codes)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="reorder",
        object_type="certification_grade",
        object_id=code,
        before={"order": before},
        after={"order": codes},
    )


def _renumber(session: Session, codes: list[str]) -> None:
    for number, code in enumerate(codes):
        grade = _grade(session, code)
        if grade.position != number:
            grade.position = number
            session.add(grade)
    session.flush()


# --- milestones -----------------------------------------------------------------------------


def milestones(*, session: Session, certification_id: int) -> list[Milestone]:
    rows = session.exec(select(Milestone).where(Milestone.certification_id == certification_id))
    return plan.ordered(list(rows.all()))


def get_milestone(*, session: Session, milestone_id: int) -> Milestone:
    return found(session.get(Milestone, milestone_id), _("This milestone does not exist."))


def is_overdue(milestone: Milestone, today: date) -> bool:
    return (
        milestone.done_on is None
        and milestone.planned_on is not None
        and milestone.planned_on < today
    )


def update_milestone(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    milestone: Milestone,
    data: MilestoneUpdate,
    today: date,
) -> Milestone:
    """Dates, owner, evidence and notes of one milestone; the timeline must stay in order."""
    if data.owner_id is not None:
        owner = session.get(User, data.owner_id)
        if owner is None or not owner.is_active:
            raise Invalid(_("Choose active users."), field="owner_id")
    if data.evidence_id is not None and session.get(Evidence, data.evidence_id) is None:
        raise Invalid(_("There is no evidence with this number."), field="evidence_id")
    if data.done_on is not None and data.done_on > today:
        raise Invalid(_("A milestone cannot be done in the future."), field="done_on")
    siblings = milestones(session=session, certification_id=milestone.certification_id)
    values = data.model_dump()
    before, after = activity.changes(milestone, values)
    if not after:
        return milestone
    for attribute in ("planned_on", "done_on"):
        if attribute in after:  # an unchanged (generated) date may lie past DATE_MAX
            plan.check_date(after[attribute], field=attribute)
    original = {name: getattr(milestone, name) for name in values}
    for field, value in after.items():
        setattr(milestone, field, value)
    try:
        plan.check_order(siblings, attributes=[a for a in ("planned_on", "done_on") if a in after])
    except Invalid:
        for field, value in original.items():
            setattr(milestone, field, value)
        raise
    session.add(milestone)
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb="update",
        object_type="certification_milestone",
        object_id=milestone.id,
        before=before,
        after=after,
    )
    return milestone
