"""The overview page: where the management system stands, and what is mine."""

from fastapi import APIRouter, Request
from sqlmodel import col, select
from starlette.responses import Response

from app.clock import local_date
from app.db import SessionDep
from app.models.requirement import Requirement, RequirementStatus
from app.services.requirements import coverage as coverage_service
from app.services.requirements import service as requirement_service
from app.services.requirements.coverage import ChapterCoverage
from app.web.deps import CurrentActor, Now
from app.web.rendering import render

router = APIRouter(tags=["home"], include_in_schema=False)

MY_REQUIREMENTS_LIMIT = 20


@router.get("/healthz")
def health(session: SessionDep) -> dict[str, str]:
    """For load balancers and container health checks: the database answers."""
    session.exec(select(1)).one()
    return {"status": "ok"}


@router.get("/api/docs")
def api_docs(request: Request) -> Response:
    """Swagger UI for /api/v1, from vendored files; tokens are entered with 'Authorize'."""
    return render(request, "api_docs.html")


@router.get("/")
def home(request: Request, session: SessionDep, now: Now, actor: CurrentActor) -> Response:
    framework = requirement_service.get_framework(session=session, framework_id=None)
    chapters = []
    coverage: dict[int, ChapterCoverage] = {}
    if framework is not None and framework.id is not None:
        coverage = coverage_service.by_chapter(
            session=session, framework_id=framework.id, today=local_date(now)
        )
        rollups = requirement_service.rollup(session=session, framework_id=framework.id)
        heads = session.exec(
            select(Requirement)
            .where(Requirement.framework_id == framework.id, col(Requirement.chapter_id).is_(None))
            .order_by(col(Requirement.position))
        ).all()
        chapters = [(head, rollups.get(head.id or 0)) for head in heads]
    mine = session.exec(
        select(Requirement, RequirementStatus)
        .join(RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id)
        .where(RequirementStatus.owner_id == actor.id, col(RequirementStatus.applicable))
        .order_by(col(Requirement.position))
        .limit(MY_REQUIREMENTS_LIMIT)
    ).all()
    return render(
        request,
        "home.html",
        {"framework": framework, "chapters": chapters, "mine": mine, "coverage": coverage},
    )
