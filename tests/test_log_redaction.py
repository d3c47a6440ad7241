"""Secret-bearing addresses never reach the logs in a usable form (tests/test_served_logs.py
checks the same on a real `ronghe serve`)."""

import io
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from uvicorn.logging import AccessFormatter

from app import log_redaction
from app.models.notification import WebhookChannel, WebhookKind
from app.security import new_token
from app.services.reminders import channels as notify_channels
from app.settings import Settings
from tests.factories import LISTENER_HOST, WebhookServer

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
        (f"/api/v1/me?api_token={API_TOKEN}&x=1", API_TOKEN, "/api/v1/me?api_token=…&x=1"),
        (f"/x?client_secret={CALENDAR}", CALENDAR, "/x?client_secret=…"),
        (f"/x?X-Amz-Signature={CALENDAR}", CALENDAR, "/x?X-Amz-Signature=…"),
        (f"/x?db_password={CALENDAR}", CALENDAR, "/x?db_password=…"),
        (f"/x?sig={CALENDAR}", CALENDAR, "/x?sig=…"),
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
    paths = (
        "/admin/reminders/calendar/2026-10-01/delete",
        "/dossiers/3/assessors",
        "/",
        "/admin/reminders/webhooks/3/toggle",
        "/nonconformities?assignee_id=4&keyword=x&page=2",
    )
    for path in paths:
        _request(path)
    for path in paths:
        assert f'"GET {path} HTTP/1.1"' in access_log.getvalue()


# Addresses of chat and webhook services, each with the part that is its key.
WEBHOOK_URLS = {
    "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=wecom-secret-key-123": (
        "wecom-secret-key-123"
    ),
    "https://oapi.dingtalk.com/robot/send?access_token=ding-secret-456&sign=sig789": (
        "ding-secret-456",
        "sig789",
    ),
    "https://open.feishu.cn/open-apis/bot/v2/hook/feishu-hook-id-0000": "feishu-hook-id-0000",
    "https://hooks.slack.com/services/T000/B000/slack-secret-111": "slack-secret-111",
    (
        "https://contoso.webhook.office.com/webhookb2/3f2a9c1e-tenant@72f988bf-group"
        "/IncomingWebhook/teams-secret-9f1c/0b1d2e3f-owner"
    ): ("3f2a9c1e-tenant", "teams-secret-9f1c", "0b1d2e3f-owner"),
    "https://outlook.office.com/webhook/old-teams-secret-22/IncomingWebhook/x/y": (
        "old-teams-secret-22"
    ),
    "https://discord.com/api/webhooks/112233445566/discord-token-AbC_dEf": (
        "112233445566",
        "discord-token-AbC_dEf",
    ),
    "https://chat.googleapis.com/v1/spaces/AAAA-space/messages?key=gkey-1&token=gtok-2": (
        "gkey-1",
        "gtok-2",
    ),
    "https://api.telegram.org/bot123456:telegram-token-XyZ/sendMessage": ("telegram-token-XyZ"),
    "https://n8n.corp.example/webhook/generic-path-secret-33": "generic-path-secret-33",
    "https://ci.corp.example/api/hooks/build/generic-hook-secret-44": "generic-hook-secret-44",
    "https://notify.corp.example/send?api_token=generic-query-secret-55": (
        "generic-query-secret-55"
    ),
}


@pytest.mark.parametrize("url", WEBHOOK_URLS)
def test_webhook_addresses_lose_their_keys(caplog: pytest.LogCaptureFixture, url: str) -> None:
    log_redaction.install()
    with caplog.at_level(logging.INFO):
        logging.getLogger("app.jobs.reminder_delivery").warning("posting to %s", url)
        logging.getLogger("app.jobs.reminder_delivery").warning(f"posting to {url}")
    secrets = WEBHOOK_URLS[url]
    for secret in (secrets,) if isinstance(secrets, str) else secrets:
        assert secret not in caplog.text
    host = httpx.URL(url).host
    assert caplog.text.count(f"posting to https://{host}/") == 2


def test_outbound_requests_are_not_logged_by_httpx(
    caplog: pytest.LogCaptureFixture,
    webhook_server: WebhookServer,
) -> None:
    """The delivery log records each outcome; httpx's own line per request, with the
    robot's address in it, is not written."""
    log_redaction.install()
    received, base = webhook_server
    settings = Settings(environment="test", outbound_allowed_hosts=LISTENER_HOST)
    channel = WebhookChannel(name="群", kind=WebhookKind.generic, url=f"{base}/hook/key-777")
    with caplog.at_level(logging.INFO):
        notify_channels.post_webhook(settings, channel, "t", "l", datetime.now(UTC))
    assert len(received.requests) == 1
    assert "key-777" not in caplog.text
    assert "HTTP Request" not in caplog.text


def test_app_errors_tracebacks_and_webhook_urls_are_blanked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log_redaction.install()
    # An operator who turns httpx's request log back on still gets no keys.
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("app.web.http").error(
            "unhandled error on %s %s", "GET", f"/assessor/{ASSESSOR}/file"
        )
        for url in WEBHOOK_URLS:
            # httpx logs its URL objects, not strings.
            logging.getLogger("httpx").info("HTTP Request: %s %s", "POST", httpx.URL(url))
        try:
            raise RuntimeError(f"fetching /calendar/{CALENDAR}.ics with Bearer {API_TOKEN}")
        except RuntimeError:
            logging.getLogger("app.jobs.scheduler").exception("reminder pass failed")
    text = caplog.text
    for secret in (ASSESSOR, CALENDAR, API_TOKEN):
        assert secret not in text
    for secrets in WEBHOOK_URLS.values():
        for secret in (secrets,) if isinstance(secrets, str) else secrets:
            assert secret not in text
    assert "unhandled error on GET /assessor/…/file" in text
    assert "HTTP Request: POST https://open.feishu.cn/…" in text
    assert "Bearer …" in text


@pytest.mark.parametrize(
    "line", ["http://x/" * 5000, "/calendar/" * 5000, "?" + "a" * 40000, "&a" * 20000]
)
def test_a_crafted_line_costs_little(line: str) -> None:
    """A request line is the client's to choose, and every one is redacted: a line built to
    make a pattern search again from each of its parts took seconds, not milliseconds."""
    started = time.perf_counter()
    log_redaction.redact(line)
    assert time.perf_counter() - started < 1
