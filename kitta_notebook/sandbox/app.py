"""The ASGI application: FastAPI with one router per job, wrapped in the sandbox middleware.

Routes reach the shared ``AppContext`` through the ``deps.get_context`` dependency
(``app.state.sandbox``) and the caller's account through ``deps.current_account``.
"""

from __future__ import annotations

from fastapi import FastAPI

from .context import AppContext
from .handlers import install_handlers
from .middleware import SandboxMiddleware
from .routes import admin, files, meta, tasks, usage
from .samples import Samples

__all__ = ["AppContext", "Samples", "build_app"]


def build_app(ctx: AppContext) -> SandboxMiddleware:
    """The ASGI application (FastAPI wrapped in the sandbox middleware)."""
    app = FastAPI(
        title="Kitta lip-sync API (sandbox)",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.sandbox = ctx
    routers = (tasks.router, usage.router, meta.router, files.router, admin.router)
    install_handlers(app, routers)
    for router in routers:
        app.include_router(router)
    return SandboxMiddleware(
        app, stats=ctx.stats, faults=ctx.faults, connections=ctx.connections, clock=ctx.clock
    )
