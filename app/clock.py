"""The enterprise's calendar day. Timestamps are UTC; a "today" or a date typed by a user is
local (Asia/Shanghai unless configured), and between 00:00 and 08:00 in China the UTC date is
still yesterday. Every "today" derived from `now` goes through `local_date`."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

_zone = ZoneInfo("Asia/Shanghai")


def configure(timezone: str) -> None:
    """Set once at start-up from the settings."""
    global _zone
    _zone = ZoneInfo(timezone)


def local_date(now: datetime) -> date:
    return now.astimezone(_zone).date()
