"""The goal register as an Excel workbook: one sheet of goals, one of measurements."""

from datetime import date
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from app.i18n import gettext as _
from app.i18n.labels import label
from app.models.capability import Capability
from app.models.goal import Direction, Frequency, Goal, Measurement
from app.models.user import User
from app.services.evidence.excel import cell_row
from app.services.strategy import goals as goal_service

if TYPE_CHECKING:
    from openpyxl import Workbook

MEASUREMENT_ROWS_MAX = 200_000


def goal_register_xlsx(*, session: Session, today: date) -> "Workbook":
    """Every goal with its status, and every value in force, in the viewer's language."""
    # imported here: openpyxl costs 0.2–1 s at start and only the Excel files need it
    from openpyxl import Workbook
    from openpyxl.styles import Font

    goals = list(session.exec(select(Goal).order_by(col(Goal.capability_id), col(Goal.id))).all())
    capabilities = {c.id: c for c in session.exec(select(Capability)).all()}
    owners = dict(session.exec(select(User.id, User.name)).all())
    assessments = goal_service.assessments(session=session, goals=goals, today=today)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = _("Goals")[:31]
    headers = [
        _("Capability"),
        _("Indicator"),
        _("Unit"),
        _("Direction"),
        _("Baseline"),
        _("Baseline date"),
        _("Target"),
        _("Deadline"),
        _("Frequency"),
        _("Owner"),
        _("Latest value"),
        _("Status"),
    ]
    sheet.append(headers)
    for goal in goals:
        capability = capabilities.get(goal.capability_id)
        assessment = assessments[goal.id or 0]
        sheet.append(
            cell_row(
                f"{capability.code} {capability.title}" if capability else "",
                goal.indicator,
                goal.unit,
                label(Direction(goal.direction)),
                goal.baseline,
                goal.baseline_date,
                goal.target,
                goal.deadline,
                label(Frequency(goal.frequency)),
                owners.get(goal.owner_id, ""),
                assessment.latest_value,
                label(assessment.status),
            )
        )
    values = book.create_sheet(_("Measurements")[:31])
    values.append(
        [_("Indicator"), _("Period"), _("Value"), _("Revision"), _("Recorded at"), _("Note")]
    )
    indicators = {g.id: g.indicator for g in goals}
    rows = session.exec(
        select(Measurement)
        .where(col(Measurement.superseded_by_id).is_(None))
        .order_by(col(Measurement.goal_id), col(Measurement.period))
        .limit(MEASUREMENT_ROWS_MAX)
    )
    for m in rows:
        values.append(
            cell_row(
                indicators.get(m.goal_id, ""),
                m.period,
                m.value,
                m.revision,
                m.recorded_at.replace(tzinfo=None),
                m.note,
            )
        )
    for ws in (sheet, values):
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
    return book
