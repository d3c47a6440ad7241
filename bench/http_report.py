"""The budgets of issue 15 applied to the over-HTTP figures; the markdown table and the JSON."""

from dataclasses import asdict, dataclass
from typing import Any

from bench.http_dataset import Target
from bench.http_load import Figures, Load, median

PAGE_P95_C1_MS = 50.0
TREE_P95_C1_MS = 80.0  # a requirement tree with its coverage roll-up
P95_C8_MS = 250.0
SPREAD_C8 = 5.0  # p95 / p50 at c=8: reads must not queue behind each other
SHARE_OF_HEALTHZ = 0.40  # JSON list throughput at c=8, against /healthz at c=8


@dataclass(frozen=True)
class Attempt:
    """One round of one URL: the warm-up, then the timed runs at c=1 and c=8."""

    warm_up: Figures
    c1: Figures
    c8: Figures


@dataclass(frozen=True)
class Measured:
    target: Target
    attempts: list[Attempt]

    @property
    def c1(self) -> Figures:
        return median([attempt.c1 for attempt in self.attempts])

    @property
    def c8(self) -> Figures:
        return median([attempt.c8 for attempt in self.attempts])

    @property
    def errors(self) -> int:
        return sum(a.warm_up.errors + a.c1.errors + a.c8.errors for a in self.attempts)


@dataclass(frozen=True)
class Start:
    """How the server came up: seconds from launch to the first /healthz answer and until
    every worker had started, and the supervisor's lines about workers it replaced."""

    first_answer_s: float
    all_ready_s: float | None
    ready_workers: int
    restarts: list[str]


@dataclass(frozen=True)
class Report:
    database: str
    workers: int
    data_set: dict[str, int]
    load_average: dict[str, list[float]]
    load: Load
    repeat: int
    start: Start
    memory: list[dict[str, float]]
    measured: list[Measured]
    catalogue: str | None = None


@dataclass(frozen=True)
class Row:
    measured: Measured
    c1: Figures
    c8: Figures
    share: float | None  # of /healthz's throughput at c=8, for the JSON lists
    missed: list[str]

    @property
    def errors(self) -> int:
        return self.measured.errors


def budget_text(target: Target) -> str:
    if target.kind == "reference":
        return "reference"
    c1 = TREE_P95_C1_MS if target.kind == "tree" else PAGE_P95_C1_MS
    text = f"p95 ≤ {c1:.0f} / {P95_C8_MS:.0f} ms, ≤ {SPREAD_C8:.0f}×"
    if target.kind == "json-list":
        text += f", ≥ {SHARE_OF_HEALTHZ:.0%} of /healthz"
    return text


def missed_budgets(target: Target, c1: Figures, c8: Figures, share: float | None) -> list[str]:
    if target.kind == "reference":
        return []
    c1_budget = TREE_P95_C1_MS if target.kind == "tree" else PAGE_P95_C1_MS
    checks = [
        ("c=1 p95", c1.p95 <= c1_budget),
        ("c=8 p95", c8.p95 <= P95_C8_MS),
        ("p95/p50", c8.spread <= SPREAD_C8),
        ("throughput", share is None or share >= SHARE_OF_HEALTHZ),
    ]
    return [name for name, met in checks if not met]


def rows(report: Report) -> list[Row]:
    healthz = next(m for m in report.measured if m.target.kind == "reference")
    reference_rps = healthz.c8.rps
    found = []
    for measured in report.measured:
        c1, c8 = measured.c1, measured.c8
        share = None
        if measured.target.kind == "json-list":
            share = c8.rps / reference_rps if reference_rps > 0 else 0.0
        found.append(Row(measured, c1, c8, share, missed_budgets(measured.target, c1, c8, share)))
    return found


def verdict(row: Row) -> str:
    problems = [*row.missed]
    if row.errors:
        problems.insert(0, f"{row.errors} errors")
    if not problems:
        return "—" if row.measured.target.kind == "reference" else "met"
    return "**missed**: " + ", ".join(problems)


def latencies(figures: Figures) -> str:
    return f"{figures.p50:.1f} / {figures.p95:.1f} / {figures.p99:.1f}"


def table_row(row: Row) -> str:
    target = row.measured.target
    c8_rps = f"{row.c8.rps:.0f}"
    if row.share is not None:
        c8_rps += f" ({row.share:.0%})"
    cells = [
        f"`GET {target.path}` {target.label}",
        latencies(row.c1),
        f"{row.c1.rps:.0f}",
        latencies(row.c8),
        c8_rps,
        f"{row.c8.spread:.1f}",
        budget_text(target),
        verdict(row),
    ]
    return "| " + " | ".join(cells) + " |"


TABLE_HEAD = [
    "| request | c=1 p50 / p95 / p99 ms | c=1 req/s | c=8 p50 / p95 / p99 ms | c=8 req/s "
    "| p95/p50 c=8 | budget | met? |",
    "|---|---|---|---|---|---|---|---|",
]


def header(report: Report) -> str:
    data = report.data_set
    described = (
        f"{data['evidence']:,} evidence, {data['requirements']:,} requirements in "
        f"{plural(data['frameworks'], 'framework')}, {plural(data['audits'], 'audit')}, "
        f"{plural(data['users'], 'user')}"
    )
    before, after = (
        " ".join(f"{value:.2f}" for value in report.load_average[when])
        for when in ("before", "after")
    )
    amount = report.load.duration or f"{report.load.requests} requests"
    rounds = f", median of {report.repeat} rounds" if report.repeat > 1 else ""
    return (
        f"database: {report.database} · workers: {report.workers} · data set: {described} · "
        f"load average {before} before, {after} after · hey, warm-up {report.load.warmup} "
        f"requests, then {amount} at c=1 and at c=8{rounds}"
    )


def start_text(start: Start, workers: int) -> str:
    ready = (
        f"{plural(workers, 'worker')} ready after {start.all_ready_s:.1f} s"
        if start.all_ready_s is not None
        else f"only {start.ready_workers} of {workers} workers ready"
    )
    restarts = len(start.restarts)
    replaced = f"**{plural(restarts, 'worker restart')}**" if restarts else "no worker restarted"
    return (
        f"Start: /healthz answered {start.first_answer_s:.1f} s after `ronghe serve` was "
        f"launched, {ready}; {replaced}."
    )


def memory_text(memory: list[dict[str, float]]) -> str:
    now = " / ".join(f"{m['rss_mib']:.0f}" for m in memory) or "—"
    peaks = " / ".join(f"{m['hwm_mib']:.0f}" for m in memory) or "—"
    return f"Memory per worker after the runs: RSS {now} MiB (peak {peaks} MiB)."


def footer(report: Report) -> list[str]:
    catalogue = [f"Catalogue: {report.catalogue}."] if report.catalogue else []
    return [*catalogue, start_text(report.start, report.workers), memory_text(report.memory)]


def plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def markdown(report: Report) -> str:
    body = [table_row(row) for row in rows(report)]
    return "\n".join([header(report), "", *TABLE_HEAD, *body, "", *footer(report)])


def row_json(row: Row) -> dict[str, Any]:
    target = row.measured.target
    return {
        "path": target.path,
        "label": target.label,
        "kind": target.kind,
        "budget": budget_text(target),
        "met": not row.missed and not row.errors,
        "missed": row.missed,
        "errors": row.errors,
        "c1": row.c1.as_json(),
        "c8": row.c8.as_json(),
        "share_of_healthz_c8": None if row.share is None else round(row.share, 3),
        "attempts": [
            {name: getattr(attempt, name).as_json() for name in ("warm_up", "c1", "c8")}
            for attempt in row.measured.attempts
        ],
    }


def as_json(report: Report) -> dict[str, Any]:
    return {
        "database": report.database,
        "workers": report.workers,
        "data_set": report.data_set,
        "catalogue": report.catalogue,
        "load_average": {
            when: [round(value, 2) for value in values]
            for when, values in report.load_average.items()
        },
        "load": {**asdict(report.load), "repeat": report.repeat},
        "start": asdict(report.start),
        "memory": report.memory,
        "requests": [row_json(row) for row in rows(report)],
    }


def any_errors(report: Report) -> bool:
    return any(measured.errors for measured in report.measured)
