"""Content-addressed file storage outside the web root: data/files/ab/cd/<sha256>.

An upload is streamed to a temporary file while its hash is computed, never held whole in
memory, then renamed into place. Identical content is stored once.
"""

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from app.errors import DomainError, Invalid
from app.i18n import gettext as _

CHUNK = 1024 * 1024
HEAD_BYTES = 65536  # kept of the start of every upload, for type detection (file_check)


class TooLarge(DomainError):
    status_code = 413


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    path: Path
    created: bool  # False when identical content was already stored
    head: bytes  # the first bytes, for type detection


def path_for(files_dir: Path, sha256: str) -> Path:
    return files_dir / sha256[:2] / sha256[2:4] / sha256


def store(source: BinaryIO, files_dir: Path, max_bytes: int) -> Stored:
    """Copy a stream into the store; refuses empty and over-limit content, leaving nothing."""
    files_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    handle, temp_name = tempfile.mkstemp(dir=files_dir, prefix=".upload-")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(
                        _("The file is larger than %(mb)d MB.", mb=max_bytes // (1024 * 1024)),
                        field="file",
                    )
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise Invalid(_("The file is empty."), field="file")
        sha256 = digest.hexdigest()
        final = path_for(files_dir, sha256)
        if final.exists():
            temp.unlink()
            return Stored(sha256, size, final, False, head)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, final)
        final.chmod(0o440)
        return Stored(sha256, size, final, True, head)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


# An upload still being written is at most this old; anything older was cut off by a crash or
# a kill (a normal failure removes its own temporary file).
PARTIAL_MAX_AGE_SECONDS = 3600


def sweep_partial_uploads(files_dir: Path, now_timestamp: float) -> int:
    """Delete temporary upload files left behind by a process that died mid-upload."""
    removed = 0
    for path in files_dir.glob(".upload-*") if files_dir.exists() else []:
        if now_timestamp - path.stat().st_mtime > PARTIAL_MAX_AGE_SECONDS:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def discard(stored: Stored) -> None:
    """Undo a store whose database rows were not committed (only if this upload created it)."""
    if stored.created:
        stored.path.unlink(missing_ok=True)


def hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def files_on_disk(files_dir: Path) -> Iterator[Path]:
    if not files_dir.exists():
        return
    for path in files_dir.glob("??/??/*"):
        if path.is_file():
            yield path
