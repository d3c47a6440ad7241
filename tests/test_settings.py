"""Configuration rules: generated secrets, refused placeholders."""

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_secret_is_generated_once_into_the_data_dir(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).resolved_secret_key
    assert len(first) >= 48
    assert Settings(data_dir=tmp_path).resolved_secret_key == first
    mode = (tmp_path / "secret_key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


@pytest.mark.parametrize("secret", ["changeme", "secret", "short-but-not-placeholder"])
def test_production_refuses_a_placeholder_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="RONGHE_SECRET_KEY"):
        Settings(environment="production", secret_key=secret)


def test_sqlite_is_the_default_database(tmp_path: Path) -> None:
    url = Settings(data_dir=tmp_path).effective_database_url
    assert url == f"sqlite:///{(tmp_path / 'ronghe.db').resolve()}"
