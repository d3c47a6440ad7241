"""Demo document set: the manual, procedures and records of the demo manufacturer, linked to
the GB/T 23001 clauses, with real small files; a few are stale, in review or missing so that
coverage shows gaps."""

import io
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlmodel import Session, select

from app.models.evidence import Confidentiality, Evidence, EvidenceCreate, EvidenceKind
from app.models.requirement import Requirement
from app.services.evidence import approval as evidence_review
from app.services.evidence import links as evidence_links
from app.services.evidence import service as evidence_service
from app.services.evidence.service import Upload, UploadLimits

# reference, title, kind, requirement keys, state ("approved", "stale", "review", "draft")
DOCUMENTS = [
    (
        "RH-MM-01",
        "两化融合管理手册",
        EvidenceKind.document,
        ["IIMS.SCA.GENERAL", "IIMS.SCA.SYSTEM", "IIMS.SCA.SCOPE", "IIMS.DOC.GENERAL"],
        "approved",
    ),
    (
        "RH-PL-01",
        "两化融合方针及发布令",
        EvidenceKind.document,
        ["IIMS.LEAD.POLICY", "IIMS.LEAD.TOP"],
        "approved",
    ),
    ("RH-AP-01", "管理者代表任命书", EvidenceKind.document, ["IIMS.LEAD.MR"], "approved"),
    (
        "RH-QP-01",
        "文件控制程序",
        EvidenceKind.document,
        ["IIMS.DOC.CREATE", "IIMS.DOC.CONTROL"],
        "approved",
    ),
    (
        "RH-QP-02",
        "内外部环境与可持续竞争优势识别程序",
        EvidenceKind.document,
        ["IIMS.SCA.CONTEXT", "IIMS.SCA.ADVANTAGE"],
        "stale",
    ),
    (
        "RH-QP-03",
        "新型能力与实施方案策划控制程序",
        EvidenceKind.document,
        ["IIMS.PLAN.GENERAL", "IIMS.PLAN.CAPABILITY", "IIMS.PLAN.FRAMEWORK"],
        "approved",
    ),
    (
        "RH-QP-04",
        "职责与沟通管理程序",
        EvidenceKind.document,
        ["IIMS.LEAD.RESP", "IIMS.LEAD.COMM"],
        "review",
    ),
    ("RH-QP-05", "信息安全管理程序", EvidenceKind.document, ["IIMS.SUP.SECURITY"], "draft"),
    (
        "RH-QP-06",
        "两化融合实施与运行控制程序",
        EvidenceKind.document,
        ["IIMS.OPS.GENERAL", "IIMS.OPS.PROCESS", "IIMS.OPS.TECH"],
        "approved",
    ),
    ("RH-QP-07", "内部审核控制程序", EvidenceKind.document, ["IIMS.EVAL.AUDIT"], "approved"),
    ("RH-QP-08", "管理评审控制程序", EvidenceKind.document, ["IIMS.EVAL.REVIEW"], "stale"),
    (
        "RH-QR-01",
        "2025 年度内外部环境分析报告",
        EvidenceKind.record,
        ["IIMS.SCA.CONTEXT"],
        "approved",
    ),
    (
        "RH-QR-02",
        "战略—可持续竞争优势—新型能力分析报告",
        EvidenceKind.record,
        ["IIMS.SCA.ADVANTAGE", "IIMS.PLAN.CAPABILITY"],
        "approved",
    ),
    ("RH-QR-03", "2026 年两化融合培训记录", EvidenceKind.record, ["IIMS.SUP.PEOPLE"], "approved"),
    ("RH-QR-04", "年度两化融合专项预算", EvidenceKind.record, ["IIMS.SUP.FUNDS"], "approved"),
    ("RH-QR-05", "新型能力目标月度跟踪表", EvidenceKind.record, ["IIMS.EVAL.MEASURE"], "approved"),
    ("RH-QR-06", "设备设施台账", EvidenceKind.record, ["IIMS.SUP.FACILITIES"], "review"),
    (
        "RH-QR-07",
        "薪酬与绩效考核结果（限人力资源部）",
        EvidenceKind.record,
        ["IIMS.EVAL.APPRAISE"],
        "approved",
    ),
    ("RH-LK-01", "MES 系统运行维护日志", EvidenceKind.link, ["IIMS.OPS.RUN"], "approved"),
]


def _file(reference: str, title: str) -> tuple[str, bytes]:
    text = f"{title}\n文件编号：{reference}\n\n（演示文件：融合演示企业，内容为示例。）\n"
    return f"{reference}-{title}.txt", text.encode("utf-8")


def load_evidence_demo(
    *,
    session: Session,
    now: datetime,
    users: dict[str, int],
    departments: dict[str, int],
    limits: UploadLimits,
) -> Iterator[str]:
    """Create the demo documents once, keyed by reference number."""
    if (
        session.exec(select(Evidence).where(Evidence.reference == DOCUMENTS[0][0])).first()
        is not None
    ):
        yield "demo evidence: already present"
        return
    keys = {r.key: r.id for r in session.exec(select(Requirement))}
    owner, admin, ceo = (
        users["owner@demo.example.com"],
        users["admin@demo.example.com"],
        users["ceo@demo.example.com"],
    )
    for reference, title, kind, requirement_keys, state in DOCUMENTS:
        # The manual and procedures were issued eight months ago: the system has been running
        # long enough for the pre-application checklist to judge the audits and reviews.
        when = now - timedelta(days=240) if kind == EvidenceKind.document else now
        restricted = "限人力资源部" in title
        evidence = evidence_service.create(
            session=session,
            now=when,
            actor_id=owner,
            data=EvidenceCreate(
                reference=reference,
                title=title,
                kind=kind,
                owner_id=owner,
                department_id=departments["HR" if restricted else "IT"],
                confidentiality=Confidentiality.restricted
                if restricted
                else Confidentiality.internal,
                url="http://mes.example.local/ops-log" if kind == EvidenceKind.link else "",
                review_interval_months=12 if kind == EvidenceKind.document else None,
                retention_years=3 if kind == EvidenceKind.record else None,
            ),
        )
        if kind != EvidenceKind.link:
            name, content = _file(reference, title)
            evidence_service.add_revision(
                session=session,
                now=when,
                actor_id=owner,
                evidence=evidence,
                limits=limits,
                upload=Upload(
                    name,
                    io.BytesIO(content),
                    when.date() - timedelta(days=180),
                    when.date(),
                    "首次发布",
                ),
            )
        for key in requirement_keys:
            evidence_links.link(
                session=session,
                now=when,
                actor_id=admin,
                evidence=evidence,
                kind_name="requirement",
                target_id=keys[key] or 0,
            )
        if state in ("approved", "stale", "review"):
            submitted = evidence_review.submit(
                session=session, now=when, actor_id=owner, evidence=evidence
            )
        if state in ("approved", "stale"):
            evidence_review.approve(
                session=session,
                now=when,
                actor_id=ceo,
                evidence=evidence,
                revision_id=submitted.id,
            )
        if state == "stale":
            evidence.next_review_date = now.date() - timedelta(days=20)
            session.add(evidence)
    yield f"demo evidence: {len(DOCUMENTS)} items (manual, procedures, records), some stale"
