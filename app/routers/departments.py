"""Managing the department tree (administrators only)."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from app.actor import Actor
from app.db import SessionDep
from app.i18n import gettext as _
from app.models.department import DepartmentCreate
from app.permissions import Permission
from app.services.accounts import departments as department_service
from app.services.accounts import users as user_service
from app.web.access.accounts import DepartmentById
from app.web.deps import ApiActor, Now, require
from app.web.forms import form_values, submit
from app.web.http import redirect
from app.web.rendering import render

router = APIRouter(prefix="/admin/departments", tags=["departments"], include_in_schema=False)
api_router = APIRouter(tags=["departments"])

AdminDep = Annotated[Actor, Depends(require(Permission.manage_departments))]


def _page(
    request: Request, session: SessionDep, status_code: int = 200, **context: Any
) -> Response:
    tree = department_service.as_tree(department_service.get_all(session=session))
    defaults: dict[str, Any] = {
        "values": {},
        "errors": {},
        "editing": None,
        "head_options": user_service.options(session=session),
    }
    return render(
        request,
        "departments/list.html",
        {"tree": tree, **defaults, **context},
        status_code=status_code,
    )


@router.get("")
def list_page(request: Request, session: SessionDep, actor: AdminDep) -> Response:
    return _page(request, session)


@router.get("/{department_id:int}")
def edit_page(
    request: Request, session: SessionDep, actor: AdminDep, department: DepartmentById
) -> Response:
    return _page(request, session, editing=department, values=department.model_dump())


@router.post("")
async def create(request: Request, session: SessionDep, now: Now, actor: AdminDep) -> Response:
    values = form_values(await request.form())
    result, errors, status_code = submit(
        DepartmentCreate,
        values,
        lambda data: department_service.create(
            session=session, now=now, actor_id=actor.id, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _page(request, session, status_code, values=values, errors=errors)
    session.commit()
    return redirect(request, "/admin/departments", toast=_("Department created."))


@router.post("/{department_id:int}")
async def update(
    request: Request, session: SessionDep, now: Now, actor: AdminDep, department: DepartmentById
) -> Response:
    values = form_values(await request.form())
    result, errors, status_code = submit(
        DepartmentCreate,
        values,
        lambda data: department_service.update(
            session=session, now=now, actor_id=actor.id, department=department, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _page(
            request, session, status_code, editing=department, values=values, errors=errors
        )
    session.commit()
    return redirect(request, "/admin/departments", toast=_("Changes saved."))


@router.post("/{department_id:int}/delete")
def delete(
    request: Request, session: SessionDep, now: Now, actor: AdminDep, department: DepartmentById
) -> Response:
    department_service.delete(session=session, now=now, actor_id=actor.id, department=department)
    session.commit()
    return redirect(request, "/admin/departments", toast=_("Department deleted."))


@api_router.get("/departments", summary="The department tree, flattened in tree order")
def api_departments(session: SessionDep, actor: ApiActor) -> list[dict[str, Any]]:
    tree = department_service.as_tree(department_service.get_all(session=session))
    return [{**d.model_dump(), "depth": depth} for d, depth in tree]
