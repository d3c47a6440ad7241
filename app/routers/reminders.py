"""Administrators' reminder page: deliveries and failures, rules, channels, holidays."""

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from sqlmodel import select
from starlette.responses import Response

from app.actor import Actor
from app.clock import local_date
from app.db import SessionDep
from app.errors import Invalid
from app.i18n import gettext as _
from app.i18n import gettext as translate_message  # for stored message ids
from app.i18n import ngettext
from app.jobs import reminder_pass
from app.models.notification import Channel, DeliveryStatus, DueKind, WebhookChannel, WebhookKind
from app.permissions import Permission
from app.services.reminders import admin as reminder_admin
from app.services.reminders import channels as notify_channels
from app.services.reminders import outbound_url, working_days
from app.services.reminders import service as reminders
from app.services.reminders.admin import RuleForm, WebhookForm
from app.services.reminders.channels import DeliveryError, Mail
from app.web.deps import Now, PageDep, SettingsDep, require
from app.web.forms import form_values, parse_id, submit
from app.web.http import redirect
from app.web.rendering import render

router = APIRouter(prefix="/admin/reminders", tags=["reminders"], include_in_schema=False)
AdminDep = Annotated[Actor, Depends(require(Permission.manage_reminders))]
LOG_FRAGMENTS = {"delivery-log": "delivery_log"}


def _enum(value: str | None, kind: Any) -> Any:
    if not value:
        return None
    if value not in kind.__members__:
        raise Invalid(_("Choose one of the offered options."))
    return kind(value)


def _page(
    request: Request, session: SessionDep, now: Now, page: Any, status_code: int = 200, **extra: Any
) -> Response:
    params = request.query_params
    status, channel, kind = (
        _enum(params.get("status"), DeliveryStatus),
        _enum(params.get("channel"), Channel),
        _enum(params.get("kind"), DueKind),
    )
    rows, total = reminder_admin.log(
        session=session, page=page, status=status, channel=channel, kind=kind
    )
    years = [now.year, now.year + 1]
    context = {
        "rows": rows,
        "total": total,
        "page": page,
        "counts": reminder_admin.status_counts(session=session),
        "filters": {"status": status, "channel": channel, "kind": kind},
        "query": urlencode(
            [(k, v) for k, v in params.items() if k in ("status", "channel", "kind") and v]
        ),
        "rules": reminders.rules(session=session),
        "webhooks": session.exec(select(WebhookChannel)).all(),
        "days": reminder_admin.calendar_days(
            session=session, since=local_date(now).replace(month=1, day=1)
        ),
        "missing_years": working_days.missing_years(session=session, years=years),
        "statuses": list(DeliveryStatus),
        "channels": list(Channel),
        "kinds": list(DueKind),
        "webhook_kinds": list(WebhookKind),
        "errors": {},
        "form": None,
        "values": {},
        **extra,
    }
    return render(
        request, "reminders/admin.html", context, fragments=LOG_FRAGMENTS, status_code=status_code
    )


@router.get("")
def admin_page(
    request: Request, session: SessionDep, now: Now, actor: AdminDep, page: PageDep
) -> Response:
    return _page(request, session, now, page)


# The form handlers below are plain functions, run in the thread pool: they wait on the
# database's write lock, a DNS server or a mail relay, which inside `async def` would stall
# every other request. Their fields come as Form parameters (CSRF is checked before, by
# the app's dependency) and are validated by the service's form model, for messages by field.
FormText = Annotated[str, Form()]
FormBox = Annotated[str | None, Form()]  # a checkbox: sent only when ticked


@router.post("/rules/{kind}")
def save_rule(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: AdminDep,
    page: PageDep,
    kind: str,
    days_before: FormText = "",
    overdue_every_days: FormText = "",
    escalate_after_days: FormText = "",
    on_due_day: FormBox = None,
    enabled: FormBox = None,
) -> Response:
    due_kind = _enum(kind, DueKind)
    if due_kind is None:
        raise Invalid(_("Choose one of the offered options."))
    values = form_values(
        {
            "days_before": days_before,
            "overdue_every_days": overdue_every_days,
            "escalate_after_days": escalate_after_days,
        }
    )
    values = {**values, "on_due_day": on_due_day is not None, "enabled": enabled is not None}
    result, errors, status = submit(
        RuleForm,
        values,
        lambda form: reminder_admin.save_rule(
            session=session, now=now, actor_id=actor.id, kind=due_kind, form=form
        ),
    )
    if result is None:
        session.rollback()
        return _page(
            request, session, now, page, status, errors=errors, form=f"rule-{kind}", values=values
        )
    session.commit()
    return redirect(request, "/admin/reminders", toast=_("Reminder rule saved."))


@router.post("/webhooks")
def add_webhook(
    request: Request,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    actor: AdminDep,
    page: PageDep,
    name: FormText = "",
    kind: FormText = "",
    url: FormText = "",
    secret: FormText = "",
) -> Response:
    """Add a channel; its host name is resolved to check it (see outbound_url)."""
    values = form_values({"name": name, "kind": kind, "url": url, "secret": secret})
    result, errors, status = submit(
        WebhookForm,
        values,
        lambda form: reminder_admin.add_webhook(
            session=session,
            now=now,
            actor_id=actor.id,
            form=form,
            allowed_hosts=outbound_url.allowed_hosts(settings.outbound_allowed_hosts),
        ),
    )
    if result is None:
        session.rollback()
        return _page(
            request, session, now, page, status, errors=errors, form="webhook", values=values
        )
    session.commit()
    return redirect(request, "/admin/reminders", toast=_("Channel added."))


@router.post("/webhooks/{webhook_id:int}/toggle")
def toggle_webhook(
    request: Request, session: SessionDep, now: Now, actor: AdminDep, webhook_id: int
) -> Response:
    reminder_admin.toggle_webhook(
        session=session, now=now, actor_id=actor.id, webhook_id=webhook_id
    )
    session.commit()
    return redirect(request, "/admin/reminders", toast=_("Changes saved."))


@router.post("/calendar")
def set_day(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: AdminDep,
    page: PageDep,
    day: Annotated[str, Form(max_length=10)] = "",
    kind: Annotated[str, Form(max_length=8)] = "",
    note: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return _page(
            request,
            session,
            now,
            page,
            422,
            errors={"day": _("Enter a date.")},
            form="calendar",
            values={"day": day, "note": note},
        )
    if kind not in ("work", "off"):
        raise Invalid(_("Choose one of the offered options."))
    reminder_admin.set_day(
        session=session,
        now=now,
        actor_id=actor.id,
        day=parsed,
        is_workday=kind == "work",
        note=note,
    )
    session.commit()
    return redirect(request, "/admin/reminders", toast=_("Calendar entry saved."))


@router.post("/calendar/{day}/delete")
def remove_day(
    request: Request, session: SessionDep, now: Now, actor: AdminDep, day: date
) -> Response:
    reminder_admin.remove_day(session=session, now=now, actor_id=actor.id, day=day)
    session.commit()
    return redirect(request, "/admin/reminders", toast=_("Calendar entry removed."))


@router.post("/test")
def send_test(
    request: Request,
    session: SessionDep,
    now: Now,
    settings: SettingsDep,
    actor: AdminDep,
    channel: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Send a test message now, through e-mail (to oneself) or one webhook channel."""
    text = _("Test message from Ronghe: this channel works.")
    try:
        if channel == "email":
            notify_channels.send_mail(
                settings, Mail(actor.user.email, text, text, f"<p>{text}</p>")
            )
        elif channel.startswith("webhook:") and parse_id(channel[8:]) is not None:
            webhook = session.get(WebhookChannel, parse_id(channel[8:]))
            if webhook is None:
                raise Invalid(_("Choose one of the offered options."))
            notify_channels.post_webhook(settings, webhook, text, settings.public_url, now)
        else:
            raise Invalid(_("Choose one of the offered options."))
    except DeliveryError as exc:
        return redirect(
            request,
            "/admin/reminders",
            toast=_("Test failed: %(error)s", error=translate_message(str(exc))),
        )
    return redirect(request, "/admin/reminders", toast=_("Test message sent."))


@router.post("/run")
def run_now(request: Request, now: Now, settings: SettingsDep, actor: AdminDep) -> Response:
    report = reminder_pass.run(
        session_factory=request.app.state.session_factory, now=now, settings=settings
    )
    return redirect(
        request,
        "/admin/reminders",
        toast=_(
            "Pass done: %(inserted)d new, %(sent)d sent, %(failed)d failed.",
            inserted=report.inserted,
            sent=report.sent,
            failed=report.failed,
        ),
    )


@router.post("/deliveries/retry")
def retry_many(
    request: Request,
    session: SessionDep,
    now: Now,
    actor: AdminDep,
    scope: FormText = "",
    ids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Send again every given-up delivery ("dead"), or the ones ticked in the log."""
    chosen: list[int] | None = None
    if scope == "selected":
        given = [parse_id(value) for value in ids or []]
        chosen = [i for i in given if i is not None]
        if len(chosen) != len(given):
            raise Invalid(_("Choose one of the offered options."))
    elif scope != "dead":
        raise Invalid(_("Choose one of the offered options."))
    count = reminder_admin.retry(
        session=session, now=now, actor_id=actor.id, notification_ids=chosen
    )
    session.commit()
    return redirect(
        request,
        "/admin/reminders?status=pending",
        toast=ngettext(
            "%(num)d delivery will be sent again at the next pass.",
            "%(num)d deliveries will be sent again at the next pass.",
            count,
        ),
    )


@router.post("/deliveries/{notification_id:int}/retry")
def retry(
    request: Request, session: SessionDep, now: Now, actor: AdminDep, notification_id: int
) -> Response:
    reminder_admin.retry(
        session=session, now=now, actor_id=actor.id, notification_ids=[notification_id]
    )
    session.commit()
    return redirect(
        request,
        "/admin/reminders?status=pending",
        toast=_("It will be sent again at the next pass."),
    )
