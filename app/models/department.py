"""Departments: the organization tree that owns requirements, evidence and actions."""

from typing import Annotated

from pydantic import StringConstraints
from sqlalchemy import Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

NAME_MAX = 100
CODE_MAX = 32


class DepartmentBase(SQLModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    parent_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    # Overdue reminders escalate to the owner's department head. The foreign key is added
    # after both tables exist (use_alter): users belong to departments and departments have
    # a head among the users.
    head_id: int | None = Field(
        default=None,
        sa_column=Column(
            Integer,
            ForeignKey(
                "user_account.id", use_alter=True, name="fk_department_head_id_user_account"
            ),
        ),
    )


class Department(DepartmentBase, table=True):
    __tablename__ = "department"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=CODE_MAX, unique=True)


class DepartmentCreate(DepartmentBase):
    # SQLModel's Field does not enforce a pattern, so the constraint sits on the type.
    code: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=CODE_MAX, pattern=r"^[A-Za-z0-9_-]+$"
        ),
    ]
