"""Dossiers: the evidence package built for an assessor."""

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.base import utc_field
from app.models.certification import TEXT_MAX


class DossierStatus(StrEnum):
    queued = "queued"
    building = "building"
    ready = "ready"
    failed = "failed"


class Dossier(SQLModel, table=True):
    """A submission dossier (ZIP) built in the background. `active` is set while queued or
    building; its unique constraint lets only one build run at a time (NULLs do not collide)."""

    __tablename__ = "dossier"
    id: int | None = Field(default=None, primary_key=True)
    status: DossierStatus = Field(default=DossierStatus.queued, max_length=16)
    active: bool | None = Field(default=True, unique=True)
    requested_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    requested_at: datetime = utc_field()
    started_at: datetime | None = utc_field(default=None)
    # Touched as the build goes on; a build silent for long was interrupted (restart, crash).
    progress_at: datetime | None = utc_field(default=None)
    finished_at: datetime | None = utc_field(default=None)
    total_files: int = 0
    done_files: int = 0
    file_name: str = Field(default="", max_length=255)
    size: int = 0
    sha256: str = Field(default="", max_length=64)
    error: str = Field(default="", max_length=TEXT_MAX)
