"""Assessor links never reach the logs in a usable form."""

import logging

import pytest

from app import log_redaction


def test_an_assessor_key_in_an_access_log_line_is_blanked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log_redaction.install()
    secret = "ra_" + "s3cr3t-KEY_value" * 3
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d',
            "10.0.0.8:5123",
            "GET",
            f"/assessor/{secret}/file?path=evidence/a.pdf",
            "1.1",
            200,
        )
        logging.getLogger("app.web").error("unhandled error on GET /assessor/%s", secret)
    assert secret not in caplog.text
    assert "/assessor/ra_…/file?path=evidence/a.pdf" in caplog.text
