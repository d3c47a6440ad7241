"""Keeps secrets out of log files. Some addresses are their own key (a calendar feed, an
assessor link, a chat webhook), so a logged path would be a usable credential for anyone who
reads the logs; a token pasted into a query string is no better.

Every log record is scrubbed as it is made, whichever logger makes it: uvicorn's access log,
the app's own error log, httpx's request log of webhook deliveries (when an operator turns it
on), tracebacks."""

import logging
import re
from collections.abc import Callable
from typing import Any

_SEGMENT = r"[^/?#\s\"'<>]"
# Chat and webhook services whose address is the key (Teams /webhookb2/…/IncomingWebhook/…,
# Discord /api/webhooks/<id>/<token>, Telegram /bot<token>/…): the whole path is blanked.
_WEBHOOK_HOSTS = "|".join(
    re.escape(host)
    for host in (
        "webhook.office.com",
        "outlook.office.com",
        "discord.com",
        "discordapp.com",
        "hooks.slack.com",
        "open.feishu.cn",
        "open.larksuite.com",
        "oapi.dingtalk.com",
        "qyapi.weixin.qq.com",
        "chat.googleapis.com",
        "api.telegram.org",
        "logic.azure.com",
        "hooks.zapier.com",
    )
)
_AFTER_WEBHOOK_SEGMENT = re.compile(
    rf"(/webhook[\w-]*/){_SEGMENT}+(?:/{_SEGMENT}*)*", re.IGNORECASE
)


def _blank_after_webhook_segment(url: re.Match[str]) -> str:
    # A whole address is matched first and searched inside, so that each character of a line
    # is looked at a bounded number of times: a line crafted to make a single pattern search
    # from every "http://" in it would cost time quadratic in its length.
    return _AFTER_WEBHOOK_SEGMENT.sub(r"\1…", url.group(0), count=1)


_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # The calendar feed, /calendar/<token>.ics (app/routers/notifications.py); a mistyped
    # address without .ics still carries the token, which is 43 URL-safe characters.
    (re.compile(rf"(/calendar/){_SEGMENT}+?(\.ics)"), r"\1…\2"),
    (re.compile(r"(/calendar/)[A-Za-z0-9_-]{16,}"), r"\1…"),
    # An assessor link, /assessor/<key>[/…] (app/routers/assessor.py), whatever the key.
    (re.compile(rf"(/assessor/){_SEGMENT}+"), r"\1…"),
    # Prefixed secrets wherever they turn up: assessor keys (ra_) and API tokens (rh_).
    (re.compile(r"\b(ra|rh)_[A-Za-z0-9_-]{16,}"), r"\1_…"),
    # The address of a known chat service: its whole path (the query's keys follow below).
    (
        re.compile(
            rf"(?<![\w.-])((?:https?://)?(?:[\w-]+\.)*(?:{_WEBHOOK_HOSTS})(?::\d+)?)"
            rf"/{_SEGMENT}*(?:/{_SEGMENT}*)*",
            re.IGNORECASE,
        ),
        r"\1/…",
    ),
    # Any other service's address: what follows a "webhook…" segment (n8n /webhook/<id>,
    # /webhooks/<id>/<token>). Full addresses only: this server's own paths
    # /admin/reminders/webhooks/<id>/… hold no secret and stay readable in the access log.
    (re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE), _blank_after_webhook_segment),
    # And in any path, what follows /hook/ or /hooks/ (Feishu /hook/<id>, Mattermost
    # /hooks/<key>); this server has no such path.
    (re.compile(rf"(/hooks?/){_SEGMENT}+(?:/{_SEGMENT}+)*"), r"\1…"),
    # A query parameter whose name ends like a secret's: key= and sign= (WeCom, DingTalk),
    # access_token=, api_token=, client_secret=, X-Amz-Signature=, sig=, password=, …
    (
        re.compile(
            r"([?&;][\w.-]*?(?:token|key|secret|sign|signature|sig|password|passwd|pwd|auth"
            r"|credential)s?=)[^&#\s\"'<>]+",
            re.IGNORECASE,
        ),
        r"\1…",
    ),
    (re.compile(r"(\bBearer\s+)[^\s\"',]+", re.IGNORECASE), r"\1…"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _clean(value: Any) -> Any:
    """A string argument, redacted; any other object only if its text holds a secret (httpx
    logs URL objects), and then as that text."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value
    text = str(value)
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def scrub(record: logging.LogRecord) -> None:
    """Redact a record's message, arguments and traceback in place."""
    if not record.args:
        # With arguments, the message is the code's own template and the secrets are in the
        # arguments; blanking "/assessor/%s" would break the formatting.
        record.msg = _clean(record.msg)
    elif isinstance(record.args, tuple):
        record.args = tuple(_clean(arg) for arg in record.args)
    elif isinstance(record.args, dict):
        record.args = {key: _clean(value) for key, value in record.args.items()}
    if record.exc_info and not record.exc_text:
        # Formatters reuse exc_text once set, so the traceback is printed redacted.
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class _RedactingFactory:
    def __init__(self, make: Any) -> None:
        self.make = make

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.make(*args, **kwargs)
        scrub(record)
        return record


def install() -> None:
    """Scrub every log record of the process from now on (installing twice is harmless)."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, _RedactingFactory):
        logging.setLogRecordFactory(_RedactingFactory(current))
    # httpx logs each request's address at INFO, and the address of a robot may be its key
    # in a form no pattern knows. The delivery log records every outcome; only httpx's
    # warnings are kept, unless the operator has set these loggers' levels themselves.
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
