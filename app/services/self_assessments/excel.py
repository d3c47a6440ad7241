"""Self-assessment results from a spreadsheet: read every row, report its errors, write
nothing until the preview is confirmed. Read defensively, like the document register import:
formulas refused, a bounded number of rows, a damaged file is a clear 422."""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from app.errors import DomainError, Invalid
from app.i18n import gettext as _
from app.i18n.labels import label
from app.models.self_assessment import DevelopmentStage, SelfAssessmentCreate
from app.services.imports import time_limited
from app.services.imports.excel_reading import Sheet, sheet_rows
from app.services.self_assessments import service as assessment_service
from app.services.validation import describe_errors

MAX_ROWS = 200
# The columns as the national platform's reports name them; the header row is not checked,
# only its position: values are read from the second row on.
HEADERS = [
    "年度",
    "总分",
    "发展阶段",
    "基础建设",
    "单项应用",
    "综合集成",
    "协同与创新",
    "竞争力",
    "经济和社会效益",
]
COLUMNS = [
    "year",
    "overall_score",
    "stage",
    "foundation",
    "application",
    "integration",
    "collaboration",
    "competitiveness",
    "benefits",
]
STAGE_NAMES = {
    "起步建设": DevelopmentStage.starting,
    "单项覆盖": DevelopmentStage.single,
    "集成提升": DevelopmentStage.integration,
    "创新突破": DevelopmentStage.innovation,
}


@dataclass
class ImportRow:
    number: int
    values: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    data: SelfAssessmentCreate | None = None


def _stage(text: str) -> str:
    """A stage by its Chinese name, its code or its label; an unknown text stays as it is and
    fails validation with the usual message."""
    names = {**STAGE_NAMES, **{label(s): s for s in DevelopmentStage}}
    found = names.get(text) or names.get(text.lower())
    return str(found) if found else text.lower()


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, datetime):
        return value.isoformat()  # a date where a number belongs: refused by validation
    return value


def read_sheet(path: Path, *, limits: time_limited.Limits) -> Sheet:
    """The results' cells, read in a child process with a time limit (excel_reading)."""
    return sheet_rows(path, columns=len(COLUMNS), max_rows=MAX_ROWS, limits=limits)


def read_rows(
    *, session: Session, path: Path, limits: time_limited.Limits = time_limited.Limits()
) -> list[ImportRow]:
    """The workbook's rows, each checked and carrying its own errors; nothing is written."""
    return check_rows(session=session, sheet=read_sheet(path, limits=limits))


def check_rows(*, session: Session, sheet: Sheet) -> list[ImportRow]:
    """Validate every row without writing anything; each row carries its own errors."""
    recorded = {a.year for a in assessment_service.all_years(session=session)}
    seen: set[int] = set()
    rows: list[ImportRow] = []
    for number, cells in sheet:
        row = ImportRow(
            number, {name: _cell(value) for name, value in zip(COLUMNS, cells, strict=True)}
        )
        rows.append(row)
        if any(isinstance(v, str) and v.startswith("=") for v in row.values.values()):
            row.errors.append(_("Formulas are not accepted; paste values instead."))
            continue
        values = {k: v for k, v in row.values.items() if v not in (None, "")}
        if isinstance(values.get("stage"), str):
            values["stage"] = _stage(values["stage"])
        try:
            row.data = SelfAssessmentCreate.model_validate(values)
        except ValidationError as exc:
            columns = dict(zip(COLUMNS, HEADERS, strict=True))
            row.errors.extend(
                f"{columns.get(name, name)}: {message}"
                for name, message in describe_errors(exc.errors()).items()
            )
            continue
        year = row.data.year
        if year in seen:
            row.errors.append(_("The year %(year)d appears twice in the file.", year=year))
        elif year in recorded:
            row.errors.append(
                _("A result for %(year)d is already recorded; edit that one instead.", year=year)
            )
        seen.add(year)
    if not rows:
        raise Invalid(_("The sheet has no rows below the header."), field="file")
    return rows


def import_rows(
    *, session: Session, now: datetime, actor_id: int | None, rows: list[ImportRow]
) -> int:
    """Write the rows without errors; returns how many were created."""
    created = 0
    for row in rows:
        if row.errors or row.data is None:
            continue
        try:
            assessment_service.create(session=session, now=now, actor_id=actor_id, data=row.data)
        except DomainError as exc:
            row.errors.append(exc.message)
            continue
        created += 1
    return created
