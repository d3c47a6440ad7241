"""The over-HTTP benchmark (bench/http.py) runs end to end on a tiny data set, so that it
cannot rot: it serves the demo enterprise with `ronghe serve`, signs in, loads a page and the
API with hey, and reports every URL without an error. It refuses a directory without a data set.

The data set is a database of its own: a SQLite file, or on the PostgreSQL run a database on
the server of TEST_DATABASE_URL (the runner is pointed at it with --database-url)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import ROOT, make_settings, new_database, prepare_database

pytestmark = pytest.mark.slow

MEASURED = ["/healthz", "/", "/api/v1/me", "/api/v1/goals"]


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.http", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def p50_at_c1(table: str, path: str) -> float:
    row = next(line for line in table.splitlines() if line.startswith(f"| `GET {path}`"))
    return float(row.split("|")[2].split("/")[0])


def test_measures_a_page_and_the_api_of_the_served_demo(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", new_database(tmp_path, "bench_http"))
    prepare_database(settings, demo=True).dispose()
    figures = tmp_path / "figures.json"

    result = run_bench(
        *("--data-dir", str(settings.data_dir), "--database-url", settings.effective_database_url),
        *("--workers", "1", "--requests", "16", "--warmup", "4", "--json", str(figures)),
        *("--only", "^/$|^/api/v1/(me|goals)$"),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert p50_at_c1(result.stdout, "/healthz") > 0
    assert p50_at_c1(result.stdout, "/api/v1/goals") > 0
    report = json.loads(figures.read_text(encoding="utf-8"))
    assert [row["path"] for row in report["requests"]] == MEASURED
    assert [row["errors"] for row in report["requests"]] == [0, 0, 0, 0]
    assert report["memory"][0]["rss_mib"] > 0


def test_refuses_a_directory_without_a_data_set(tmp_path: Path) -> None:
    result = run_bench("--data-dir", str(tmp_path))

    assert result.returncode != 0
    assert f"no data set at {tmp_path / 'ronghe.db'}" in result.stderr
    assert not (tmp_path / "ronghe.db").exists()
