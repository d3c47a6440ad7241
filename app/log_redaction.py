"""Keeps secrets out of log files: an assessor link is its own key, so a logged path would be
a usable link for anyone who reads the logs."""

import logging
import re
from typing import Any

# The link's secret: "ra_" and 43 URL-safe characters (app/services/assessor_access.py).
_ASSESSOR_KEY = re.compile(r"ra_[A-Za-z0-9_-]{16,}")
LOGGERS = ("uvicorn.access", "uvicorn.error", "app.web")


def redact(text: str) -> str:
    return _ASSESSOR_KEY.sub("ra_…", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _clean(value) for key, value in record.args.items()}
        return True


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def install() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
