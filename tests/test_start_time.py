"""Starting fast: `ronghe --help` and a web worker's first moments load no web stack and no
database layer, and the app loads the writers of Excel, Word, PDF and iCalendar files and the
outbound HTTP client only when a request needs them.

Asserted on what a fresh interpreter has imported, not on seconds, which a loaded machine
would make flaky. A regression here costs every worker seconds of start: on a busy two-core
machine uvicorn's supervisor then took starting workers for dead ones and killed them."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from app.cli import cli

ROOT = Path(__file__).resolve().parent.parent

WEB = ("app.main", "app.routers", "app.web", "fastapi", "starlette", "uvicorn", "jinja2")
DATABASE = ("app.db", "app.models", "app.services", "sqlalchemy", "sqlmodel", "alembic")
WRITERS = ("weasyprint", "openpyxl", "docx", "icalendar", "httpx")


def _imported_by(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    report = "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code + report],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    modules: list[str] = json.loads(result.stdout.splitlines()[-1])
    return set(modules)


def _among(modules: set[str], packages: tuple[str, ...]) -> set[str]:
    return {p for p in packages if any(m == p or m.startswith(f"{p}.") for m in modules)}


def test_a_worker_loads_only_typer_before_it_can_answer_the_health_check() -> None:
    # uvicorn's worker is a spawned interpreter that imports the `ronghe` script, and with it
    # this module, before the thread that answers the supervisor's pings starts.
    modules = _imported_by("import app.cli")
    assert _among(modules, (*WEB, *DATABASE, *WRITERS, "pydantic")) == set()


def test_help_loads_no_web_stack_and_no_database_layer() -> None:
    modules = _imported_by(
        "from typer.testing import CliRunner\n"
        "from app.cli import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\n"
        "assert result.exit_code == 0 and 'serve' in result.output, result.output"
    )
    assert _among(modules, (*WEB, *DATABASE, *WRITERS)) == set()


def test_the_app_loads_the_file_writers_and_http_client_only_when_a_request_needs_them() -> None:
    modules = _imported_by("import app.main")
    assert "app.routers.self_assessments" in modules  # every router is there
    assert _among(modules, WRITERS) == set()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RONGHE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("RONGHE_DATABASE_URL", raising=False)
    assert CliRunner().invoke(cli, ["migrate"]).exit_code == 0
    return tmp_path


def test_serve_gives_a_slowly_starting_worker_time_before_its_health_check_fails(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options, app=app))
    result = CliRunner().invoke(cli, ["serve", "--workers", "3"])
    assert result.exit_code == 0, result.output
    assert started["app"] == "app.main:create_app"
    assert started["workers"] == 3
    # uvicorn's default, 5 s, is less than a worker needs to start on a loaded two-core host.
    assert started["timeout_worker_healthcheck"] >= 30
