"""The console's FastAPI app: stores on `app.state`, the routers of bots.console.routes, templates
and static files from the package, error pages, and the security middleware around it all.

Routers are found, not listed: every module of bots.console.routes with a module-level
`router` (a fastapi.APIRouter) is included, in module-name order, so a new area of the console
is one new module (and its templates under templates/<area>/)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRouter
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from bots.accounts import AccountStore
from bots.console import routes
from bots.console.deps import LoginRequired, login_url
from bots.console.pages import render, templates
from bots.console.security import CSRFProtection, SecurityHeaders, console_secret
from bots.console.timing import ServerTiming
from bots.core.settings import Settings


def create_app(
    settings: Settings,
    *,
    accounts: AccountStore,
    state: Mapping[str, object] | None = None,
    extra_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The console. `state` adds objects to `app.state` by name (the stores routes read through
    their dependencies: state={"review": ReviewStore(engine)}); `extra_routers` come after the
    routers of bots.console.routes."""
    app = FastAPI(title="rcmbot console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.accounts = accounts
    app.state.secret = console_secret(settings)
    app.state.templates = templates()
    for name, value in (state or {}).items():
        setattr(app.state, name, value)
    app.mount("/static", StaticFiles(packages=[("bots.console", "static")]), name="static")
    for router in [*route_modules(), *extra_routers]:
        app.include_router(router)
    app.add_exception_handler(LoginRequired, _to_login)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _error_page)  # type: ignore[arg-type]
    app.add_middleware(CSRFProtection, secret=app.state.secret)
    app.add_middleware(SecurityHeaders)  # outside CSRF: a refused request's page gets the headers too
    app.add_middleware(ServerTiming)  # outermost: the whole of the console's time
    return app


def route_modules() -> list[APIRouter]:
    """The `router` of each module of bots.console.routes, by module name."""
    found = []
    for module in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        router = getattr(importlib.import_module(f"{routes.__name__}.{module.name}"), "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found


async def _to_login(request: Request, exc: LoginRequired) -> Response:
    return RedirectResponse(login_url(exc.next_path), status_code=303)


async def _error_page(request: Request, exc: StarletteHTTPException) -> Response:
    """An HTML page for a browser, JSON for a script."""
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    response = render(request, "error.html", {"status": exc.status_code, "detail": exc.detail}, exc.status_code)
    response.headers.update(exc.headers or {})
    return response
