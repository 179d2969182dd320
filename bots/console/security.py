"""What protects every console response and request: security headers, CSRF, the signing secret,
and the plain pages for a request refused, unreadable or failed.

CSRF has two layers, because a console has no API clients and its visitors' browsers say where a
request comes from:
 - the browser's word: a state-changing request whose `Origin` is not this console's own, or
   whose `Sec-Fetch-Site` is anything but same-origin (or none: the user's own doing), is
   refused. This is what stops a page on another port of the same host, to which the console's
   token alone is no match: cookies ignore ports, so that page can plant its own validly signed
   token cookie, and SameSite counts every port of 127.0.0.1 as one site, so the console's
   cookies go along with its form.
 - a token: asgi-csrf's signed double-submit cookie (as Datasette uses it), bound to the session.
   With a session cookie the token is derived from it (an HMAC under the console's secret) and
   whatever `rcmbot_csrf` cookie came along is ignored, so a planted token is of no use against a
   signed-in user; before signing in it is the random one of the `rcmbot_csrf` cookie. Every
   state-changing request needs it, one with neither header above too (a script's: it carries
   no victim's cookies, but it must not get around the check by leaving the headers out).
asgi-csrf's allowances are closed, because a console has no API clients that need them: a
state-changing request with no cookie at all is refused (asgi-csrf lets it through, which would
allow login CSRF), and an `Authorization: Bearer` header is dropped instead of skipping the check.
The token cookie is HttpOnly (console.js reads the token from the page's <meta name="csrf-token">),
and Secure whenever the request came over https. A request asgi-csrf cannot read (a multipart
boundary it does not expect, a body that is not UTF-8) gets a 400 page instead of a crash."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import traceback
from dataclasses import dataclass
from pathlib import Path

from asgi_csrf import asgi_csrf_decorator
from itsdangerous.url_safe import URLSafeSerializer
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bots.console.deps import SESSION_COOKIE
from bots.core.logs import get_logger
from bots.core.settings import Settings

log = get_logger(__name__)

CSRF_COOKIE = "rcmbot_csrf"
CSRF_FIELD = "csrftoken"  # asgi-csrf reads this name from multipart bodies whatever it is told
CSRF_HEADER = "X-CSRF-Token"
CSRF_NAMESPACE = "rcmbot-console-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SAME_ORIGIN = frozenset({"same-origin", "none"})  # Sec-Fetch-Site values of the console's own pages
_PASSAGE = "rcmbot.csrf_passage"  # scope key: see CSRFProtection._accepted
_CODE_ROOT = Path(__file__).parents[2]  # what a logged stack's file names are relative to

HEADERS = {
    # no inline script or style anywhere: behaviour comes from static files
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    # not no-referrer: under it a browser sends `Origin: null` with the console's own form posts,
    # and CSRFProtection's origin check needs the real one; a console URL still never leaves it
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def _page(title: str, text: str) -> bytes:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title></head><body>"
        f"<h1>{title}</h1><p>{text}</p></body></html>"
    ).encode()


REFUSED_PAGE = _page(
    "Request refused",
    "This form had expired or did not come from the console. "
    'Go back, reload the page and try again, or <a href="/login">sign in</a>.',
)
UNREADABLE_PAGE = _page(
    "Bad request", "The console could not read this request. Go back, reload the page and try again."
)
FAILED_PAGE = _page(
    "Something went wrong", "Something went wrong; it has been logged. Go back, reload the page and try again."
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


async def _send_page(send: Send, status: int, body: bytes) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/html; charset=utf-8")]}
    )
    await send({"type": "http.response.body", "body": body})


async def refuse(scope: Scope, send: Send, *_: object) -> None:
    """403 with a plain page (also asgi-csrf's `send_csrf_failed`)."""
    await _send_page(send, 403, REFUSED_PAGE)


def _where(exc: BaseException) -> list[str]:
    """Where `exc` was raised: file:line of each frame in the project's code (but this module's),
    and of the innermost frame. Never the message or a local value: a database error's message
    can hold PHI."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames[:-1] if Path(f.filename).is_relative_to(_CODE_ROOT / "bots") and f.filename != __file__]
    return [f"{f.filename.removeprefix(f'{_CODE_ROOT}{os.sep}')}:{f.lineno}" for f in [*ours, *frames[-1:]]]


def _cross_origin(scope: Scope) -> bool:
    """The browser says this request came from a page that is not the console's own (another
    port of the same host included). Under the Referrer-Policy above, browsers send the real
    `Origin` with every form post and fetch, with the host and port as in the `Host` header."""
    headers = Headers(scope=scope)
    site = headers.get("sec-fetch-site")
    if site is not None and site.lower() not in SAME_ORIGIN:
        return True
    origin = headers.get("origin")
    return origin is not None and origin.lower() != f"{scope['scheme']}://{headers.get('host', '')}".lower()


@dataclass
class _Passage:
    """Whether asgi-csrf handed a request on to the app (see CSRFProtection._accepted)."""

    accepted: bool = False


class CSRFProtection:
    """The two layers above around the app. Templates read the token through
    `request.scope["csrftoken"]()` (see bots.console.pages)."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self._signer = URLSafeSerializer(secret)
        self._session_key = f"csrf:{secret}".encode()
        options = {
            "cookie_name": CSRF_COOKIE,
            "http_header": CSRF_HEADER.lower(),
            "form_input": CSRF_FIELD,
            "signing_secret": secret,
            "signing_namespace": CSRF_NAMESPACE,
            "cookie_samesite": "Strict",
            "send_csrf_failed": refuse,
        }
        self._http = asgi_csrf_decorator(cookie_secure=False, **options)(self._accepted)
        self._https = asgi_csrf_decorator(cookie_secure=True, **options)(self._accepted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if scope["method"] not in SAFE_METHODS:
            if _cross_origin(scope) or not any(k == b"cookie" for k, _ in headers):
                await refuse(scope, send)
                return
            headers = [(k, v) for k, v in headers if k != b"authorization"]
        passage = _Passage()
        scope = {**scope, "headers": self._bound_to_session(headers), _PASSAGE: passage}
        protected = self._https if scope.get("scheme") == "https" else self._http
        try:
            await protected(scope, receive, _http_only_token(send))
        except Exception as exc:
            if passage.accepted:
                raise
            # asgi-csrf could not parse the cookies or the body: a malformed request, not a failure
            log.warning(
                "unreadable request refused", error=type(exc).__name__, method=scope["method"], path=scope["path"]
            )
            await _send_page(send, 400, UNREADABLE_PAGE)

    async def _accepted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, as asgi-csrf calls it: the request is marked as handed on (asgi-csrf copies the
        scope, but the marker in the copy is the same object), so an exception from here on is
        the app's, not a request asgi-csrf could not read."""
        scope[_PASSAGE].accepted = True
        await self.app(scope, receive, send)

    def _bound_to_session(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """With a session cookie, the request's `rcmbot_csrf` cookie replaced by the session's
        token, so asgi-csrf issues and checks that one; the headers as they are without."""
        raw = "; ".join(v.decode("latin-1") for k, v in headers if k == b"cookie")
        session = cookie_parser(raw).get(SESSION_COOKIE)
        if not session:
            return headers
        digest = hmac.new(self._session_key, session.encode("latin-1"), hashlib.sha256).hexdigest()
        kept = [c for c in raw.split(";") if c.strip() and c.split("=", 1)[0].strip() != CSRF_COOKIE]
        cookie = "; ".join([*(c.strip() for c in kept), f"{CSRF_COOKIE}={self._signer.dumps(digest, CSRF_NAMESPACE)}"])
        return [*((k, v) for k, v in headers if k != b"cookie"), (b"cookie", cookie.encode("latin-1"))]


def _http_only_token(send: Send) -> Send:
    """`send` with HttpOnly added to the token cookie, which asgi-csrf cannot be told to set."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [
                (k, v + b"; HttpOnly")
                if k.lower() == b"set-cookie"
                and v.startswith(CSRF_COOKIE.encode() + b"=")
                and b"httponly" not in v.lower()
                else (k, v)
                for k, v in message.get("headers", [])
            ]
        await send(message)

    return sending


class SecurityHeaders:
    """The headers above on every response, and `Cache-Control: no-store` on all but static
    files: pages show work items, and a shared machine's browser cache must not keep them.

    It is also where an exception from the app ends: Starlette's own 500 comes from outside the
    console's middleware, without these headers. Logged by type, place and path only (never the
    message, the query or the body, which can hold PHI), and answered with a plain 500 page; a
    response already under way is cut short (the server closes the connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)  # a route's own stands: an evidence snapshot's sandbox CSP
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            log.error(
                "console request failed",
                error=type(exc).__name__,
                where=_where(exc),
                method=scope["method"],
                path=scope["path"],
            )
            if not started:
                await _send_page(send_with_headers, 500, FAILED_PAGE)
