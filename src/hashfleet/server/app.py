"""The FastAPI application: routers, static files, error handlers, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hashfleet import __version__
from hashfleet.core.settings import Settings
from hashfleet.server.api import actions as actions_api
from hashfleet.server.api import agent, alerts, discovery, fleet, history_ui, logs, rpc, series, ws
from hashfleet.server.api import direct as direct_api
from hashfleet.server.api import settings as settings_api
from hashfleet.server.api.audit import router as audit_router
from hashfleet.server.api.capabilities import router as capabilities_router
from hashfleet.server.api.csrf import CsrfMiddleware
from hashfleet.server.api.errors import install_error_handlers
from hashfleet.server.api.metrics import router as metrics_router
from hashfleet.server.api.users import router as users_router
from hashfleet.server.audit.middleware import AuditMiddleware
from hashfleet.server.hsts import HstsMiddleware
from hashfleet.server.replica import ReplicaGuard
from hashfleet.server.state import ServerState
from hashfleet.server.web import pages


def create_app(settings: Settings | None = None, state: ServerState | None = None) -> FastAPI:
    """Build the app; the state starts and stops with the app's lifespan."""
    server_state = state or ServerState(settings or Settings.from_env())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await server_state.start()
        try:
            yield
        finally:
            await server_state.stop()

    app = FastAPI(
        title="hashfleet",
        version=__version__,
        lifespan=lifespan,
        description="Fleet monitoring and control for mining farms.",
    )
    app.state.hashfleet = server_state
    install_error_handlers(app)
    app.add_middleware(HstsMiddleware)
    app.include_router(rpc.router)
    app.include_router(actions_api.router)
    app.include_router(settings_api.router)
    app.include_router(direct_api.router)
    app.include_router(capabilities_router)
    app.include_router(series.router)
    app.include_router(history_ui.router)
    app.include_router(logs.router)
    app.include_router(agent.router)
    app.include_router(fleet.router)
    app.include_router(alerts.router)
    app.include_router(audit_router)
    app.include_router(discovery.router)
    app.include_router(metrics_router)
    app.include_router(ws.router)
    app.include_router(users_router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(pages.STATIC_DIR)), name="static")
    app.add_middleware(CsrfMiddleware)
    # Outermost of ours: refusals by any other middleware are recorded too.
    app.add_middleware(AuditMiddleware, sink=server_state.audit.record)
    if server_state.settings.replica:
        # Outermost: a replica refuses writes (ERR_SLAVE_BLOCK) before anything else runs.
        app.add_middleware(ReplicaGuard)
    return app
