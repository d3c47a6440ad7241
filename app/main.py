"""The FastAPI application."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session
from starlette.middleware.gzip import GZipMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import clock, log_redaction
from app.db import make_engine
from app.routers import (
    account,
    assessor,
    audit_checklist,
    audits,
    auth,
    capabilities,
    certification,
    dashboard,
    departments,
    dossiers,
    evidence,
    evidence_excel,
    evidence_files,
    goals,
    home,
    initiatives,
    nonconformities,
    notifications,
    pdca,
    readiness,
    reminders,
    requirements,
    reviews,
    self_assessments,
    strategy,
    users,
)
from app.services.activity import key as activity_key
from app.settings import Settings
from app.web import openapi
from app.web.error_pages import install_error_handlers
from app.web.http import (
    BodyLimitMiddleware,
    WebContextMiddleware,
    csrf_protect,
)
from app.web.rendering import TEMPLATES_DIR, env

ROUTER_MODULES = (
    auth,
    home,
    dashboard,
    strategy,
    goals,
    capabilities,
    initiatives,
    pdca,
    evidence_excel,
    evidence_files,
    evidence,
    requirements,
    audit_checklist,
    audits,
    nonconformities,
    reviews,
    readiness,
    certification,
    self_assessments,
    dossiers,
    assessor,
    users,
    departments,
    notifications,
    reminders,
    account,
)
API_PREFIX = "/api/v1"

API_DESCRIPTION = """Ronghe JSON API. Authenticate with a personal API token created on the
account page: `Authorization: Bearer rh_…`. Errors come back as `{"detail": "…"}` in the
token owner's language."""


def _named(router: APIRouter, stem: str) -> APIRouter:
    """Name each route "<router module>.<handler>" (e.g. `evidence.detail`): unique, so that
    `url_for` in templates finds the one route it means."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            route.name = f"{stem}.{route.endpoint.__name__}"
    return router


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # A key other than the database's (or none) stops the start here, with its reason, rather
    # than failing every change later.
    with app.state.session_factory() as session:
        activity_key.check_at_startup(session)
    scheduler = None
    if settings.scheduler == "embedded":
        from app.jobs.scheduler import start_background

        scheduler = start_background(app.state.session_factory, settings)
    yield
    if scheduler is not None:
        scheduler.shutdown(wait=False)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        lifespan=lifespan,
        title="Ronghe 融合",
        description=API_DESCRIPTION,
        version="0.1.0",
        dependencies=[Depends(csrf_protect)],
        # The stock docs pages load Swagger UI from a CDN; routers/home.py serves a vendored copy.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.settings = settings
    engine = make_engine(settings)
    app.state.engine = engine
    app.state.session_factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    env.globals["timezone"] = settings.timezone
    clock.configure(settings.timezone)
    log_redaction.install()
    # Inside the web context (added first), so the 413 is in the user's language.
    app.add_middleware(BodyLimitMiddleware, max_mb=settings.upload_max_mb)
    app.add_middleware(WebContextMiddleware)
    # Level 5, not Starlette's 9: a 70 KB register page compresses to 1 % more bytes in 1.2 ms
    # instead of 3 ms, on every page.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    if settings.trusted_proxies:
        # Outermost, so that everything inside (sign-in throttling, the access log) sees the
        # client a trusted proxy names; anyone else's X-Forwarded-* is ignored. `ronghe serve`
        # turns uvicorn's own handling off, which would trust any local peer.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.mount("/static", StaticFiles(directory=TEMPLATES_DIR.parent / "static"), name="static")
    install_error_handlers(app)
    for module in ROUTER_MODULES:
        stem = module.__name__.rpartition(".")[2]
        app.include_router(_named(module.router, stem))
        if hasattr(module, "api_router"):
            app.include_router(_named(module.api_router, f"api.{stem}"), prefix=API_PREFIX)
    openapi.install(app)
    return app
