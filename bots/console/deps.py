"""Typed dependencies for route functions, as in the FastAPI full-stack template: who is signed
in, what their role allows, and the stores, so no handler repeats a session or role check.

    @router.get("/review/{task_id}")
    def task(request: Request, task_id: int, user: CurrentUser) -> HTMLResponse:
        audit(request, "view_task", f"task {task_id}", task_id=task_id)
        ...

The stores come from `request.app.state` (set by bots.console.app.create_app)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request

from bots.accounts import AccountStore
from bots.accounts import CurrentUser as User
from bots.core.models import Role

SESSION_COOKIE = "rcmbot_session"


class LoginRequired(Exception):
    """A browser asked for a page without a live session: it is sent to the login page, and back
    to `next` (a relative path of this console) once signed in."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def accounts_store(request: Request) -> AccountStore:
    store: AccountStore = request.app.state.accounts
    return store


Accounts = Annotated[AccountStore, Depends(accounts_store)]


def current_user(request: Request, accounts: Accounts) -> User:
    """The user of this request's session cookie (also kept in `request.state.user` for the
    templates and `audit`). Without one, a browser's GET goes to the login page; anything else
    (a form post, a script's fetch) gets 401."""
    user = accounts.session(request.cookies.get(SESSION_COOKIE, ""))
    if user is None:
        if request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", ""):
            query = f"?{request.url.query}" if request.url.query else ""
            raise LoginRequired(request.url.path + query)
        raise HTTPException(401, "sign in first")
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role) -> Callable[[User], User]:
    """A dependency admitting only `roles`; others get the 403 page "your role may not do this".
    For one route `user: Annotated[User, Depends(require(Role.SUPERVISOR))]`, for a whole router
    `APIRouter(dependencies=[Depends(require(Role.SUPERVISOR))])`."""
    allowed = frozenset(roles)

    def with_role(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(403, "your role may not do this")
        return user

    return with_role


Admin = Annotated[User, Depends(require(Role.ADMIN))]
Auditor = Annotated[User, Depends(require(Role.AUDITOR, Role.ADMIN))]


def audit(request: Request, action: str, what: str, item_id: int | None = None, task_id: int | None = None) -> None:
    """Append to the access log as the signed-in user (call it from a route that depends on
    CurrentUser or a role). `what` names internal ids only: "task 12", "item 7"."""
    user: User | None = getattr(request.state, "user", None)
    if user is None:
        raise RuntimeError("audit() needs a signed-in user: the route must depend on CurrentUser")
    accounts_store(request).log_access(user, action, what, item_id=item_id, task_id=task_id)


def login_url(next_path: str) -> str:
    return f"/login?next={quote(next_path, safe='/')}"
