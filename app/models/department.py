"""Departments: the organization tree that owns requirements, evidence and actions."""

from sqlmodel import Field, SQLModel

NAME_MAX = 100


class DepartmentBase(SQLModel):
    name: str = Field(min_length=1, max_length=NAME_MAX)
    code: str = Field(min_length=1, max_length=32, regex=r"^[A-Za-z0-9_-]+$")
    parent_id: int | None = Field(default=None, foreign_key="department.id", index=True)


class Department(DepartmentBase, table=True):
    __tablename__ = "department"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)


class DepartmentCreate(DepartmentBase):
    pass
