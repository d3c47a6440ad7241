"""Measure the design.md performance budgets on a generated large data set.

    RONGHE_DATA_DIR=/tmp/bench-x ronghe demo --scale large
    python -m bench.run --data-dir /tmp/bench-x [--database-url postgresql+psycopg://…]

Server time is measured in-process (TestClient against create_app, no network), signed in as
the data set's administrator: warm-up requests, then N timed requests per URL. A bare FastAPI
hello-world is measured the same way, so the JSON endpoints' throughput can be compared with it.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, select

from app.main import create_app
from app.settings import Settings
from bench.http_dataset import biggest_audit, first_admin
from bench.http_load import percentile as ranked_percentile

SECRET = "bench-secret-" + "x" * 40
PAGE_BUDGET = 50.0  # ms, p95: any list or dashboard page
TREE_BUDGET = 80.0  # ms, p95: requirement tree with coverage roll-up
REMINDER_FIRST_BUDGET = 2.0  # s
REMINDER_RERUN_BUDGET = 0.5  # s
DOSSIER_BUDGET_PER_1000 = 15.0  # s
THROUGHPUT_RATIO_BUDGET = 0.40


@dataclass
class Row:
    what: str
    p50: str
    p95: str
    budget: str
    met: bool | None
    queries: str = ""

    def markdown(self) -> str:
        verdict = "—" if self.met is None else "met" if self.met else "**missed**"
        cells = [self.what, self.p50, self.p95, self.budget, verdict, self.queries]
        return "| " + " | ".join(cells) + " |"


class QueryCounter:
    """Counts the SQL statements an engine executes (to spot N+1 patterns)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self.seen)

    def seen(self, *_args: Any) -> None:
        self.count += 1


def make_settings(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(
        environment="development",
        data_dir=data_dir,
        database_url=database_url,
        secret_key=SECRET,
        scheduler="off",
        fast_password_hashing=True,
    )


def percentile(values: list[float], q: float) -> float:
    return ranked_percentile(sorted(values), q)


def time_requests(
    client: TestClient, url: str, n: int, warmup: int, headers: dict[str, str] | None = None
) -> list[float]:
    for _ in range(warmup):
        response = client.get(url, headers=headers)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}\n{response.text[:500]}")
    timings = []
    for _ in range(n):
        started = time.perf_counter()
        client.get(url, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


@contextmanager
def signed_in_client(settings: Settings) -> Iterator[tuple[TestClient, Engine, str, int]]:
    """A client with a live login session of the data set's first administrator, and an API
    token of the same user."""
    from app.services.accounts import api_tokens as api_token
    from app.services.accounts import auth as auth_service

    app = create_app(settings)
    engine: Engine = app.state.engine
    now = datetime.now(UTC)
    with Session(engine) as session:
        admin = first_admin(session)
        if admin is None or admin.id is None:
            raise SystemExit("the data set has no active administrator")
        token = auth_service.start_session(
            session=session, now=now, user=admin, lifetime=timedelta(hours=2)
        )
        _, secret = api_token.create(session=session, now=now, user_id=admin.id, name="bench")
        session.commit()
        admin_id = admin.id
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        client.cookies.set("ronghe_session", token, domain="testserver.local")
        client.cookies.set("ronghe_locale", "zh_CN", domain="testserver.local")
        yield client, engine, secret, admin_id


def big_audit(engine: Engine) -> int:
    with Session(engine) as session:
        audit_id, items = biggest_audit(session) or (0, 0)
    if items < 200:
        raise SystemExit(f"the largest checklist has {items} items; generate the large data set")
    return int(audit_id)


def measure_pages(settings: Settings, n: int, warmup: int) -> tuple[list[Row], dict[str, float]]:
    rows: list[Row] = []
    means: dict[str, float] = {}
    with TestClient(hello_app()) as hello:
        timings = time_requests(hello, "/hello", n * 10, warmup)
        means["hello"] = statistics.mean(timings)
        rows.append(
            Row(
                "bare FastAPI hello-world (reference)",
                f"{percentile(timings, 0.5):.2f} ms",
                f"{percentile(timings, 0.95):.2f} ms",
                "",
                None,
            )
        )
    with signed_in_client(settings) as (client, engine, secret, _admin):
        counter = QueryCounter(engine)
        audit_id = big_audit(engine)
        bearer = {"Authorization": f"Bearer {secret}"}
        pages: list[tuple[str, str, float, dict[str, str] | None]] = [
            ("/", "overview", PAGE_BUDGET, None),
            ("/dashboard", "dashboard", PAGE_BUDGET, None),
            ("/strategy", "strategy map", PAGE_BUDGET, None),
            ("/requirements", "requirement tree with coverage", TREE_BUDGET, None),
            ("/evidence?q=制度", "evidence register search", PAGE_BUDGET, None),
            (f"/audits/{audit_id}/checklist", "audit checklist (≥200 items)", PAGE_BUDGET, None),
            ("/nonconformities", "nonconformity board", PAGE_BUDGET, None),
            ("/inbox", "inbox", PAGE_BUDGET, None),
            ("/api/v1/goals", "API goals", PAGE_BUDGET, bearer),
            ("/api/v1/audits", "API audits", PAGE_BUDGET, bearer),
            ("/api/v1/nonconformities", "API nonconformities", PAGE_BUDGET, bearer),
        ]
        for url, name, budget, headers in pages:
            before = counter.count
            client.get(url, headers=headers)
            queries = counter.count - before
            timings = time_requests(client, url, n, warmup, headers)
            p95 = percentile(timings, 0.95)
            means[url] = statistics.mean(timings)
            rows.append(
                Row(
                    f"`GET {url}` {name}",
                    f"{percentile(timings, 0.5):.1f} ms",
                    f"{p95:.1f} ms",
                    f"p95 ≤ {budget:.0f} ms",
                    p95 <= budget,
                    str(queries),
                )
            )
    return rows, means


def throughput_rows(means: dict[str, float]) -> list[Row]:
    rows = []
    for url in ("/api/v1/goals", "/api/v1/audits", "/api/v1/nonconformities"):
        ratio = means["hello"] / means[url]
        rows.append(
            Row(
                f"`{url}` throughput vs hello-world",
                f"{1000 / means[url]:.0f} req/s",
                f"{ratio:.1%} of {1000 / means['hello']:.0f} req/s",
                "≥ 40 %",
                ratio >= THROUGHPUT_RATIO_BUDGET,
            )
        )
    return rows


def measure_reminders(settings: Settings, generated_at: datetime | None) -> list[Row]:
    from app.jobs import reminder_delivery
    from app.models.notification import Notification
    from app.services.reminders import service as reminders

    app_engine = create_app(settings).state.engine
    if generated_at is not None:
        # Undo an earlier bench run's reminders, so that the first run is a first run again.
        with Session(app_engine) as session:
            session.execute(
                text("DELETE FROM notification WHERE created_at > :at"),
                {"at": generated_at.astimezone(UTC).replace(tzinfo=None)},
            )
            session.commit()
            ledger = session.exec(select(func.count()).select_from(Notification)).one()
            print(f"ledger before the first run: {ledger} rows", file=sys.stderr)
    factory = sessionmaker(app_engine, class_=Session, expire_on_commit=False)
    now = datetime.now(UTC)
    results = []
    # What reminders.run does, timed in its two parts: the scan (plan and commit the ledger) is
    # what the budget is about; the delivery pass after it sends at most one batch of the
    # backlog whatever the scan found, and is reported next to it.
    for label, budget in (("first run", REMINDER_FIRST_BUDGET), ("re-run", REMINDER_RERUN_BUDGET)):
        counter = QueryCounter(app_engine)
        started = time.perf_counter()
        with factory() as session:
            report = reminders.plan(session=session, now=now, settings=settings)
            session.commit()
        scanned = time.perf_counter() - started
        statements = counter.count
        delivered = reminder_delivery.deliver(session_factory=factory, now=now, settings=settings)
        total = time.perf_counter() - started
        event.remove(app_engine, "before_cursor_execute", counter.seen)
        print(f"reminders {label}: {report} {delivered}", file=sys.stderr)
        results.append(
            Row(
                f"reminder scan, {label} (planned {report.planned}, inserted {report.inserted})",
                f"{scanned:.2f} s",
                f"{total:.2f} s with the delivery pass (sent {delivered.sent}, "
                f"skipped {delivered.skipped})",
                f"≤ {budget} s",
                scanned <= budget,
                str(statements),
            )
        )
    return results


def dossier_child(settings: Settings) -> None:
    """Build one dossier in this (fresh) process and print time, files and memory as JSON."""
    import tracemalloc

    from app.i18n import use_locale
    from app.jobs import dossier_build
    from app.services.dossiers import service as dossier_service

    # The app's own session factory: dossier_build.run is given it, and it does not expire
    # loaded rows on the progress commits.
    factory = create_app(settings).state.session_factory
    with factory() as session:
        session.execute(text("UPDATE dossier SET active = NULL, status = 'failed' WHERE active"))
        now = datetime.now(UTC)
        dossier = dossier_service.request(session=session, now=now, actor_id=None)
        session.commit()
        assert dossier.id is not None
        dossier_service.claim(session=session, dossier_id=dossier.id, now=now)
        session.commit()
        base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        started = time.perf_counter()
        with use_locale(settings.default_locale):
            built = dossier_build.build(session=session, settings=settings, dossier_id=dossier.id)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "files": built.total_files,
                "size": built.size,
                "base_rss_kb": base_rss,
                "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "traced_peak_kb": peak // 1024,
            }
        )
    )


def measure_dossier(args: argparse.Namespace) -> list[Row]:
    command = [
        sys.executable,
        "-m",
        "bench.run",
        "--data-dir",
        str(args.data_dir),
        "--dossier-child",
    ]
    if args.database_url:
        command += ["--database-url", args.database_url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
        return [Row("dossier export", "failed", "", "", False)]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    per_1000 = result["seconds"] / max(1, result["files"]) * 1000
    print(f"dossier: {result}", file=sys.stderr)
    return [
        Row(
            f"dossier export, {result['files']} files, {result['size'] / 1e6:.0f} MB ZIP",
            f"{result['seconds']:.1f} s",
            f"{per_1000:.1f} s per 1,000 files",
            f"≤ {DOSSIER_BUDGET_PER_1000:.0f} s per 1,000 files",
            per_1000 <= DOSSIER_BUDGET_PER_1000,
        ),
        Row(
            "dossier export memory",
            f"peak RSS {result['peak_rss_kb'] / 1024:.0f} MB",
            f"Python heap peak {result['traced_peak_kb'] / 1024:.0f} MB "
            f"(RSS {result['base_rss_kb'] / 1024:.0f} MB before the build)",
            "flat (streamed)",
            None,
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("-n", type=int, default=30, help="timed requests per URL")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--skip-dossier", action="store_true")
    parser.add_argument("--skip-reminders", action="store_true")
    parser.add_argument(
        "--only",
        choices=("pages", "reminders", "dossier"),
        action="append",
        help="measure only this part (repeatable); the default is everything not skipped",
    )
    parser.add_argument("--dossier-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("RONGHE_SCHEDULER", "off")
    settings = make_settings(args.data_dir, args.database_url)
    if args.dossier_child:
        dossier_child(settings)
        return
    marker = args.data_dir / "large-dataset.json"
    generated_at = None
    if marker.exists():
        generated_at = datetime.fromisoformat(json.loads(marker.read_text())["generated_at"])
    dialect = "PostgreSQL" if (args.database_url or "").startswith("postgres") else "SQLite"
    only = set(args.only or ("pages", "reminders", "dossier"))
    steps: list[Callable[[], list[Row]]] = []
    if "pages" in only:
        page_rows, means = measure_pages(settings, args.n, args.warmup)
        steps.append(lambda: page_rows)
        steps.append(lambda: throughput_rows(means))
    if "reminders" in only and not args.skip_reminders:
        steps.append(lambda: measure_reminders(settings, generated_at))
    if "dossier" in only and not args.skip_dossier:
        steps.append(lambda: measure_dossier(args))
    rows = [row for step in steps for row in step()]
    print(f"\n{dialect}, n={args.n} timed requests after {args.warmup} warm-up, in-process\n")
    print("| What | p50 | p95 | Budget | Met? | SQL statements |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(row.markdown())


if __name__ == "__main__":
    main()
