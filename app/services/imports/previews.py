"""What an Excel import keeps between its preview and its confirmation, a few per user.

A preview is the sheet's cells as the preview read them, in a JSON file named after its
uploader, the kind of import and a random token, so a token alone never opens another user's
preview. The workbook itself is deleted once read: confirming checks the same cells against
the database again and writes them, and never reads a workbook a second time, so it neither
waits for a reader (time_limited) nor spends that CPU twice, and a preview that was shown can
always be confirmed.

Confirming renames the preview to `…-claimed.json` first; housekeeping deletes the ones nobody
confirmed (evidence_excel.sweep_previews)."""

import contextlib
import json
import secrets
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from app.services.imports.excel_reading import Sheet

CLAIMED = "-claimed"  # the end of the name of a preview being confirmed
SUFFIX = ".json"


def imports_dir(data_dir: Path) -> Path:
    path = data_dir / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_token() -> str:
    return secrets.token_hex(16)


def is_token(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def preview_path(imports: Path, *, user_id: int | None, kind: str, token: str) -> Path:
    """Where the user's preview of this kind of import with this token is kept."""
    return imports / f"{user_id}-{kind}{token}{SUFFIX}"


def save(path: Path, sheet: Sheet) -> None:
    """Keep the cells the preview showed, for the confirmation."""
    try:
        # A cell of a kind not foreseen is kept as its text, and checked as text would be.
        rows = [[number, [_encode(c) for c in cells]] for number, cells in sheet]
        path.write_text(json.dumps(rows, ensure_ascii=False, default=str), encoding="utf-8")
    except BaseException:
        path.unlink(missing_ok=True)  # no half-written preview (a full disk)
        raise


def claim(path: Path) -> Path:
    """The preview renamed to its claimed name, or FileNotFoundError when it is gone.

    The rename is atomic: of two confirms sent together (a double click), only one claims
    the preview and imports; the other finds it gone."""
    claimed = path.with_name(f"{path.stem}{CLAIMED}{SUFFIX}")
    path.rename(claimed)
    return claimed


def load(claimed: Path) -> Sheet:
    rows = json.loads(claimed.read_text(encoding="utf-8"))
    return [(number, [_decode(c) for c in cells]) for number, cells in rows]


def unclaim(claimed: Path, path: Path) -> None:
    """Put a claimed preview back, to be confirmed again after a failure that was not its."""
    # Swept by housekeeping meanwhile, it stays gone: the user uploads the file again.
    with contextlib.suppress(FileNotFoundError):
        claimed.rename(path)


# Cells are what openpyxl reads: text, numbers, booleans, empty, and the date and time kinds
# that JSON has no type for, which are kept as one-key objects.
_TEMPORAL: dict[str, Callable[[str], date | time]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": time.fromisoformat,
}


def _encode(value: Any) -> Any:
    if isinstance(value, date | time):  # a datetime is a date too, and named by its type
        return {type(value).__name__: value.isoformat()}
    if isinstance(value, timedelta):
        return {"seconds": value.total_seconds()}
    return value


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, text),) = value.items()
    if kind == "seconds":
        return timedelta(seconds=text)
    return _TEMPORAL[kind](text)


def keep_newest(imports: Path, *, user_id: int | None, keep: int, current: Path) -> int:
    """Delete the user's unconfirmed previews, of every kind of import, beyond `current` and
    the newest others up to `keep` in all; returns how many.

    Called once `current` was read successfully, so a refused upload never costs the user a
    preview they still meant to confirm."""
    previews = []
    for path in imports.glob(f"{user_id}-*{SUFFIX}"):
        if path.stem.endswith(CLAIMED) or path == current:
            continue  # being imported right now, or the one just shown
        try:
            previews.append((path.stat().st_mtime_ns, path.name, path))
        except FileNotFoundError:
            continue  # confirmed or dropped meanwhile
    previews.sort(reverse=True)
    dropped = previews[max(0, keep - 1) :]
    for _mtime, _name, path in dropped:
        # A confirm that claims the file first wins; this one then finds nothing to delete.
        path.unlink(missing_ok=True)
    return len(dropped)
