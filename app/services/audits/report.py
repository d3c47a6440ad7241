"""The audit report's outline: scope, team, conclusion, findings by grade, coverage."""

from sqlalchemy import case, func
from sqlmodel import Session, col, select

from app.i18n import gettext as _
from app.i18n import localized
from app.i18n.labels import label
from app.models.audit import Audit, ChecklistItem, ChecklistResult
from app.models.department import Department
from app.models.requirement import Requirement
from app.models.user import User
from app.services.accounts import departments as department_service
from app.services.audits import checklist as audit_checklist
from app.services.audits import service as audit_service
from app.services.documents import Report, Section, Table


def build(*, session: Session, audit: Audit) -> Report:
    team = audit_service.team(session=session, audit=audit)
    scope = audit_service.current_scope(session=session, audit=audit)
    clauses = session.exec(
        select(Requirement)
        .where(col(Requirement.id).in_(scope.requirement_ids))
        .order_by(col(Requirement.framework_id), col(Requirement.position))
    ).all()
    counts = audit_checklist.result_counts(session=session, audit_id=audit.id or 0)
    findings = audit_checklist.findings(session=session, audit=audit)
    lead = session.get(User, audit.lead_auditor_id)
    facts = [
        (_("Kind"), label(audit.kind)),
        (_("Status"), label(audit.status)),
        (_("Lead auditor"), lead.name if lead else ""),
        (_("Audit team"), "、".join(m.user.name for m in team)),
        (_("Planned dates"), f"{audit.planned_start} – {audit.planned_end}"),
        (_("Carried out"), f"{audit.actual_start or '—'} – {audit.actual_end or ''}"),
        (_("Audit criteria"), audit.criteria or "—"),
    ]
    overrides = [
        f"{m.user.name}: {m.member.independence_override}"
        for m in team
        if m.member.independence_override
    ]
    return Report(
        title=_("Audit report: %(title)s", title=audit.title),
        facts=facts,
        sections=[
            Section(
                _("Audit conclusion"),
                [audit.summary] if audit.summary else [],
                empty=_("No conclusion written yet."),
            ),
            Section(
                _("Scope"),
                [
                    _(
                        "Departments: %(names)s",
                        names="、".join(
                            department_service.names(
                                session=session, department_ids=scope.department_ids
                            )
                        ),
                    ),
                    *(_("Independence override — %(text)s", text=o) for o in overrides),
                ],
                table=Table(
                    [_("Clause"), _("Title")],
                    [[c.clause, str(localized(c, "title"))] for c in clauses],
                ),
            ),
            Section(
                _("Results"),
                table=Table(
                    [_("Result"), _("Items")], [[label(r), str(n)] for r, n in counts.items()]
                ),
            ),
            Section(
                _("Findings"),
                table=Table(
                    [_("Grade"), _("Clause"), _("Department"), _("Finding"), _("Nonconformity")],
                    [
                        [
                            label(f.grade),
                            r.clause if r else "",
                            d.name if d else "",
                            f.statement,
                            f"#{f.nonconformity_id}" if f.nonconformity_id else "—",
                        ]
                        for f, r, d in findings
                    ],
                ),
                empty=_("No findings."),
            ),
            Section(
                _("Coverage by department"),
                table=Table(
                    [_("Department"), _("Items"), _("With a result"), _("Nonconformities")],
                    coverage_by_department(session, audit),
                ),
            ),
        ],
        filename=f"audit-report-{audit.id}",
        back_url=f"/audits/{audit.id}",
    )


def coverage_by_department(session: Session, audit: Audit) -> list[list[str]]:
    result = col(ChecklistItem.result)
    rows = session.exec(
        select(
            Department.name,
            func.count(),
            func.sum(case((result != ChecklistResult.not_audited, 1), else_=0)),
            func.sum(
                case(
                    (result.in_((ChecklistResult.major_nc, ChecklistResult.minor_nc)), 1),
                    else_=0,
                )
            ),
        )
        .join(Department, col(Department.id) == ChecklistItem.department_id)
        .where(ChecklistItem.audit_id == audit.id)
        .group_by(col(Department.name))
        .order_by(col(Department.name))
    ).all()
    return [[name, str(total), str(done or 0), str(ncs or 0)] for name, total, done, ncs in rows]
