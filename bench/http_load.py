"""Load from `hey`: one run of one URL at one concurrency, every request's latency and status.

hey writes each answered request as a CSV row (latency in seconds to 0.1 ms, status code, start
offset). A request that got no answer at all (refused, reset, timed out) is not written; with a
request count (`-n`) the missing rows are counted as errors, with a duration (`-z`) they cannot
be, so a server that stops answering shows as few requests or none.
"""

import csv
import io
import math
import shutil
import statistics
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

HEY_TIMEOUT_S = 20  # per request: hey's own default, made explicit
NO_ANSWER = "no answer"
WARMUP_CONCURRENCY = 2


@dataclass(frozen=True)
class Run:
    """One hey run: its concurrency, `-n N` or `-z DURATION`, and the answers expected (None
    for a duration)."""

    concurrency: int
    amount: tuple[str, str]
    expected: int | None


@dataclass(frozen=True)
class Load:
    """How each timed run ends (after a duration, or after a number of requests), and the size
    of the warm-up before them."""

    duration: str | None
    requests: int | None
    warmup: int

    def timed(self, concurrency: int) -> Run:
        if self.requests is None:
            assert self.duration is not None
            return Run(concurrency, ("-z", self.duration), None)
        return counted(self.requests, concurrency)

    def warm_up(self) -> Run:
        return counted(self.warmup, WARMUP_CONCURRENCY)


def counted(requests: int, concurrency: int) -> Run:
    # hey gives each of its clients n // c requests: n is made a multiple of c, so that the
    # answers expected are the requests sent.
    n = max(requests // concurrency, 1) * concurrency
    return Run(concurrency, ("-n", str(n)), n)


@dataclass(frozen=True)
class Answer:
    latency_ms: float
    status: int
    offset_s: float


@dataclass(frozen=True)
class Figures:
    """Latency percentiles (ms), requests per second and errors of one run, or the median of
    several."""

    requests: int
    errors: int
    statuses: dict[str, int]
    p50: float
    p95: float
    p99: float
    rps: float

    @property
    def spread(self) -> float:
        """p95 / p50: how far the slow requests are from the typical one."""
        return self.p95 / self.p50 if self.p50 > 0 else math.inf

    def as_json(self) -> dict[str, Any]:
        latencies = {name: round(getattr(self, name), 2) for name in ("p50", "p95", "p99")}
        spread = round(self.spread, 2) if math.isfinite(self.spread) else None
        return {**asdict(self), **latencies, "rps": round(self.rps, 1), "spread": spread}


def require_hey() -> None:
    if shutil.which("hey") is None:
        raise SystemExit(
            "bench.http: the load tool `hey` is not installed "
            "(`apt-get install hey`, or `make system-deps`)"
        )


def run_hey(url: str, headers: list[str], run: Run) -> str:
    """hey's CSV for one run; hey itself failing (bad arguments) stops the benchmark."""
    command = ["hey", *run.amount, "-c", str(run.concurrency), "-t", str(HEY_TIMEOUT_S)]
    command += ["-o", "csv", "-disable-redirects"]  # a redirect (to the login page) is an error
    for header in headers:
        command += ["-H", header]
    completed = subprocess.run(  # noqa: S603 - our own arguments, no shell
        [*command, url], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SystemExit(f"bench.http: hey failed on {url}: {completed.stderr.strip()}")
    return completed.stdout


def parse_answers(text: str) -> list[Answer]:
    return [
        Answer(
            latency_ms=float(row["response-time"]) * 1000,
            status=int(row["status-code"]),
            offset_s=float(row["offset"]),
        )
        for row in csv.DictReader(io.StringIO(text))
    ]


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between the two nearest ranks (as numpy's default)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def count_statuses(answers: list[Answer], expected: int | None) -> dict[str, int]:
    statuses = Counter(str(answer.status) for answer in answers)
    missing = expected - len(answers) if expected is not None else 0
    if missing > 0 or not answers:
        statuses[NO_ANSWER] += max(missing, 1)
    return dict(sorted(statuses.items()))


def figures(answers: list[Answer], expected: int | None) -> Figures:
    statuses = count_statuses(answers, expected)
    errors = sum(n for status, n in statuses.items() if not status.startswith("2"))
    if not answers:
        return Figures(0, errors, statuses, 0.0, 0.0, 0.0, 0.0)
    latencies = sorted(answer.latency_ms for answer in answers)
    started = min(answer.offset_s for answer in answers)
    ended = max(answer.offset_s + answer.latency_ms / 1000 for answer in answers)
    return Figures(
        requests=len(answers),
        errors=errors,
        statuses=statuses,
        p50=percentile(latencies, 0.50),
        p95=percentile(latencies, 0.95),
        p99=percentile(latencies, 0.99),
        rps=len(answers) / max(ended - started, 1e-6),
    )


def measure(url: str, headers: list[str], run: Run) -> Figures:
    return figures(parse_answers(run_hey(url, headers, run)), run.expected)


def median(runs: list[Figures]) -> Figures:
    """Each figure's median over repeated runs; requests, errors and statuses summed."""
    statuses: Counter[str] = Counter()
    for run in runs:
        statuses.update(run.statuses)
    return Figures(
        requests=sum(run.requests for run in runs),
        errors=sum(run.errors for run in runs),
        statuses=dict(sorted(statuses.items())),
        p50=statistics.median(run.p50 for run in runs),
        p95=statistics.median(run.p95 for run in runs),
        p99=statistics.median(run.p99 for run in runs),
        rps=statistics.median(run.rps for run in runs),
    )
