"""The same-site rule for user-supplied return addresses."""

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.web.http import same_site_path


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/x", "//evil.example", "/\\evil.example", "/ok\x00", "evil", "", None],
)
def test_foreign_or_odd_addresses_fall_back(target: str | None) -> None:
    assert same_site_path(target, "/evidence/7") == "/evidence/7"


def test_a_local_path_with_query_is_kept() -> None:
    assert (
        same_site_path("/requirements?status=planned&owner=3")
        == "/requirements?status=planned&owner=3"
    )


def test_an_unexpected_error_is_a_chinese_page_with_the_security_headers(
    settings: Settings,
) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 500
    assert "a bug" not in response.text
    assert "Traceback" not in response.text
    assert "已记录" in response.text
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
