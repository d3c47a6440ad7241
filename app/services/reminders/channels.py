"""Sending one message: e-mail over SMTP, or an IM group-robot / generic JSON webhook."""

import base64
import hashlib
import hmac
import json
import smtplib
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any
from urllib.parse import quote_plus

from app.i18n import N_
from app.models.notification import WebhookChannel, WebhookKind
from app.services.reminders import outbound_url
from app.settings import Settings

TIMEOUT_SECONDS = 10
NO_SMTP = N_("No SMTP server is configured (RONGHE_SMTP_HOST).")
# What a failed webhook call records: the status or a class of error, never the answer's
# text, which may come from a server the administrator should not be able to read through us.
TIMED_OUT = N_("The channel did not answer in time.")
UNREACHABLE = N_("The channel could not be reached.")
# Characters that end a header line, or that a header must not carry: C0/C1 controls (CR, LF,
# NEL among them) and the Unicode line and paragraph separators.
BREAKING = frozenset({"Cc", "Zl", "Zp"})


class DeliveryError(Exception):
    """The channel refused or could not be reached; the message will be retried."""


class NotConfigured(DeliveryError):
    """The channel is not set up here; retrying would not help, so the message is skipped."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str


def one_line(text: str) -> str:
    """Text for a mail header: line breaks and control characters become single spaces."""
    return " ".join(
        "".join(" " if unicodedata.category(c) in BREAKING else c for c in text).split()
    )


def send_mail(settings: Settings, mail: Mail) -> None:
    if not settings.smtp_host:
        raise NotConfigured(NO_SMTP)
    message = EmailMessage()
    message["From"] = formataddr(("融合 Ronghe", one_line(settings.mail_from)))
    message["To"] = one_line(mail.to)
    # A title typed by a user may hold a line break; in a header it would be refused.
    message["Subject"] = one_line(mail.subject)
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP: {exc}") from exc


def _sign(secret: str, text: str) -> str:
    return base64.b64encode(
        hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    ).decode()


def webhook_request(
    channel: WebhookChannel, text: str, link: str, now: datetime
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The URL, JSON body and headers for a channel, signed the way each service expects."""
    url, headers = channel.url, {"Content-Type": "application/json"}
    if channel.kind == WebhookKind.wecom:
        return (
            url,
            {"msgtype": "markdown", "markdown": {"content": f"{text}\n[{link}]({link})"}},
            headers,
        )
    if channel.kind == WebhookKind.dingtalk:
        body = {
            "msgtype": "markdown",
            "markdown": {"title": text[:50], "text": f"{text}\n\n[{link}]({link})"},
        }
        if channel.secret:
            timestamp = str(int(now.timestamp() * 1000))
            sign = quote_plus(_sign(channel.secret, f"{timestamp}\n{channel.secret}"))
            url += ("&" if "?" in url else "?") + f"timestamp={timestamp}&sign={sign}"
        return url, body, headers
    if channel.kind == WebhookKind.feishu:
        body = {"msg_type": "text", "content": {"text": f"{text}\n{link}"}}
        if channel.secret:
            timestamp = str(int(now.timestamp()))
            # Feishu signs with the timestamp and secret as the key and an empty message.
            key = f"{timestamp}\n{channel.secret}".encode()
            body |= {
                "timestamp": timestamp,
                "sign": base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode(),
            }
        return url, body, headers
    body = {"text": text, "link": link, "sent_at": now.isoformat()}
    if channel.secret:
        raw = json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
        headers["X-Ronghe-Signature"] = (
            "sha256=" + hmac.new(channel.secret.encode(), raw, hashlib.sha256).hexdigest()
        )
    return url, body, headers


def post_webhook(
    settings: Settings, channel: WebhookChannel, text: str, link: str, now: datetime
) -> None:
    # imported here: httpx costs 0.1–0.6 s at start and only the webhook senders need it
    import httpx

    url, body, headers = webhook_request(channel, text, link, now)
    raw = json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
    try:
        response = outbound_url.post(
            url,
            content=raw,
            headers=headers,
            allowed=outbound_url.allowed_hosts(settings.outbound_allowed_hosts),
            timeout=TIMEOUT_SECONDS,
        )
    except outbound_url.Refused as exc:
        raise DeliveryError(str(exc)) from exc
    except httpx.TimeoutException as exc:
        raise DeliveryError(TIMED_OUT) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise DeliveryError(UNREACHABLE) from exc
    # A redirect is not followed (its target is unchecked): it fails like an error status.
    if response.status_code >= 300:
        raise DeliveryError(f"{channel.kind}: HTTP {response.status_code}")
    if channel.kind != WebhookKind.generic:
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        code = answer.get("errcode", answer.get("code", 0)) if isinstance(answer, dict) else 0
        if code not in (0, None):
            # The robots' numeric error codes are documented (DingTalk 310000: wrong
            # signature); anything else in the answer is not repeated.
            shown = code if type(code) is int and abs(code) < 10**9 else "?"
            raise DeliveryError(f"{channel.kind}: errcode {shown}")
