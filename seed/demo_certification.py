"""Demo certification: an AA application being prepared, its milestones planned from an
application date three weeks ahead, and three years of self-assessment results with a weak
view followed up by the supply-chain capability."""

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.clock import local_date
from app.models.capability import Capability
from app.models.certification import Certification, CertificationCreate
from app.models.self_assessment import (
    AssessmentView,
    DevelopmentStage,
    SelfAssessmentCreate,
    ViewLink,
)
from app.services.certification import plan as certification_plan
from app.services.certification import service as certification_service
from app.services.self_assessments import service as assessment_service

BODY = "中国电子技术标准化研究院（示例）"

# year, overall, stage, six views (foundation … benefits), notes
RESULTS = [
    (
        2023,
        48.5,
        DevelopmentStage.single,
        (55.0, 50.2, 41.3, 38.6, 47.9, 45.1),
        "首次参加省级两化融合评估，单项应用集中在财务和办公。",
    ),
    (
        2024,
        55.2,
        DevelopmentStage.single,
        (60.4, 57.8, 49.5, 44.0, 53.6, 52.3),
        "MES 一期上线，生产数据开始按班次采集。",
    ),
    (
        2025,
        61.8,
        DevelopmentStage.integration,
        (66.2, 64.5, 60.1, 50.7, 58.9, 61.0),
        "研发与生产数据打通，进入集成提升阶段；协同与创新仍是短板。",
    ),
]
WEAK_VIEW = AssessmentView.collaboration
WEAK_VIEW_CAPABILITY = "SCM"  # 供应链协同与精准采购能力


def load_certification_demo(
    *, session: Session, now: datetime, users: dict[str, int]
) -> Iterator[str]:
    """Create the demo certification (when there is none) and self-assessments (by year)."""
    admin = users["admin@demo.example.com"]
    # Only into an empty register: a record of the enterprise's own is never disturbed.
    if session.exec(select(Certification)).first() is None:
        certification = certification_service.create(
            session=session,
            now=now,
            actor_id=admin,
            data=CertificationCreate(
                body=BODY,
                scope="精密机械零部件的研发、生产与销售所涉及的两化融合管理活动",
                grade_sought="AA",
            ),
        )
        assert certification.id is not None
        milestones = certification_service.milestones(
            session=session, certification_id=certification.id
        )
        for milestone in milestones:
            milestone.owner_id = admin
            session.add(milestone)
        certification_plan.generate(
            session=session,
            now=now,
            actor_id=admin,
            certification=certification,
            milestones=milestones,
            application_on=local_date(now) + timedelta(days=21),
        )
        yield f"demo certification: {len(milestones)} milestones planned"
    else:
        yield "demo certification: already present"

    added = 0
    for year, overall, stage, views, notes in RESULTS:
        if assessment_service.by_year(session=session, year=year) is not None:
            continue
        scores = dict(zip((str(v) for v in AssessmentView), views, strict=True))
        assessment_service.create(
            session=session,
            now=now,
            actor_id=admin,
            data=SelfAssessmentCreate(
                year=year, overall_score=overall, stage=stage, notes=notes, **scores
            ),
        )
        added += 1
    capability = session.exec(
        select(Capability).where(Capability.code == WEAK_VIEW_CAPABILITY)
    ).first()
    if capability is not None and capability.id is not None:
        linked = session.exec(
            select(ViewLink).where(
                ViewLink.view == WEAK_VIEW, col(ViewLink.capability_id) == capability.id
            )
        ).first()
        if linked is None:
            assessment_service.link(
                session=session,
                now=now,
                actor_id=admin,
                view=WEAK_VIEW,
                capability_id=capability.id,
                goal_id=None,
            )
    yield f"demo self-assessments: {added} years added"
