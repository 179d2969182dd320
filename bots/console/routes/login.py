"""Signing in and out, and the console's front door. Failed logins, lockout and the login
events are AccountStore's; this module only carries the form and the cookies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from bots.accounts import LoginRefusedError
from bots.console.deps import SESSION_COOKIE, Accounts
from bots.console.pages import flash, render
from bots.console.security import CSRF_COOKIE

router = APIRouter()

HOME = "/review"


def safe_next(target: str) -> str:
    """Where to go after signing in: a path of this console only. "//host" and "/\\host" are
    other sites to a browser, so anything but a plain absolute path goes home instead."""
    if (
        not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
    ):
        return "/"
    return target


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse(HOME, status_code=303)


@router.get("/login")
def login_page(
    request: Request, accounts: Accounts, next_path: Annotated[str, Query(alias="next", max_length=2000)] = "/"
) -> Response:
    target = safe_next(next_path)
    if accounts.session(request.cookies.get(SESSION_COOKIE, "")) is not None:
        return RedirectResponse(target, status_code=303)
    return render(request, "login.html", {"next": target, "username": "", "error": None, "code_needed": False})


@router.post("/login")
def login(
    request: Request,
    accounts: Accounts,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    code: Annotated[str, Form(max_length=20)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2000)] = "/",
) -> Response:
    target = safe_next(next_path)
    try:
        token = accounts.login(username, password, code or None)
    except LoginRefusedError as exc:
        # the form again, with what was typed but the password (and the code)
        context = {
            "next": target,
            "username": username,
            "error": str(exc),
            "code_needed": exc.code_needed or bool(code),
        }
        return render(request, "login.html", context)
    secure = request.url.scheme == "https"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="strict", secure=secure)
    # a new session gets a new CSRF token: one planted before the login is of no use after it
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict", secure=secure)
    return response


@router.post("/logout")
def logout(request: Request, accounts: Accounts) -> Response:
    accounts.logout(request.cookies.get(SESSION_COOKIE, ""))
    secure = request.url.scheme == "https"
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict", secure=secure)
    flash(request, response, "You are signed out.", "info")
    return response
