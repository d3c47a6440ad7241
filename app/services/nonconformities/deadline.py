"""How many days a nonconformity may stay open, per source and grade.

The defaults follow common practice: a major internal finding in a month, a minor one in two;
an external audit's nonconformities in three months, the certification bodies' rule for
clearing findings before the certificate decision. Administrators override them per pair.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from app.errors import Invalid
from app.i18n import gettext as _
from app.models.nonconformity import NcDeadline, NcGrade, NcSource
from app.services.activity import service as activity

DAYS_MIN = 1
DAYS_MAX = 730

DEFAULT_DAYS: dict[tuple[NcSource, NcGrade], int] = {
    (NcSource.internal_audit, NcGrade.major): 30,
    (NcSource.internal_audit, NcGrade.minor): 60,
    (NcSource.external_audit, NcGrade.major): 90,
    (NcSource.external_audit, NcGrade.minor): 90,
    (NcSource.management_review, NcGrade.major): 30,
    (NcSource.management_review, NcGrade.minor): 60,
    (NcSource.other, NcGrade.major): 30,
    (NcSource.other, NcGrade.minor): 60,
}


@dataclass(frozen=True)
class DeadlineRow:
    source: NcSource
    grade: NcGrade
    days: int
    default: int
    overridden: bool


def field_name(source: NcSource, grade: NcGrade) -> str:
    """The form input for one pair, so that an error can stand next to it."""
    return f"days-{source}-{grade}"


def days_for(*, session: Session, source: NcSource, grade: NcGrade) -> int:
    override = session.get(NcDeadline, (source, grade))
    return override.days if override is not None else DEFAULT_DAYS[(source, grade)]


def default_due_date(
    *, session: Session, source: NcSource, grade: NcGrade, raised_on: date
) -> date:
    return raised_on + timedelta(days=days_for(session=session, source=source, grade=grade))


def table(*, session: Session) -> list[DeadlineRow]:
    """Every (source, grade) pair with the days in force and whether an override sets them."""
    stored = {(d.source, d.grade): d.days for d in session.exec(select(NcDeadline)).all()}
    return [
        DeadlineRow(
            source,
            grade,
            stored.get((source, grade), default),
            default,
            (source, grade) in stored,
        )
        for (source, grade), default in DEFAULT_DAYS.items()
    ]


def _parse(text: str | None) -> int | None:
    """None for a blank input (back to the default), else the days, or raises Invalid."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not DAYS_MIN <= int(value) <= DAYS_MAX:
        raise Invalid(
            _("Enter a whole number of days from %(min)d to %(max)d.", min=DAYS_MIN, max=DAYS_MAX)
        )
    return int(value)


def save(
    *, session: Session, now: datetime, actor_id: int | None, submitted: dict[str, str | None]
) -> dict[str, str]:
    """Store the overrides from the form; a blank input restores the default.

    Returns the per-field errors; when there are any, nothing is changed."""
    errors: dict[str, str] = {}
    wanted: dict[tuple[NcSource, NcGrade], int | None] = {}
    for source, grade in DEFAULT_DAYS:
        name = field_name(source, grade)
        try:
            wanted[(source, grade)] = _parse(submitted.get(name))
        except Invalid as exc:
            errors[name] = exc.message
    if errors:
        return errors
    before: dict[str, int] = {}
    after: dict[str, int] = {}
    for (source, grade), days in wanted.items():
        current = session.get(NcDeadline, (source, grade))
        # An override equal to the default is dropped, so a later change of default applies.
        if days is None or days == DEFAULT_DAYS[(source, grade)]:
            if current is not None:
                before[field_name(source, grade)] = current.days
                after[field_name(source, grade)] = DEFAULT_DAYS[(source, grade)]
                session.delete(current)
            continue
        if current is None:
            before[field_name(source, grade)] = DEFAULT_DAYS[(source, grade)]
            session.add(NcDeadline(source=source, grade=grade, days=days))
        elif current.days != days:
            before[field_name(source, grade)] = current.days
            current.days = days
            session.add(current)
        else:
            continue
        after[field_name(source, grade)] = days
    if after:
        session.flush()
        activity.record(
            session=session,
            now=now,
            actor_id=actor_id,
            verb="update",
            object_type="nc_deadline",
            object_id="",
            before=before,
            after=after,
        )
    return {}
