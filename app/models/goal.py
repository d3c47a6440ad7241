"""Goals (目标/指标) of a capability and their append-only measurements."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import utc_field

TITLE_MAX = 200
TEXT_MAX = 4000


class Direction(StrEnum):
    increase = "increase"  # higher is better
    decrease = "decrease"  # lower is better


class Frequency(StrEnum):
    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"


class GoalStatus(StrEnum):
    on_track = "on_track"
    at_risk = "at_risk"
    off_track = "off_track"
    achieved = "achieved"
    missing_data = "missing_data"


class GoalBase(SQLModel):
    indicator: str = Field(min_length=1, max_length=TITLE_MAX)
    unit: str = Field(default="", max_length=32)
    direction: Direction = Field(default=Direction.increase, max_length=8)
    baseline: float
    baseline_date: date
    target: float
    deadline: date
    frequency: Frequency = Field(default=Frequency.monthly, max_length=16)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)


class Goal(GoalBase, table=True):
    __tablename__ = "goal"
    id: int | None = Field(default=None, primary_key=True)
    capability_id: int = Field(foreign_key="capability.id", index=True)
    created_at: datetime = utc_field()


class GoalCreate(GoalBase):
    capability_id: int


class Measurement(SQLModel, table=True):
    """One value per goal and period; a correction is a new revision that supersedes."""

    __tablename__ = "measurement"
    # Two recorders racing for the same period and revision: the database lets one win.
    __table_args__ = (UniqueConstraint("goal_id", "period", "revision"),)
    id: int | None = Field(default=None, primary_key=True)
    goal_id: int = Field(foreign_key="goal.id", index=True)
    period: date  # the first day of the month, quarter or year measured
    revision: int = 1
    value: float
    note: str = Field(default="", max_length=TEXT_MAX)
    recorded_at: datetime = utc_field()
    recorded_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    superseded_by_id: int | None = Field(default=None, foreign_key="measurement.id")
