"""The `ronghe` command: serve, migrate, seed, create-admin, backup, restore, …

Each command imports what it needs when it runs, so that `ronghe --help` loads Typer alone and
a web worker, which imports this module again before anything else (see `serve`), can answer
the server's health check within a second of starting.
"""

import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.errors import DomainError

if TYPE_CHECKING:
    from alembic.config import Config

    from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS_DIR = ROOT / "seed" / "frameworks"
WORKER_HEALTHCHECK_SECONDS = 60

cli = typer.Typer(help="Ronghe 融合 — GB/T 23001 management system.", no_args_is_help=True)


def _settings() -> "Settings":
    # Settings load pydantic (half a second), which `ronghe --help` has no use for.
    from app.settings import Settings

    return Settings()


def alembic_config(settings: "Settings") -> "Config":
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = settings.effective_database_url
    # The migrations read the caller's settings (the activity key lives in its data directory),
    # not whatever the environment of the process says.
    config.attributes["settings"] = settings
    return config


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date, and create or check the activity key."""
    from alembic import command

    from app.services.activity.key import ChainKeyError

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        command.upgrade(alembic_config(settings), "head")
    except ChainKeyError as exc:
        typer.echo(f"migration stopped: {exc}; then run `ronghe migrate` again", err=True)
        raise typer.Exit(2) from exc
    _check_activity_key(settings)
    typer.echo("database is up to date")


def _check_activity_key(settings: "Settings") -> None:
    from app.db import make_engine, session_scope
    from app.services.activity.key import ChainKeyError, check_at_startup

    # Before any request or worker: a host whose key is not the database's must not start.
    engine = make_engine(settings)
    try:
        with session_scope(engine) as session:
            check_at_startup(session)
    except ChainKeyError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()


@cli.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Also load the demo enterprise.")] = False,
    file: Annotated[
        list[Path] | None, typer.Option("--file", help="Load these catalogue files instead.")
    ] = None,
) -> None:
    """Load the requirement catalogues (idempotent), and optionally the demo enterprise."""
    from app.db import make_engine, session_scope
    from app.services.requirements import framework as framework_service

    settings = _settings()
    engine = make_engine(settings)
    paths = file or framework_service.catalogue_files(FRAMEWORKS_DIR)
    now = datetime.now(UTC)
    try:
        catalogues = [framework_service.parse(path) for path in paths]
    except DomainError as exc:
        typer.echo(f"refused, nothing loaded: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    with session_scope(engine) as session:
        for path, catalogue in zip(paths, catalogues, strict=True):
            report = framework_service.load(session=session, now=now, catalogue=catalogue)
            typer.echo(
                f"{path.name}: {report.framework} created {report.created}, "
                f"updated {report.updated}, unchanged {report.unchanged}"
            )
    if demo:
        from app.services.evidence.service import UploadLimits
        from seed.demo import load_demo

        with session_scope(engine) as session:
            for line in load_demo(
                session=session, now=now, limits=UploadLimits.from_settings(settings)
            ):
                typer.echo(line)


@cli.command()
def demo(
    scale: Annotated[
        str, typer.Option(help="demo: the demo enterprise; large: the benchmark data set.")
    ] = "demo",
    seed_value: Annotated[int, typer.Option("--seed", help="Random seed (large only).")] = 2026,
) -> None:
    """Migrate, load the catalogues, then fill an empty database with demo or benchmark data."""
    import json
    import time

    from sqlalchemy import func
    from sqlmodel import Session, select

    from app.db import make_engine
    from app.models.user import User

    if scale not in {"demo", "large"}:
        typer.echo("--scale must be 'demo' or 'large'", err=True)
        raise typer.Exit(2)
    settings = _settings()
    engine = make_engine(settings)
    migrate()
    with Session(engine) as session:
        users = session.exec(select(func.count()).select_from(User)).one()
    if users:
        typer.echo(
            f"refused: the database already has {users} users; "
            "point RONGHE_DATA_DIR or RONGHE_DATABASE_URL at an empty database",
            err=True,
        )
        raise typer.Exit(2)
    seed(demo=scale == "demo", file=None)
    if scale == "demo":
        return
    from seed.large import LARGE_PASSWORD, generate

    started = time.perf_counter()

    def progress(table: str, done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        typer.echo(
            f"\r{table:<24} {done:>7}/{total:<7} {time.perf_counter() - started:6.1f}s", nl=False
        )
        typer.echo(end, nl=False)

    now = datetime.now(UTC)
    with Session(engine) as session:
        report = generate(
            session=session,
            files_dir=settings.files_dir,
            now=now,
            seed=seed_value,
            progress=progress,
        )
    summary = {
        "generated_at": now.isoformat(),
        "seconds": round(report.seconds, 1),
        "admin_email": report.admin_email,
        "password": LARGE_PASSWORD,
        "big_audit_id": report.big_audit_id,
        "counts": report.counts,
    }
    (settings.data_dir / "large-dataset.json").write_text(json.dumps(summary, indent=2))
    typer.echo(f"large data set generated in {report.seconds:.1f} s")
    typer.echo(f"sign in as {report.admin_email} / {LARGE_PASSWORD}")


@cli.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(prompt=True)],
    name: Annotated[str, typer.Option(prompt=True)],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create an administrator account."""
    from app.db import make_engine, session_scope
    from app.models.user import Role, UserCreate
    from app.services.accounts import users as user_service

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password (at least 10 characters): ")
        if getpass.getpass("Repeat: ") != password:
            typer.echo("the passwords do not match", err=True)
            raise typer.Exit(2)
    settings = _settings()
    try:
        data = UserCreate(
            name=name, email=email, password=password, roles=[Role.admin], department_id=None
        )
        UserCreate.model_validate(data.model_dump())
    except ValueError as exc:
        typer.echo(f"not created: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        with session_scope(make_engine(settings)) as session:
            user = user_service.create(
                session=session, now=datetime.now(UTC), actor_id=None, data=data
            )
            typer.echo(f"administrator {user.email} created")
    except DomainError as exc:
        typer.echo(f"not created: {exc.message}", err=True)
        raise typer.Exit(2) from exc


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: RONGHE_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default: RONGHE_PORT")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 1,
    migrate_first: Annotated[
        bool, typer.Option("--migrate", help="Migrate and load the catalogues before serving.")
    ] = False,
) -> None:
    """Serve the web application."""
    import uvicorn

    if migrate_first:
        migrate()
        seed(demo=False, file=None)
    settings = _settings()
    settings.resolved_secret_key  # noqa: B018 - generate the secret before workers fork
    _check_activity_key(settings)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        # With several workers uvicorn's supervisor kills a worker that does not answer its
        # ping within this many seconds, and a rolling restart (SIGHUP) gives up on a new
        # worker that has not finished starting by then. A worker is a fresh interpreter
        # (spawned, not forked): it answers once it has imported this module and uvicorn, and
        # has started once it has imported the whole app, 5 s on an idle two-core host and
        # several times that on a busy one. uvicorn's default of 5 s had starting workers
        # killed one after another; a worker that really hangs is now replaced a minute later.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        # uvicorn would believe X-Forwarded-For from any local peer; the app itself honours
        # it from RONGHE_TRUSTED_PROXIES only (app/main.py).
        proxy_headers=False,
        log_level="info",
    )


reminders_cli = typer.Typer(help="Reminders and notifications.", no_args_is_help=True)
cli.add_typer(reminders_cli, name="reminders")


@reminders_cli.command("run")
def reminders_run(
    now: Annotated[
        datetime | None, typer.Option(help="Pretend it is this moment (ISO, UTC if no zone).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
) -> None:
    """Run one reminder pass by hand."""
    from sqlalchemy.orm import sessionmaker
    from sqlmodel import Session

    from app.db import make_engine
    from app.jobs import reminder_pass

    settings = _settings()
    moment = (now or datetime.now(UTC)).replace(tzinfo=(now.tzinfo if now else UTC) or UTC)
    factory = sessionmaker(make_engine(settings), class_=Session, expire_on_commit=False)
    report = reminder_pass.run(
        session_factory=factory, now=moment, settings=settings, dry_run=dry_run
    )
    verb = "would insert" if dry_run else "inserted"
    typer.echo(
        f"{moment.isoformat()}: planned {report.planned}, {verb} "
        f"{report.planned if dry_run else report.inserted}, sent {report.sent}, "
        f"failed {report.failed}, skipped {report.skipped}"
    )
    if report.missing_years:
        years = ", ".join(map(str, report.missing_years))
        typer.echo(f"warning: no holiday data for {years}; Monday–Friday assumed", err=True)


@cli.command()
def scheduler() -> None:
    """Run the scheduler as its own process (for installs with several web workers)."""
    from sqlalchemy.orm import sessionmaker
    from sqlmodel import Session

    from app.db import make_engine
    from app.jobs.scheduler import run_blocking

    settings = _settings()
    run_blocking(
        sessionmaker(make_engine(settings), class_=Session, expire_on_commit=False), settings
    )


activity_cli = typer.Typer(help="The append-only activity log.", no_args_is_help=True)
cli.add_typer(activity_cli, name="activity")


@activity_cli.command("verify")
def activity_verify() -> None:
    """Check the keyed hash chain of the activity log and its anchors; exit 1 at the first
    altered event, or when events an anchor records are missing."""
    from sqlmodel import Session

    from app.db import make_engine
    from app.services.activity import chain as activity_chain
    from app.services.activity import key as activity_key

    settings = _settings()
    try:
        key = activity_key.read_key(settings)
    except activity_key.ChainKeyError as exc:
        typer.echo(f"BROKEN: the activity key is unusable: {exc}")
        raise typer.Exit(1) from exc
    anchors = activity_chain.read_anchors(settings)
    with Session(make_engine(settings)) as session:
        report = activity_chain.verify(session=session, key=key, anchors=anchors)
    if report.key_problem:
        typer.echo(f"BROKEN: {report.key_problem} ({activity_key.key_source(settings)})")
        raise typer.Exit(1)
    if report.broken_at is not None:
        typer.echo(
            f"BROKEN at event {report.broken_at}: {report.reason} "
            f"({report.checked} events fine before it)"
        )
        raise typer.Exit(1)
    if report.missing_tail is not None:
        tail = report.missing_tail
        end = f"event {report.last_id}" if report.last_id is not None else "no event"
        typer.echo(
            f"BROKEN: the newest events are missing: the anchor of {tail.at} ({tail.source}) "
            f"records {tail.describe()}; the log ends at {end} ({report.checked} events)"
        )
        raise typer.Exit(1)
    typer.echo(
        f"activity log intact: {report.checked} events checked "
        f"({report.checked - report.unkeyed} keyed, {report.unkeyed} from before the key)"
    )
    if report.anchor is not None:
        typer.echo(f"matches the anchor of {report.anchor.at}: {report.anchor.describe()}")
    else:
        typer.echo(
            f"warning: no anchor in {activity_chain.anchors_path(settings)} yet, so deleted "
            "newest events would go unnoticed; the scheduler and `ronghe backup` write anchors",
            err=True,
        )


files_cli = typer.Typer(help="The evidence file store.", no_args_is_help=True)
cli.add_typer(files_cli, name="files")


@files_cli.command("verify")
def files_verify() -> None:
    """Re-hash every stored file; exit 1 when one is missing or altered."""
    from sqlmodel import Session

    from app.db import make_engine
    from app.services.files.verify import verify

    settings = _settings()
    with Session(make_engine(settings)) as session:
        report = verify(session=session, files_dir=settings.files_dir)
    for sha in report.missing:
        typer.echo(f"MISSING  {sha}")
    for sha in report.altered:
        typer.echo(f"ALTERED  {sha}")
    for path in report.orphans:
        typer.echo(f"orphan   {path} (not referenced; safe to delete after a backup)")
    typer.echo(
        f"checked {report.checked} files: {len(report.missing)} missing, "
        f"{len(report.altered)} altered, {len(report.orphans)} orphans"
    )
    raise typer.Exit(0 if report.ok else 1)


def _progress(line: str) -> None:
    typer.echo(line, err=True)


@cli.command()
def backup(
    to: Annotated[Path, typer.Option("--to", help="A new (or empty) directory for the backup.")],
) -> None:
    """Back up the database and the evidence files while the app keeps running."""
    from app.jobs import backup as backup_service

    try:
        manifest = backup_service.backup(
            settings=_settings(), target=to, now=datetime.now(UTC), progress=_progress
        )
    except backup_service.BackupError as exc:
        typer.echo(f"backup failed: {exc.message}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    typer.echo(
        f"backed up to {to}: {manifest.database} database at revision "
        f"{manifest.alembic_revision}, {manifest.files} files ({manifest.file_bytes} bytes)"
    )


@cli.command()
def restore(
    from_: Annotated[Path, typer.Option("--from", help="A directory made by `ronghe backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a target that already has data.")
    ] = False,
) -> None:
    """Restore a backup into an empty data directory and database (stop the app first)."""
    from app.jobs import backup as backup_service

    try:
        manifest = backup_service.restore(
            settings=_settings(), source=from_, force=force, progress=_progress
        )
    except backup_service.BackupError as exc:
        typer.echo(f"restore refused or failed: {exc.message}", err=True)
        raise typer.Exit(exc.exit_code) from exc
    typer.echo(
        f"restored the backup of {manifest.created_at}: {manifest.files} files; "
        "check with `ronghe files verify` and `ronghe activity verify`"
    )


@cli.command()
def health(
    url: Annotated[str | None, typer.Option(help="Default: http://RONGHE_HOST:RONGHE_PORT")] = None,
) -> None:
    """Exit 0 when the running server and its database answer (for container health checks)."""
    import urllib.request

    settings = _settings()
    host = "127.0.0.1" if settings.host in {"0.0.0.0", "::"} else settings.host
    target = url or f"http://{host}:{settings.port}/healthz"
    try:
        with urllib.request.urlopen(target, timeout=4) as response:  # noqa: S310 - own server
            ok = response.status == 200
    except OSError:
        ok = False
    raise typer.Exit(0 if ok else 1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
