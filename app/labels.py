"""What each stored enum value is called on screen (translated where shown)."""

from enum import StrEnum

from app.i18n import N_
from app.i18n import gettext as _
from app.models.capability import Grade, Stage
from app.models.evidence import Confidentiality, EvidenceKind, EvidenceStatus
from app.models.goal import Direction, Frequency, GoalStatus
from app.models.initiative import Element, TaskStatus
from app.models.notification import Channel, DeliveryStatus, DueKind
from app.models.pdca import Phase
from app.models.requirement import Confidence, ImplementationStatus
from app.models.strategy import StrategyStatus
from app.models.user import Locale

# Keyed by (enum class, value): StrEnum members compare equal to their string, so
# Stage.planned and ImplementationStatus.planned would otherwise be the same key.
_LABEL_LIST: list[tuple[StrEnum, str]] = [
    (ImplementationStatus.not_started, N_("Not started")),
    (ImplementationStatus.planned, N_("Planned")),
    (ImplementationStatus.in_progress, N_("In progress")),
    (ImplementationStatus.implemented, N_("Implemented")),
    (Confidence.verified, N_("Verified")),
    (Confidence.probable, N_("Probable")),
    (Confidence.unverified, N_("Unverified")),
    (Stage.identified, N_("Identified")),
    (Stage.planned, N_("Planning")),
    (Stage.building, N_("Building")),
    (Stage.operating, N_("Operating stably")),
    (Stage.adjusting, N_("Adjusting")),
    (Grade.CL1, N_("CL1 initial")),
    (Grade.CL2, N_("CL2 unit")),
    (Grade.CL3, N_("CL3 process")),
    (Grade.CL4, N_("CL4 network")),
    (Grade.CL5, N_("CL5 ecosystem")),
    (GoalStatus.on_track, N_("On track")),
    (GoalStatus.at_risk, N_("At risk")),
    (GoalStatus.off_track, N_("Off track")),
    (GoalStatus.achieved, N_("Achieved")),
    (GoalStatus.missing_data, N_("Missing data")),
    (Direction.increase, N_("Higher is better")),
    (Direction.decrease, N_("Lower is better")),
    (Frequency.monthly, N_("Monthly")),
    (Frequency.quarterly, N_("Quarterly")),
    (Frequency.yearly, N_("Yearly")),
    (Element.data, N_("Data")),
    (Element.technology, N_("Technology")),
    (Element.process, N_("Business process")),
    (Element.organization, N_("Organization structure")),
    (TaskStatus.open, N_("Open")),
    (TaskStatus.in_progress, N_("In progress")),
    (TaskStatus.done, N_("Done")),
    (TaskStatus.cancelled, N_("Cancelled")),
    (Phase.plan, N_("Plan")),
    (Phase.do, N_("Do")),
    (Phase.check, N_("Check")),
    (Phase.act, N_("Act")),
    (Phase.closed, N_("Closed")),
    (StrategyStatus.draft, N_("Draft")),
    (StrategyStatus.approved, N_("Approved")),
    (StrategyStatus.retired, N_("Retired")),
    (EvidenceKind.document, N_("Document")),
    (EvidenceKind.record, N_("Record")),
    (EvidenceKind.link, N_("Link")),
    (EvidenceStatus.draft, N_("Draft")),
    (EvidenceStatus.in_review, N_("In review")),
    (EvidenceStatus.approved, N_("Approved")),
    (EvidenceStatus.obsolete, N_("Obsolete")),
    (Confidentiality.internal, N_("Internal")),
    (Confidentiality.restricted, N_("Restricted to its department")),
    (DeliveryStatus.pending, N_("Pending")),
    (DeliveryStatus.sending, N_("Sending")),
    (DeliveryStatus.sent, N_("Sent")),
    (DeliveryStatus.failed, N_("Failed, will retry")),
    (DeliveryStatus.dead, N_("Gave up")),
    (DeliveryStatus.skipped, N_("Skipped")),
    (Channel.in_app, N_("In-app")),
    (Channel.email, N_("E-mail")),
    (Channel.webhook, N_("IM robot / webhook")),
    (DueKind.task, N_("Task")),
    (DueKind.evidence_review, N_("Evidence review")),
    (DueKind.goal_measurement, N_("Goal value")),
    (DueKind.audit, N_("Audit")),
    (DueKind.corrective_action, N_("Corrective action")),
    (DueKind.nonconformity, N_("Nonconformity")),
    (DueKind.review, N_("Management review")),
    (DueKind.review_action, N_("Review action")),
    (Locale.zh_CN, N_("Chinese")),
    (Locale.en, N_("English")),
]

_BADGE_LIST: list[tuple[StrEnum, str]] = [
    (ImplementationStatus.not_started, "text-bg-light border"),
    (ImplementationStatus.planned, "text-bg-info"),
    (ImplementationStatus.in_progress, "text-bg-warning"),
    (ImplementationStatus.implemented, "text-bg-success"),
    (Confidence.verified, "text-bg-success"),
    (Confidence.probable, "text-bg-info"),
    (Confidence.unverified, "text-bg-warning"),
    (GoalStatus.on_track, "text-bg-success"),
    (GoalStatus.achieved, "text-bg-primary"),
    (GoalStatus.at_risk, "text-bg-warning"),
    (GoalStatus.off_track, "text-bg-danger"),
    (GoalStatus.missing_data, "text-bg-secondary"),
    (TaskStatus.done, "text-bg-success"),
    (TaskStatus.in_progress, "text-bg-warning"),
    (TaskStatus.open, "text-bg-light border"),
    (TaskStatus.cancelled, "text-bg-secondary"),
    (StrategyStatus.approved, "text-bg-success"),
    (StrategyStatus.draft, "text-bg-light border"),
    (EvidenceStatus.draft, "text-bg-light border"),
    (EvidenceStatus.in_review, "text-bg-warning"),
    (EvidenceStatus.approved, "text-bg-success"),
    (EvidenceStatus.obsolete, "text-bg-secondary"),
]


_LABELS = {(type(member), str(member)): text for member, text in _LABEL_LIST}
_BADGES = {(type(member), str(member)): css for member, css in _BADGE_LIST}


def label(value: StrEnum) -> str:
    return _(_LABELS[(type(value), str(value))])


def badge(value: StrEnum) -> str:
    return _BADGES.get((type(value), str(value)), "text-bg-secondary")
