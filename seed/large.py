"""The reference "large enterprise" data set of design.md (Performance budgets), for benchmarks.

Deterministic for a given seed and `now`: every choice comes from one random.Random. Rows are
written with bulk INSERTs and explicit ids (the generator needs them for the links), one commit
per batch; on PostgreSQL the id sequences are moved past the inserted ids afterwards. Expects a
migrated database with the GB/T 23001 catalogue loaded and no users yet.
"""

import io
import random
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, update
from sqlmodel import Session, SQLModel, col, select

from app.clock import local_date
from app.models.activity import ActivityEvent, HashRule
from app.models.audit import (
    Audit,
    AuditDepartment,
    AuditMember,
    AuditProgramme,
    AuditRequirement,
    ChecklistEvidence,
    ChecklistItem,
    Finding,
)
from app.models.capability import Capability, CapabilityAdvantage, CapabilityRequirement
from app.models.department import Department
from app.models.evidence import (
    Evidence,
    EvidenceCapability,
    EvidenceRequirement,
    EvidenceRevision,
    StoredFile,
)
from app.models.goal import Goal, Measurement
from app.models.nonconformity import CorrectiveAction, Nonconformity, Verification
from app.models.notification import Notification
from app.models.pdca import PdcaCycle
from app.models.requirement import Framework, Requirement, RequirementStatus
from app.models.review import ManagementReview, ReviewAction, ReviewAttendee
from app.models.strategy import CompetitiveAdvantage, Strategy
from app.models.user import User, UserRole
from app.security import hash_password
from app.services.activity import key as activity_key
from app.services.activity import service as activity
from app.services.evidence import service as evidence_service
from app.services.files import store as file_store
from app.services.reviews import inputs as review_inputs
from seed.large_text import (
    DEPARTMENT_NAMES,
    DOCUMENT_KINDS,
    INDICATORS,
    person_name,
    revision_text,
)

LARGE_PASSWORD = "ronghe-large-2026"  # noqa: S105 - benchmark data only, printed by the CLI
ADMIN_EMAIL = "admin@large.example.com"
BATCH = 2000
MAX_FILE = 1024 * 1024
BIG_AUDIT_ITEMS = 300  # the checklist page is measured on one audit at least this large

Progress = Callable[[str, int, int], None]


def _quiet(_table: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class Counts:
    """design.md's numbers times a scale factor (1.0 is the reference data set)."""

    departments: int
    users: int
    admins: int
    executives: int
    auditors: int
    owners: int
    clauses_per_framework: int
    capabilities: int
    goals: int
    measurements: int
    evidence: int
    revisions: int
    audits: int
    checklist_items: int
    findings: int
    nonconformities: int
    actions: int
    reviews: int
    events: int
    notifications: int

    @classmethod
    def scaled(cls, scale: float) -> "Counts":
        def n(value: int, least: int = 1) -> int:
            return max(least, round(value * scale))

        evidence = n(20_000)
        audits = n(150, 2)
        findings = n(3_000)
        return cls(
            departments=n(40, 5),
            users=n(500, 5),
            admins=n(5),
            executives=n(10),
            auditors=n(40),
            owners=n(300),
            clauses_per_framework=n(130, 2),
            capabilities=n(60),
            goals=n(300),
            measurements=n(10_000),
            evidence=evidence,
            revisions=max(evidence, n(50_000)),
            audits=audits,
            checklist_items=max(n(6_000), findings, audits),
            findings=findings,
            nonconformities=min(findings, n(1_200)),
            actions=max(n(2_000), min(findings, n(1_200))),
            reviews=n(30, 2),
            events=n(100_000),
            notifications=n(50_000),
        )


@dataclass
class LargeReport:
    counts: dict[str, int] = field(default_factory=dict)
    admin_email: str = ADMIN_EMAIL
    big_audit_id: int = 0
    seconds: float = 0.0


class _Writer:
    """Bulk inserts in batches, one commit each, with progress and PostgreSQL sequences."""

    def __init__(self, session: Session, progress: Progress, report: LargeReport) -> None:
        self.session = session
        self.progress = progress
        self.report = report
        self.postgres = session.get_bind().dialect.name == "postgresql"

    def next_id(self, model: type[SQLModel]) -> int:
        table = model.__table__  # type: ignore[attr-defined]
        top = self.session.execute(select(func.max(table.c.id))).scalar()
        return int(top or 0) + 1

    def insert(self, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
        table = model.__table__  # type: ignore[attr-defined]
        name = str(table.name)
        for offset in range(0, len(rows), BATCH):
            self.session.execute(insert(model), list(rows[offset : offset + BATCH]))
            self.session.commit()
            self.progress(name, min(offset + BATCH, len(rows)), len(rows))
        if not rows:
            self.progress(name, 0, 0)
        if self.postgres and "id" in table.c and rows and "id" in rows[0]:
            sequence = func.pg_get_serial_sequence(name, "id")
            self.session.execute(select(func.setval(sequence, func.max(table.c.id))))
            self.session.commit()
        self.report.counts[name] = self.report.counts.get(name, 0) + len(rows)

    def update(self, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
        for offset in range(0, len(rows), BATCH):
            self.session.execute(update(model), list(rows[offset : offset + BATCH]))
            self.session.commit()


def _spread(total: int, parts: int) -> list[int]:
    """`total` split into `parts` near-equal whole numbers."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _at(day: date, rng: random.Random) -> datetime:
    return datetime(day.year, day.month, day.day, 9, tzinfo=UTC) + timedelta(
        minutes=rng.randrange(9 * 60)
    )


def generate(
    *,
    session: Session,
    files_dir: Path,
    now: datetime,
    seed: int = 2026,
    scale: float = 1.0,
    progress: Progress = _quiet,
) -> LargeReport:
    """Build the large data set next to the loaded catalogue; returns what was written."""
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not a secret
    counts = Counts.scaled(scale)
    report = LargeReport()
    w = _Writer(session, progress, report)
    ctx = _Context(w=w, rng=rng, now=now, today=local_date(now), counts=counts, files_dir=files_dir)
    ctx.organisation()
    ctx.catalogue()
    ctx.strategy()
    ctx.evidence()
    ctx.audits()
    ctx.nonconformities()
    ctx.reviews()
    ctx.notifications()
    ctx.activity()
    report.big_audit_id = ctx.big_audit_id
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class _Context:
    w: _Writer
    rng: random.Random
    now: datetime
    today: date
    counts: Counts
    files_dir: Path
    departments: list[int] = field(default_factory=list)
    users: list[int] = field(default_factory=list)
    by_role: dict[str, list[int]] = field(default_factory=dict)
    clauses: list[int] = field(default_factory=list)
    capabilities: list[int] = field(default_factory=list)
    goals: list[int] = field(default_factory=list)
    evidence_ids: list[int] = field(default_factory=list)
    # requirement id -> approved revision ids of evidence linked to it (for checklist pins)
    pins: dict[int, list[int]] = field(default_factory=dict)
    nc_ids: list[int] = field(default_factory=list)
    action_ids: list[tuple[int, int, date]] = field(default_factory=list)
    audit_ids: list[int] = field(default_factory=list)
    big_audit_id: int = 0
    cycles: dict[int, int] = field(default_factory=dict)
    # (kind, subject type, subject id, owner, due date, link): what reminders were sent about
    due: list[tuple[str, str, int, int, date, str]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    ncs: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def pick(self, role: str) -> int:
        return self.rng.choice(self.by_role[role])

    # --- departments, users, roles ------------------------------------------------------

    def organisation(self) -> None:
        c, w, rng = self.counts, self.w, self.rng
        first = w.next_id(Department)
        self.departments = list(range(first, first + c.departments))
        rows = []
        for i, dep_id in enumerate(self.departments):
            parent = None if i == 0 else first if i <= 7 else first + 1 + (i - 8) % 7
            rows.append(
                {
                    "id": dep_id,
                    "code": f"L{i + 1:03d}",
                    "name": DEPARTMENT_NAMES[i % len(DEPARTMENT_NAMES)]
                    + (f"{i // len(DEPARTMENT_NAMES) + 1}" if i >= len(DEPARTMENT_NAMES) else ""),
                    "parent_id": parent,
                    "head_id": None,
                }
            )
        w.insert(Department, rows)

        password_hash = hash_password(LARGE_PASSWORD, fast=True)
        first_user = w.next_id(User)
        self.users = list(range(first_user, first_user + c.users))
        roles = (
            ["admin"] * c.admins
            + ["executive"] * c.executives
            + ["auditor"] * c.auditors
            + ["owner"] * c.owners
        )
        roles = (roles + ["viewer"] * c.users)[: c.users]
        joined = self.now - timedelta(days=3 * 365)
        user_rows, role_rows = [], []
        for n, (user_id, role) in enumerate(zip(self.users, roles, strict=True)):
            email = ADMIN_EMAIL if n == 0 else f"u{n:04d}.{role}@large.example.com"
            user_rows.append(
                {
                    "id": user_id,
                    "name": person_name(rng),
                    "email": email,
                    "department_id": rng.choice(self.departments),
                    "locale": "en" if rng.random() < 0.1 else "zh_CN",
                    "is_active": n < 5 or rng.random() > 0.02,
                    "password_hash": password_hash,
                    "created_at": joined,
                    "password_changed_at": joined,
                }
            )
            role_rows.append({"user_id": user_id, "role": role})
            self.by_role.setdefault(role, []).append(user_id)
        for role in ("executive", "auditor", "owner", "viewer"):
            self.by_role.setdefault(role, self.by_role["admin"])
        w.insert(User, user_rows)
        w.insert(UserRole, role_rows)
        heads = self.by_role["executive"] + self.by_role["owner"]
        w.update(
            Department,
            [{"id": d, "head_id": heads[i % len(heads)]} for i, d in enumerate(self.departments)],
        )

    # --- frameworks, requirements, statuses ----------------------------------------------

    def catalogue(self) -> None:
        c, w, rng = self.counts, self.w, self.rng
        framework_id = w.next_id(Framework)
        req_id = w.next_id(Requirement)
        frameworks, requirements = [], []
        for f, code in enumerate(("BENCH-A", "BENCH-B")):
            frameworks.append(
                {
                    "id": framework_id + f,
                    "code": code,
                    "version": "2026",
                    "title_zh": f"基准测试框架 {code}",
                    "title_en": f"Benchmark framework {code}",
                    "description_zh": "",
                    "description_en": "",
                }
            )
            chapters = max(1, round(c.clauses_per_framework / 13))
            position = 0
            for ch, per_chapter in enumerate(_spread(c.clauses_per_framework, chapters), 1):
                chapter_id = req_id
                position += 1
                requirements.append(
                    _requirement(req_id, framework_id + f, code, str(ch), position, 0, None, None)
                )
                req_id += 1
                top_id = chapter_id
                for k in range(1, per_chapter + 1):
                    position += 1
                    # every fourth clause is a sub-clause of the one before it (depth 2)
                    nested = k % 4 == 0
                    number = f"{ch}.{k - 1}.{k}" if nested else f"{ch}.{k}"
                    requirements.append(
                        _requirement(
                            req_id,
                            framework_id + f,
                            code,
                            number,
                            position,
                            2 if nested else 1,
                            top_id if nested else chapter_id,
                            chapter_id,
                        )
                    )
                    if not nested:
                        top_id = req_id
                    req_id += 1
        w.insert(Framework, frameworks)
        w.insert(Requirement, requirements)

        statuses = ["not_started", "planned", "in_progress", "implemented", "implemented"]
        status_id = w.next_id(RequirementStatus)
        new_rows, existing_rows = [], []
        existing = dict(
            w.session.exec(select(RequirementStatus.requirement_id, RequirementStatus.id)).all()
        )
        for found_id, in_chapter in w.session.exec(
            select(Requirement.id, Requirement.chapter_id).order_by(col(Requirement.id))
        ).all():
            assert found_id is not None
            requirement_id: int = found_id
            if in_chapter is not None:
                self.clauses.append(requirement_id)
            values = {
                "owner_id": self.pick("owner"),
                "department_id": rng.choice(self.departments),
                "implementation_status": rng.choice(statuses),
                "updated_at": self.now - timedelta(days=rng.randrange(1, 400)),
            }
            if requirement_id in existing:
                existing_rows.append({"id": existing[requirement_id], **values})
            else:
                new_rows.append(
                    {
                        "id": status_id,
                        "requirement_id": requirement_id,
                        "applicable": rng.random() > 0.03,
                        **values,
                    }
                )
                status_id += 1
        w.insert(RequirementStatus, new_rows)
        w.update(RequirementStatus, existing_rows)

    # --- strategy, capabilities, goals, measurements -------------------------------------

    def strategy(self) -> None:
        c, w, rng, now = self.counts, self.w, self.rng, self.now
        strategy_id = w.next_id(Strategy)
        w.insert(
            Strategy,
            [
                {
                    "id": strategy_id,
                    "title": "数字化转型战略 2024–2028",
                    "description": "以数据驱动的精益制造与服务化延伸。",
                    "horizon": "2024–2028",
                    "status": "approved",
                    "approved_by_id": self.by_role["executive"][0],
                    "approved_at": now - timedelta(days=700),
                    "created_at": now - timedelta(days=720),
                }
            ],
        )
        adv_first = w.next_id(CompetitiveAdvantage)
        advantages = list(range(adv_first, adv_first + 6))
        w.insert(
            CompetitiveAdvantage,
            [
                {
                    "id": a,
                    "strategy_id": strategy_id,
                    "title": f"可持续竞争优势 {i + 1}",
                    "description": "",
                    "position": i,
                }
                for i, a in enumerate(advantages)
            ],
        )
        cycle_first = w.next_id(PdcaCycle)
        years = range(self.today.year - 3, self.today.year + 1)
        self.cycles = {year: cycle_first + i for i, year in enumerate(years)}
        w.insert(
            PdcaCycle,
            [
                {
                    "id": cycle_id,
                    "period": str(year),
                    "phase": "do" if year == self.today.year else "closed",
                    "started_on": date(year, 1, 1),
                    "closed_on": None if year == self.today.year else date(year, 12, 31),
                    "previous_id": cycle_id - 1 if cycle_id > cycle_first else None,
                    "notes": "",
                }
                for year, cycle_id in self.cycles.items()
            ],
        )
        cap_first = w.next_id(Capability)
        self.capabilities = list(range(cap_first, cap_first + c.capabilities))
        grades = ["CL1", "CL2", "CL3", "CL4"]
        stages = ["identified", "planned", "building", "operating", "operating", "adjusting"]
        caps, cap_adv, cap_req = [], [], []
        for i, cap_id in enumerate(self.capabilities):
            grade = rng.randrange(3)
            caps.append(
                {
                    "id": cap_id,
                    "code": f"CAP-{i + 1:03d}",
                    "title": f"新型能力 {i + 1}：{INDICATORS[i % len(INDICATORS)][0]}提升能力",
                    "description": "",
                    "owner_id": self.pick("owner"),
                    "department_id": rng.choice(self.departments),
                    "current_grade": grades[grade],
                    "target_grade": grades[grade + 1],
                    "stage": rng.choice(stages),
                    "archived_at": None,
                    "created_at": now - timedelta(days=rng.randrange(200, 900)),
                }
            )
            for a in rng.sample(advantages, 2):
                cap_adv.append({"capability_id": cap_id, "advantage_id": a})
            for r in rng.sample(self.clauses, min(3, len(self.clauses))):
                cap_req.append({"capability_id": cap_id, "requirement_id": r})
        w.insert(Capability, caps)
        w.insert(CapabilityAdvantage, cap_adv)
        w.insert(CapabilityRequirement, cap_req)

        goal_first = w.next_id(Goal)
        self.goals = list(range(goal_first, goal_first + c.goals))
        goal_rows, measurements = [], []
        month = date(self.today.year, self.today.month, 1)
        measure_id = w.next_id(Measurement)
        for i, (goal_id, n_values) in enumerate(
            zip(self.goals, _spread(c.measurements, c.goals), strict=True)
        ):
            indicator, unit = INDICATORS[i % len(INDICATORS)]
            baseline = round(rng.uniform(20, 60), 1)
            increase = i % 5 != 4
            target = baseline + 30 if increase else baseline / 2
            owner = self.pick("owner")
            goal_rows.append(
                {
                    "id": goal_id,
                    "capability_id": self.capabilities[i % len(self.capabilities)],
                    "indicator": f"{indicator}（{i + 1}）",
                    "unit": unit,
                    "direction": "increase" if increase else "decrease",
                    "baseline": baseline,
                    "baseline_date": _months_before(month, n_values + 1),
                    "target": round(target, 1),
                    "deadline": self.today + timedelta(days=rng.randrange(60, 700)),
                    "frequency": "monthly",
                    "owner_id": owner,
                    "created_at": now - timedelta(days=31 * (n_values + 1)),
                }
            )
            for k in range(n_values, 0, -1):
                period = _months_before(month, k)
                progress = (n_values - k) / max(1, n_values)
                value = baseline + (target - baseline) * progress * rng.uniform(0.6, 1.1)
                measurements.append(
                    {
                        "id": measure_id,
                        "goal_id": goal_id,
                        "period": period,
                        "revision": 1,
                        "value": round(value, 2),
                        "note": "",
                        "recorded_at": _at(_months_before(month, k - 1), rng),
                        "recorded_by_id": owner,
                    }
                )
                measure_id += 1
            self.due.append(
                ("goal_measurement", "goal", goal_id, owner, month, f"/goals/{goal_id}")
            )
        w.insert(Goal, goal_rows)
        w.insert(Measurement, measurements)

    # --- evidence, revisions, files, links -----------------------------------------------

    def evidence(self) -> None:
        c, w, rng, now, today = self.counts, self.w, self.rng, self.now, self.today
        first = w.next_id(Evidence)
        self.evidence_ids = list(range(first, first + c.evidence))
        per_item = [1] * c.evidence
        extra = c.revisions - c.evidence
        for i in range(extra):
            per_item[i % c.evidence] += 1
        rng.shuffle(per_item)
        statuses = ["approved"] * 17 + ["in_review", "draft", "obsolete"]
        evidence_rows, revision_rows, links, cap_links = [], [], [], []
        contents: list[bytes] = []
        revision_id = w.next_id(EvidenceRevision)
        for i, (ev_id, n_revs) in enumerate(zip(self.evidence_ids, per_item, strict=True)):
            reference = f"EV-{i + 1:05d}"
            kind = "document" if rng.random() < 0.6 else "record"
            status = rng.choice(statuses)
            owner = self.pick("owner")
            created = now - timedelta(days=rng.randrange(30, 3 * 365))
            step = max(1, (now - created).days // (n_revs + 1))
            review = today + timedelta(days=rng.randrange(-60, 365)) if kind == "document" else None
            department = rng.choice(self.departments)
            uploaded = created
            approved_ids = []
            names = [f"{reference}-v{number}.txt" for number in range(1, n_revs + 1)]
            for number in range(1, n_revs + 1):
                uploaded = created + timedelta(days=step * (number - 1), minutes=number)
                last = number == n_revs
                approved = not last or status in ("approved", "obsolete")
                body = revision_text(reference, number, rng)
                contents.append(body)
                revision_rows.append(
                    {
                        "id": revision_id,
                        "evidence_id": ev_id,
                        "number": number,
                        "sha256": None,  # filled in once the bytes are stored
                        "size": len(body),
                        "mime_type": "text/plain",
                        "original_name": names[number - 1],
                        "period_from": None if kind == "document" else uploaded.date(),
                        "period_to": None,
                        "change_note": "" if number == 1 else "年度修订",
                        "uploaded_by_id": owner,
                        "uploaded_at": uploaded,
                        "submitted_at": None if last and status == "draft" else uploaded,
                        "approved_by_id": self.by_role["admin"][0] if approved else None,
                        "approved_at": uploaded + timedelta(hours=3) if approved else None,
                    }
                )
                if approved:
                    approved_ids.append(revision_id)
                revision_id += 1
            doc = DOCUMENT_KINDS[i % len(DOCUMENT_KINDS)]
            title = f"{DEPARTMENT_NAMES[i % len(DEPARTMENT_NAMES)]}{doc}（{i + 1}）"
            evidence_rows.append(
                {
                    "id": ev_id,
                    "reference": reference,
                    "title": title,
                    "description": "",
                    "search_text": evidence_service.search_text(
                        title=title, description="", reference=reference, names=names
                    ),
                    "kind": kind,
                    "owner_id": owner,
                    "department_id": department,
                    "confidentiality": "restricted" if rng.random() < 0.1 else "internal",
                    "url": "",
                    "review_interval_months": 12 if kind == "document" else None,
                    "next_review_date": review,
                    "retention_years": 3 if kind == "record" else None,
                    "status": status,
                    "created_at": created,
                    "updated_at": uploaded,
                }
            )
            for r in rng.sample(self.clauses, min(len(self.clauses), rng.randint(1, 3))):
                links.append({"evidence_id": ev_id, "requirement_id": r})
                if approved_ids and status != "obsolete":
                    self.pins.setdefault(r, []).append(approved_ids[-1])
            if rng.random() < 0.1:
                capability = rng.choice(self.capabilities)
                cap_links.append({"evidence_id": ev_id, "capability_id": capability})
            if review is not None and status == "approved":
                self.due.append(
                    ("evidence_review", "evidence", ev_id, owner, review, f"/evidence/{ev_id}")
                )
        stored = self._store(contents)
        for row, sha in zip(revision_rows, stored, strict=True):
            row["sha256"] = sha
        w.insert(
            StoredFile,
            [
                {"sha256": sha, "size": row["size"], "created_at": row["uploaded_at"]}
                for row, sha in zip(revision_rows, stored, strict=True)
            ],
        )
        w.insert(Evidence, evidence_rows)
        w.insert(EvidenceRevision, revision_rows)
        w.insert(EvidenceRequirement, links)
        w.insert(EvidenceCapability, cap_links)

    def _store(self, contents: list[bytes]) -> list[str]:
        """Write each revision's bytes into the content-addressed store (fsync is I/O-bound,
        so a few threads overlap it)."""
        done = 0

        def one(body: bytes) -> str:
            return file_store.store(io.BytesIO(body), self.files_dir, MAX_FILE).sha256

        result: list[str] = []
        with ThreadPoolExecutor(max_workers=4) as pool:
            for offset in range(0, len(contents), BATCH):
                result.extend(pool.map(one, contents[offset : offset + BATCH]))
                done = len(result)
                self.w.progress("files", done, len(contents))
        self.w.report.counts["files"] = done
        return result

    # --- audits, checklists, findings, nonconformities, actions --------------------------

    def audits(self) -> None:
        c, w, rng, today = self.counts, self.w, self.rng, self.today
        first = w.next_id(Audit)
        self.audit_ids = list(range(first, first + c.audits))
        start = today - timedelta(days=4 * 365)
        span = (today + timedelta(days=40) - start).days
        # In date order: closed, being reported, in progress, planned (the last ones).
        tail = ["reporting"] * 2 + ["in_progress"] * 3 + ["planned"] * 4
        if c.audits < 30:
            tail = ["in_progress", "planned"]
        status_of = (["closed"] * c.audits + tail)[-c.audits :]
        # the last audit in progress carries the big checklist
        big = max(i for i, s in enumerate(status_of) if s == "in_progress")
        self.big_audit_id = self.audit_ids[big]
        big_items = min(BIG_AUDIT_ITEMS, c.checklist_items // 2)
        programme_id = w.next_id(AuditProgramme)
        programmes: dict[int, int] = {}
        per_audit = _spread(c.checklist_items - big_items, c.audits - 1)
        per_audit.insert(big, big_items)
        audits: list[dict[str, Any]] = []
        members: list[dict[str, Any]] = []
        scope_reqs: list[dict[str, Any]] = []
        scope_deps: list[dict[str, Any]] = []
        items: list[dict[str, Any]] = []
        item_id = w.next_id(ChecklistItem)
        audited: list[tuple[int, int, int, int, date, str]] = []
        for n, audit_id in enumerate(self.audit_ids):
            planned_start = start + timedelta(days=span * n // c.audits)
            year = planned_start.year
            if year not in programmes:
                programmes[year] = programme_id + len(programmes)
            status = status_of[n]
            lead = self.pick("auditor")
            external = n % 10 == 9
            planned_end = planned_start + timedelta(days=3)
            ended = status in ("reporting", "closed")
            audits.append(
                {
                    "id": audit_id,
                    "title": f"{year} 年{'外部' if external else '内部'}审核 #{n + 1}",
                    "kind": "surveillance" if external else "internal",
                    "programme_id": programmes[year],
                    "criteria": "GB/T 23001-2017",
                    "lead_auditor_id": lead,
                    "planned_start": planned_start,
                    "planned_end": planned_end,
                    "status": status,
                    "actual_start": planned_start if status != "planned" else None,
                    "actual_end": planned_end if ended else None,
                    "summary": "总体符合，发现见清单。" if ended else "",
                    "created_at": _at(planned_start - timedelta(days=30), rng),
                    "updated_at": _at(planned_end if ended else planned_start, rng),
                }
            )
            team = {lead, self.pick("auditor")}
            members += [{"audit_id": audit_id, "user_id": u} for u in sorted(team)]
            n_items = per_audit[n]
            n_deps = max(1, min(len(self.departments), -(-n_items // len(self.clauses))))
            n_deps = max(n_deps, 2 if n == big else 1)
            deps = rng.sample(self.departments, min(len(self.departments), n_deps))
            n_reqs = -(-n_items // len(deps))
            reqs = sorted(rng.sample(self.clauses, min(len(self.clauses), n_reqs)))
            scope_deps += [{"audit_id": audit_id, "department_id": d} for d in deps]
            scope_reqs += [{"audit_id": audit_id, "requirement_id": r} for r in reqs]
            pairs = [(r, d) for r in reqs for d in deps][:n_items]
            for position, (r, d) in enumerate(pairs):
                done = status != "planned" and (status != "in_progress" or position % 3 != 2)
                items.append(
                    {
                        "id": item_id,
                        "audit_id": audit_id,
                        "requirement_id": r,
                        "department_id": d,
                        "position": position,
                        "result": "conforming" if done else "not_audited",
                        "notes": "已查阅记录，符合要求。" if done else "",
                        "audited_by_id": lead if done else None,
                        "audited_at": _at(planned_start, rng) if done else None,
                    }
                )
                if done:
                    audited.append((item_id, audit_id, r, d, planned_end, status))
                item_id += 1
        w.insert(
            AuditProgramme,
            [
                {
                    "id": p,
                    "title": f"{year} 年度审核方案",
                    "year": year,
                    "objectives": "验证两化融合管理体系的符合性和有效性。",
                    "cycle_id": self.cycles.get(year),
                    "created_at": _at(date(year, 1, 5), rng),
                }
                for year, p in programmes.items()
            ],
        )
        w.insert(Audit, audits)
        w.insert(AuditMember, members)
        w.insert(AuditDepartment, scope_deps)
        w.insert(AuditRequirement, scope_reqs)
        self._findings(items, audited)
        w.insert(ChecklistItem, items)
        pins = []
        for row in items:
            candidates = self.pins.get(row["requirement_id"])
            if row["result"] != "not_audited" and candidates:
                pins.append({"item_id": row["id"], "revision_id": rng.choice(candidates)})
        w.insert(ChecklistEvidence, pins)

    def _findings(
        self,
        items: list[dict[str, Any]],
        audited: list[tuple[int, int, int, int, date, str]],
    ) -> None:
        c, w, rng, today = self.counts, self.w, self.rng, self.today
        chosen = sorted(rng.sample(audited, min(len(audited), c.findings)))
        nc_rows_at = set(rng.sample(range(len(chosen)), min(len(chosen), c.nonconformities)))
        by_id = {row["id"]: row for row in items}
        finding_id = w.next_id(Finding)
        nc_id = w.next_id(Nonconformity)
        findings, ncs, checks = [], [], []
        check_id = w.next_id(Verification)
        for k, (item_id, audit_id, r, d, ended, audit_status) in enumerate(chosen):
            is_nc = k in nc_rows_at
            grade = ("major_nc" if rng.random() < 0.1 else "minor_nc") if is_nc else "observation"
            by_id[item_id]["result"] = grade
            by_id[item_id]["notes"] = "抽查发现问题，见审核发现。"
            raised = ended
            findings.append(
                {
                    "id": finding_id,
                    "audit_id": audit_id,
                    "checklist_item_id": item_id,
                    "grade": grade,
                    "statement": f"审核发现 F-{k + 1}：记录不完整或未按规定执行。",
                    "requirement_id": r,
                    "department_id": d,
                    "nonconformity_id": nc_id if is_nc else None,
                    "created_by_id": None,
                    "created_at": _at(raised, rng),
                }
            )
            finding_id += 1
            if not is_nc:
                continue
            age = (today - raised).days
            if audit_status == "closed" and age > 180:
                status = "closed" if rng.random() < 0.9 else "in_progress"
            else:
                status = rng.choice(["open", "in_progress", "in_progress", "verification"])
            owner = self.pick("owner")
            major = grade == "major_nc"
            closed_at = _at(raised + timedelta(days=rng.randrange(20, 90)), rng)
            ncs.append(
                {
                    "id": nc_id,
                    "title": f"不符合 NC-{k + 1}：记录不完整",
                    "description": "审核中发现的不符合。",
                    "source": "internal_audit",
                    "grade": "major" if major else "minor",
                    "requirement_id": r,
                    "department_id": d,
                    "owner_id": owner,
                    "due_date": raised + timedelta(days=30 if major else 60),
                    "status": status,
                    "audit_id": audit_id,
                    "review_id": None,
                    "raised_by_id": None,
                    "raised_on": raised,
                    "correction": "已补充记录。" if status != "open" else "",
                    "correction_done_on": raised + timedelta(days=7) if status != "open" else None,
                    "root_cause_method": "five_whys" if status != "open" else None,
                    "root_cause": "制度执行检查不到位。" if status != "open" else "",
                    "effectiveness_check_date": raised + timedelta(days=90),
                    "reopened_count": 0,
                    "verification_requested_by_id": owner
                    if status in ("verification", "closed")
                    else None,
                    "closed_at": closed_at if status == "closed" else None,
                    "created_at": _at(raised, rng),
                    "updated_at": closed_at if status == "closed" else _at(raised, rng),
                }
            )
            if status == "closed":
                checks.append(
                    {
                        "id": check_id,
                        "nonconformity_id": nc_id,
                        "verdict": "effective",
                        "notes": "复查有效。",
                        "evidence_id": None,
                        "verified_by_id": self.pick("auditor"),
                        "verified_at": closed_at,
                    }
                )
                check_id += 1
            else:
                self.due.append(
                    (
                        "nonconformity",
                        "nonconformity",
                        nc_id,
                        owner,
                        raised + timedelta(days=30 if major else 60),
                        f"/nonconformities/{nc_id}",
                    )
                )
            self.nc_ids.append(nc_id)
            nc_id += 1
        self.findings, self.ncs, self.checks = findings, ncs, checks

    def nonconformities(self) -> None:
        c, w, rng, today = self.counts, self.w, self.rng, self.today
        ncs, checks = self.ncs, self.checks
        w.insert(Nonconformity, ncs)
        w.insert(Verification, checks)
        action_id = w.next_id(CorrectiveAction)
        rows = []
        twice = set(rng.sample(range(len(ncs)), max(0, min(len(ncs), c.actions - len(ncs)))))
        for k, nc in enumerate(ncs):
            for j in range(2 if k in twice else 1):
                closed = nc["status"] in ("closed", "verification")
                due = (
                    nc["raised_on"] + timedelta(days=45)
                    if closed
                    else today + timedelta(days=rng.randrange(-40, 60))
                )
                rows.append(
                    {
                        "id": action_id,
                        "nonconformity_id": nc["id"],
                        "kind": "preventive" if j else "corrective",
                        "description": "修订作业指导书并培训相关人员。",
                        "owner_id": nc["owner_id"],
                        "due_date": due,
                        "status": "done" if closed else "open",
                        "done_on": due - timedelta(days=3) if closed else None,
                        "note": "",
                        "created_at": nc["created_at"],
                    }
                )
                if not closed:
                    self.due.append(
                        (
                            "corrective_action",
                            "corrective_action",
                            action_id,
                            nc["owner_id"],
                            due,
                            f"/nonconformities/{nc['id']}",
                        )
                    )
                action_id += 1
        w.insert(CorrectiveAction, rows)
        # Findings point at their nonconformities, so they go in last.
        w.insert(Finding, self.findings)

    # --- management reviews ---------------------------------------------------------------

    def reviews(self) -> None:
        c, w, rng, today = self.counts, self.w, self.rng, self.today
        first = w.next_id(ManagementReview)
        chair = self.by_role["executive"][0]
        package = review_inputs.assemble(session=w.session, today=today, since=None)
        rows, attendees, actions = [], [], []
        action_id = w.next_id(ReviewAction)
        for n in range(c.reviews):
            review_id = first + n
            planned = today - timedelta(days=40 * (c.reviews - 1 - n) - 30)
            held = planned <= today
            at = _at(planned, rng)
            rows.append(
                {
                    "id": review_id,
                    "title": f"管理评审 #{n + 1}（{planned.year}）",
                    "planned_on": planned,
                    "chair_id": chair,
                    "location": "一号会议室",
                    "cycle_id": self.cycles.get(planned.year),
                    "status": "signed" if held else "planned",
                    "held_on": planned if held else None,
                    "minutes": "评审了体系运行情况。" if held else "",
                    "decisions": "继续推进新型能力建设。" if held else "",
                    "inputs": {**package, "assembled_on": planned.isoformat()} if held else None,
                    "inputs_frozen_at": at if held else None,
                    "signed_by_id": chair if held else None,
                    "signed_at": at + timedelta(days=2) if held else None,
                    "created_at": at - timedelta(days=30),
                    "updated_at": at,
                }
            )
            for u in sorted({chair, *rng.sample(self.by_role["admin"], 1), self.pick("owner")}):
                attendees.append({"review_id": review_id, "user_id": u})
            for _ in range(4 if held else 0):
                recent = (today - planned).days < 120
                due = planned + timedelta(days=rng.randrange(30, 120))
                owner = self.pick("owner")
                actions.append(
                    {
                        "id": action_id,
                        "review_id": review_id,
                        "description": "完善数据治理制度并落实责任。",
                        "owner_id": owner,
                        "due_date": due,
                        "status": "open" if recent else "verified",
                        "done_on": None if recent else due,
                        "done_by_id": None if recent else owner,
                        "verified_by_id": None if recent else chair,
                        "verified_at": None if recent else _at(due, rng),
                        "verification_note": "",
                        "created_at": at,
                    }
                )
                if recent:
                    self.due.append(
                        (
                            "review_action",
                            "review_action",
                            action_id,
                            owner,
                            due,
                            f"/reviews/{review_id}",
                        )
                    )
                action_id += 1
        w.insert(ManagementReview, rows)
        w.insert(ReviewAttendee, attendees)
        w.insert(ReviewAction, actions)

    # --- the reminder ledger ------------------------------------------------------------

    def notifications(self) -> None:
        c, w, rng, now = self.counts, self.w, self.rng, self.now
        admins = self.by_role["admin"]
        thresholds = ["before:30", "before:7", "before:1", "due", "overdue:3", "escalate"]
        rows: list[dict[str, Any]] = []
        first = w.next_id(Notification)
        subjects = list(self.due)
        rng.shuffle(subjects)
        round_no = 0
        while len(rows) < c.notifications and subjects:
            for index, (kind, subject_type, subject_id, owner, due, link) in enumerate(subjects):
                # a past occurrence of the item, so the live reminder scan still has its own work
                occurrence = due - timedelta(days=365 * (round_no // len(thresholds) + 1))
                threshold = thresholds[(round_no + index) % len(thresholds)]
                recipient = rng.choice(admins) if threshold == "escalate" else owner
                for route in ("in_app", "email"):
                    if len(rows) >= c.notifications:
                        break
                    sent = now - timedelta(days=(self.today - occurrence).days + 1)
                    rows.append(
                        {
                            "id": first + len(rows),
                            "kind": kind,
                            "subject_type": subject_type,
                            "subject_id": subject_id,
                            "due_date": occurrence,
                            "threshold": threshold,
                            "recipient_id": recipient,
                            "channel": route,
                            "webhook_id": None,
                            "route": route,
                            "title": f"提醒：{subject_type} #{subject_id}（{occurrence}）",
                            "link": link,
                            "status": "sent" if route == "in_app" else "skipped",
                            "attempts": 1,
                            "last_error": "" if route == "in_app" else "no SMTP host",
                            "created_at": sent,
                            "next_attempt_at": sent,
                            "claimed_at": sent,
                            "sent_at": sent if route == "in_app" else None,
                            "read_at": sent + timedelta(hours=5)
                            if route == "in_app" and rng.random() < 0.7
                            else None,
                        }
                    )
                if len(rows) >= c.notifications:
                    break
            round_no += 1
        w.insert(Notification, rows)

    # --- the activity log (a valid hash chain) -------------------------------------------

    def activity(self) -> None:
        c, w, rng, now = self.counts, self.w, self.rng, self.now
        tail = w.session.execute(
            select(ActivityEvent.hash).order_by(col(ActivityEvent.id).desc()).limit(1)
        ).scalar()
        prev = tail or activity.GENESIS_HASH
        key = activity_key.chain_key(w.session)
        first = w.next_id(ActivityEvent)
        start = now - timedelta(days=3 * 365)
        step = (now - timedelta(hours=1) - start) / max(1, c.events)
        objects: list[tuple[str, Sequence[int]]] = [
            ("evidence", self.evidence_ids),
            ("goal", self.goals),
            ("nonconformity", self.nc_ids or self.evidence_ids),
            ("audit", self.audit_ids),
            ("capability", self.capabilities),
        ]
        verbs = ["create", "update", "update", "approve", "submit"]
        rows: list[dict[str, Any]] = []
        for n in range(c.events):
            object_type, ids = objects[n % len(objects)] if n % 7 else objects[0]
            verb = verbs[n % len(verbs)]
            event = ActivityEvent(
                at=(start + step * n).replace(microsecond=0),
                actor_id=rng.choice(self.users),
                verb=verb,
                object_type=object_type,
                object_id=str(rng.choice(ids)),
                before=None if verb == "create" else {"status": "draft"},
                after={"status": "in_review" if verb == "submit" else "approved", "n": n},
                prev_hash=prev,
                hash="",
                hash_rule=HashRule.hmac_sha256,
            )
            digest = activity.digest(event, key=key)
            rows.append(
                {
                    "id": first + n,
                    "at": event.at,
                    "actor_id": event.actor_id,
                    "verb": event.verb,
                    "object_type": event.object_type,
                    "object_id": event.object_id,
                    "before": event.before,
                    "after": event.after,
                    "prev_hash": prev,
                    "hash": digest,
                    "hash_rule": HashRule.hmac_sha256,
                }
            )
            prev = digest
        w.insert(ActivityEvent, rows)


def _requirement(
    req_id: int,
    framework_id: int,
    code: str,
    number: str,
    position: int,
    depth: int,
    parent_id: int | None,
    chapter_id: int | None,
) -> dict[str, Any]:
    return {
        "id": req_id,
        "framework_id": framework_id,
        "parent_id": parent_id,
        "chapter_id": chapter_id,
        "key": f"{code}.{number}",
        "clause": number,
        "position": position,
        "depth": depth,
        "title_zh": f"{code} 条款 {number}",
        "title_en": f"{code} clause {number}",
        "summary_zh": "",
        "summary_en": "",
        "guidance_zh": "",
        "guidance_en": "",
        "expected_evidence_zh": [],
        "expected_evidence_en": [],
        "confidence": "verified",
        "confidence_note_zh": "",
        "confidence_note_en": "",
    }


def _months_before(month: date, k: int) -> date:
    index = month.year * 12 + month.month - 1 - k
    return date(index // 12, index % 12 + 1, 1)


def table_counts(session: Session, models: Iterable[type[SQLModel]]) -> dict[str, int]:
    """Rows per table, for reports and tests."""
    result = {}
    for model in models:
        table = model.__table__  # type: ignore[attr-defined]
        result[str(table.name)] = int(
            session.execute(select(func.count()).select_from(table)).scalar() or 0
        )
    return result
