"""Keeps secrets out of log files. Some addresses are their own key (a calendar feed, an
assessor link, a chat webhook), so a logged path would be a usable credential for anyone who
reads the logs; a token pasted into a query string is no better.

Every log record is scrubbed as it is made, whichever logger makes it: uvicorn's access log,
the app's own error log, httpx's request log of webhook deliveries, tracebacks."""

import logging
import re
from typing import Any

_SEGMENT = r"[^/?#\s\"'<>]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # The calendar feed, /calendar/<token>.ics (app/routers/notifications.py); a mistyped
    # address without .ics still carries the token, which is 43 URL-safe characters.
    (re.compile(rf"(/calendar/){_SEGMENT}+?(\.ics)"), r"\1…\2"),
    (re.compile(r"(/calendar/)[A-Za-z0-9_-]{16,}"), r"\1…"),
    # An assessor link, /assessor/<key>[/…] (app/routers/assessor.py), whatever the key.
    (re.compile(rf"(/assessor/){_SEGMENT}+"), r"\1…"),
    # Prefixed secrets wherever they turn up: assessor keys (ra_) and API tokens (rh_).
    (re.compile(r"\b(ra|rh)_[A-Za-z0-9_-]{16,}"), r"\1_…"),
    # Chat webhooks keep their key in the path (Feishu /hook/<id>, Slack /services/…) or in
    # the query (WeCom key=, DingTalk access_token= and sign=).
    (re.compile(rf"(/hooks?/){_SEGMENT}+(?:/{_SEGMENT}+)*"), r"\1…"),
    (re.compile(r"(hooks\.slack\.com/services/)\S+?(?=[\s\"']|$)"), r"\1…"),
    (
        re.compile(
            r"([?&;](?:access_token|api_key|apikey|token|secret|key|password|sign|signature"
            r"|csrf_token)=)[^&#\s\"'<>]+",
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
