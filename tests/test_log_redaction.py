"""Secret-bearing addresses never reach the logs in a usable form (tests/test_served_logs.py
checks the same on a real `ronghe serve`)."""

import io
import logging
from collections.abc import Iterator

import httpx
import pytest
from uvicorn.logging import AccessFormatter

from app import log_redaction
from app.security import new_token

CALENDAR = new_token()
ASSESSOR = new_token("ra_")
API_TOKEN = new_token("rh_")


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """uvicorn's access logger, with uvicorn's own formatter, writing to a string."""
    log_redaction.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    logger = logging.getLogger("uvicorn.access")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


def _request(path: str, status: int = 200) -> None:
    # The very call uvicorn's protocol makes for each answered request.
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "10.0.0.8:5123", "GET", path, "1.1", status
    )


@pytest.mark.parametrize(
    ("path", "secret", "shown"),
    [
        (f"/calendar/{CALENDAR}.ics", CALENDAR, "/calendar/….ics"),
        (f"/calendar/{CALENDAR}", CALENDAR, "/calendar/…"),
        (f"/calendar/{CALENDAR}.ics?x=1", CALENDAR, "/calendar/….ics?x=1"),
        (f"/assessor/{ASSESSOR}", ASSESSOR, "/assessor/…"),
        (
            f"/assessor/{ASSESSOR}/file?path=evidence/a.pdf",
            ASSESSOR,
            "/assessor/…/file?path=evidence/a.pdf",
        ),
        ("/assessor/not-a-real-but-secret-key", "not-a-real-but-secret-key", "/assessor/…"),
        (f"/api/v1/me?token={API_TOKEN}", API_TOKEN, "/api/v1/me?token=…"),
        (f"/api/v1/me?access_token={CALENDAR}", CALENDAR, "/api/v1/me?access_token=…"),
        (f"/evidence?q=1&csrf_token={CALENDAR}", CALENDAR, "/evidence?q=1&csrf_token=…"),
    ],
)
def test_a_secret_in_an_access_log_line_is_blanked(
    access_log: io.StringIO, path: str, secret: str, shown: str
) -> None:
    _request(path)
    line = access_log.getvalue()
    assert secret not in line
    assert f'"GET {shown} HTTP/1.1" 200' in line


def test_ordinary_paths_are_left_alone(access_log: io.StringIO) -> None:
    for path in ("/admin/reminders/calendar/2026-10-01/delete", "/dossiers/3/assessors", "/"):
        _request(path)
    assert access_log.getvalue().count("/admin/reminders/calendar/2026-10-01/delete") == 1
    assert "/dossiers/3/assessors" in access_log.getvalue()


def test_app_errors_tracebacks_and_webhook_urls_are_blanked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log_redaction.install()
    webhooks = {
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-secret-key-123": (
            "wecom-secret-key-123"
        ),
        "https://oapi.dingtalk.com/robot/send?access_token=ding-secret-456&sign=sig789": (
            "ding-secret-456"
        ),
        "https://open.feishu.cn/open-apis/bot/v2/hook/feishu-hook-id-0000": "feishu-hook-id-0000",
    }
    with caplog.at_level(logging.INFO):
        logging.getLogger("app.web").error(
            "unhandled error on %s %s", "GET", f"/assessor/{ASSESSOR}/file"
        )
        for url in webhooks:
            # httpx logs its URL objects, not strings.
            logging.getLogger("httpx").info("HTTP Request: %s %s", "POST", httpx.URL(url))
        try:
            raise RuntimeError(f"fetching /calendar/{CALENDAR}.ics with Bearer {API_TOKEN}")
        except RuntimeError:
            logging.getLogger("app.jobs.scheduler").exception("reminder pass failed")
    text = caplog.text
    for secret in (ASSESSOR, CALENDAR, API_TOKEN, "sig789", *webhooks.values()):
        assert secret not in text
    assert "unhandled error on GET /assessor/…/file" in text
    assert "open.feishu.cn/open-apis/bot/v2/hook/…" in text
    assert "Bearer …" in text
