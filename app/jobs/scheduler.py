"""APScheduler 3 setup. Every process may run a scheduler; before each pass a process must win
the database lease, so only one leader works at a time and a dead leader is replaced once its
lease runs out. The ledger makes a duplicate pass harmless anyway."""

import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from app.jobs import housekeeping
from app.jobs.reminder_pass import run as run_reminders
from app.services.activity import chain as activity_chain
from app.services.reminders import service as reminders
from app.settings import Settings

log = logging.getLogger(__name__)

INTERVAL = timedelta(minutes=5)
LEASE_TTL = timedelta(minutes=4)
HOLDER = f"{socket.gethostname()}:{os.getpid()}"


def reminder_pass(session_factory: Any, settings: Settings, now: datetime | None = None) -> None:
    """One reminder pass, if this process holds the lease (`now` only for tests and tools)."""
    now = now or datetime.now(UTC)
    try:
        with session_factory() as session:
            leader = reminders.acquire_lease(
                session=session, name="reminders", holder=HOLDER, now=now, ttl=LEASE_TTL
            )
            session.commit()
        if not leader:
            return
        anchor_activity(session_factory, settings, now)
        report = run_reminders(session_factory=session_factory, now=now, settings=settings)
        log.info("reminders: %s", report)
    except Exception:
        # A failing pass must never stop the scheduler; the next pass catches up by window.
        log.exception("reminder pass failed")


def anchor_activity(session_factory: Any, settings: Settings, now: datetime) -> None:
    """Write the activity chain's head to the anchors file if it moved (the leader's job, so
    that one process appends at a time)."""
    try:
        with session_factory() as session:
            activity_chain.anchor(session=session, settings=settings, now=now, source="scheduler")
    except Exception:
        # Never stops the reminders; the next pass anchors whatever the head is then.
        log.exception("anchoring the activity log failed")


def _configure(scheduler: Any, session_factory: Any, settings: Settings) -> Any:
    scheduler.add_job(
        reminder_pass,
        "interval",
        seconds=INTERVAL.total_seconds(),
        args=[session_factory, settings],
        id="reminders",
        next_run_time=datetime.now(UTC) + timedelta(seconds=5),
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        housekeeping.run,
        "interval",
        hours=1,
        args=[settings, session_factory],
        id="housekeeping",
        coalesce=True,
    )
    return scheduler


def start_background(session_factory: Any, settings: Settings) -> BackgroundScheduler:
    scheduler = _configure(BackgroundScheduler(timezone="UTC"), session_factory, settings)
    scheduler.start()
    return scheduler


def run_blocking(session_factory: Any, settings: Settings) -> None:
    _configure(BlockingScheduler(timezone="UTC"), session_factory, settings).start()
