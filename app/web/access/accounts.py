"""Users and departments by their path id, for the administrators' pages (the permission is
checked by the route, before the lookup)."""

from typing import Annotated

from fastapi import Depends

from app.db import SessionDep
from app.models.department import Department
from app.models.user import User
from app.services.accounts import departments as department_service
from app.services.accounts import users as user_service


def user_by_id(session: SessionDep, user_id: int) -> User:
    return user_service.get(session=session, user_id=user_id)


UserById = Annotated[User, Depends(user_by_id)]


def department_by_id(session: SessionDep, department_id: int) -> Department:
    return department_service.get(session=session, department_id=department_id)


DepartmentById = Annotated[Department, Depends(department_by_id)]
