"""The document register (文件清单) in Excel: export, and import with a per-row report."""

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from app.actor import Actor
from app.errors import DomainError, Invalid
from app.i18n import gettext as _
from app.i18n.labels import label
from app.models.department import Department
from app.models.evidence import Evidence, EvidenceCreate, EvidenceRequirement
from app.models.requirement import Requirement
from app.models.user import User
from app.services.evidence import links as evidence_links
from app.services.evidence import service as evidence_service
from app.services.evidence.access import visible_clause
from app.services.imports import time_limited
from app.services.imports.excel_reading import Sheet, sheet_rows
from app.services.validation import describe_errors

if TYPE_CHECKING:
    from openpyxl import Workbook

MAX_ROWS = 2000
COLUMNS = [
    "reference",
    "title",
    "kind",
    "owner_email",
    "department_code",
    "review_interval_months",
    "next_review_date",
    "retention_years",
    "requirements",
    "description",
]


def headers() -> list[str]:
    return [
        _("Reference number"),
        _("Title"),
        _("Kind (document/record/link)"),
        _("Owner e-mail"),
        _("Department code"),
        _("Review interval (months)"),
        _("Next review date"),
        _("Retention (years)"),
        _("Requirement keys or clauses, comma-separated"),
        _("Description"),
    ]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell_text(value: Any) -> Any:
    """A value safe to put in a cell: text that Excel would run as a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def cell_row(*values: Any) -> list[Any]:
    """A worksheet row with every text value made safe (see `cell_text`)."""
    return [cell_text(v) for v in values]


def export_register(*, session: Session, actor: Actor, limit: int = 100_000) -> "Workbook":
    """The evidence the actor may see, with links to requirements, in the import's columns."""
    # imported here: openpyxl costs 0.2–1 s at start and only the Excel files need it
    from openpyxl import Workbook
    from openpyxl.styles import Font

    owners = dict(session.exec(select(User.id, User.email)).all())
    departments = dict(session.exec(select(Department.id, Department.code)).all())
    clauses: dict[int, list[str]] = {}
    for evidence_id, key in session.exec(
        select(EvidenceRequirement.evidence_id, Requirement.key).join(
            Requirement, col(Requirement.id) == col(EvidenceRequirement.requirement_id)
        )
    ).all():
        clauses.setdefault(evidence_id, []).append(key)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = _("Document register")[:31]
    sheet.append([*headers(), _("Status")])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    visible = select(Evidence).where(visible_clause(actor))
    for e in session.exec(visible.order_by(col(Evidence.reference), col(Evidence.id)).limit(limit)):
        sheet.append(
            cell_row(
                e.reference or "",
                e.title,
                e.kind,
                owners.get(e.owner_id, ""),
                departments.get(e.department_id, ""),
                e.review_interval_months,
                e.next_review_date,
                e.retention_years,
                ", ".join(clauses.get(e.id or 0, [])),
                e.description,
                label(e.status),
            )
        )
    sheet.freeze_panes = "A2"
    return book


@dataclass
class ImportRow:
    number: int
    values: dict[str, Any]
    errors: list[str] = field(default_factory=list)
    data: EvidenceCreate | None = None
    requirement_ids: list[int] = field(default_factory=list)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return value.strip()
    return value


def read_sheet(path: Path, *, limits: time_limited.Limits) -> Sheet:
    """The register's cells, read in a child process with a time limit (excel_reading)."""
    return sheet_rows(path, columns=len(COLUMNS), max_rows=MAX_ROWS, limits=limits)


def check_rows(*, session: Session, sheet: Sheet, actor: Actor) -> list[ImportRow]:
    """Validate every row without writing anything; each row carries its own errors."""
    users = {email.lower(): uid for uid, email in session.exec(select(User.id, User.email)).all()}
    departments = {
        code.lower(): did
        for did, code in session.exec(select(Department.id, Department.code)).all()
    }
    requirements: dict[str, int] = {}
    for rid, key, clause in session.exec(
        select(Requirement.id, Requirement.key, Requirement.clause)
    ).all():
        requirements[key.upper()] = rid or 0
        requirements.setdefault(clause, rid or 0)
    seen_refs: set[str] = set()
    rows: list[ImportRow] = []
    for number, cells in sheet:
        row = ImportRow(
            number, {name: _cell(value) for name, value in zip(COLUMNS, cells, strict=True)}
        )
        if any(isinstance(v, str) and v.startswith("=") for v in row.values.values()):
            row.errors.append(_("Formulas are not accepted; paste values instead."))
            rows.append(row)
            continue
        values = dict(row.values)
        kinds = {
            "document": "document",
            "record": "record",
            "link": "link",
            "文件": "document",
            "记录": "record",
            "链接": "link",
        }
        values["kind"] = kinds.get(str(values.get("kind") or "document").lower(), "?")
        owner = str(values.pop("owner_email") or "").lower()
        if not actor.may_touch(None) and owner not in ("", actor.user.email):
            row.errors.append(_("You can only import evidence that you own yourself."))
        if not actor.may_touch(None):
            owner = actor.user.email
        department = str(values.pop("department_code") or "").lower()
        clause_list = [
            c.strip()
            for c in str(values.pop("requirements") or "").replace("，", ",").split(",")
            if c.strip()
        ]
        if owner and owner not in users:
            row.errors.append(_("Unknown owner e-mail: %(value)s", value=owner))
        if department and department not in departments:
            row.errors.append(_("Unknown department code: %(value)s", value=department))
        for clause in clause_list:
            found = requirements.get(clause.upper()) or requirements.get(clause)
            if found is None:
                row.errors.append(_("Unknown requirement: %(value)s", value=clause))
            else:
                row.requirement_ids.append(found)
        values["owner_id"] = users.get(owner)
        values["department_id"] = departments.get(department)
        values = {k: v for k, v in values.items() if v not in (None, "")}
        try:
            row.data = EvidenceCreate.model_validate(values)
        except ValidationError as exc:
            row.errors.extend(
                f"{name}: {message}" for name, message in describe_errors(exc.errors()).items()
            )
        reference = str(row.values.get("reference") or "")
        if reference:
            if reference in seen_refs:
                row.errors.append(_("The reference number appears twice in the file."))
            elif (
                session.exec(select(Evidence.id).where(Evidence.reference == reference)).first()
                is not None
            ):
                row.errors.append(_("Another evidence item already uses this reference number."))
            seen_refs.add(reference)
        rows.append(row)
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
            evidence = evidence_service.create(
                session=session, now=now, actor_id=actor_id, data=row.data
            )
        except DomainError as exc:
            row.errors.append(exc.message)
            continue
        for requirement_id in dict.fromkeys(row.requirement_ids):
            evidence_links.link(
                session=session,
                now=now,
                actor_id=actor_id,
                evidence=evidence,
                kind_name="requirement",
                target_id=requirement_id,
            )
        created += 1
    return created


PREVIEW_MAX_AGE_SECONDS = 24 * 3600


def sweep_previews(imports_dir: Path, now_timestamp: float) -> int:
    """Delete import previews that were never confirmed, and workbooks left by a process that
    died while reading one; returns how many."""
    removed = 0
    for path in imports_dir.glob("*") if imports_dir.exists() else []:
        try:
            age = now_timestamp - path.stat().st_mtime
        except FileNotFoundError:
            continue  # confirmed, or replaced by a newer preview (keep_newest), meanwhile
        if age > PREVIEW_MAX_AGE_SECONDS:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
