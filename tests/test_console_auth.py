"""The console's sign-in and security, driven in real headless Chromium (pytest-playwright's page,
a fresh context per test) against one console started once per session on a free 127.0.0.1
port with a temporary state directory. Each test makes its own users, so nothing needs resetting."""

from __future__ import annotations

import http.server
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from playwright.sync_api import Page, expect
from structlog.testing import capture_logs

from bots.accounts import AccountStore
from bots.accounts import CurrentUser as User
from bots.console import RunningConsole, create_app, render
from bots.console.deps import CurrentUser
from bots.core.models import Role
from bots.core.settings import Settings
from bots.worklist.db import open_engine, upgrade
from tests.conftest import run_async

PASSWORD = "a long enough password"
LOCKOUT = 3
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)

# A page to land on after signing in, for these tests only: the console's own areas come later.
landing = APIRouter()


@landing.get("/_test/landing", response_class=HTMLResponse)
def _landing(request: Request, user: CurrentUser) -> HTMLResponse:
    return render(request, "base.html")


@landing.get("/_test/fail")
def _fail(q: str = "") -> None:
    raise RuntimeError(f"a message holding what was asked: {q}")


@dataclass
class Console:
    url: str
    accounts: AccountStore
    running: RunningConsole

    def user(self, role: Role, totp: bool = False) -> tuple[str, str | None]:
        """A new user of `role` for this test: (name, TOTP secret or None)."""
        name = f"{role.value}-{secrets.token_hex(4)}"
        _, secret = self.accounts.add_user(name, role, PASSWORD, totp=totp)
        return name, secret


def console_settings(state: Path) -> Settings:
    return Settings(state_dir=state, console={"port": 0, "lockout_failures": LOCKOUT, "lockout_s": 600})


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    settings = console_settings(tmp_path_factory.mktemp("console") / "state")
    upgrade(settings.worklist_url)
    engine = open_engine(settings.worklist_url)
    # cheap hashes: these tests are about the web layer (test_accounts checks the hashing)
    accounts = AccountStore(engine, settings.console, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    app = create_app(settings, accounts=accounts, extra_routers=[landing])
    running = RunningConsole(app, "127.0.0.1", 0).start()
    yield Console(running.url, accounts, running)
    running.stop()
    engine.dispose()


def sign_in(
    page: Page, console: Console, name: str, password: str = PASSWORD, next_path: str = "/_test/landing"
) -> None:
    page.goto(f"{console.url}/login?next={quote(next_path)}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def page_token(html: str) -> str:
    """The CSRF token of a console page (its <meta name="csrf-token">)."""
    found = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert found
    return found[1]


@contextmanager
def signed_in_client(console: Console, role: Role = Role.SUPERVISOR) -> Iterator[tuple[httpx.Client, str]]:
    """A script signed in as a new user of `role`, and the token of its pages."""
    with httpx.Client(base_url=console.url, headers={"accept": "text/html"}) as client:
        form = client.get("/login")
        fields = {"username": console.user(role)[0], "password": PASSWORD, "csrftoken": page_token(form.text)}
        assert client.post("/login", data=fields).status_code == 303
        yield client, page_token(client.get("/_test/landing").text)


def still_signed_in(client: httpx.Client) -> bool:
    return client.get("/_test/landing").status_code == 200


def test_sign_in_and_out(page: Page, console: Console) -> None:
    name, _ = console.user(Role.SUPERVISOR)
    sign_in(page, console, name)
    expect(page).to_have_url(f"{console.url}/_test/landing")
    header = page.get_by_role("banner")
    expect(header).to_contain_text(name)
    expect(header).to_contain_text("supervisor")
    expect(page.get_by_role("link", name="Review queue")).to_be_visible()
    expect(page.get_by_role("link", name="Users")).to_have_count(0)  # admins only
    expect(page.get_by_role("link", name="Access log")).to_have_count(0)  # auditors and admins
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{console.url}/login")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto(f"{console.url}/_test/landing")
    expect(page).to_have_url(f"{console.url}/login?next=/_test/landing")
    assert console.accounts.login_events(1)[0].reason == "ok"


def test_a_wrong_password_shows_the_error_keeps_the_name_and_is_recorded(page: Page, console: Console) -> None:
    name, _ = console.user(Role.CODER)
    sign_in(page, console, name, "not the password")
    expect(page.get_by_role("alert")).to_have_text("user name or password is incorrect")
    expect(page.get_by_label("User name")).to_have_value(name)
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_label("One-time code")).to_have_count(0)
    event = console.accounts.login_events(1)[0]
    assert (event.username, event.success, event.reason) == (name, False, "bad password")


def test_lockout_after_repeated_failures(page: Page, console: Console) -> None:
    name, _ = console.user(Role.CODER)
    for _ in range(LOCKOUT - 1):
        sign_in(page, console, name, "not the password")
        expect(page.get_by_role("alert")).to_have_text("user name or password is incorrect")
    sign_in(page, console, name, "not the password")
    expect(page.get_by_role("alert")).to_contain_text(f"locked after {LOCKOUT} failed logins; try again after")
    sign_in(page, console, name)  # the right password does not open a locked account
    expect(page.get_by_role("alert")).to_contain_text("ask an admin to reset the password")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_sign_in_with_a_one_time_code(page: Page, console: Console) -> None:
    name, secret = console.user(Role.AUDITOR, totp=True)
    assert secret
    sign_in(page, console, name)
    expect(page.get_by_role("alert")).to_have_text("a one-time code is needed")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("One-time code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{console.url}/_test/landing")
    expect(page.get_by_role("banner")).to_contain_text(name)


def test_a_post_without_the_csrf_token_is_refused(page: Page, console: Console) -> None:
    name, _ = console.user(Role.SUPERVISOR)
    sign_in(page, console, name)
    expect(page).to_have_url(f"{console.url}/_test/landing")
    refused = page.request.post(f"{console.url}/logout", form={"x": "1"})  # the browser's cookies, no token
    assert refused.status == 403 and "Request refused" in refused.text()
    assert refused.headers["content-security-policy"] == CSP
    as_json = page.request.post(f"{console.url}/logout", data={"x": 1})
    assert as_json.status == 403
    login = page.request.post(f"{console.url}/login", form={"username": name, "password": PASSWORD})
    assert login.status == 403
    no_cookies = httpx.post(f"{console.url}/login", data={"username": name, "password": PASSWORD})
    assert no_cookies.status_code == 403
    page.goto(f"{console.url}/_test/landing")  # still signed in: nothing was done
    expect(page.get_by_role("banner")).to_contain_text(name)
    # the console's own script sends the token as a header: the session ends
    status = page.evaluate("async () => (await rcmbot.post('/logout', {})).status")
    assert status == 200
    page.goto(f"{console.url}/_test/landing")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_security_headers_and_no_inline_script(page: Page, console: Console) -> None:
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    response = page.goto(f"{console.url}/login")
    assert response is not None
    headers = response.headers
    assert headers["content-security-policy"] == CSP and "unsafe-inline" not in CSP
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    name, _ = console.user(Role.ADMIN)
    sign_in(page, console, name, next_path="/users")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    assert page.locator("script:not([src]), [style]").count() == 0
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"  # CSS loaded
    assert problems == []  # no CSP violation, nothing failed to load
    css = page.request.get(f"{console.url}/static/console.css")
    assert css.ok and css.headers["x-content-type-options"] == "nosniff" and "cache-control" not in css.headers


def test_cookie_flags(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/login")
    token = {c["name"]: c for c in page.context.cookies()}["rcmbot_csrf"]
    assert token["httpOnly"] and token["sameSite"] == "Strict" and not token["secure"]
    assert page.evaluate("document.cookie") == ""  # the page's script reads the token from the page
    name, _ = console.user(Role.CODER)
    sign_in(page, console, name)
    expect(page).to_have_url(f"{console.url}/_test/landing")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["rcmbot_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/"
    assert not session["secure"]  # plain http on 127.0.0.1
    assert "rcmbot_csrf" not in cookies  # signed in, the token is the session's


def test_a_page_on_another_port_cannot_post_as_the_user(page: Page, console: Console) -> None:
    """Cookies ignore ports and SameSite counts every port of 127.0.0.1 as one site: a page served
    from another port plants a validly signed token cookie of its own and posts the token."""
    anonymous = httpx.get(f"{console.url}/login", headers={"accept": "text/html"})
    token = page_token(anonymous.text)
    assert anonymous.cookies["rcmbot_csrf"] == token
    attack = (
        f'<!doctype html><form id=f method=post action="{console.url}/logout">'
        f'<input name=csrftoken value="{token}"></form><script>document.getElementById("f").submit()</script>'
    ).encode()

    class Attacker(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Set-Cookie", f"rcmbot_csrf={token}; Path=/; SameSite=Strict")
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *_: object) -> None:
            pass

    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        name, _ = console.user(Role.SUPERVISOR)
        sign_in(page, console, name)
        expect(page).to_have_url(f"{console.url}/_test/landing")
        page.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
        expect(page).to_have_url(f"{console.url}/logout")
        expect(page.get_by_role("heading", name="Request refused")).to_be_visible()
    finally:
        attacker.shutdown()
        attacker.server_close()
    page.goto(f"{console.url}/_test/landing")  # still signed in: nothing was done
    expect(page.get_by_role("banner")).to_contain_text(name)
    assert console.accounts.login_events(1)[0].username == name


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://127.0.0.1:1"},
        {"origin": "null"},
        {"sec-fetch-site": "same-site"},
        {"sec-fetch-site": "cross-site"},
    ],
)
def test_a_browser_saying_the_post_came_from_elsewhere_is_refused(console: Console, headers: dict[str, str]) -> None:
    with signed_in_client(console) as (client, token):
        refused = client.post("/logout", data={"csrftoken": token}, headers=headers)
        assert refused.status_code == 403 and "Request refused" in refused.text
        assert still_signed_in(client)
        own = {"origin": console.url, "sec-fetch-site": "same-origin"}
        assert client.post("/logout", data={"csrftoken": token}, headers=own).status_code == 303
        assert not still_signed_in(client)


def test_a_token_from_elsewhere_is_no_use_to_a_signed_in_user(console: Console) -> None:
    anonymous = httpx.get(f"{console.url}/login", headers={"accept": "text/html"})
    planted = page_token(anonymous.text)
    with signed_in_client(console) as (client, token), signed_in_client(console) as (_, other_token):
        assert token != planted
        client.cookies.set("rcmbot_csrf", planted)
        refused = client.post("/logout", data={"csrftoken": planted})
        assert refused.status_code == 403 and still_signed_in(client)
        assert other_token != token  # each session has its own
        assert client.post("/logout", data={"csrftoken": other_token}).status_code == 403
        assert client.post("/logout", data={"csrftoken": token}).status_code == 303


def test_a_failure_gets_a_plain_page_with_the_headers_and_is_logged_without_values(console: Console) -> None:
    with capture_logs() as logs:
        failed = httpx.get(f"{console.url}/_test/fail", params={"q": "SA12345678"}, headers={"accept": "text/html"})
    assert failed.status_code == 500 and "Something went wrong; it has been logged." in failed.text
    assert failed.headers["content-security-policy"] == CSP and failed.headers["x-frame-options"] == "DENY"
    assert failed.headers["cache-control"] == "no-store" and failed.headers["x-content-type-options"] == "nosniff"
    assert "SA12345678" not in failed.text
    [entry] = [e for e in logs if e["event"] == "console request failed"]
    assert (entry["error"], entry["method"], entry["path"]) == ("RuntimeError", "GET", "/_test/fail")
    assert entry["where"][-1].startswith("tests/test_console_auth.py:")
    assert "SA12345678" not in repr(logs) and "a message holding" not in repr(logs)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "multipart/form-data;boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="csrftoken"\r\n\r\nt\r\n--x--\r\n',
        ),
        ("multipart/form-data", b"no boundary at all"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="csrftoken"\r\n\r\n\xff\r\n--x--\r\n',
        ),
        ("application/x-www-form-urlencoded", b"csrftoken=\xff\xfe&q=\xe9"),
    ],
)
def test_a_body_the_csrf_check_cannot_read_gets_a_400(console: Console, content_type: str, body: bytes) -> None:
    with signed_in_client(console) as (client, _), capture_logs() as logs:
        unreadable = client.post("/logout", content=body, headers={"content-type": content_type})
        assert unreadable.status_code == 400 and "could not read this request" in unreadable.text
        assert (
            unreadable.headers["content-security-policy"] == CSP and unreadable.headers["cache-control"] == "no-store"
        )
        assert still_signed_in(client)
    assert [e["event"] for e in logs] == ["unreadable request refused"]


def test_cookies_are_secure_over_https(tmp_path: Path, console: Console) -> None:
    app = create_app(console_settings(tmp_path / "state"), accounts=console.accounts)
    name, _ = console.user(Role.CODER)

    async def sign_in_over_https() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as client:
            form = await client.get("/login", headers={"accept": "text/html"})
            token = re.search(r'name="csrftoken" value="([^"]+)"', form.text)
            assert token
            fields = {"csrftoken": token[1], "username": name, "password": PASSWORD}
            return form, await client.post("/login", data=fields)

    form, signed_in = run_async(sign_in_over_https())
    assert re.search(r"rcmbot_csrf=[^;]+;.*Secure", form.headers["set-cookie"])
    assert signed_in.status_code == 303
    session = next(c for c in signed_in.headers.get_list("set-cookie") if c.startswith("rcmbot_session="))
    assert "Secure" in session and "HttpOnly" in session and "SameSite=strict" in session


def test_a_protected_page_sends_a_browser_to_login_and_back(page: Page, console: Console) -> None:
    page.goto(f"{console.url}/users?sort=name")
    expect(page).to_have_url(f"{console.url}/login?next=/users%3Fsort%3Dname")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    not_a_browser = httpx.get(f"{console.url}/users", follow_redirects=False)
    assert not_a_browser.status_code == 401
    name, _ = console.user(Role.ADMIN)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{console.url}/users?sort=name")
    expect(page.get_by_role("cell", name=name)).to_be_visible()


def test_an_auditor_may_not_see_users(page: Page, console: Console) -> None:
    name, _ = console.user(Role.AUDITOR)
    sign_in(page, console, name)
    expect(page).to_have_url(f"{console.url}/_test/landing")
    response = page.goto(f"{console.url}/users")
    assert response is not None and response.status == 403
    expect(page.get_by_role("main")).to_contain_text("your role may not do this")


def test_a_coder_may_not_see_the_access_log(page: Page, console: Console) -> None:
    name, _ = console.user(Role.CODER)
    sign_in(page, console, name)
    expect(page).to_have_url(f"{console.url}/_test/landing")
    for path in ("/access-log", "/access-log.csv"):
        response = page.goto(f"{console.url}{path}")
        assert response is not None and response.status == 403
    assert not console.accounts.access_log(10, username=name)


def test_viewing_and_exporting_the_access_log_is_logged(page: Page, console: Console) -> None:
    name, _ = console.user(Role.AUDITOR)
    sign_in(page, console, name, next_path=f"/access-log?user={name}")
    expect(page.get_by_role("heading", name="Access log")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="view_access_log")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(name)
    export = page.request.get(f"{console.url}{page.get_by_role('link', name='Export CSV').get_attribute('href')}")
    assert export.ok and export.headers["content-type"].startswith("text/csv")
    lines = export.text().splitlines()
    assert lines[0] == "id,at,username,role,action,what,item_id,task_id"
    assert [line.split(",")[4] for line in lines[1:]] == ["export", "view_access_log"]
    assert [e.action for e in console.accounts.access_log(10, username=name)] == ["export", "view_access_log"]


def test_the_access_log_pages_by_id(page: Page, console: Console) -> None:
    name, _ = console.user(Role.ADMIN)
    me = console.accounts.user(name)
    for n in range(1, 61):  # more than a page (page_size 50)
        console.accounts.log_access(User(me.id, name, Role.ADMIN, 0), "view_item", f"item {n}", item_id=n)
    sign_in(page, console, name, next_path=f"/access-log?user={name}&action=view_item")
    expect(page.get_by_role("row")).to_have_count(51)  # the header and a page
    expect(page.get_by_role("row").nth(1)).to_contain_text("item 60")
    page.get_by_role("link", name="Older entries").click()
    expect(page.get_by_role("row")).to_have_count(11)
    expect(page.get_by_role("row").nth(10)).to_contain_text("item 1")
    expect(page.get_by_role("link", name="Older entries")).to_have_count(0)
    expect(page.get_by_label("User")).to_have_value(name)


@pytest.mark.parametrize("target", ["//evil.example", "/\\evil.example", "https://evil.example/", "javascript:x"])
def test_next_never_leaves_the_console(page: Page, console: Console, target: str) -> None:
    name, _ = console.user(Role.SUPERVISOR)
    sign_in(page, console, name, next_path=target)
    expect(page).to_have_url(f"{console.url}/review")  # home, through "/"
