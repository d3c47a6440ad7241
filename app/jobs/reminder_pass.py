"""One reminder pass: plan the ledger rows due now and commit them, then deliver.

The plan's commit comes first, so a pass killed while sending loses nothing: the next pass
finds the rows in the ledger and delivery claims each one once.
"""

from datetime import datetime
from typing import Any

from app.jobs import reminder_delivery
from app.services.reminders.service import RunReport, plan
from app.settings import Settings


def run(
    *, session_factory: Any, now: datetime, settings: Settings, dry_run: bool = False
) -> RunReport:
    """One pass: plan (committed), then deliver."""
    with session_factory() as session:
        report = plan(session=session, now=now, settings=settings, dry_run=dry_run)
        if dry_run:
            session.rollback()
            return report
        session.commit()
    delivered = reminder_delivery.deliver(
        session_factory=session_factory, now=now, settings=settings
    )
    report.sent, report.failed, report.skipped = delivered.sent, delivered.failed, delivered.skipped
    return report
