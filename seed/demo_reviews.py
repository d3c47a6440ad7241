"""Demo management reviews: last year's review, held and signed by the general manager with one
action verified and one still open (so it carries into the next package), and this year's
review planned about a month ahead."""

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from app.models.review import ManagementReview, ManagementReviewCreate, ReviewActionCreate
from app.services.reviews import service as review_service

MINUTES = """会议由总经理李志强主持，管理者代表汇报了两化融合管理体系年度运行情况。
与会人员审议了新型能力目标达成情况、内部审核结果、不符合项整改进展和文件化信息的有效性。
信息中心汇报了设备联网与数据采集的建设进展，质量管理部汇报了内审发现的主要问题。"""

DECISIONS = """一、管理体系总体适宜、充分、有效，继续运行。
二、批准下一年度两化融合专项预算。
三、成立数据治理工作组，由信息中心牵头。"""


def load_review_demo(*, session: Session, now: datetime, users: dict[str, int]) -> Iterator[str]:
    """Create the two demo reviews once; the general manager chairs only these."""
    ceo = users["ceo@demo.example.com"]
    if session.exec(select(ManagementReview).where(ManagementReview.chair_id == ceo)).first():
        yield "demo management reviews: already present"
        return
    admin, owner = users["admin@demo.example.com"], users["owner@demo.example.com"]
    held_on = date(now.year - 1, 12, 15)
    last = review_service.create(
        session=session,
        now=now,
        actor_id=admin,
        data=ManagementReviewCreate(
            title=f"{held_on.year}年度管理评审",
            planned_on=held_on,
            chair_id=ceo,
            location="总经理办公室会议室",
        ),
    )
    review_service.set_attendees(
        session=session,
        now=now,
        actor_id=admin,
        review=last,
        user_ids=[ceo, admin, owner, users["auditor@demo.example.com"]],
    )
    review_service.mark_held(session=session, now=now, actor_id=admin, review=last, held_on=held_on)
    review_service.record_minutes(
        session=session, now=now, actor_id=admin, review=last, minutes=MINUTES, decisions=DECISIONS
    )
    verified = review_service.add_action(
        session=session,
        now=now,
        actor_id=admin,
        review=last,
        data=ReviewActionCreate(
            description="修订《文件控制程序》，明确电子文件的审批与发布流程",
            owner_id=owner,
            due_date=held_on + timedelta(days=90),
        ),
    )
    review_service.add_action(
        session=session,
        now=now,
        actor_id=admin,
        review=last,
        data=ReviewActionCreate(
            description="成立数据治理工作组，制定主数据管理制度",
            owner_id=owner,
            due_date=max(held_on + timedelta(days=180), now.date() + timedelta(days=45)),
        ),
    )
    review_service.complete_action(session=session, now=now, actor_id=owner, action=verified)
    review_service.verify_action(
        session=session,
        now=now,
        actor_id=ceo,
        action=verified,
        note="新版程序已发布并完成宣贯，抽查三份电子文件审批记录完整。",
    )
    review_service.sign(session=session, now=now, actor_id=ceo, review=last)

    planned_on = now.date() + timedelta(days=30)
    review_service.create(
        session=session,
        now=now,
        actor_id=admin,
        data=ManagementReviewCreate(
            title=f"{now.year}年度管理评审",
            planned_on=planned_on,
            chair_id=ceo,
            location="总经理办公室会议室",
        ),
    )
    yield "demo management reviews: last year's signed, this year's planned"
