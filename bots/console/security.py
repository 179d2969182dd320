"""What protects every console response and request: security headers, CSRF, the signing secret.

CSRF is asgi-csrf's signed double-submit cookie (as Datasette uses it), with three of its
allowances closed, because a console has no API clients that need them: a state-changing
request with no cookie at all is refused (asgi-csrf lets it through, which would allow login
CSRF), an `Authorization: Bearer` header is dropped instead of skipping the check, and the
token cookie is Secure whenever the request came over https."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from asgi_csrf import asgi_csrf_decorator
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bots.core.settings import Settings

CSRF_COOKIE = "rcmbot_csrf"
CSRF_FIELD = "csrftoken"  # asgi-csrf reads this name from multipart bodies whatever it is told
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

HEADERS = {
    # no inline script or style anywhere: behaviour comes from static files
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

REFUSED_PAGE = (
    b"<!doctype html><html lang=en><head><meta charset=utf-8><title>Request refused</title></head><body>"
    b"<h1>Request refused</h1><p>This form had expired or did not come from the console. "
    b'Go back, reload the page and try again, or <a href="/login">sign in</a>.</p></body></html>'
)


def console_secret(settings: Settings) -> str:
    """The key that signs CSRF tokens and flash messages: the setting, else a random key made
    once in `<state_dir>/console-secret` (mode 0600), so restarts keep open forms valid."""
    if settings.console.secret_key is not None:
        return settings.console.secret_key.get_secret_value()
    path = settings.state_path / "console-secret"
    if not path.exists():
        _create_secret(path)
    return path.read_text(encoding="ascii").strip()


def _create_secret(path: Path) -> None:
    """Written to a private file first, then linked into place: a second process starting at the
    same moment never reads a half-written key, and the first key made wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_hex(32) + "\n")
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()


async def refuse(scope: Scope, send: Send, *_: object) -> None:
    """403 with a plain page (also asgi-csrf's `send_csrf_failed`)."""
    await send(
        {"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"text/html; charset=utf-8")]}
    )
    await send({"type": "http.response.body", "body": REFUSED_PAGE})


class CSRFProtection:
    """asgi-csrf around the app, with the allowances above closed. Templates read the token
    through `request.scope["csrftoken"]()` (see bots.console.pages)."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        options = {
            "cookie_name": CSRF_COOKIE,
            "http_header": CSRF_HEADER.lower(),
            "form_input": CSRF_FIELD,
            "signing_secret": secret,
            "signing_namespace": "rcmbot-console-csrf",
            "cookie_samesite": "Strict",
            "send_csrf_failed": refuse,
        }
        self._http = asgi_csrf_decorator(cookie_secure=False, **options)(app)
        self._https = asgi_csrf_decorator(cookie_secure=True, **options)(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
            if not any(k == b"cookie" for k, _ in headers):
                await refuse(scope, send)
                return
            scope = {**scope, "headers": headers}
        protected = self._https if scope.get("scheme") == "https" else self._http
        await protected(scope, receive, send)


class SecurityHeaders:
    """The headers above on every response, and `Cache-Control: no-store` on all but static
    files: pages show work items, and a shared machine's browser cache must not keep them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)  # a route's own stands: an evidence snapshot's sandbox CSP
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
