"""One benchmark run: check the data set, sign in, serve, load every URL, read the workers."""

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from app.settings import Settings
from bench.http_dataset import (
    Credentials,
    Target,
    describe,
    ensure_catalogue,
    open_data_set,
    sign_in,
    sign_out,
    targets,
)
from bench.http_load import Load, measure
from bench.http_report import Attempt, Measured, Report, Start
from bench.http_server import Server, require_alive, served, worker_memory

C8 = 8


@dataclass(frozen=True)
class Plan:
    data_dir: Path
    database_url: str | None
    secret: str
    workers: int
    load: Load
    repeat: int
    only: re.Pattern[str] | None
    catalogue_requirements: int
    start_timeout_s: float
    ronghe: list[str]  # the command, e.g. [".venv/bin/ronghe"]
    env: dict[str, str]  # the server's (and `ronghe seed`'s) environment
    scratch: Path
    log: Path

    def settings(self) -> Settings:
        """The runner's view of the data set: the server's settings, without a .env file."""
        return Settings(
            _env_file=None,
            environment="production",
            data_dir=self.data_dir,
            database_url=self.database_url,
            secret_key=self.secret,
            scheduler="off",
        )

    def chosen(self, found: list[Target]) -> list[Target]:
        """The URLs --only asks for; /healthz always, as the reference."""
        only = self.only
        return [t for t in found if t.kind == "reference" or only is None or only.search(t.path)]


def run(plan: Plan) -> Report:
    settings = plan.settings()
    engine = open_data_set(settings)
    catalogue = None
    if plan.catalogue_requirements:
        catalogue = ensure_catalogue(
            requirements=plan.catalogue_requirements,
            engine=engine,
            ronghe=plan.ronghe,
            env=plan.env,
            scratch=plan.scratch,
        )
        progress(catalogue)
    data_set = describe(engine)
    chosen = plan.chosen(targets(engine))
    load_before = list(os.getloadavg())
    credentials = sign_in(engine)
    try:
        with served(
            command=plan.ronghe,
            env=plan.env,
            workers=plan.workers,
            log=plan.log,
            cwd=plan.scratch,  # where no .env file is
            timeout_s=plan.start_timeout_s,
        ) as server:
            progress(f"serving on {server.url} with {plan.workers} worker(s), log {plan.log}")
            measured = measure_all(server, chosen, credentials, plan)
            memory = worker_memory(server)
            start = start_figures(server)
    finally:
        sign_out(engine, credentials)
        engine.dispose()
    return Report(
        database=make_url(settings.effective_database_url).render_as_string(hide_password=True),
        workers=plan.workers,
        data_set=data_set,
        load_average={"before": load_before, "after": list(os.getloadavg())},
        load=plan.load,
        repeat=plan.repeat,
        start=start,
        memory=memory,
        measured=measured,
        catalogue=catalogue,
    )


def measure_all(
    server: Server, chosen: list[Target], credentials: Credentials, plan: Plan
) -> list[Measured]:
    """Round after round over every URL (not one URL's rounds back to back), so that a burst
    of background load spreads over the URLs instead of spoiling one."""
    attempts: dict[Target, list[Attempt]] = {target: [] for target in chosen}
    for round_number in range(1, plan.repeat + 1):
        for target in chosen:
            progress(f"round {round_number}/{plan.repeat}: GET {target.path}")
            attempts[target].append(measure_target(server, target, credentials, plan.load))
    return [Measured(target, found) for target, found in attempts.items()]


def measure_target(server: Server, target: Target, credentials: Credentials, load: Load) -> Attempt:
    url = server.url + target.request_path
    headers = credentials.headers(target)
    attempt = Attempt(
        warm_up=measure(url, headers, load.warm_up()),
        c1=measure(url, headers, load.timed(1)),
        c8=measure(url, headers, load.timed(C8)),
    )
    require_alive(server)
    return attempt


def start_figures(server: Server) -> Start:
    return Start(
        first_answer_s=round(server.first_answer_s or 0.0, 2),
        all_ready_s=None if server.all_ready_s is None else round(server.all_ready_s, 2),
        ready_workers=server.ready_workers(),
        restarts=server.restarts(),
    )


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
