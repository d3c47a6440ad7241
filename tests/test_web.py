"""The same-site rule for user-supplied return addresses."""

import pytest

from app.web import same_site_path


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
