"""A real SMTP server for the reminder tests (the webhook receiver is in tests/conftest.py)."""

from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from tests.factories import SmtpServer, SmtpSink, free_port


@pytest.fixture
def smtp_sink() -> Iterator[SmtpServer]:
    handler, port = SmtpSink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
