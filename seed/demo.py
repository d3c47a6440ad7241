"""The demo enterprise: a mid-size discrete manufacturer (精密机械) with one user per role.

Idempotent: departments are keyed by code, users by e-mail, and requirement statuses are set
only while they are still untouched, so running it again changes nothing.
"""

from collections.abc import Iterator
from datetime import datetime

from sqlmodel import Session, col, select

from app.models.department import DepartmentCreate
from app.models.requirement import ImplementationStatus, Requirement, RequirementStatus
from app.models.user import Locale, Role, UserCreate
from app.services.accounts import departments as department_service
from app.services.accounts import users as user_service
from app.services.evidence.service import UploadLimits
from seed.demo_audits import load_audit_demo
from seed.demo_certification import load_certification_demo
from seed.demo_evidence import load_evidence_demo
from seed.demo_reviews import load_review_demo
from seed.demo_strategy import load_strategy_demo

DEMO_PASSWORD = "ronghe-demo-2026"  # noqa: S105 - documented in the README, demo data only

DEPARTMENTS = [
    ("GM", "总经理办公室", None),
    ("IT", "信息中心", "GM"),
    ("PROD", "生产部", "GM"),
    ("PROD-MACH", "机加工车间", "PROD"),
    ("PROD-ASM", "装配车间", "PROD"),
    ("RND", "技术研发部", "GM"),
    ("QA", "质量管理部", "GM"),
    ("SCM", "采购与供应链部", "GM"),
    ("SALES", "销售部", "GM"),
    ("FIN", "财务部", "GM"),
    ("HR", "人力资源部", "GM"),
]

USERS = [
    ("admin@demo.example.com", "王建国（管理者代表）", "IT", [Role.admin], Locale.zh_CN),
    ("ceo@demo.example.com", "李志强（总经理）", "GM", [Role.executive], Locale.zh_CN),
    ("auditor@demo.example.com", "陈静（内审员）", "QA", [Role.auditor], Locale.zh_CN),
    ("owner@demo.example.com", "张伟（信息中心主任）", "IT", [Role.owner], Locale.zh_CN),
    ("viewer@demo.example.com", "Emily Zhou (viewer)", "SALES", [Role.viewer], Locale.en),
]

# (requirement key, status, owner e-mail, department code)
STATUSES = [
    ("IIMS.SCA.GENERAL", ImplementationStatus.implemented, "admin@demo.example.com", "GM"),
    ("IIMS.SCA.CONTEXT", ImplementationStatus.implemented, "admin@demo.example.com", "GM"),
    ("IIMS.SCA.ADVANTAGE", ImplementationStatus.in_progress, "ceo@demo.example.com", "GM"),
    ("IIMS.DOC.CONTROL", ImplementationStatus.implemented, "owner@demo.example.com", "IT"),
    ("IIMS.LEAD.TOP", ImplementationStatus.implemented, "ceo@demo.example.com", "GM"),
    ("IIMS.LEAD.POLICY", ImplementationStatus.implemented, "ceo@demo.example.com", "GM"),
    ("IIMS.LEAD.MR", ImplementationStatus.implemented, "admin@demo.example.com", "GM"),
    ("IIMS.PLAN.CAPABILITY", ImplementationStatus.in_progress, "owner@demo.example.com", "IT"),
    ("IIMS.SUP.SECURITY", ImplementationStatus.planned, "owner@demo.example.com", "IT"),
    ("IIMS.OPS.DATA", ImplementationStatus.in_progress, "owner@demo.example.com", "IT"),
    ("IIMS.EVAL.AUDIT", ImplementationStatus.planned, "auditor@demo.example.com", "QA"),
    ("IIMS.IMP.NC", ImplementationStatus.planned, "auditor@demo.example.com", "QA"),
]


def load_demo(*, session: Session, now: datetime, limits: UploadLimits) -> Iterator[str]:
    """Create the demo departments, users and statuses; yields one line per step."""
    departments: dict[str, int] = {
        d.code: d.id for d in department_service.get_all(session=session) if d.id is not None
    }
    for code, name, parent in DEPARTMENTS:
        if code not in departments:
            data = DepartmentCreate(name=name, code=code, parent_id=departments.get(parent or ""))
            created = department_service.create(session=session, now=now, actor_id=None, data=data)
            assert created.id is not None
            departments[code] = created.id
    yield f"demo departments: {len(departments)}"

    users: dict[str, int] = {}
    for email, name, department, roles, locale in USERS:
        user = user_service.get_by_email(session=session, email=email)
        if user is None:
            user = user_service.create(
                session=session,
                now=now,
                actor_id=None,
                data=UserCreate(
                    name=name,
                    email=email,
                    password=DEMO_PASSWORD,
                    department_id=departments[department],
                    roles=roles,
                    locale=locale,
                ),
            )
        assert user.id is not None
        users[email] = user.id
    yield f"demo users: {len(users)} (password {DEMO_PASSWORD})"

    changed = 0
    for key, status_value, owner, department in STATUSES:
        status = session.exec(
            select(RequirementStatus)
            .join(Requirement, col(Requirement.id) == RequirementStatus.requirement_id)
            .where(Requirement.key == key)
        ).first()
        if status is None or status.updated_at is not None:
            continue
        status.implementation_status = status_value
        status.owner_id = users[owner]
        status.department_id = departments[department]
        status.updated_at = now
        session.add(status)
        changed += 1
    yield f"demo requirement statuses set: {changed}"
    yield from load_strategy_demo(session=session, now=now, users=users, departments=departments)
    yield from load_evidence_demo(
        session=session, now=now, users=users, departments=departments, limits=limits
    )
    yield from load_audit_demo(session=session, now=now, users=users, departments=departments)
    yield from load_review_demo(session=session, now=now, users=users)
    yield from load_certification_demo(session=session, now=now, users=users)
