"""Work in a child process: its answer or its error comes back, in the caller's language; past
the limit it is killed, and the next call still gets an answer."""

import os
import threading
import time

import pytest

from app.i18n import gettext, use_locale
from app.services.imports import time_limited
from app.services.imports.time_limited import Crashed, Limits, TimedOut, run

LIMITS = Limits(seconds=10, parallel=1)


class TestRun:
    def test_the_answer_comes_back_in_the_callers_language(self) -> None:
        assert run(abs, -3, limits=LIMITS) == 3
        with use_locale("en"):
            assert run(gettext, "Choose a file.", limits=LIMITS) == "Choose a file."
        with use_locale("zh_CN"):
            assert run(gettext, "Choose a file.", limits=LIMITS) == gettext("Choose a file.")
            assert gettext("Choose a file.") != "Choose a file."

    def test_an_error_in_the_child_is_raised_here(self) -> None:
        with pytest.raises(ValueError, match="invalid literal"):
            run(int, "不是数字", limits=LIMITS)

    def test_a_call_past_the_limit_is_killed_and_the_next_one_answers(self) -> None:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            run(time.sleep, 30, limits=Limits(seconds=1, parallel=1))
        assert time.monotonic() - started < 5
        assert run(abs, -4, limits=LIMITS) == 4

    def test_a_child_that_dies_is_a_crash_not_a_hang(self) -> None:
        with pytest.raises(Crashed):
            run(os._exit, 3, limits=LIMITS)
        assert run(abs, -5, limits=LIMITS) == 5

    def test_beyond_the_queue_a_call_is_refused_at_once(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(time_limited, "QUEUED_PER_SLOT", 0)
        limits = Limits(seconds=10, parallel=3)  # slots of their own, not shared with others
        holders = [
            threading.Thread(target=run, args=(time.sleep, 1.5), kwargs={"limits": limits})
            for _ in range(3)
        ]
        for holder in holders:
            holder.start()
        time.sleep(0.5)
        started = time.monotonic()
        with pytest.raises(time_limited.Busy):
            run(abs, -1, limits=limits)
        assert time.monotonic() - started < 0.5
        for holder in holders:
            holder.join()
        assert run(abs, -1, limits=limits) == 1
