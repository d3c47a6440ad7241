"""Managing users and their roles (administrators only); the API's own-identity endpoint."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import or_
from sqlmodel import col, func, select
from starlette.responses import Response

from app.actor import Actor
from app.db import SessionDep
from app.i18n import gettext as _
from app.models.user import Locale, Role, User, UserCreate, UserPublic, UserUpdate
from app.permissions import Permission
from app.services.accounts import departments as department_service
from app.services.accounts import users as user_service
from app.web.access.accounts import UserById
from app.web.deps import ApiActor, Now, PageDep, SettingsDep, api_require, require
from app.web.forms import form_values, submit
from app.web.http import json_page, redirect
from app.web.rendering import render

router = APIRouter(prefix="/admin/users", tags=["users"], include_in_schema=False)
api_router = APIRouter(tags=["users"])

AdminDep = Annotated[Actor, Depends(require(Permission.manage_users))]
LIST_FRAGMENTS = {"user-list": "user_list"}


def _form_context(session: SessionDep) -> dict[str, Any]:
    return {
        "departments": department_service.as_tree(department_service.get_all(session=session)),
        "roles": list(Role),
        "locales": list(Locale),
    }


def _form(
    request: Request,
    session: SessionDep,
    user: User | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "users/form.html",
        {"user": user, "values": values, "errors": errors, **_form_context(session)},
        status_code=status_code,
    )


@router.get("")
def list_page(
    request: Request,
    session: SessionDep,
    actor: AdminDep,
    page: PageDep,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    query = select(User)
    if q.strip():
        pattern = f"%{q.strip().lower()}%"
        query = query.where(or_(func.lower(User.name).like(pattern), col(User.email).like(pattern)))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    users = session.exec(query.order_by(col(User.name)).offset(page.offset).limit(page.size)).all()
    roles = user_service.roles_by_user(session=session, user_ids=[u.id for u in users if u.id])
    departments = {d.id: d for d in department_service.get_all(session=session)}
    return render(
        request,
        "users/list.html",
        {
            "users": users,
            "roles": roles,
            "departments": departments,
            "total": total,
            "page": page,
            "q": q,
        },
        fragments=LIST_FRAGMENTS,
    )


@router.get("/new")
def new_page(request: Request, session: SessionDep, actor: AdminDep) -> Response:
    return _form(request, session, None, {"locale": "zh_CN", "is_active": "true", "roles": []}, {})


@router.post("")
async def create(
    request: Request, session: SessionDep, now: Now, settings: SettingsDep, actor: AdminDep
) -> Response:
    values = form_values(await request.form(), lists=["roles"])
    result, errors, status_code = submit(
        UserCreate,
        values,
        lambda data: user_service.create(
            session=session,
            now=now,
            actor_id=actor.id,
            data=data,
            fast_hash=settings.fast_password_hashing,
        ),
    )
    if result is None:
        session.rollback()
        return _form(request, session, None, values, errors, status_code)
    session.commit()
    return redirect(request, "/admin/users", toast=_("User created."))


@router.get("/{user_id:int}")
def edit_page(
    request: Request, session: SessionDep, actor: AdminDep, user: UserById, user_id: int
) -> Response:
    values = {
        **user.model_dump(),
        "is_active": "true" if user.is_active else "false",
        "roles": [str(r) for r in user_service.roles_of(session=session, user_id=user_id)],
    }
    return _form(request, session, user, values, {})


@router.post("/{user_id:int}")
async def update(
    request: Request, session: SessionDep, now: Now, actor: AdminDep, user: UserById
) -> Response:
    values = form_values(await request.form(), lists=["roles"])
    result, errors, status_code = submit(
        UserUpdate,
        values,
        lambda data: user_service.update(
            session=session, now=now, actor_id=actor.id, user=user, data=data
        ),
    )
    if result is None:
        session.rollback()
        return _form(request, session, user, values, errors, status_code)
    session.commit()
    return redirect(request, "/admin/users", toast=_("Changes saved."))


def _public(user: User, roles: set[Role]) -> UserPublic:
    return UserPublic.model_validate({**user.model_dump(), "roles": sorted(roles)})


@api_router.get("/me", response_model=UserPublic, summary="The token's owner")
def api_me(session: SessionDep, actor: ApiActor) -> Any:
    return _public(actor.user, set(actor.roles))


@api_router.get("/users", response_model=dict[str, Any], summary="List users (administrators)")
def api_users(
    session: SessionDep,
    page: PageDep,
    actor: Annotated[Actor, Depends(api_require(Permission.manage_users))],
) -> Response:
    total = session.exec(select(func.count()).select_from(User)).one()
    users = session.exec(
        select(User).order_by(col(User.id)).offset(page.offset).limit(page.size)
    ).all()
    roles = user_service.roles_by_user(session=session, user_ids=[u.id for u in users if u.id])
    return json_page(
        page,
        total,
        [_public(u, roles.get(u.id or 0, set())).model_dump(mode="json") for u in users],
    )
