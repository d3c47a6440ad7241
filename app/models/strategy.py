"""Strategy (战略) and the sustainable competitive advantages (可持续竞争优势) it needs."""

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.base import utc_field

TITLE_MAX = 200
TEXT_MAX = 4000


class StrategyStatus(StrEnum):
    draft = "draft"
    approved = "approved"
    retired = "retired"


class StrategyBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=TEXT_MAX)
    horizon: str = Field(default="", max_length=32)


class Strategy(StrategyBase, table=True):
    __tablename__ = "strategy"
    id: int | None = Field(default=None, primary_key=True)
    status: StrategyStatus = Field(default=StrategyStatus.draft, max_length=16)
    approved_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    approved_at: datetime | None = utc_field(default=None)
    created_at: datetime = utc_field()


class StrategyCreate(StrategyBase):
    pass


class AdvantageBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=TEXT_MAX)


class CompetitiveAdvantage(AdvantageBase, table=True):
    __tablename__ = "competitive_advantage"
    id: int | None = Field(default=None, primary_key=True)
    strategy_id: int = Field(foreign_key="strategy.id", index=True)
    position: int = 0


class AdvantageCreate(AdvantageBase):
    strategy_id: int
