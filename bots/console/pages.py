"""Rendering console pages: the Jinja environment (autoescaped, templates from the package), the
context every page gets (the signed-in user, the CSRF token, flash messages), and one-shot
flash messages that survive a POST-redirect-GET in a signed cookie."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from bots.console.security import CSRF_FIELD

FLASH_COOKIE = "rcmbot_flash"
Level = Literal["ok", "info", "error"]


def csrf_token(request: Request) -> str:
    """This browser's CSRF token (asgi-csrf sets its cookie on the response that asked for it)."""
    return str(request.scope["csrftoken"]())


@pass_context
def _csrf_field(context: Context) -> Markup:
    token = csrf_token(context["request"])
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">')


@pass_context
def _csrf_token(context: Context) -> str:
    return csrf_token(context["request"])


def templates() -> Jinja2Templates:
    """The console's templates, with `csrf_field()` (a hidden input for every form) and
    `csrf_token()` (for the meta tag console.js sends as the X-CSRF-Token header)."""
    env = Environment(loader=PackageLoader("bots.console", "templates"), autoescape=True)
    env.globals.update(csrf_field=_csrf_field, csrf_token=_csrf_token)
    return Jinja2Templates(env=env, context_processors=[_page_context])


def _page_context(request: Request) -> dict[str, Any]:
    return {"user": getattr(request.state, "user", None), "flashes": _read_flashes(request)}


def render(
    request: Request, template: str, context: Mapping[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """A page from the console's templates. A flash message the page shows is spent."""
    page: Jinja2Templates = request.app.state.templates
    response = page.TemplateResponse(request, template, dict(context or {}), status_code=status_code)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def flash(request: Request, response: Response, text: str, level: Level = "ok") -> None:
    """Show `text` on the next page this browser renders (after a redirect). One per response; a
    short text of internal ids ("task 12 approved"), like everything else the console writes."""
    payload = base64.urlsafe_b64encode(json.dumps([level, text]).encode()).decode()
    response.set_cookie(
        FLASH_COOKIE,
        f"{payload}.{_sign(request, payload)}",
        max_age=120,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _sign(request: Request, payload: str) -> str:
    key = f"flash:{request.app.state.secret}".encode()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def _read_flashes(request: Request) -> list[tuple[str, str]]:
    payload, _, signature = request.cookies.get(FLASH_COOKIE, "").partition(".")
    if not payload or not hmac.compare_digest(signature, _sign(request, payload)):
        return []
    try:
        level, text = json.loads(base64.urlsafe_b64decode(payload))
    except ValueError:
        return []
    return [(str(level), str(text))]
