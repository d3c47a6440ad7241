"""Online, consistent backups of the database and the evidence files, and their restore.

A backup is a directory (mode 0700):

    manifest.json          written last: a backup without it is incomplete
    database.sqlite3       SQLite: a copy made with the online backup API
    database.pgdump        PostgreSQL: `pg_dump --format=custom`
    files/ab/cd/<sha256>   the evidence files, named by their content hash
    secret_key             only when the data directory has one
    activity_key           likewise: the key of the activity chain (never in the database dump)

Consistency rests on one ordering: a stored file is written (and never changed) before the
database row that names it commits. So once the database snapshot is taken, every file it
references is already on disk, and copying the files afterwards cannot miss one. Files stored
after the snapshot are copied too; they are harmless orphans in the restored store.

The manifest also carries an anchor of the activity chain as the snapshot saw it, appended to
the source's anchors file as well; a restore appends it to the target's, so that a restored
chain is checked against the point it was backed up at (see services/activity/chain.py).
"""

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from app.services.activity import chain as activity_chain
from app.services.activity import key as activity_key
from app.services.activity import service as activity
from app.services.activity.chain import Anchor
from app.services.files import store as file_store
from app.settings import Settings

MANIFEST = "manifest.json"
FORMAT = 1
DUMP_NAMES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}

Progress = Callable[[str], None]


class BackupError(Exception):
    """Backup or restore stopped. exit_code 2: refused (nothing was changed); 1: failed."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class Manifest:
    format: int
    created_at: str
    database: str  # "sqlite" or "postgresql"
    alembic_revision: str | None
    database_file: str
    database_sha256: str
    database_bytes: int
    files: int
    file_bytes: int
    referenced_files: int
    secret_key: bool
    # Absent from backups made before the activity chain was keyed.
    activity_key: bool = False
    activity_anchor: dict[str, Any] | None = None

    @classmethod
    def read(cls, source: Path) -> "Manifest":
        try:
            data = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
            manifest = cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise BackupError(
                f"{source} is not a complete backup: {MANIFEST} is missing or unreadable ({exc})",
                2,
            ) from exc
        if manifest.format != FORMAT or manifest.database not in DUMP_NAMES:
            raise BackupError(f"{source}: unsupported backup format or database kind", 2)
        return manifest


def _quiet(_line: str) -> None:
    return


def database_kind(settings: Settings) -> str:
    name = make_url(settings.effective_database_url).get_backend_name()
    if name not in DUMP_NAMES:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {name}", 2)
    return name


def sqlite_path(settings: Settings) -> Path:
    database = make_url(settings.effective_database_url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored", 2)
    return Path(database)


def pg_tool(name: str) -> Path:
    """The newest installed PostgreSQL client tool: it must be at least the server's version."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.parent.name.split(".")],
    )
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if found:
        return Path(found)
    raise BackupError(
        f"{name} was not found; install the PostgreSQL client tools (Debian: postgresql-client)"
    )


def _pg_args(url: URL) -> tuple[list[str], dict[str, str]]:
    args = ["--dbname", url.database or "postgres"]
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def _run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {result.stderr.strip()}")


# --- backup ----------------------------------------------------------------------------------


def backup(
    *, settings: Settings, target: Path, now: datetime, progress: Progress = _quiet
) -> Manifest:
    """Snapshot the database, then copy and check the files; the app may keep running."""
    kind = database_kind(settings)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} already exists and is not empty; choose a new directory", 2)
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    target.chmod(0o700)
    dump = target / DUMP_NAMES[kind]

    progress(f"snapshotting the {kind} database")
    if kind == "sqlite":
        revision, referenced, anchor = _snapshot_sqlite(sqlite_path(settings), dump, now)
    else:
        revision, referenced, anchor = _snapshot_postgresql(
            make_url(settings.effective_database_url), dump, now
        )
    progress(f"database snapshot: {dump.stat().st_size} bytes, {len(referenced)} files referenced")

    count, total = _copy_files(settings.files_dir, target / "files", progress)
    missing = sorted(referenced - _present(target / "files", referenced))
    if missing:
        raise BackupError(
            f"{len(missing)} files referenced by the database are missing or altered in the "
            f"file store (first: {missing[0]}); run `ronghe files verify`. "
            f"The incomplete backup in {target} has no manifest"
        )

    secret = settings.data_dir / "secret_key"
    if secret.is_file():
        shutil.copyfile(secret, target / "secret_key")
        (target / "secret_key").chmod(0o600)
    chain_key = settings.data_dir / activity_key.KEY_FILE
    if settings.activity_key is None and chain_key.is_file():
        shutil.copyfile(chain_key, target / activity_key.KEY_FILE)
        (target / activity_key.KEY_FILE).chmod(0o600)
    elif settings.activity_key is not None:
        progress("the activity key comes from RONGHE_ACTIVITY_KEY: keep it with this backup")

    manifest = Manifest(
        format=FORMAT,
        created_at=now.isoformat(),
        database=kind,
        alembic_revision=revision,
        database_file=dump.name,
        database_sha256=file_store.hash_file(dump),
        database_bytes=dump.stat().st_size,
        files=count,
        file_bytes=total,
        referenced_files=len(referenced),
        secret_key=secret.is_file(),
        activity_key=(target / activity_key.KEY_FILE).is_file(),
        activity_anchor=asdict(anchor) if anchor is not None else None,
    )
    (target / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2), encoding="utf-8")
    if anchor is not None:
        _append_anchor(settings, anchor, progress)
    progress(f"backup complete: {count} files, {total} bytes")
    return manifest


def _append_anchor(settings: Settings, anchor: Anchor, progress: Progress) -> None:
    # The backup itself is complete by now; an anchors file that cannot be written must not
    # turn it into a failure.
    try:
        activity_chain.append_anchor(settings, anchor)
    except OSError as exc:
        progress(f"warning: the activity anchor was not written to the data directory: {exc}")
        return
    progress(f"activity chain anchored at {anchor.describe()}")


def _snapshot_sqlite(
    source: Path, dump: Path, now: datetime
) -> tuple[str | None, set[str], Anchor | None]:
    if not source.is_file():
        raise BackupError(f"the database {source} does not exist")
    # The online backup API copies a consistent image even while the app writes (under WAL
    # the copy reads one snapshot). The copy is switched out of WAL so that it is one file.
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(dump)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        revision, referenced = _read_snapshot(dst)
        return revision, referenced, _sqlite_head(dst, now)
    finally:
        dst.close()
        src.close()


def _read_snapshot(conn: sqlite3.Connection) -> tuple[str | None, set[str]]:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    revision = None
    if "alembic_version" in tables:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    referenced: set[str] = set()
    if "stored_file" in tables:
        referenced = {row[0] for row in conn.execute("SELECT sha256 FROM stored_file")}
    return revision, referenced


def _sqlite_head(conn: sqlite3.Connection, now: datetime) -> Anchor | None:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "activity_event" not in tables:
        return None
    row = conn.execute(activity_chain.HEAD_QUERY).fetchone()
    return activity_chain.anchor_from_row(row, now=now, source="backup")


def _snapshot_postgresql(
    url: URL, dump: Path, now: datetime
) -> tuple[str | None, set[str], Anchor | None]:
    pg_dump = pg_tool("pg_dump")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                # pg_dump joins this exported snapshot, so the dump and the list of referenced
                # files read below describe exactly the same moment.
                snapshot: str = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                tables = set(inspect(conn).get_table_names())
                revision = None
                if "alembic_version" in tables:
                    revision = conn.execute(
                        text("SELECT version_num FROM alembic_version")
                    ).scalar_one_or_none()
                referenced: set[str] = set()
                if "stored_file" in tables:
                    referenced = set(conn.execute(text("SELECT sha256 FROM stored_file")).scalars())
                anchor = None
                if "activity_event" in tables:
                    row = conn.execute(text(activity_chain.HEAD_QUERY)).first()
                    anchor = activity_chain.anchor_from_row(row, now=now, source="backup")
                args, env = _pg_args(url)
                _run(
                    [str(pg_dump), "-Fc", f"--snapshot={snapshot}", "-f", str(dump), *args],
                    env,
                )
    finally:
        engine.dispose()
    dump.chmod(0o600)
    return revision, referenced, anchor


def _copy_files(files_dir: Path, dest_dir: Path, progress: Progress) -> tuple[int, int]:
    count = total = 0
    for path in file_store.files_on_disk(files_dir):
        dest = file_store.path_for(dest_dir, path.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Stored files never change, so a hard link is as good as a copy and costs nothing.
        try:
            _link_or_copy(path, dest)
        except FileNotFoundError:
            # Housekeeping removed an orphan no row names; the check after the copy still
            # requires every file the database refers to.
            continue
        count += 1
        total += dest.stat().st_size
        if count % 1000 == 0:
            progress(f"files: {count} copied")
    progress(f"files: {count} copied, {total} bytes")
    return count, total


def _link_or_copy(path: Path, dest: Path) -> None:
    try:
        os.link(path, dest)
    except FileNotFoundError:
        raise
    except OSError:  # another file system: copy
        shutil.copy2(path, dest)


def _present(files_dir: Path, shas: Iterable[str]) -> set[str]:
    """The hashes whose file is in the directory with exactly that content."""
    present = set()
    for sha in shas:
        path = file_store.path_for(files_dir, sha)
        if path.is_file() and file_store.hash_file(path) == sha:
            present.add(sha)
    return present


# --- restore ---------------------------------------------------------------------------------


def verify(*, source: Path, progress: Progress = _quiet) -> Manifest:
    """Check a backup against its manifest and every file against its name; change nothing."""
    manifest = Manifest.read(source)
    dump = source / manifest.database_file
    if not dump.is_file() or file_store.hash_file(dump) != manifest.database_sha256:
        raise BackupError(f"{dump} is missing or does not match the manifest's hash")
    progress("database dump matches the manifest")
    count = total = 0
    for path in file_store.files_on_disk(source / "files"):
        if file_store.hash_file(path) != path.name:
            raise BackupError(f"backup file {path} is altered: its content does not match its name")
        count += 1
        total += path.stat().st_size
        if count % 1000 == 0:
            progress(f"files: {count} checked")
    if (count, total) != (manifest.files, manifest.file_bytes):
        raise BackupError(
            f"the backup holds {count} files ({total} bytes), the manifest lists "
            f"{manifest.files} ({manifest.file_bytes} bytes)"
        )
    if manifest.database == "sqlite":
        conn = sqlite3.connect(f"file:{dump}?mode=ro&immutable=1", uri=True)
        try:
            _revision, referenced = _read_snapshot(conn)
            head = _sqlite_head(conn, datetime.fromisoformat(manifest.created_at))
        finally:
            conn.close()
        missing = referenced - {p.name for p in file_store.files_on_disk(source / "files")}
        if missing:
            raise BackupError(f"{len(missing)} referenced files are missing from the backup")
        anchored = manifest.activity_anchor
        if anchored is not None and (head is None or head.point != Anchor(**anchored).point):
            raise BackupError("the manifest's activity anchor does not match the database dump")
    progress(f"files: {count} checked, {total} bytes")
    return manifest


def existing_content(settings: Settings) -> list[str]:
    """What is already in the target: tables in its database, stored files, a secret key."""
    found: list[str] = []
    kind = database_kind(settings)
    if kind == "sqlite":
        path = sqlite_path(settings)
        if path.is_file():
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                tables = [
                    row[0]
                    for row in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type='table' "
                        "AND name NOT LIKE 'sqlite_%'"
                    )
                ]
            finally:
                conn.close()
        else:
            tables = []
    else:
        engine = create_engine(settings.effective_database_url, poolclass=NullPool)
        try:
            with engine.connect() as pg:
                tables = inspect(pg).get_table_names()
        finally:
            engine.dispose()
    if tables:
        found.append(f"{len(tables)} tables in the database")
    if any(True for _ in file_store.files_on_disk(settings.files_dir)):
        found.append(f"stored files in {settings.files_dir}")
    return found


def restore(
    *, settings: Settings, source: Path, force: bool = False, progress: Progress = _quiet
) -> Manifest:
    """Check the whole backup first, then restore the files and the database into the target."""
    manifest = Manifest.read(source)
    kind = database_kind(settings)
    if manifest.database != kind:
        raise BackupError(
            f"the backup is of a {manifest.database} database; the target is {kind}", 2
        )
    existing = existing_content(settings)
    if existing and not force:
        raise BackupError(
            "the target is not empty (" + "; ".join(existing) + "); restore into an empty data "
            "directory and database, or pass --force to replace them",
            2,
        )
    verify(source=source, progress=progress)

    # Files first: if the database restore then fails, they are only unreferenced orphans,
    # whereas a database restored without its files would point at nothing.
    count = _restore_files(source / "files", settings.files_dir, progress)
    progress(f"files: {count} restored")
    dump = source / manifest.database_file
    progress(f"restoring the {kind} database")
    if kind == "sqlite":
        _restore_sqlite(dump, sqlite_path(settings))
    else:
        _restore_postgresql(dump, make_url(settings.effective_database_url))
    if manifest.secret_key and (source / "secret_key").is_file():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key = settings.data_dir / "secret_key"
        shutil.copyfile(source / "secret_key", key)
        key.chmod(0o600)
    if manifest.activity_key and (source / activity_key.KEY_FILE).is_file():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        chain_key = settings.data_dir / activity_key.KEY_FILE
        shutil.copyfile(source / activity_key.KEY_FILE, chain_key)
        chain_key.chmod(0o600)
    # The database and perhaps the key were replaced under this process.
    activity_key.forget()
    # The restored chain is checked against the backup's anchor from now on; the anchors of
    # the history this restore replaced no longer apply.
    anchored = manifest.activity_anchor or asdict(
        Anchor(event_id=0, count=0, head=activity.GENESIS_HASH, at=manifest.created_at)
    )
    restored = Anchor(**{**anchored, "source": activity_chain.RESTORE})
    activity_chain.append_anchor(settings, restored)
    progress(f"activity chain anchored at {restored.describe()} (from the backup)")
    progress("restore complete")
    return manifest


def _restore_files(source_dir: Path, files_dir: Path, progress: Progress) -> int:
    count = 0
    for path in file_store.files_on_disk(source_dir):
        dest = file_store.path_for(files_dir, path.name)
        if dest.is_file() and file_store.hash_file(dest) == path.name:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Copied, not linked: the restored store must not share its bytes with the backup.
        temp = dest.with_name(f".restore-{path.name}")
        shutil.copyfile(path, temp)
        os.replace(temp, dest)
        dest.chmod(0o440)
        count += 1
        if count % 1000 == 0:
            progress(f"files: {count} restored")
    return count


def _restore_sqlite(dump: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".restore-{path.name}")
    shutil.copyfile(dump, temp)
    # A write-ahead log left by the replaced database would be replayed onto the restored one.
    for suffix in ("-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    os.replace(temp, path)


def _restore_postgresql(dump: Path, url: URL) -> None:
    pg_restore = pg_tool("pg_restore")
    args, env = _pg_args(url)
    _run(
        [
            str(pg_restore),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            str(dump),
            *args,
        ],
        env,
    )
