"""The same-site rule for user-supplied return addresses, error pages, and JSON answers."""

import json
from datetime import date

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.web.http import json_answer, same_site_path


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/x", "//evil.example", "/\\evil.example", "/ok\x00", "evil", "", None],
)
def test_foreign_or_odd_addresses_fall_back(target: str | None) -> None:
    assert same_site_path(target, "/evidence/7") == "/evidence/7"


def test_json_answer_writes_chinese_as_is_dates_in_iso_and_nan_as_null() -> None:
    plain = json_answer({"title": "数据治理", "n": 3}, status_code=201)
    assert plain.status_code == 201
    assert plain.headers["content-type"] == "application/json"
    assert json.loads(bytes(plain.body)) == {"title": "数据治理", "n": 3}
    assert "数据治理".encode() in bytes(plain.body)  # not \u escapes
    # As FastAPI wrote a dict: dates in ISO 8601, a NaN as null (never a 500).
    odd = json_answer({"due": date(2026, 12, 3), "ratio": float("nan")})
    assert json.loads(bytes(odd.body)) == {"due": "2026-12-03", "ratio": None}


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
