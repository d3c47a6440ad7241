"""The certification timeline: the order of milestones, the default intervals between them,
the administrators' overrides (MilestoneRule), and the rules that keep dates in order.

Intervals (GB/T 23003 practice, domain notes §4.3–4.4, all overridable):
application → acceptance 14 days → stage 1 30 → stage 2 45 → NC correction deadline 90
(three months) → conclusion 14 → compliance review 14 → public notice 10 → certificate 14.
Surveillance n falls 12·n months after the certificate's issue (at most 12 months apart, so an
override is at most 365 days); re-assessment 90 days before expiry; a certificate is valid for
three years.

Date order. Planned dates must not go backwards along the timeline: no milestone is planned
before an earlier one (so nothing before the application). Actual dates (done on) follow the
same rule among the milestones that are done — a milestone may be skipped (e.g. no NCs to
correct), but none can be done before an earlier one was — and nothing is done in the future.

Date range. Every date typed in (issue, expiry, application, a milestone's planned and done
dates) lies from DATE_MIN to DATE_MAX: outside it is a typing mistake, and the arithmetic
above (issue + 3 years, up to eight intervals of at most DAYS_MAX days) must stay far inside
what a `date` can hold (year 1 to 9999) — from 2200 the whole plan ends before 2230.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from sqlmodel import Session, select

from app.errors import Invalid
from app.i18n import gettext as _
from app.i18n.labels import label
from app.models.certification import Certification, Milestone, MilestoneKind, MilestoneRule
from app.services.activity import service as activity

DAYS_MIN = 1
DAYS_MAX = 1100
SURVEILLANCE_DAYS_MAX = 365  # surveillance audits are at most 12 months apart
SURVEILLANCES = 2  # at least two surveillance audits in a three-year cycle
VALIDITY_YEARS = 3
DATE_MIN = date(2000, 1, 1)  # see "Date range" above
DATE_MAX = date(2200, 12, 31)

# The certification process in order; each kind's default is counted from the one before.
CHAIN: tuple[MilestoneKind, ...] = (
    MilestoneKind.application,
    MilestoneKind.acceptance,
    MilestoneKind.stage1,
    MilestoneKind.stage2,
    MilestoneKind.nc_correction,
    MilestoneKind.conclusion,
    MilestoneKind.compliance_review,
    MilestoneKind.public_notice,
    MilestoneKind.certificate,
)
ORDER: tuple[MilestoneKind, ...] = (
    *CHAIN,
    MilestoneKind.surveillance,
    MilestoneKind.reassessment,
)

DEFAULT_DAYS: dict[MilestoneKind, int] = {
    MilestoneKind.acceptance: 14,
    MilestoneKind.stage1: 30,
    MilestoneKind.stage2: 45,
    MilestoneKind.nc_correction: 90,
    MilestoneKind.conclusion: 14,
    MilestoneKind.compliance_review: 14,
    MilestoneKind.public_notice: 10,
    MilestoneKind.certificate: 14,
    MilestoneKind.reassessment: 90,  # days before the certificate expires
}
# Surveillance has no day count by default: it is 12 calendar months, leap years included.
RULE_KINDS: tuple[MilestoneKind, ...] = (
    *CHAIN[1:],
    MilestoneKind.surveillance,
    MilestoneKind.reassessment,
)


def position(milestone: Milestone) -> tuple[int, int]:
    """Where a milestone stands on the timeline."""
    return ORDER.index(MilestoneKind(milestone.kind)), milestone.sequence


def check_date(value: date | None, *, field: str) -> None:
    """Refuse a date typed in outside DATE_MIN..DATE_MAX (see "Date range" above)."""
    if value is not None and not DATE_MIN <= value <= DATE_MAX:
        raise Invalid(
            _(
                "Enter a date from %(min)s to %(max)s.",
                min=DATE_MIN.isoformat(),
                max=DATE_MAX.isoformat(),
            ),
            field=field,
        )


def out_of_range(field: str) -> Invalid:
    """For a stored date outside the range (saved before it was checked): the date arithmetic
    would fail, so the user is asked to correct it instead."""
    return Invalid(
        _(
            "Correct the dates outside %(min)s to %(max)s first.",
            min=DATE_MIN.isoformat(),
            max=DATE_MAX.isoformat(),
        ),
        field=field,
    )


def ordered(milestones: Sequence[Milestone]) -> list[Milestone]:
    return sorted(milestones, key=position)


def name(milestone: Milestone) -> str:
    """The milestone's name on screen; surveillance audits carry their number."""
    text = label(MilestoneKind(milestone.kind))
    if milestone.kind == MilestoneKind.surveillance:
        return f"{text} {milestone.sequence}"
    return text


def key(milestone: Milestone) -> str:
    """A stable name for logs and form ids: the kind, with the surveillance number."""
    if milestone.kind == MilestoneKind.surveillance:
        return f"surveillance-{milestone.sequence}"
    return str(milestone.kind)


def new_milestones(certification_id: int) -> list[Milestone]:
    """One row per step of a certification cycle, with no dates yet."""
    rows = [Milestone(certification_id=certification_id, kind=kind) for kind in CHAIN]
    rows += [
        Milestone(certification_id=certification_id, kind=MilestoneKind.surveillance, sequence=n)
        for n in range(1, SURVEILLANCES + 1)
    ]
    rows.append(Milestone(certification_id=certification_id, kind=MilestoneKind.reassessment))
    return rows


# --- rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleRow:
    kind: MilestoneKind
    days: int | None  # None: the default (for surveillance, 12 calendar months)
    default: int | None
    overridden: bool
    maximum: int


def field_name(kind: MilestoneKind) -> str:
    return f"days-{kind}"


def rule_days(*, session: Session) -> dict[MilestoneKind, int | None]:
    """The interval in force for each kind (None: surveillance by calendar months)."""
    stored = {MilestoneKind(r.kind): r.days for r in session.exec(select(MilestoneRule)).all()}
    return {kind: stored.get(kind, DEFAULT_DAYS.get(kind)) for kind in RULE_KINDS}


def rules_table(*, session: Session) -> list[RuleRow]:
    stored = {MilestoneKind(r.kind): r.days for r in session.exec(select(MilestoneRule)).all()}
    return [
        RuleRow(
            kind,
            stored.get(kind, DEFAULT_DAYS.get(kind)),
            DEFAULT_DAYS.get(kind),
            kind in stored,
            SURVEILLANCE_DAYS_MAX if kind == MilestoneKind.surveillance else DAYS_MAX,
        )
        for kind in RULE_KINDS
    ]


def _parse_days(text: str | None, maximum: int) -> int | None:
    if text is None or not text.strip():
        return None
    value = text.strip()
    # The length first: int() refuses strings of more than 4300 digits with a ValueError.
    if (
        len(value) > 5
        or not (value.isascii() and value.isdigit())
        or not DAYS_MIN <= int(value) <= maximum
    ):
        raise Invalid(
            _("Enter a whole number of days from %(min)d to %(max)d.", min=DAYS_MIN, max=maximum)
        )
    return int(value)


def save_rules(
    *, session: Session, now: datetime, actor_id: int | None, submitted: dict[str, str | None]
) -> dict[str, str]:
    """Store the overrides; a blank input restores the default. Returns per-field errors,
    and when there are any nothing is changed."""
    errors: dict[str, str] = {}
    wanted: dict[MilestoneKind, int | None] = {}
    for row in rules_table(session=session):
        try:
            wanted[row.kind] = _parse_days(submitted.get(field_name(row.kind)), row.maximum)
        except Invalid as exc:
            errors[field_name(row.kind)] = exc.message
    if errors:
        return errors
    before: dict[str, int | None] = {}
    after: dict[str, int | None] = {}
    for kind, days in wanted.items():
        current = session.get(MilestoneRule, kind)
        default = DEFAULT_DAYS.get(kind)
        if days is None or days == default:
            if current is not None:
                before[str(kind)], after[str(kind)] = current.days, default
                session.delete(current)
            continue
        if current is None:
            before[str(kind)] = default
            session.add(MilestoneRule(kind=kind, days=days))
        elif current.days != days:
            before[str(kind)] = current.days
            current.days = days
            session.add(current)
        else:
            continue
        after[str(kind)] = days
    if after:
        session.flush()
        activity.record(
            session=session,
            now=now,
            actor_id=actor_id,
            verb="update",
            object_type="milestone_rule",
            object_id="",
            before=before,
            after=after,
        )
    return {}


# --- generating the plan --------------------------------------------------------------------


def _anchor(milestone: Milestone | None) -> date | None:
    """What the next milestone is counted from: when it happened, else when it is planned."""
    if milestone is None:
        return None
    return milestone.done_on or milestone.planned_on


def _fill(
    session: Session,
    certification: Certification,
    rows: list[Milestone],
    application_on: date | None,
) -> dict[str, str]:
    """Set the empty planned dates; returns them by milestone key."""
    by_kind = {(MilestoneKind(m.kind), m.sequence): m for m in rows}
    filled: dict[str, str] = {}
    application = by_kind[(MilestoneKind.application, 1)]
    if application.planned_on is None and application.done_on is None:
        if application_on is None:
            raise Invalid(
                _("Enter the application date the plan starts from."), field="application_on"
            )
        application.planned_on = application_on
        filled[key(application)] = application_on.isoformat()
    days = rule_days(session=session)
    previous = application
    for kind in CHAIN[1:]:
        milestone = by_kind[(kind, 1)]
        base = _anchor(previous)
        step = days[kind]
        if milestone.planned_on is None and base is not None and step is not None:
            milestone.planned_on = base + timedelta(days=step)
            filled[key(milestone)] = milestone.planned_on.isoformat()
        previous = milestone
    issued = certification.issued_on or _anchor(by_kind[(MilestoneKind.certificate, 1)])
    if issued is not None:
        expires = certification.expires_on or issued + relativedelta(years=VALIDITY_YEARS)
        for m in rows:
            if m.kind != MilestoneKind.surveillance or m.planned_on is not None:
                continue
            interval = days[MilestoneKind.surveillance]
            m.planned_on = (
                issued + relativedelta(months=12 * m.sequence)
                if interval is None
                else issued + timedelta(days=interval * m.sequence)
            )
            filled[key(m)] = m.planned_on.isoformat()
        reassessment = by_kind[(MilestoneKind.reassessment, 1)]
        before_expiry = days[MilestoneKind.reassessment]
        if reassessment.planned_on is None and before_expiry is not None:
            reassessment.planned_on = expires - timedelta(days=before_expiry)
            filled[key(reassessment)] = reassessment.planned_on.isoformat()
    return filled


def generate(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    certification: Certification,
    milestones: Sequence[Milestone],
    application_on: date | None,
) -> int:
    """Fill the empty planned dates from the rules; dates already set are kept. Returns how
    many were filled. Raises Invalid (nothing changed) when the result would be out of order."""
    check_date(application_on, field="application_on")
    rows = ordered(milestones)
    try:
        filled = _fill(session, certification, rows, application_on)
    except (OverflowError, ValueError) as exc:
        # Only a date stored before the range was checked can leave what `date` holds.
        raise out_of_range("application_on") from exc
    check_order(rows, attributes=("planned_on",), field="application_on")
    for m in rows:
        session.add(m)
    if filled:
        activity.record(
            session=session,
            now=now,
            actor_id=actor_id,
            verb="generate_plan",
            object_type="certification",
            object_id=certification.id,
            after=filled,
        )
    return len(filled)


# --- order ----------------------------------------------------------------------------------


def check_order(
    milestones: Sequence[Milestone],
    *,
    attributes: Sequence[str] = ("planned_on", "done_on"),
    field: str | None = None,
) -> None:
    """Planned dates, and separately actual dates, must not go backwards along the timeline."""
    rows = ordered(milestones)
    for attribute in attributes:
        latest: Milestone | None = None
        for m in rows:
            value: date | None = getattr(m, attribute)
            if value is None:
                continue
            if latest is not None and value < getattr(latest, attribute):
                values = {
                    "this": name(m),
                    "earlier": name(latest),
                    "day": getattr(latest, attribute),
                }
                message = (
                    _("%(this)s cannot be planned before %(earlier)s (%(day)s).", **values)
                    if attribute == "planned_on"
                    else _("%(this)s cannot be done before %(earlier)s (%(day)s).", **values)
                )
                raise Invalid(message, field=field or attribute)
            latest = m
