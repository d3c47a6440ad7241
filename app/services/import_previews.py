"""The files an Excel import keeps between its preview and its confirmation, a few per user.

A preview is the uploaded workbook itself, named after its uploader and a random token, so a
token alone never opens another user's preview. Confirming renames it to `…-claimed.xlsx`
first; housekeeping deletes the ones nobody confirmed (evidence_excel.sweep_previews)."""

from pathlib import Path

CLAIMED = "-claimed"  # the end of the name of a preview being confirmed


def keep_newest(imports_dir: Path, *, user_id: int, keep: int, current: Path) -> int:
    """Delete the user's unconfirmed previews, of every kind of import, beyond `current` and
    the newest others up to `keep` in all; returns how many.

    Called once `current` was read successfully, so a refused upload never costs the user a
    preview they still meant to confirm."""
    previews = []
    for path in imports_dir.glob(f"{user_id}-*.xlsx"):
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
