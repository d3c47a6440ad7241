"""Initiatives (实施方案) per capability, and their tasks tagged with one of the four elements."""

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.base import utc_field

TITLE_MAX = 200
TEXT_MAX = 4000


class Element(StrEnum):
    """The four elements (四要素) a capability is built from."""

    data = "data"  # 数据
    technology = "technology"  # 技术
    process = "process"  # 业务流程
    organization = "organization"  # 组织结构


class TaskStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    done = "done"
    cancelled = "cancelled"


OPEN_TASK_STATUSES = (TaskStatus.open, TaskStatus.in_progress)


class InitiativeBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=TEXT_MAX)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id")


class Initiative(InitiativeBase, table=True):
    __tablename__ = "initiative"
    id: int | None = Field(default=None, primary_key=True)
    capability_id: int = Field(foreign_key="capability.id", index=True)
    created_at: datetime = utc_field()


class InitiativeCreate(InitiativeBase):
    capability_id: int


class TaskBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    element: Element = Field(max_length=16)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    due_date: date | None = None


class Task(TaskBase, table=True):
    __tablename__ = "task"
    id: int | None = Field(default=None, primary_key=True)
    initiative_id: int = Field(foreign_key="initiative.id", index=True)
    status: TaskStatus = Field(default=TaskStatus.open, max_length=16, index=True)
    cycle_id: int | None = Field(default=None, foreign_key="pdca_cycle.id", index=True)
    carried_from_cycle_id: int | None = Field(default=None, foreign_key="pdca_cycle.id")
    created_at: datetime = utc_field()


class TaskCreate(TaskBase):
    initiative_id: int
