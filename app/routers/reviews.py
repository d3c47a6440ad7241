"""Management reviews: list, planning form, the review page with its inline forms, the
report (print page, PDF, Word) and the JSON API."""

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from app.actor import Actor
from app.clock import local_date
from app.db import SessionDep
from app.errors import DomainError, Forbidden
from app.i18n import gettext as _
from app.models.review import (
    OPEN_REVIEW_ACTION_STATUSES,
    TEXT_MAX,
    ManagementReview,
    ManagementReviewCreate,
    ReviewAction,
    ReviewActionCreate,
    ReviewActionStatus,
    ReviewStatus,
)
from app.permissions import Permission
from app.services.accounts import users as user_service
from app.services.reviews import report as review_report
from app.services.reviews import service as review_service
from app.web import documents
from app.web.access.reviews import (
    ActionWorkerDep,
    ReviewActionById,
    ReviewById,
    UpdatableReviewAction,
)
from app.web.deps import ApiActor, CurrentActor, Now, PageDep, require
from app.web.forms import form_values, submit
from app.web.http import json_answer, json_page, redirect, toast_header
from app.web.rendering import render, wants_fragment

router = APIRouter(prefix="/reviews", tags=["reviews"], include_in_schema=False)
api_router = APIRouter(tags=["reviews"])

ManagerDep = Annotated[Actor, Depends(require(Permission.manage_reviews))]
SignerDep = Annotated[Actor, Depends(require(Permission.sign_reviews))]
VerifierDep = Annotated[Actor, Depends(require(Permission.verify_review_actions))]

LIST_FRAGMENTS = {"review-list": "review_list"}
DETAIL_FRAGMENTS = {
    "review-header": "header",
    "review-attendees": "attendees",
    "review-minutes": "minutes",
    "review-actions": "actions",
}
T = TypeVar("T")


class AttendeesForm(BaseModel):
    attendee_ids: list[int] = Field(default_factory=list)


class MinutesForm(BaseModel):
    minutes: str = Field(default="", max_length=TEXT_MAX)
    decisions: str = Field(default="", max_length=TEXT_MAX)


class HeldForm(BaseModel):
    held_on: date


class NoteForm(BaseModel):
    note: str = Field(min_length=1, max_length=TEXT_MAX)


def _attempt(action: Callable[[], T]) -> tuple[T | None, dict[str, str], int]:
    """Run a form-less service call: (result, errors to show, status code)."""
    try:
        return action(), {}, 200
    except DomainError as exc:
        return None, {exc.field or "__all__": exc.message}, exc.status_code


# --- list and planning ----------------------------------------------------------------------


@router.get("")
def review_list(
    request: Request, session: SessionDep, actor: CurrentActor, page: PageDep
) -> Response:
    rows, total = review_service.page(session=session, page=page)
    return render(
        request,
        "reviews/list.html",
        {"rows": rows, "total": total, "page": page},
        fragments=LIST_FRAGMENTS,
    )


def _form(
    request: Request,
    session: SessionDep,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "reviews/form.html",
        {
            "values": values,
            "errors": errors,
            "chair_options": review_service.chair_options(session=session),
        },
        status_code=status_code,
    )


@router.get("/new")
def new_page(request: Request, session: SessionDep, actor: ManagerDep) -> Response:
    return _form(request, session, {}, {})


@router.post("")
async def create(request: Request, session: SessionDep, now: Now, actor: ManagerDep) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        ManagementReviewCreate,
        values,
        lambda data: review_service.create(session=session, now=now, actor_id=actor.id, data=data),
    )
    if result is None:
        session.rollback()
        return _form(request, session, values, errors, status)
    session.commit()
    return redirect(request, f"/reviews/{result.id}", toast=_("Management review planned."))


# --- the review page ------------------------------------------------------------------------


def _page(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: Actor,
    review: ManagementReview,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    assert review.id is not None
    attendees = review_service.attendees(session=session, review_id=review.id)
    actions = review_service.actions(session=session, review_id=review.id)
    people = {review.chair_id, review.signed_by_id} | {a.owner_id for a in actions}
    people |= {a.verified_by_id for a in actions}
    names = user_service.names_by_id(session=session, user_ids=people)
    package = review_service.inputs(session=session, review=review, today=local_date(now))
    signed = review.status == ReviewStatus.signed
    context = {
        "review": review,
        "names": names,
        "attendees": attendees,
        "attendee_ids": {u.id for u in attendees},
        "actions": actions,
        "frozen": review.inputs is not None,
        "input_sections": review_report.input_sections(package),
        "user_options": user_service.options(session=session),
        "chair_options": review_service.chair_options(session=session),
        "may_manage": actor.can(Permission.manage_reviews) and not signed,
        "may_sign": actor.can(Permission.sign_reviews)
        and actor.id == review.chair_id
        and review.status == ReviewStatus.held,
        "may_complete": {
            a.id
            for a in actions
            if a.status == ReviewActionStatus.open
            and actor.can(Permission.update_review_actions)
            and actor.may_touch(a.owner_id)
        },
        "may_verify": {
            a.id
            for a in actions
            if a.status == ReviewActionStatus.done
            and actor.can(Permission.verify_review_actions)
            and actor.id not in (a.owner_id, a.done_by_id)
        },
        "may_cancel": {
            a.id
            for a in actions
            if a.status in OPEN_REVIEW_ACTION_STATUSES
            and actor.can(Permission.verify_review_actions)
        },
        "today": local_date(now),
        "header_values": review.model_dump(mode="json"),
        "header_errors": {},
        "attendee_errors": {},
        "minutes_values": {"minutes": review.minutes, "decisions": review.decisions},
        "minutes_errors": {},
        "state_errors": {},
        "action_values": {},
        "action_errors": {},
        "note_errors": {},
        "note_action": None,
        **extra,
    }
    return render(
        request,
        "reviews/detail.html",
        context,
        fragments=DETAIL_FRAGMENTS,
        status_code=status_code,
        headers=headers,
    )


def _saved(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: Actor,
    review: ManagementReview,
    message: str,
) -> Response:
    """Commit, then show the changed region (htmx) or go back to the page with a toast."""
    session.commit()
    if wants_fragment(request):
        return _page(request, session, now, actor, review, headers=toast_header(message))
    return redirect(request, f"/reviews/{review.id}", toast=message)


def _refused(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: Actor,
    review: ManagementReview,
    status_code: int,
    **extra: Any,
) -> Response:
    """Nothing changed: roll back and show the page with the messages next to the fields."""
    session.rollback()
    if status_code == 403 and wants_fragment(request):
        # htmx swaps no 403 answer; the plain-text error becomes a toast instead.
        messages = [m for v in extra.values() if isinstance(v, dict) for m in v.values()]
        raise Forbidden(messages[0] if messages else None)
    session.refresh(review)
    return _page(request, session, now, actor, review, status_code, **extra)


@router.get("/{review_id:int}")
def detail(
    request: Request, session: SessionDep, now: Now, actor: CurrentActor, review: ReviewById
) -> Response:
    return _page(request, session, now, actor, review)


@router.post("/{review_id:int}")
async def update(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, review: ReviewById
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        ManagementReviewCreate,
        values,
        lambda data: review_service.update(
            session=session, now=now, actor_id=actor.id, review=review, data=data
        ),
    )
    if result is None:
        return _refused(
            request,
            session,
            now,
            actor,
            review,
            status,
            header_values=values,
            header_errors=errors,
        )
    return _saved(request, session, now, actor, review, _("Changes saved."))


@router.post("/{review_id:int}/attendees")
async def set_attendees(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, review: ReviewById
) -> Response:
    values = form_values(await request.form(), lists=["attendee_ids"])
    result, errors, status = submit(
        AttendeesForm,
        values,
        lambda data: review_service.set_attendees(
            session=session,
            now=now,
            actor_id=actor.id,
            review=review,
            user_ids=data.attendee_ids,
        ),
    )
    if result is None:
        return _refused(request, session, now, actor, review, status, attendee_errors=errors)
    return _saved(request, session, now, actor, review, _("Attendees saved."))


@router.post("/{review_id:int}/minutes")
async def record_minutes(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, review: ReviewById
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        MinutesForm,
        values,
        lambda data: review_service.record_minutes(
            session=session,
            now=now,
            actor_id=actor.id,
            review=review,
            minutes=data.minutes,
            decisions=data.decisions,
        ),
    )
    if result is None:
        return _refused(
            request,
            session,
            now,
            actor,
            review,
            status,
            minutes_values=values,
            minutes_errors=errors,
        )
    return _saved(request, session, now, actor, review, _("Minutes and decisions saved."))


@router.post("/{review_id:int}/held")
async def mark_held(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, review: ReviewById
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        HeldForm,
        values,
        lambda data: review_service.mark_held(
            session=session, now=now, actor_id=actor.id, review=review, held_on=data.held_on
        ),
    )
    if result is None:
        return _refused(request, session, now, actor, review, status, state_errors=errors)
    session.commit()
    # The whole page changes (inputs frozen, actions open up): reload it.
    return redirect(
        request, f"/reviews/{review.id}", toast=_("Marked as held; the input package is frozen.")
    )


@router.post("/{review_id:int}/sign")
def sign(
    request: Request, session: SessionDep, now: Now, actor: SignerDep, review: ReviewById
) -> Response:
    result, errors, status = _attempt(
        lambda: review_service.sign(session=session, now=now, actor_id=actor.id, review=review)
    )
    if result is None:
        return _refused(request, session, now, actor, review, status, state_errors=errors)
    session.commit()
    return redirect(request, f"/reviews/{review.id}", toast=_("Signed; the record is now locked."))


@router.post("/{review_id:int}/actions")
async def add_action(
    request: Request, session: SessionDep, now: Now, actor: ManagerDep, review: ReviewById
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        ReviewActionCreate,
        values,
        lambda data: review_service.add_action(
            session=session, now=now, actor_id=actor.id, review=review, data=data
        ),
    )
    if result is None:
        return _refused(
            request,
            session,
            now,
            actor,
            review,
            status,
            action_values=values,
            action_errors=errors,
        )
    return _saved(request, session, now, actor, review, _("Action added."))


@router.post("/{review_id:int}/actions/{review_action_id:int}/done")
def complete_action(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: ActionWorkerDep,
    review: ReviewById,
    action: UpdatableReviewAction,
) -> Response:
    result, errors, status = _attempt(
        lambda: review_service.complete_action(
            session=session, now=now, actor_id=actor.id, action=action
        )
    )
    if result is None:
        return _refused(
            request,
            session,
            now,
            actor,
            review,
            status,
            note_errors=errors,
            note_action=action.id,
        )
    return _saved(request, session, now, actor, review, _("Action marked done."))


async def _close_action(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: Actor,
    review: ManagementReview,
    action: ReviewAction,
    close: Callable[..., object],
    message: str,
) -> Response:
    values = form_values(await request.form())
    result, errors, status = submit(
        NoteForm,
        values,
        lambda data: close(
            session=session, now=now, actor_id=actor.id, action=action, note=data.note
        ),
    )
    if result is None:
        return _refused(
            request,
            session,
            now,
            actor,
            review,
            status,
            note_errors=errors,
            note_action=action.id,
        )
    return _saved(request, session, now, actor, review, message)


@router.post("/{review_id:int}/actions/{review_action_id:int}/verify")
async def verify_action(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: VerifierDep,
    review: ReviewById,
    action: ReviewActionById,
) -> Response:
    return await _close_action(
        request,
        session,
        now,
        actor,
        review,
        action,
        review_service.verify_action,
        _("Action verified."),
    )


@router.post("/{review_id:int}/actions/{review_action_id:int}/cancel")
async def cancel_action(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: VerifierDep,
    review: ReviewById,
    action: ReviewActionById,
) -> Response:
    return await _close_action(
        request,
        session,
        now,
        actor,
        review,
        action,
        review_service.cancel_action,
        _("Action cancelled."),
    )


# --- the report -----------------------------------------------------------------------------


@router.get("/{review_id:int}/report")
def report(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: CurrentActor,
    review: ReviewById,
    format: Literal["html", "pdf", "docx"] = "html",
) -> Response:
    document = review_report.build(session=session, review=review, today=local_date(now))
    if format == "pdf":
        return documents.pdf(request, document)
    if format == "docx":
        return documents.docx(document)
    return documents.page(request, document)


# --- JSON API -------------------------------------------------------------------------------


@api_router.get(
    "/reviews", response_model=dict[str, Any], summary="Management reviews, newest first"
)
def api_list(session: SessionDep, actor: ApiActor, page: PageDep) -> Response:
    rows, total = review_service.page(session=session, page=page)
    return json_page(
        page,
        total,
        [
            {
                **_public(row.review),
                "chair": row.chair_name,
                "open_actions": row.open_actions,
            }
            for row in rows
        ],
    )


def _public(review: ManagementReview) -> dict[str, Any]:
    return review.model_dump(mode="json", exclude={"inputs"})


@api_router.get(
    "/reviews/{review_id:int}",
    response_model=dict[str, Any],
    summary="One management review with its input package (frozen once held), attendees "
    "and actions",
)
def api_detail(session: SessionDep, now: Now, actor: ApiActor, review: ReviewById) -> Response:
    assert review.id is not None
    return json_answer(
        {
            **_public(review),
            "inputs_frozen": review.inputs is not None,
            "inputs": review_service.inputs(session=session, review=review, today=local_date(now)),
            "attendees": [
                {"id": u.id, "name": u.name}
                for u in review_service.attendees(session=session, review_id=review.id)
            ],
            "actions": [
                a.model_dump(mode="json")
                for a in review_service.actions(session=session, review_id=review.id)
            ],
        }
    )
