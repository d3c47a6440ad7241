"""Every mutating route × every role: allowed, or 403 — read from the one permission table."""

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.main import API_PREFIX, ROUTER_MODULES
from app.models.user import Role
from app.permissions import GRANTS, Permission
from app.services.accounts import api_tokens as api_token_service
from app.web.deps import api_require, require
from tests.factories import (
    NOW,
    csrf,
    fill_path,
    first_clause,
    make_department,
    make_user,
    owned_objects,
    route_template,
    sign_in,
)

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

# Routes open to anyone signed in (or to anyone at all), on purpose.
SELF_SERVICE = {
    "POST /login",
    "POST /logout",
    "POST /setup",
    "POST /locale",
    "POST /account/password",
    "POST /account/tokens",
    "POST /account/tokens/{token_id}/revoke",
    "POST /inbox/read",
    "POST /account/reminders",
    "POST /account/calendar",
}


def _permission(route: APIRoute) -> Permission | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, require | api_require):
            return dependant.call.permission
        stack.extend(dependant.dependencies)
    return None


def mutating_routes(app: FastAPI) -> list[tuple[str, str, Permission | None]]:
    found = []
    for module in ROUTER_MODULES:
        routers = [("", module.router)]
        if hasattr(module, "api_router"):
            routers.append((API_PREFIX, module.api_router))
        for prefix, router in routers:
            for route in router.routes:
                assert isinstance(route, APIRoute)
                assert route.methods is not None
                for method in sorted(route.methods & UNSAFE):
                    found.append((method, route_template(prefix + route.path), _permission(route)))
    return found


def test_every_mutating_route_is_guarded_or_declared_self_service(app: FastAPI) -> None:
    unguarded = {f"{m} {p}" for m, p, perm in mutating_routes(app) if perm is None}
    assert unguarded == SELF_SERVICE


@pytest.mark.parametrize("role", list(Role))
def test_matrix(app: FastAPI, client: TestClient, session: Session, role: Role) -> None:
    user = make_user(session, roles=[role])
    other = make_user(session, roles=[Role.viewer])
    department = make_department(session)
    _token, secret = api_token_service.create(
        session=session, now=NOW, user_id=user.id or 0, name="t"
    )
    session.commit()
    ids: dict[str, int | str] = {
        "requirement_id": first_clause(session).id or 0,
        "department_id": department.id or 0,
        "user_id": other.id or 0,
        "token_id": _token.id or 0,
        # Objects the acting user owns, leads or chairs: an allowed role must pass the
        # object-level checks too, not just fail later with a 404 for a missing id.
        **owned_objects(session, user.id or 0),
    }
    sign_in(client, session, user)
    checked = 0
    for method, path, permission in mutating_routes(app):
        if permission is None:
            continue
        url = fill_path(path, ids)
        kwargs: dict[str, Any]
        if path.startswith("/api/"):
            kwargs = {"headers": {"Authorization": f"Bearer {secret}"}, "json": {}}
        else:
            kwargs = {"data": {"csrf_token": csrf(client)}}
        response = client.request(method, url, **kwargs)
        expected_allowed = role in GRANTS[permission]
        if expected_allowed:
            assert response.status_code != 403, f"{role} should be allowed {method} {path}"
            assert response.status_code < 500
        else:
            assert response.status_code == 403, f"{role} must get 403 on {method} {path}"
        checked += 1
    assert checked >= 35
