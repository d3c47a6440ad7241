"""Loading a framework's requirement catalogue from YAML, idempotently, keyed by stable key."""

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlmodel import Session, select

from app.errors import Invalid
from app.models.requirement import Confidence, Framework, Requirement, RequirementStatus
from app.services.activity import service as activity

KEY_PATTERN = r"^[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*$"
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TitleText(_Strict):
    zh_CN: Title
    en: Title


class LongText(_Strict):
    zh_CN: Text = ""
    en: Text = ""


class EvidenceList(_Strict):
    zh_CN: list[Title]
    en: list[Title]

    @model_validator(mode="after")
    def _same_length(self) -> "EvidenceList":
        if len(self.zh_CN) != len(self.en):
            raise ValueError("zh_CN and en lists must have the same number of items")
        return self


class RequirementSpec(_Strict):
    key: Annotated[str, StringConstraints(pattern=KEY_PATTERN, max_length=64)]
    clause: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    title: TitleText
    confidence: Confidence
    confidence_note: LongText = LongText()
    summary: LongText = LongText()
    guidance: LongText = LongText()
    expected_evidence: EvidenceList = EvidenceList(zh_CN=[], en=[])
    children: list["RequirementSpec"] = Field(default_factory=list)


class FrameworkSpec(_Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9_.-]+$", max_length=32)]
    version: Annotated[str, StringConstraints(min_length=1, max_length=16)]
    title: TitleText
    description: LongText = LongText()


class CatalogueFile(_Strict):
    framework: FrameworkSpec
    requirements: list[RequirementSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "CatalogueFile":
        keys: set[str] = set()
        clauses: set[str] = set()
        for spec, _depth in _walk(self.requirements):
            if spec.key in keys:
                raise ValueError(f"duplicate key {spec.key}")
            if spec.clause in clauses:
                raise ValueError(f"duplicate clause {spec.clause} (key {spec.key})")
            keys.add(spec.key)
            clauses.add(spec.clause)
        return self


def _walk(specs: list[RequirementSpec], depth: int = 0) -> list[tuple[RequirementSpec, int]]:
    out: list[tuple[RequirementSpec, int]] = []
    for spec in specs:
        out.append((spec, depth))
        out.extend(_walk(spec.children, depth + 1))
    return out


class CatalogueError(Invalid):
    """A catalogue file that cannot be loaded; nothing of it was written."""


def _place(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse(path: Path) -> CatalogueFile:
    """Read and validate a catalogue file; errors name the file, the place and the field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise CatalogueError(f"{path}:{where} is not valid YAML: {exc}") from exc
    try:
        return CatalogueFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_place(err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()[:10]
        )
        raise CatalogueError(f"{path}: {problems}") from exc


@dataclass
class LoadReport:
    framework: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _fields(spec: RequirementSpec, position: int, depth: int) -> dict[str, Any]:
    return {
        "clause": spec.clause,
        "position": position,
        "depth": depth,
        "title_zh": spec.title.zh_CN,
        "title_en": spec.title.en,
        "summary_zh": spec.summary.zh_CN,
        "summary_en": spec.summary.en,
        "guidance_zh": spec.guidance.zh_CN,
        "guidance_en": spec.guidance.en,
        "expected_evidence_zh": spec.expected_evidence.zh_CN,
        "expected_evidence_en": spec.expected_evidence.en,
        "confidence": spec.confidence,
        "confidence_note_zh": spec.confidence_note.zh_CN,
        "confidence_note_en": spec.confidence_note.en,
    }


def load(*, session: Session, now: datetime, catalogue: CatalogueFile) -> LoadReport:
    """Create or update the framework and its requirements; a second run changes nothing."""
    spec = catalogue.framework
    framework = session.exec(
        select(Framework).where(Framework.code == spec.code, Framework.version == spec.version)
    ).first()
    if framework is None:
        framework = Framework(code=spec.code, version=spec.version, title_zh="", title_en="")
    framework.title_zh, framework.title_en = spec.title.zh_CN, spec.title.en
    framework.description_zh, framework.description_en = spec.description.zh_CN, spec.description.en
    session.add(framework)
    session.flush()
    assert framework.id is not None
    framework_id = framework.id
    report = LoadReport(framework=f"{spec.code}-{spec.version}")
    existing = {
        r.key: r
        for r in session.exec(select(Requirement).where(Requirement.framework_id == framework.id))
    }
    ids: dict[str, int] = {}
    chapters: dict[str, int | None] = {}

    def visit(specs: list[RequirementSpec], parent: str | None, depth: int, position: int) -> int:
        for item in specs:
            position += 1
            fields = _fields(item, position, depth)
            fields["parent_id"] = ids[parent] if parent else None
            fields["chapter_id"] = chapters[parent] or ids[parent] if parent else None
            requirement = existing.get(item.key)
            if requirement is None:
                requirement = Requirement(framework_id=framework_id, key=item.key, **fields)
                session.add(requirement)
                session.flush()
                assert requirement.id is not None
                session.add(RequirementStatus(requirement_id=requirement.id))
                report.created += 1
            else:
                before, after = activity.changes(requirement, fields)
                if after:
                    for name, value in fields.items():
                        setattr(requirement, name, value)
                    session.add(requirement)
                    activity.record(
                        session=session,
                        now=now,
                        actor_id=None,
                        verb="update",
                        object_type="requirement",
                        object_id=requirement.id,
                        before=before,
                        after=after,
                    )
                    report.updated += 1
                else:
                    report.unchanged += 1
            assert requirement.id is not None
            ids[item.key] = requirement.id
            chapters[item.key] = fields["chapter_id"]
            position = visit(item.children, item.key, depth + 1, position)
        return position

    visit(catalogue.requirements, None, 0, 0)
    if report.created:
        activity.record(
            session=session,
            now=now,
            actor_id=None,
            verb="load",
            object_type="framework",
            object_id=framework.id,
            after={"created": report.created, "file_version": spec.version},
        )
    return report


def catalogue_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if re.match(r"^[\w.-]+\.yaml$", p.name))
