"""Demo audits: a closed internal audit with findings (one minor nonconformity raised), one in
progress with a few results, and the certification body's stage 2 assessment still planned."""

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.models.audit import (
    Audit,
    AuditCreate,
    AuditKind,
    AuditProgramme,
    AuditProgrammeCreate,
    AuditStatus,
    ChecklistItem,
    ChecklistResult,
    Finding,
)
from app.models.department import Department
from app.models.nonconformity import CorrectiveActionCreate, RootCauseMethod
from app.models.requirement import Requirement
from app.services.audits import checklist as audit_checklist
from app.services.audits import service as audit_service
from app.services.nonconformities import service as nonconformity_service

PROGRAMME_TITLE = "2026年度两化融合管理体系内部审核方案"

# (requirement key, department code, result, notes)
FIRST_AUDIT_RESULTS = [
    (
        "IIMS.DOC.CONTROL",
        "IT",
        ChecklistResult.conforming,
        "文件控制程序现行有效，受控清单与现场一致。",
    ),
    (
        "IIMS.SUP.SECURITY",
        "IT",
        ChecklistResult.minor_nc,
        "抽查10月数据备份记录，缺少两周的恢复测试记录。",
    ),
    (
        "IIMS.OPS.DATA",
        "IT",
        ChecklistResult.observation,
        "数据字典由多人维护，版本标识不统一，建议明确责任人。",
    ),
    ("IIMS.DOC.CONTROL", "QA", ChecklistResult.conforming, "质量记录按程序归档。"),
    ("IIMS.SUP.SECURITY", "QA", ChecklistResult.conforming, "检测设备账号已按岗位分配。"),
    ("IIMS.OPS.DATA", "QA", ChecklistResult.conforming, "质量数据采集口径清晰。"),
    ("IIMS.DOC.CONTROL", "PROD", ChecklistResult.conforming, "车间作业指导书为最新版本。"),
    ("IIMS.SUP.SECURITY", "PROD", ChecklistResult.conforming, "MES终端已启用屏保锁定。"),
    ("IIMS.OPS.DATA", "PROD", ChecklistResult.conforming, "设备联网数据按班次上传。"),
]
SECOND_AUDIT_RESULTS = [
    ("IIMS.LEAD.POLICY", "SCM", ChecklistResult.conforming, "方针已在部门例会传达，有签到记录。"),
    ("IIMS.PLAN.CAPABILITY", "SCM", ChecklistResult.conforming, "供应协同能力的目标已分解到岗位。"),
]


def _keys(session: Session) -> dict[str, int]:
    return {r.key: r.id or 0 for r in session.exec(select(Requirement))}


def _record(
    session: Session,
    now: datetime,
    actor_id: int,
    audit: Audit,
    departments: dict[str, int],
    keys: dict[str, int],
    results: list[tuple[str, str, ChecklistResult, str]],
) -> None:
    items = {
        (i.requirement_id, i.department_id): i
        for i in session.exec(select(ChecklistItem).where(ChecklistItem.audit_id == audit.id))
    }
    offered = audit_checklist.offered(session=session, audit=audit).choices
    for key, department, result, notes in results:
        item = items[(keys[key], departments[department])]
        # The auditor looked at the newest revision of whatever is linked to the clause.
        seen = [c.revision.id for c in offered.get(keys[key], [])[:1] if c.revision.id]
        audit_checklist.record(
            session=session,
            now=now,
            actor_id=actor_id,
            audit=audit,
            item=item,
            result=result,
            notes=notes,
            revision_ids=seen,
        )


def _follow_up(session: Session, now: datetime, owner: int, audit: Audit) -> None:
    """The IT manager has contained and analysed the nonconformity; the action is under way."""
    finding = session.exec(
        select(Finding).where(
            Finding.audit_id == audit.id, col(Finding.nonconformity_id).is_not(None)
        )
    ).first()
    if finding is None or finding.nonconformity_id is None:
        return
    nonconformity = nonconformity_service.get(
        session=session, nonconformity_id=finding.nonconformity_id
    )
    nonconformity_service.record_correction(
        session=session,
        now=now,
        actor_id=owner,
        nonconformity=nonconformity,
        correction="已补做10月两周的备份恢复测试，结果正常并已记录。",
        done_on=now.date(),
    )
    nonconformity_service.record_root_cause(
        session=session,
        now=now,
        actor_id=owner,
        nonconformity=nonconformity,
        method=RootCauseMethod.five_whys,
        analysis=(
            "1. 为什么缺记录？值班人员未执行恢复测试。2. 为什么未执行？排班变动后无人接手。"
            "3. 为什么无人接手？恢复测试不在交接清单中。4. 为什么不在？运维规程未规定交接内容。"
            "根本原因：运维交接规程缺少备份恢复测试的交接要求。"
        ),
        effectiveness_check_date=now.date() + timedelta(days=75),
    )
    nonconformity_service.add_action(
        session=session,
        now=now,
        actor_id=owner,
        nonconformity=nonconformity,
        data=CorrectiveActionCreate(
            description="修订《信息系统运维管理规程》，把备份恢复测试列入交接清单，并培训值班人员。",
            owner_id=owner,
            due_date=now.date() + timedelta(days=45),
        ),
    )


def load_audit_demo(
    *, session: Session, now: datetime, users: dict[str, int], departments: dict[str, int]
) -> Iterator[str]:
    """Create the demo programme and its audits once, keyed by the programme's title."""
    if session.exec(select(AuditProgramme).where(AuditProgramme.title == PROGRAMME_TITLE)).first():
        yield "demo audits: already present"
        return
    admin, auditor, owner = (
        users["admin@demo.example.com"],
        users["auditor@demo.example.com"],
        users["owner@demo.example.com"],
    )
    it = session.get(Department, departments["IT"])
    if it is not None and it.head_id is None:
        it.head_id = owner  # the IT manager answers for the IT findings
        session.add(it)
    keys = _keys(session)
    today = now.date()
    programme = audit_service.create_programme(
        session=session,
        now=now,
        actor_id=admin,
        data=AuditProgrammeCreate(
            title=PROGRAMME_TITLE,
            year=today.year,
            objectives="每年覆盖全部适用条款和全部部门；重点关注数据安全与新型能力打造过程。",
        ),
    )
    session.flush()

    past = now - timedelta(days=45)
    first = audit_service.create(
        session=session,
        now=past,
        actor_id=admin,
        data=AuditCreate(
            title="2026年度第一次内部审核",
            kind=AuditKind.internal,
            programme_id=programme.id,
            criteria="GB/T 23001-2017；两化融合管理手册；程序文件",
            lead_auditor_id=auditor,
            planned_start=past.date(),
            planned_end=past.date() + timedelta(days=2),
        ),
        scope=audit_service.Scope(
            member_ids=[],
            requirement_ids=[
                keys["IIMS.DOC.CONTROL"],
                keys["IIMS.SUP.SECURITY"],
                keys["IIMS.OPS.DATA"],
            ],
            department_ids=[departments["IT"], departments["QA"], departments["PROD"]],
        ),
    )
    # The lead auditor works in QA, which is in scope: on the record, with a reason.
    audit_service.override_independence(
        session=session,
        now=past,
        actor_id=admin,
        audit=first,
        user_id=auditor,
        reason="质量管理部条款由管理者代表陪同审核，结论经管理者代表复核。",
    )
    audit_service.advance(
        session=session, now=past, actor_id=auditor, audit=first, to=AuditStatus.in_progress
    )
    _record(session, past, auditor, first, departments, keys, FIRST_AUDIT_RESULTS)
    audit_service.set_summary(
        session=session,
        now=past,
        actor_id=auditor,
        audit=first,
        summary="体系总体运行有效，文件控制良好；数据备份恢复测试执行不到位，开具一般不符合一项，观察项一项。",
    )
    for step in (AuditStatus.reporting, AuditStatus.closed):
        audit_service.advance(
            session=session, now=past + timedelta(days=2), actor_id=auditor, audit=first, to=step
        )
    _follow_up(session, past + timedelta(days=3), owner, first)

    second = audit_service.create(
        session=session,
        now=now - timedelta(days=3),
        actor_id=admin,
        data=AuditCreate(
            title="2026年度第二次内部审核",
            kind=AuditKind.internal,
            programme_id=programme.id,
            criteria="GB/T 23001-2017；两化融合管理手册",
            lead_auditor_id=auditor,
            planned_start=today - timedelta(days=1),
            planned_end=today + timedelta(days=2),
        ),
        scope=audit_service.Scope(
            member_ids=[],
            requirement_ids=[
                keys["IIMS.LEAD.POLICY"],
                keys["IIMS.PLAN.CAPABILITY"],
                keys["IIMS.OPS.RUN"],
                keys["IIMS.EVAL.MEASURE"],
            ],
            department_ids=[departments["SCM"], departments["SALES"], departments["RND"]],
        ),
    )
    audit_service.advance(
        session=session,
        now=now - timedelta(days=1),
        actor_id=auditor,
        audit=second,
        to=AuditStatus.in_progress,
    )
    _record(
        session, now - timedelta(days=1), auditor, second, departments, keys, SECOND_AUDIT_RESULTS
    )

    audit_service.create(
        session=session,
        now=now,
        actor_id=admin,
        data=AuditCreate(
            title="两化融合管理体系第二阶段评定",
            kind=AuditKind.stage2,
            programme_id=programme.id,
            criteria="GB/T 23001-2017；评定机构审核计划",
            lead_auditor_id=admin,  # our contact; the body's auditors are not users here
            planned_start=today + timedelta(days=40),
            planned_end=today + timedelta(days=42),
        ),
        scope=audit_service.Scope(
            member_ids=[],
            requirement_ids=[
                keys[k]
                for k in ("IIMS.LEAD.TOP", "IIMS.EVAL.AUDIT", "IIMS.EVAL.REVIEW", "IIMS.IMP.NC")
            ],
            department_ids=[departments["GM"], departments["IT"]],
        ),
    )
    yield "demo audits: 1 programme, 3 audits (closed, in progress, stage 2 planned)"
