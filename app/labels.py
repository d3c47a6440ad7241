"""What each stored enum value is called on screen (translated where shown)."""

from enum import StrEnum

from app.i18n import N_
from app.i18n import gettext as _
from app.models.requirement import Confidence, ImplementationStatus
from app.models.user import Locale

_LABELS: dict[StrEnum, str] = {
    ImplementationStatus.not_started: N_("Not started"),
    ImplementationStatus.planned: N_("Planned"),
    ImplementationStatus.in_progress: N_("In progress"),
    ImplementationStatus.implemented: N_("Implemented"),
    Confidence.verified: N_("Verified"),
    Confidence.probable: N_("Probable"),
    Confidence.unverified: N_("Unverified"),
    Locale.zh_CN: N_("Chinese"),
    Locale.en: N_("English"),
}

BADGES: dict[StrEnum, str] = {
    ImplementationStatus.not_started: "text-bg-light border",
    ImplementationStatus.planned: "text-bg-info",
    ImplementationStatus.in_progress: "text-bg-warning",
    ImplementationStatus.implemented: "text-bg-success",
    Confidence.verified: "text-bg-success",
    Confidence.probable: "text-bg-info",
    Confidence.unverified: "text-bg-warning",
}


def label(value: StrEnum) -> str:
    return _(_LABELS[value])


def badge(value: StrEnum) -> str:
    return BADGES.get(value, "text-bg-secondary")
