"""The files an import keeps between its preview and its confirmation: the cells come back as
they were read, and housekeeping copes with previews that other requests delete meanwhile."""

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.services.evidence.excel import PREVIEW_MAX_AGE_SECONDS, sweep_previews
from app.services.imports import previews as import_previews


class TestSaveAndLoad:
    def test_the_cells_come_back_as_openpyxl_read_them(self, tmp_path: Path) -> None:
        sheet: list[tuple[int, list[Any]]] = [
            (2, ["R-1", "质量手册", 12, 2.5, True, None, ""]),
            (
                7,
                [
                    datetime(2026, 3, 1, 8, 30),  # noqa: DTZ001 - as openpyxl reads it
                    date(2026, 3, 1),
                    time(8, 30),
                    timedelta(hours=36),
                    "=SUM(A1:A3)",
                ],
            ),
        ]
        path = tmp_path / "1-token.json"
        import_previews.save(path, sheet)
        assert import_previews.load(path) == sheet
        assert type(import_previews.load(path)[1][1][0]) is datetime

    def test_a_claimed_preview_is_gone_for_a_second_claim_until_it_is_put_back(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "1-token.json"
        import_previews.save(path, [(2, ["R-1"])])
        claimed = import_previews.claim(path)
        with pytest.raises(FileNotFoundError):
            import_previews.claim(path)
        import_previews.unclaim(claimed, path)
        assert import_previews.load(import_previews.claim(path)) == [(2, ["R-1"])]


class TestSweep:
    def _age(self, path: Path, now: float, seconds: float) -> None:
        os.utime(path, (now - seconds, now - seconds))

    def test_old_previews_and_workbooks_go_and_fresh_ones_stay(self, tmp_path: Path) -> None:
        now = 1_800_000_000.0
        old_preview, old_workbook, fresh = (
            tmp_path / "1-old.json",
            tmp_path / "1-old.xlsx",
            tmp_path / "1-new.json",
        )
        for path in (old_preview, old_workbook, fresh):
            path.write_bytes(b"x")
        self._age(old_preview, now, PREVIEW_MAX_AGE_SECONDS + 10)
        self._age(old_workbook, now, PREVIEW_MAX_AGE_SECONDS + 10)
        self._age(fresh, now, 60)
        assert sweep_previews(tmp_path, now) == 2
        assert list(tmp_path.iterdir()) == [fresh]

    def test_a_preview_deleted_while_the_sweep_runs_is_skipped(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Another request confirms the preview, or drops it for a newer one (keep_newest),
        # between the sweep listing the directory and looking at the file.
        now = 1_800_000_000.0
        gone, old = tmp_path / "1-gone.json", tmp_path / "1-old.json"
        for path in (gone, old):
            path.write_bytes(b"x")
            self._age(path, now, PREVIEW_MAX_AGE_SECONDS + 10)
        stat = Path.stat

        def racing_stat(self: Path, **kwargs: Any) -> os.stat_result:
            if self == gone:
                self.unlink(missing_ok=True)
            return stat(self, **kwargs)

        monkeypatch.setattr(Path, "stat", racing_stat)
        assert sweep_previews(tmp_path, now) == 1
        assert not old.exists()
