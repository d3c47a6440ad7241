"""The requirements catalogue: clause tree, requirement detail, status editing; and the API."""

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import col, func, select
from starlette.responses import Response

from app.actor import Actor
from app.clock import local_date
from app.db import SessionDep
from app.errors import Invalid, NotFound
from app.i18n import gettext as _
from app.models.evidence import Evidence, EvidenceRequirement, EvidenceStatus
from app.models.requirement import (
    FrameworkPublic,
    ImplementationStatus,
    Requirement,
    RequirementPublic,
    RequirementStatus,
    RequirementStatusPublic,
    RequirementStatusUpdate,
)
from app.models.user import User
from app.permissions import Permission
from app.services.accounts import departments as department_service
from app.services.accounts import users as user_service
from app.services.evidence import links as evidence_links
from app.services.evidence import service as evidence_service
from app.services.evidence.access import visible_clause
from app.services.requirements import service as requirement_service
from app.services.requirements.service import TreeFilter
from app.web.access.evidence import EditorDep as EvidenceEditorDep
from app.web.access.evidence import require_edit
from app.web.access.requirements import RequirementById
from app.web.deps import ApiActor, CurrentActor, Now, PageDep, api_require, require
from app.web.forms import filter_id, form_values, parse_id, submit
from app.web.http import json_page, redirect, toast_header
from app.web.rendering import render, wants_fragment

router = APIRouter(prefix="/requirements", tags=["requirements"], include_in_schema=False)
api_router = APIRouter(tags=["requirements"])

TREE_FRAGMENTS = {"requirement-tree": "requirement_tree"}
STATUS_FRAGMENTS = {"requirement-status": "requirement_status"}
EditorDep = Annotated[Actor, Depends(require(Permission.edit_requirement_status))]


def _filter(
    status: str | None, owner: str | None, department: str | None, applicable: str | None
) -> TreeFilter:
    if status and status not in ImplementationStatus.__members__:
        raise Invalid(_("Choose one of the offered options."), field="status")
    return TreeFilter(
        status=ImplementationStatus(status) if status else None,
        owner_id=filter_id(owner, "owner"),
        department_id=filter_id(department, "department"),
        applicable={"yes": True, "no": False}.get(applicable or ""),
    )


def _choices(session: SessionDep) -> dict[str, Any]:
    departments = department_service.as_tree(department_service.get_all(session=session))
    return {
        "departments": departments,
        "statuses": list(ImplementationStatus),
        "owner_options": user_service.options(session=session),
    }


def _filter_query(filters: TreeFilter) -> str:
    """The filters as the query string the filter form sends, for links that keep them."""
    params = {
        "status": filters.status.value if filters.status else None,
        "owner": filters.owner_id,
        "department": filters.department_id,
        "applicable": None if filters.applicable is None else "yes" if filters.applicable else "no",
    }
    return urlencode({name: value for name, value in params.items() if value is not None})


@router.get("")
def tree_page(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: CurrentActor,
    framework: Annotated[str | None, Query(max_length=12)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    owner: Annotated[str | None, Query(max_length=12)] = None,
    department: Annotated[str | None, Query(max_length=12)] = None,
    applicable: Annotated[str | None, Query(pattern="^(yes|no)?$")] = None,
    opened: Annotated[str | None, Query(alias="open", max_length=12)] = None,
) -> Response:
    """The chapters with their roll-ups; a chapter's clauses come with it only when it is shown
    open (asked for by `open`, or a filter's few matches), otherwise when the user opens it."""
    framework_id = filter_id(framework, "framework")
    chosen = requirement_service.get_framework(session=session, framework_id=framework_id)
    if framework_id is not None and chosen is None:
        raise NotFound(_("This framework does not exist."))
    filters = _filter(status, owner, department, applicable)
    open_chapter = filter_id(opened, "open")
    tree = (
        requirement_service.tree(
            session=session,
            framework_id=chosen.id,
            filters=filters,
            today=local_date(now),
            open_chapter=open_chapter,
        )
        if chosen is not None and chosen.id is not None
        else requirement_service.Tree(chapters=[], matches=0)
    )
    return render(
        request,
        "requirements/tree.html",
        {
            "framework": chosen,
            "frameworks": requirement_service.get_frameworks(session=session),
            "chapters": tree.chapters,
            "tree": tree,
            "filters": filters,
            "filter_query": _filter_query(filters),
            "departments": department_service.as_tree(department_service.get_all(session=session)),
            "statuses": list(ImplementationStatus),
            "owner_options": requirement_service.owners(
                session=session, framework_id=chosen.id, chosen=filters.owner_id
            )
            if chosen is not None and chosen.id is not None
            else [],
        },
        fragments=TREE_FRAGMENTS,
    )


@router.get("/{requirement_id:int}/subtree")
def subtree(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: CurrentActor,
    found: RequirementById,
    status: Annotated[str | None, Query(max_length=32)] = None,
    owner: Annotated[str | None, Query(max_length=12)] = None,
    department: Annotated[str | None, Query(max_length=12)] = None,
    applicable: Annotated[str | None, Query(pattern="^(yes|no)?$")] = None,
) -> Response:
    """The clauses below a requirement, for the tree to show when the user opens a chapter.
    Anything but htmx asking for that region goes to the tree with the chapter open."""
    requirement, _status = found
    assert requirement.id is not None
    filters = _filter(status, owner, department, applicable)
    region = f"clauses-{requirement.id}"
    if not wants_fragment(request) or request.headers.get("hx-target") != region:
        chapter = requirement.chapter_id or requirement.id
        anchor = f"clause-{requirement.id}" if requirement.chapter_id else f"chapter-{chapter}"
        query = urlencode({"framework": requirement.framework_id, "open": chapter})
        extra = _filter_query(filters)
        url = request.app.url_path_for("requirements.tree_page")
        return redirect(request, f"{url}?{query}{'&' + extra if extra else ''}#{anchor}")
    rows = requirement_service.subtree(
        session=session, node=requirement, filters=filters, today=local_date(now)
    )
    return render(
        request,
        "requirements/_clauses.html",
        {"rows": rows, "node": requirement, "filters": filters},
    )


def _evidence_context(
    session: SessionDep, actor: Actor, requirement_id: int, today: date
) -> dict[str, Any]:
    """The evidence linked to a requirement that the actor may see, and what may be linked."""
    rows = session.exec(
        select(Evidence)
        .join(EvidenceRequirement, col(EvidenceRequirement.evidence_id) == Evidence.id)
        .where(EvidenceRequirement.requirement_id == requirement_id, visible_clause(actor))
        .order_by(col(Evidence.title))
    ).all()
    linkable = session.exec(
        select(Evidence.id, Evidence.title)
        .where(visible_clause(actor), col(Evidence.status) != EvidenceStatus.obsolete)
        .order_by(col(Evidence.updated_at).desc())
        .limit(300)
    ).all()
    current = {
        e.id
        for e in session.exec(
            select(Evidence).where(
                col(Evidence.id).in_([r.id for r in rows]), evidence_service.current_clause(today)
            )
        ).all()
    }
    return {"linked_evidence": rows, "current_evidence": current, "linkable": linkable}


def _detail_context(
    session: SessionDep,
    requirement: Requirement,
    status: RequirementStatus,
    actor: Actor,
    today: date,
) -> dict[str, Any]:
    assert requirement.id is not None
    parent = session.get(Requirement, requirement.parent_id) if requirement.parent_id else None
    children = session.exec(
        select(Requirement)
        .where(Requirement.parent_id == requirement.id)
        .order_by(col(Requirement.position))
    ).all()
    owner = session.get(User, status.owner_id) if status.owner_id else None
    department = (
        department_service.get(session=session, department_id=status.department_id)
        if status.department_id
        else None
    )
    return {
        **_evidence_context(session, actor, requirement.id, today),
        "requirement": requirement,
        "status": status,
        "parent": parent,
        "children": children,
        "owner": owner,
        "department": department,
    }


def _page(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: Actor,
    found: tuple[Requirement, RequirementStatus],
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """The requirement page; htmx asks for its status region only."""
    requirement, status = found
    return render(
        request,
        "requirements/detail.html",
        {
            **_detail_context(session, requirement, status, actor, local_date(now)),
            **_choices(session),
            "values": values,
            "errors": errors or {},
            **extra,
        },
        fragments=STATUS_FRAGMENTS,
        status_code=status_code,
        headers=headers,
    )


@router.get("/{requirement_id:int}")
def detail_page(
    request: Request, session: SessionDep, now: Now, actor: CurrentActor, found: RequirementById
) -> Response:
    return _page(request, session, now, actor, found)


@router.post("/{requirement_id:int}/status")
async def update_status(
    request: Request, session: SessionDep, now: Now, actor: EditorDep, found: RequirementById
) -> Response:
    _requirement, status = found
    values = form_values(await request.form())
    result, errors, status_code = submit(
        RequirementStatusUpdate,
        values,
        lambda data: requirement_service.update_status(
            session=session, now=now, actor_id=actor.id, status=status, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _page(
            request,
            session,
            now,
            actor,
            found,
            values=values,
            errors=errors,
            status_code=status_code,
            editing=True,
        )
    session.commit()
    message = _("Saved.")
    return _page(request, session, now, actor, found, headers=toast_header(message), saved=message)


@router.post("/{requirement_id:int}/evidence")
async def link_evidence(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: EvidenceEditorDep,
    found: RequirementById,
    requirement_id: int,
) -> Response:
    """Link existing evidence from the requirement's side."""
    evidence_id = parse_id((await request.form()).get("evidence_id"))
    if evidence_id is None:
        raise Invalid(_("Choose the evidence to link."), field="evidence_id")
    evidence = evidence_service.get(session=session, evidence_id=evidence_id)
    require_edit(actor, evidence)
    evidence_links.link(
        session=session,
        now=now,
        actor_id=actor.id,
        evidence=evidence,
        kind_name="requirement",
        target_id=requirement_id,
    )
    session.commit()
    return redirect(request, f"/requirements/{requirement_id}", toast=_("Linked."))


# --- JSON API -------------------------------------------------------------------------------


def _public(requirement: Requirement, status: RequirementStatus) -> RequirementPublic:
    return RequirementPublic.model_validate(
        {
            **requirement.model_dump(),
            "status": RequirementStatusPublic.model_validate(status.model_dump()),
        }
    )


@api_router.get("/frameworks", response_model=list[FrameworkPublic], summary="List frameworks")
def api_frameworks(session: SessionDep, actor: ApiActor) -> Any:
    return requirement_service.get_frameworks(session=session)


@api_router.get(
    "/requirements",
    response_model=dict[str, Any],
    summary="List requirements, filtered and paginated",
)
def api_list(
    session: SessionDep,
    actor: ApiActor,
    page: PageDep,
    framework: int | None = None,
    status: ImplementationStatus | None = None,
    owner: int | None = None,
    department: int | None = None,
    applicable: bool | None = None,
) -> Response:
    query = select(Requirement, RequirementStatus).join(
        RequirementStatus, col(RequirementStatus.requirement_id) == Requirement.id
    )
    if framework is not None:
        query = query.where(Requirement.framework_id == framework)
    if status is not None:
        query = query.where(RequirementStatus.implementation_status == status)
    if owner is not None:
        query = query.where(RequirementStatus.owner_id == owner)
    if department is not None:
        query = query.where(RequirementStatus.department_id == department)
    if applicable is not None:
        query = query.where(RequirementStatus.applicable == applicable)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Requirement.framework_id), col(Requirement.position))
        .offset(page.offset)
        .limit(page.size)
    ).all()
    return json_page(page, total, [_public(r, s).model_dump(mode="json") for r, s in rows])


@api_router.get(
    "/requirements/{requirement_id:int}",
    response_model=RequirementPublic,
    summary="One requirement",
)
def api_detail(actor: ApiActor, found: RequirementById) -> Any:
    return _public(*found)


@api_router.put(
    "/requirements/{requirement_id:int}/status",
    response_model=RequirementPublic,
    summary="Set applicability, owner, department and implementation status",
)
def api_update_status(
    session: SessionDep,
    now: Now,
    actor: Annotated[Actor, Depends(api_require(Permission.edit_requirement_status))],
    found: RequirementById,
    data: RequirementStatusUpdate,
) -> Any:
    requirement, status = found
    requirement_service.update_status(
        session=session, now=now, actor_id=actor.id, status=status, data=data
    )
    session.commit()
    return _public(requirement, status)
