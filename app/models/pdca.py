"""PDCA cycles of the management system (and optionally of one capability)."""

from datetime import date, datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.base import utc_field

TEXT_MAX = 4000


class Phase(StrEnum):
    plan = "plan"
    do = "do"
    check = "check"
    act = "act"
    closed = "closed"


# Phases advance strictly in order; closing happens from Act and opens the next cycle.
NEXT_PHASE: dict[Phase, Phase] = {
    Phase.plan: Phase.do,
    Phase.do: Phase.check,
    Phase.check: Phase.act,
    Phase.act: Phase.closed,
}


class PdcaCycle(SQLModel, table=True):
    __tablename__ = "pdca_cycle"
    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=32)
    capability_id: int | None = Field(default=None, foreign_key="capability.id", index=True)
    phase: Phase = Field(default=Phase.plan, max_length=8)
    started_on: date
    closed_on: date | None = None
    previous_id: int | None = Field(default=None, foreign_key="pdca_cycle.id")
    notes: str = Field(default="", max_length=TEXT_MAX)


class PhaseChange(SQLModel, table=True):
    __tablename__ = "pdca_phase_change"
    id: int | None = Field(default=None, primary_key=True)
    cycle_id: int = Field(foreign_key="pdca_cycle.id", index=True)
    from_phase: Phase | None = Field(default=None, max_length=8)
    to_phase: Phase = Field(max_length=8)
    at: datetime = utc_field()
    by_id: int | None = Field(default=None, foreign_key="user_account.id")
    note: str = Field(default="", max_length=TEXT_MAX)
