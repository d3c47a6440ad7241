"""The management review record as a report outline (print page, PDF, Word), and the input
package as sections, shown the same way on the review page."""

from datetime import date
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from app.clock import local_date
from app.i18n import N_, labels
from app.i18n import gettext as _
from app.models.audit import ChecklistResult
from app.models.evidence import EvidenceStatus
from app.models.goal import GoalStatus
from app.models.nonconformity import NcStatus
from app.models.review import ManagementReview, ReviewActionStatus
from app.models.self_assessment import AssessmentView, DevelopmentStage
from app.services.accounts import users
from app.services.documents import Report, Section, Table
from app.services.reviews import service as review_service

OBJECT_TYPES = {
    "management_review": N_("Management reviews"),
    "review_action": N_("Review actions"),
    "evidence": N_("Evidence"),
    "goal": N_("Goals"),
    "measurement": N_("Goal values"),
    "capability": N_("Capabilities"),
    "initiative": N_("Initiatives"),
    "task": N_("Tasks"),
    "strategy": N_("Strategies"),
    "audit": N_("Audits"),
    "finding": N_("Findings"),
    "nonconformity": N_("Nonconformities"),
    "requirement_status": N_("Requirement statuses"),
    "requirement": N_("Requirements"),
    "framework": N_("Requirement catalogues"),
    "competitive_advantage": N_("Competitive advantages"),
    "pdca_cycle": N_("PDCA cycles"),
    "checklist_item": N_("Checklist items"),
    "corrective_action": N_("Corrective actions"),
    "audit_programme": N_("Audit programmes"),
    "department": N_("Departments"),
    "user": N_("Users"),
}


def _name(kind: type[StrEnum], value: str) -> str:
    """The label of a stored value; a package frozen by an older version may hold values the
    labels no longer know, and those are shown as stored."""
    try:
        return labels.label(kind(value))
    except (KeyError, ValueError):
        return value


def _counts(kind: type[StrEnum], counts: dict[str, int]) -> list[list[str]]:
    return [[_name(kind, key), str(n)] for key, n in counts.items()]


def _self_assessment_section(found: dict[str, Any]) -> Section:
    results = found.get("results") or []
    heading = _("6. Self-assessment results")
    if not results:
        return Section(heading, empty=_("No self-assessment has been recorded yet."))
    latest = results[0]
    stage = _name(DevelopmentStage, latest["stage"]) if latest.get("stage") else "—"
    return Section(
        heading,
        [
            _(
                "%(year)d: overall score %(score)s, stage %(stage)s.",
                year=latest["year"],
                score=latest["overall"],
                stage=stage,
            )
        ],
        Table(
            [_("View"), _("Score")],
            [
                [_name(AssessmentView, view), "—" if score is None else str(score)]
                for view, score in latest.get("views", {}).items()
            ],
        ),
    )


def input_sections(package: dict[str, Any]) -> list[Section]:
    """The seven input sections, the same on the page and in every form of the report."""
    since = package.get("since")
    period = (
        _("since the last review (%(date)s)", date=since)
        if since
        else _("since records began (no earlier review)")
    )
    count = _("Count")
    actions = package["previous_actions"]
    goals = package["goals"]
    audits = package["audits"]
    ncs = package["nonconformities"]
    evidence = package["evidence"]
    changes = package["changes"]
    return [
        Section(
            _("1. Actions from previous reviews"),
            [
                _(
                    "Open: %(open)d; done, awaiting verification: %(done)d; overdue: "
                    "%(overdue)d; verified %(period)s: %(verified)d.",
                    open=actions["open"],
                    done=actions["awaiting_verification"],
                    overdue=actions["overdue"],
                    period=period,
                    verified=actions["verified_since"],
                )
            ],
            Table(
                [_("Review"), _("Action"), _("Owner"), _("Due"), _("Status")],
                [
                    [
                        row["review"],
                        row["description"],
                        row["owner"],
                        row["due_date"],
                        _name(ReviewActionStatus, row["status"]),
                    ]
                    for row in actions["carried_over"]
                ],
            ),
        ),
        Section(
            _("2. Goal attainment"),
            [_("%(n)d goals in total.", n=goals["total"])],
            Table([_("Status"), count], _counts(GoalStatus, goals["by_status"])),
        ),
        Section(
            _("3. Audit results"),
            [_("Audits held %(period)s: %(n)d.", period=period, n=audits["audits"])],
            Table(
                [_("Checklist items and findings"), count],
                [
                    [_("Checklist: %(result)s", result=_name(ChecklistResult, k)), str(n)]
                    for k, n in audits["checklist"].items()
                ]
                + [
                    [_("Findings: %(grade)s", grade=_name(ChecklistResult, k)), str(n)]
                    for k, n in audits["findings"].items()
                ],
            ),
        ),
        Section(
            _("4. Nonconformities and corrective actions"),
            [
                _(
                    "Open: %(open)d, of which major: %(major)d; past their deadline: %(overdue)d.",
                    open=ncs["open"],
                    major=ncs["open_major"],
                    overdue=ncs["overdue"],
                )
            ],
            Table([_("Status"), count], _counts(NcStatus, ncs["by_status"])),
        ),
        Section(
            _("5. Documented information"),
            [
                _(
                    "Expired (review date passed, not obsolete): %(n)d.",
                    n=evidence["expired"],
                ),
                *(
                    _(
                        "Requirement coverage %(framework)s: covered %(covered)d, stale "
                        "%(stale)d, without evidence %(none)d.",
                        framework=row["framework"],
                        covered=row["covered"],
                        stale=row["stale"],
                        none=row["none"],
                    )
                    for row in evidence["coverage"]
                ),
            ],
            Table([_("Status"), count], _counts(EvidenceStatus, evidence["by_status"])),
        ),
        _self_assessment_section(package.get("self_assessment") or {}),
        Section(
            _("7. Changes since the last review"),
            [_("Changes recorded %(period)s: %(n)d.", period=period, n=changes["total"])],
            Table(
                [_("Kind of record"), count],
                [
                    [_(OBJECT_TYPES[k]) if k in OBJECT_TYPES else k, str(n)]
                    for k, n in changes["by_object_type"].items()
                ],
            ),
        ),
    ]


def build(*, session: Session, review: ManagementReview, today: date) -> Report:
    """The review record: header facts, the input package, minutes, decisions, actions."""
    assert review.id is not None
    attendees = review_service.attendees(session=session, review_id=review.id)
    actions = review_service.actions(session=session, review_id=review.id)
    owners = {a.owner_id for a in actions} | {review.chair_id}
    names = users.names_by_id(session=session, user_ids=owners)
    frozen = review.inputs_frozen_at
    facts = [
        (_("Status"), labels.label(review.status)),
        (_("Planned date"), review.planned_on.isoformat()),
        (_("Held on"), review.held_on.isoformat() if review.held_on else "—"),
        (_("Location"), review.location or "—"),
        (_("Chair"), names.get(review.chair_id, "")),
        (_("Attendees"), "、".join(u.name for u in attendees) or "—"),
        (
            _("Input package"),
            _("frozen when held (%(date)s)", date=local_date(frozen).isoformat())
            if frozen
            else _("live, will be frozen when held"),
        ),
    ]
    if review.signed_at:
        facts.append((_("Signed"), local_date(review.signed_at).isoformat()))
    package = review_service.inputs(session=session, review=review, today=today)
    return Report(
        title=review.title,
        facts=facts,
        sections=[
            *input_sections(package),
            Section(
                _("Minutes"),
                [p for p in review.minutes.splitlines() if p.strip()],
                empty=_("No minutes recorded."),
            ),
            Section(
                _("Decisions"),
                [p for p in review.decisions.splitlines() if p.strip()],
                empty=_("No decisions recorded."),
            ),
            Section(
                _("Actions"),
                table=Table(
                    [_("Action"), _("Owner"), _("Due"), _("Status"), _("Verification")],
                    [
                        [
                            a.description,
                            names.get(a.owner_id, ""),
                            a.due_date.isoformat(),
                            labels.label(a.status),
                            a.verification_note,
                        ]
                        for a in actions
                    ],
                ),
                empty=_("No actions recorded."),
            ),
        ],
        filename=f"management-review-{review.id}",
        back_url=f"/reviews/{review.id}",
    )
