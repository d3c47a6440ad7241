"""Nonconformities (不符合) and their corrective and preventive actions (CAPA).

The workflow, and the rules each step enforces:

- **open**: raised (by hand, from an audit finding or a management review). The due date, when
  left empty, comes from the (source, grade) deadline table. Correction, root cause and the
  effectiveness check date are recorded while open or in progress.
- **in_progress**: the first action added moves it here, or the owner starts work explicitly.
- **verification**: the owner asks for it explicitly once every action is done or cancelled,
  at least one corrective action is done and the root cause is recorded. Adding an action or
  reopening one sends it back to in_progress.
- **closed**: only by a verification that says "effective", given by someone independent of
  the work (ISO-style independence): nobody who ever owned the nonconformity or one of its
  actions, recorded its correction or root cause, started it, planned an action or changed an
  action's status, or asked for the verification. Each of these parts is recorded as it is
  taken (`NcParticipant`) and never forgotten, so handing the nonconformity to someone else
  does not make its former owner independent. The owner cannot be changed while verification
  is pending either.
  "Not effective" sends it back to in_progress, counts a reopen and keeps the verification on
  record, so the history shows every check. A closed nonconformity is read-only.

Dates must stay in order: a correction or action cannot be done before the nonconformity was
raised, nor in the future; due dates and the effectiveness check cannot precede the raise date.
Every change records an activity event; a rejected change changes nothing.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from app.clock import local_date
from app.errors import Conflict, Forbidden, Invalid
from app.i18n import gettext as _
from app.models.department import Department
from app.models.evidence import Evidence
from app.models.nonconformity import (
    OPEN_NC_STATUSES,
    ActionKind,
    ActionStatus,
    CorrectiveAction,
    CorrectiveActionCreate,
    NcPart,
    NcParticipant,
    NcStatus,
    Nonconformity,
    NonconformityCreate,
    RootCauseMethod,
    Verdict,
    Verification,
)
from app.models.requirement import Requirement
from app.models.user import User
from app.services.activity import service as activity
from app.services.loading import found
from app.services.nonconformities.deadline import default_due_date

NC = "nonconformity"
ACTION = "corrective_action"


def get(*, session: Session, nonconformity_id: int) -> Nonconformity:
    return found(
        session.get(Nonconformity, nonconformity_id), _("This nonconformity does not exist.")
    )


def get_action(*, session: Session, action_id: int) -> CorrectiveAction:
    return found(session.get(CorrectiveAction, action_id), _("This action does not exist."))


def actions(*, session: Session, nonconformity_id: int) -> list[CorrectiveAction]:
    return list(
        session.exec(
            select(CorrectiveAction)
            .where(CorrectiveAction.nonconformity_id == nonconformity_id)
            .order_by(col(CorrectiveAction.id))
        ).all()
    )


def verifications(*, session: Session, nonconformity_id: int) -> list[Verification]:
    """Every effectiveness check, newest first."""
    return list(
        session.exec(
            select(Verification)
            .where(Verification.nonconformity_id == nonconformity_id)
            .order_by(col(Verification.id).desc())
        ).all()
    )


# "Overdue" has one definition, used for single items and in SQL for lists and counts.
def is_overdue(nonconformity: Nonconformity, today: date) -> bool:
    return (
        nonconformity.status in OPEN_NC_STATUSES
        and nonconformity.due_date is not None
        and nonconformity.due_date < today
    )


def overdue_clause(today: date) -> ColumnElement[bool]:
    return and_(
        col(Nonconformity.status).in_(OPEN_NC_STATUSES),
        col(Nonconformity.due_date) < today,
    )


def action_overdue_clause(today: date) -> ColumnElement[bool]:
    return and_(
        col(CorrectiveAction.status) == ActionStatus.open,
        col(CorrectiveAction.due_date) < today,
    )


def status_counts(*, session: Session) -> dict[NcStatus, int]:
    """How many nonconformities are in each status (every status present, zero included)."""
    rows = session.exec(
        select(Nonconformity.status, func.count()).group_by(col(Nonconformity.status))
    ).all()
    counts = dict.fromkeys(NcStatus, 0)
    for status, count in rows:
        counts[NcStatus(status)] = count
    return counts


def overdue_count(*, session: Session, today: date) -> int:
    """Open nonconformities past their due date."""
    return session.exec(
        select(func.count()).select_from(Nonconformity).where(overdue_clause(today))
    ).one()


def overdue_action_count(*, session: Session, today: date) -> int:
    """Open actions past their due date on open nonconformities."""
    return session.exec(
        select(func.count())
        .select_from(CorrectiveAction)
        .join(Nonconformity, col(Nonconformity.id) == CorrectiveAction.nonconformity_id)
        .where(action_overdue_clause(today), col(Nonconformity.status).in_(OPEN_NC_STATUSES))
    ).one()


# --- checks ---------------------------------------------------------------------------------


def _check_owner(session: Session, owner_id: int | None) -> None:
    """Reminders go to owners, so an owner must be someone who can still receive them."""
    if owner_id is None:
        return
    owner = session.get(User, owner_id)
    if owner is None or not owner.is_active:
        raise Invalid(_("Choose an active user as owner."), field="owner_id")


def _check_header(session: Session, data: NonconformityCreate, raised_on: date) -> None:
    _check_owner(session, data.owner_id)
    if data.department_id is not None and session.get(Department, data.department_id) is None:
        raise Invalid(_("Choose an existing department."), field="department_id")
    if data.requirement_id is not None and session.get(Requirement, data.requirement_id) is None:
        raise Invalid(_("Choose an existing requirement."), field="requirement_id")
    if data.due_date is not None and data.due_date < raised_on:
        raise Invalid(
            _("The due date cannot be before the day it was raised (%(day)s).", day=raised_on),
            field="due_date",
        )


def _check_done_date(nonconformity: Nonconformity, day: date, today: date, field: str) -> None:
    if day < nonconformity.raised_on:
        raise Invalid(
            _(
                "This cannot be done before the nonconformity was raised (%(day)s).",
                day=nonconformity.raised_on,
            ),
            field=field,
        )
    if day > today:
        raise Invalid(_("This date is in the future."), field=field)


def _require_open(nonconformity: Nonconformity) -> None:
    if nonconformity.status == NcStatus.closed:
        raise Conflict(_("This nonconformity is closed; nothing can change any more."))


def _took_part(
    session: Session, now: datetime, nonconformity: Nonconformity, user_id: int | None, part: NcPart
) -> None:
    """Remember, once, that someone took this part; it bars them from verifying for good."""
    if user_id is None:
        return
    assert nonconformity.id is not None
    # Two requests can record the same part at once (a double click, two actions for one
    # owner): neither sees the other's row before it commits, so the key decides and the
    # second insert does nothing instead of failing on it.
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(NcParticipant)
        .values(nonconformity_id=nonconformity.id, user_id=user_id, part=part, since=now)
        .on_conflict_do_nothing()
    )


def participants(*, session: Session, nonconformity_id: int) -> set[int]:
    """Everyone who ever took a part in the nonconformity's work."""
    return set(
        session.exec(
            select(NcParticipant.user_id).where(NcParticipant.nonconformity_id == nonconformity_id)
        ).all()
    )


def _log(
    session: Session,
    now: datetime,
    actor_id: int | None,
    verb: str,
    obj: Nonconformity | CorrectiveAction,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    activity.record(
        session=session,
        now=now,
        actor_id=actor_id,
        verb=verb,
        object_type=NC if isinstance(obj, Nonconformity) else ACTION,
        object_id=obj.id,
        before=before,
        after=after,
    )


def _move(
    session: Session,
    now: datetime,
    actor_id: int | None,
    nonconformity: Nonconformity,
    status: NcStatus,
    verb: str = "status",
) -> None:
    before = {"status": nonconformity.status}
    nonconformity.status = status
    if status != NcStatus.verification:
        # The request is withdrawn; the next one records who asks then.
        nonconformity.verification_requested_by_id = None
    nonconformity.updated_at = now
    session.add(nonconformity)
    _log(session, now, actor_id, verb, nonconformity, before, {"status": status})


# --- the nonconformity ----------------------------------------------------------------------


def _header_fields(session: Session, data: NonconformityCreate, raised_on: date) -> dict[str, Any]:
    values = data.model_dump()
    values["title"] = data.title.strip()
    values["description"] = data.description.strip()
    if data.due_date is None:
        values["due_date"] = default_due_date(
            session=session, source=data.source, grade=data.grade, raised_on=raised_on
        )
    return values


def create(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    data: NonconformityCreate,
    audit_id: int | None = None,
    review_id: int | None = None,
) -> Nonconformity:
    """Raise a nonconformity; without a due date it gets the one for its source and grade."""
    raised_on = local_date(now)
    _check_header(session, data, raised_on)
    nonconformity = Nonconformity(
        **_header_fields(session, data, raised_on),
        audit_id=audit_id,
        review_id=review_id,
        raised_by_id=actor_id,
        raised_on=raised_on,
        created_at=now,
        updated_at=now,
    )
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=nonconformity,
        object_type=NC,
        after={
            **nonconformity.model_dump(
                include={"title", "source", "grade", "owner_id", "due_date"}
            ),
            "audit_id": audit_id,
            "review_id": review_id,
        },
    )
    _took_part(session, now, nonconformity, nonconformity.owner_id, NcPart.owner)
    return nonconformity


def update(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    nonconformity: Nonconformity,
    data: NonconformityCreate,
) -> Nonconformity:
    """Change the header (what, where, who, by when); an empty due date means the default."""
    _require_open(nonconformity)
    if nonconformity.status == NcStatus.verification and data.owner_id != nonconformity.owner_id:
        # Handing it to someone else now would let the former owner verify their own work.
        raise Conflict(
            _("The owner cannot change while verification is pending."), field="owner_id"
        )
    _check_header(session, data, nonconformity.raised_on)
    fields = _header_fields(session, data, nonconformity.raised_on)
    activity.update(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=nonconformity,
        fields=fields,
        object_type=NC,
        verb="update",
    )
    _took_part(session, now, nonconformity, nonconformity.owner_id, NcPart.owner)
    return nonconformity


def start(
    *, session: Session, now: datetime, actor_id: int | None, nonconformity: Nonconformity
) -> None:
    """Mark work as under way before any action is planned."""
    if nonconformity.status != NcStatus.open:
        raise Conflict(_("Work on this nonconformity has already started."))
    _move(session, now, actor_id, nonconformity, NcStatus.in_progress)
    _took_part(session, now, nonconformity, actor_id, NcPart.start)


def record_correction(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    nonconformity: Nonconformity,
    correction: str,
    done_on: date | None,
) -> Nonconformity:
    """The immediate fix (纠正), and the day it was done if it is."""
    _require_open(nonconformity)
    if done_on is not None:
        _check_done_date(nonconformity, done_on, local_date(now), "correction_done_on")
        if not correction.strip():
            raise Invalid(_("Describe the correction that was done."), field="correction")
    fields = {"correction": correction.strip(), "correction_done_on": done_on}
    activity.update(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=nonconformity,
        fields=fields,
        object_type=NC,
        verb="correction",
    )
    _took_part(session, now, nonconformity, actor_id, NcPart.correction)
    return nonconformity


def record_root_cause(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    nonconformity: Nonconformity,
    method: RootCauseMethod | None,
    analysis: str,
    effectiveness_check_date: date | None,
) -> Nonconformity:
    """The root cause analysis (method and findings) and when effectiveness will be checked."""
    _require_open(nonconformity)
    if analysis.strip() and method is None:
        raise Invalid(_("Choose the method used."), field="root_cause_method")
    if effectiveness_check_date is not None and effectiveness_check_date < nonconformity.raised_on:
        raise Invalid(
            _(
                "The effectiveness check cannot be before the day it was raised (%(day)s).",
                day=nonconformity.raised_on,
            ),
            field="effectiveness_check_date",
        )
    fields = {
        "root_cause_method": method,
        "root_cause": analysis.strip(),
        "effectiveness_check_date": effectiveness_check_date,
    }
    activity.update(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=nonconformity,
        fields=fields,
        object_type=NC,
        verb="root_cause",
    )
    _took_part(session, now, nonconformity, actor_id, NcPart.root_cause)
    return nonconformity


# --- actions --------------------------------------------------------------------------------


def add_action(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    nonconformity: Nonconformity,
    data: CorrectiveActionCreate,
) -> CorrectiveAction:
    """Plan a corrective or preventive action; work on the nonconformity is then under way."""
    _require_open(nonconformity)
    _check_owner(session, data.owner_id)
    if data.due_date is not None and data.due_date < nonconformity.raised_on:
        raise Invalid(
            _(
                "The due date cannot be before the day it was raised (%(day)s).",
                day=nonconformity.raised_on,
            ),
            field="due_date",
        )
    assert nonconformity.id is not None
    action = CorrectiveAction(
        **{**data.model_dump(), "description": data.description.strip()},
        nonconformity_id=nonconformity.id,
        created_at=now,
    )
    activity.created(
        session=session,
        now=now,
        actor_id=actor_id,
        obj=action,
        object_type=ACTION,
        after={**data.model_dump(), "nonconformity_id": nonconformity.id},
    )
    _took_part(session, now, nonconformity, actor_id, NcPart.actions)
    _took_part(session, now, nonconformity, data.owner_id, NcPart.action_owner)
    # A new action is work not yet done, also when verification was already requested.
    if nonconformity.status != NcStatus.in_progress:
        _move(session, now, actor_id, nonconformity, NcStatus.in_progress)
    return action


def set_action_status(
    *,
    session: Session,
    now: datetime,
    actor_id: int | None,
    nonconformity: Nonconformity,
    action: CorrectiveAction,
    status: ActionStatus,
    done_on: date | None = None,
    note: str = "",
) -> CorrectiveAction:
    """Mark an action done (on a day, default today), cancelled (with the reason) or open again."""
    _require_open(nonconformity)
    if status == action.status:
        raise Conflict(_("The action already has this status."))
    note = note.strip() or action.note
    if status == ActionStatus.done:
        done_on = done_on or local_date(now)
        _check_done_date(nonconformity, done_on, local_date(now), "done_on")
    else:
        done_on = None
    if status == ActionStatus.cancelled and not note:
        raise Invalid(_("Say why the action is cancelled."), field="note")
    fields = {"status": status, "done_on": done_on, "note": note}
    before, after = activity.changes(action, fields)
    for name, value in fields.items():
        setattr(action, name, value)
    session.add(action)
    _log(session, now, actor_id, "status", action, before, after)
    _took_part(session, now, nonconformity, actor_id, NcPart.actions)
    # Reopening an action means the work is not finished: verification must wait.
    if status == ActionStatus.open and nonconformity.status != NcStatus.in_progress:
        _move(session, now, actor_id, nonconformity, NcStatus.in_progress)
    return action


def _check_actions_complete(session: Session, nonconformity: Nonconformity) -> None:
    assert nonconformity.id is not None
    planned = actions(session=session, nonconformity_id=nonconformity.id)
    if any(a.status == ActionStatus.open for a in planned):
        raise Conflict(_("Every action must be done or cancelled first."))
    if not any(a.kind == ActionKind.corrective and a.status == ActionStatus.done for a in planned):
        raise Conflict(_("At least one corrective action must be done first."))


def request_verification(
    *, session: Session, now: datetime, actor_id: int | None, nonconformity: Nonconformity
) -> None:
    """Hand the nonconformity over for the effectiveness check."""
    if nonconformity.status != NcStatus.in_progress:
        raise Conflict(_("Only a nonconformity in progress can be sent for verification."))
    if not nonconformity.root_cause.strip():
        raise Conflict(_("Record the root cause first."))
    _check_actions_complete(session, nonconformity)
    _move(session, now, actor_id, nonconformity, NcStatus.verification, "request_verification")
    # Whoever asks vouches for the work, so they cannot also be the one who checks it.
    nonconformity.verification_requested_by_id = actor_id
    _took_part(session, now, nonconformity, actor_id, NcPart.verification_request)


def may_verify(*, session: Session, nonconformity: Nonconformity, user_id: int) -> bool:
    """Only someone who took no part in the work (see `NcPart`), now or ever before."""
    assert nonconformity.id is not None
    # The current owners and requester are in the record too; reading them here as well keeps
    # the rule whole for rows written without the service (bulk-loaded benchmark data).
    planned = actions(session=session, nonconformity_id=nonconformity.id)
    current = {nonconformity.owner_id, nonconformity.verification_requested_by_id}
    if user_id in current | {a.owner_id for a in planned}:
        return False
    return user_id not in participants(session=session, nonconformity_id=nonconformity.id)


def verify(
    *,
    session: Session,
    now: datetime,
    actor_id: int,
    nonconformity: Nonconformity,
    verdict: Verdict,
    notes: str = "",
    evidence_id: int | None = None,
) -> Verification:
    """Check effectiveness: "effective" closes the nonconformity, "not effective" reopens it."""
    if nonconformity.status != NcStatus.verification:
        raise Conflict(
            _("Only a nonconformity waiting for verification can be verified or closed.")
        )
    if not may_verify(session=session, nonconformity=nonconformity, user_id=actor_id):
        raise Forbidden(
            _(
                "Verification must be by someone other than the owner of the nonconformity "
                "or of one of its actions, now or before, whoever recorded its correction or "
                "root cause or worked on its actions, or whoever asked for the verification."
            )
        )
    if verdict == Verdict.not_effective and not notes.strip():
        raise Invalid(_("Say why the actions were not effective."), field="notes")
    if evidence_id is not None and session.get(Evidence, evidence_id) is None:
        raise Invalid(_("Choose an existing evidence item."), field="evidence_id")
    if verdict == Verdict.effective:
        # The gate again: an action may have been reopened through another path meanwhile.
        _check_actions_complete(session, nonconformity)
    assert nonconformity.id is not None
    verification = Verification(
        nonconformity_id=nonconformity.id,
        verdict=verdict,
        notes=notes.strip(),
        evidence_id=evidence_id,
        verified_by_id=actor_id,
        verified_at=now,
    )
    session.add(verification)
    session.flush()
    before = {"status": nonconformity.status}
    if verdict == Verdict.effective:
        nonconformity.status = NcStatus.closed
        nonconformity.closed_at = now
    else:
        nonconformity.status = NcStatus.in_progress
        nonconformity.reopened_count += 1
        nonconformity.verification_requested_by_id = None
    nonconformity.updated_at = now
    session.add(nonconformity)
    _log(
        session,
        now,
        actor_id,
        "verify",
        nonconformity,
        before,
        {
            "status": nonconformity.status,
            "verdict": verdict,
            "verification_id": verification.id,
            "reopened_count": nonconformity.reopened_count,
        },
    )
    return verification
