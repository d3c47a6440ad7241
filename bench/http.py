"""Measure pages and the API over HTTP, as a browser meets them (issue 15).

    RONGHE_DATA_DIR=/tmp/bench-large .venv/bin/ronghe demo --scale large
    .venv/bin/python -m bench.http --data-dir /tmp/bench-large [--json /tmp/http.json]

    # the same data on PostgreSQL, with the 1,209-requirement catalogue, median of 3 rounds:
    .venv/bin/python -m bench.http --data-dir DIR --database-url postgresql+psycopg://… \\
        --catalogue-requirements 1209 --repeat 3

One command prints the table for docs/benchmarks.md. It starts the served app the way
production does (`ronghe serve --workers 3`, RONGHE_ENVIRONMENT=production, a secret made for
the run, the scheduler off, every other setting at its default) on the data set named on the
command line, and waits for /healthz. It signs in as the data set's first active administrator
(a session cookie for pages, an API token for /api/v1), then for each URL runs `hey`
(`apt-get install hey`): a warm-up, then a timed run at 1 and at 8 concurrent clients. From
every request's latency it computes p50 / p95 / p99 and requests per second; any answer but a
2xx (a redirect included) is an error that fails the row. /healthz is the hello-world
reference: the JSON lists' throughput at c=8 is given as a share of its. After the runs it
reads each worker's memory (VmRSS, VmHWM) and the server log for workers that were replaced.

The budgets (issue 15): every page p95 ≤ 50 ms at c=1 (a requirement tree ≤ 80 ms) and
≤ 250 ms at c=8, p95/p50 ≤ 5 at c=8, JSON lists ≥ 40 % of /healthz's throughput at c=8.
A missed budget is reported; the exit code is 1 only when a request failed, and non-zero when
the data set is missing or the server cannot be started or reached.
"""

import argparse
import json
import os
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.http_load import Load, require_hey

DEFAULT_WORKERS = 3
ROOT = Path(__file__).resolve().parents[1]


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def duration(value: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+)?(ms|s|m)", value):
        raise argparse.ArgumentTypeError(f"{value} is not a duration such as 5s, 500ms or 1m")
    return value


def pattern(value: str) -> re.Pattern[str]:
    try:
        return re.compile(value)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{value} is not a regular expression: {exc}") from exc


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="the data set's directory")
    parser.add_argument("--database-url", help="default: the SQLite file in --data-dir")
    parser.add_argument("--workers", type=positive, default=DEFAULT_WORKERS, help="default 3")
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument("--duration", type=duration, default="5s", help="each timed run, 5s")
    amount.add_argument("--requests", type=positive, help="or: each timed run's requests")
    parser.add_argument("--warmup", type=positive, default=20, help="warm-up requests (c=2)")
    parser.add_argument("--repeat", type=positive, default=1, help="rounds; medians reported")
    parser.add_argument("--only", type=pattern, help="URLs matching this regex (+ /healthz)")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    parser.add_argument(
        "--catalogue-requirements",
        type=int,
        default=0,
        help="first load a synthetic catalogue of N requirements (bench/catalogue.py)",
    )
    parser.add_argument("--start-timeout", type=float, default=90, help="seconds, default 90")
    parser.add_argument("--server-log", type=Path, help="keep the server's log here")
    args = parser.parse_args(argv)
    if args.requests is not None:
        args.duration = None
    args.data_dir = args.data_dir.resolve()
    args.database_url = absolute_sqlite(args.database_url)
    return args


def absolute_sqlite(database_url: str | None) -> str | None:
    """The server runs in a directory of its own: a relative SQLite path would name another
    (new, empty) file there."""
    path = sqlite_file(Path(), database_url) if database_url else None
    return f"sqlite:///{path.resolve()}" if path is not None else database_url


def sqlite_file(data_dir: Path, database_url: str | None) -> Path | None:
    if database_url is None:
        return data_dir / "ronghe.db"
    if database_url.startswith("sqlite:///"):
        return Path(database_url.removeprefix("sqlite:///"))
    return None


def require_database_file(data_dir: Path, database_url: str | None) -> None:
    """Before anything opens it: SQLite would create an empty file where none is."""
    path = sqlite_file(data_dir, database_url)
    if path is not None and not path.is_file():
        raise SystemExit(
            f"bench.http: no data set at {path} (no database file); generate one first: "
            f"RONGHE_DATA_DIR={data_dir} ronghe demo --scale large"
        )


def ronghe_command() -> list[str]:
    script = Path(sys.executable).with_name("ronghe")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "app.cli"]


def server_env(args: argparse.Namespace, secret: str) -> dict[str, str]:
    """Production settings on the given data set; the caller's RONGHE_* are left out so that
    the figures do not depend on the shell they were taken from."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RONGHE_")}
    env.update(
        RONGHE_ENVIRONMENT="production",
        RONGHE_DATA_DIR=str(args.data_dir),
        RONGHE_SCHEDULER="off",
        RONGHE_SECRET_KEY=secret,
        PYTHONUNBUFFERED="1",
        # bench/ is not installed with the app: `python -m bench.catalogue` finds it here.
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    if args.database_url:
        env["RONGHE_DATABASE_URL"] = args.database_url
    return env


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    require_hey()
    require_database_file(args.data_dir, args.database_url)
    # Importing the app takes seconds; a missing tool or data set is reported before that.
    from bench import http_report, http_run

    load = Load(duration=args.duration, requests=args.requests, warmup=args.warmup)
    secret = secrets.token_urlsafe(36)  # 48 characters: production wants at least 32
    with tempfile.TemporaryDirectory(prefix="ronghe-bench-http-") as scratch:
        log = args.server_log or Path(scratch) / "server.log"
        plan = http_run.Plan(
            data_dir=args.data_dir,
            database_url=args.database_url,
            secret=secret,
            workers=args.workers,
            load=load,
            repeat=args.repeat,
            only=args.only,
            catalogue_requirements=args.catalogue_requirements,
            start_timeout_s=args.start_timeout,
            ronghe=ronghe_command(),
            env=server_env(args, secret),
            scratch=Path(scratch),
            log=log.resolve(),
        )
        started = time.perf_counter()
        report = http_run.run(plan)
    print(http_report.markdown(report))
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if args.json:
        write_json(args.json, http_report.as_json(report))
    return 1 if http_report.any_errors(report) else 0


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
