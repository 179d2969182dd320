"""The simulated portal driven as a person would, with pytest-playwright's page (the session's
portal, reset before each test: nobody signed in, today's terms not yet accepted)."""

from __future__ import annotations

import re

import pyotp
from playwright.sync_api import Page, expect


def sign_in(page: Page, portal, code: str | None = None) -> None:
    page.goto(portal.url + "/login")
    page.get_by_label("User ID").fill(portal.username)
    page.get_by_label("Password").fill(portal.password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Verification code").fill(code or pyotp.TOTP(portal.totp_secret).now())
    page.get_by_role("button", name="Verify").click()


def test_login_with_mfa_then_daily_terms(page: Page, make_portal) -> None:
    portal = make_portal()
    sign_in(page, portal)
    expect(page.get_by_role("heading", name="Terms of Use")).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("must agree")
    page.get_by_label("I have read and agree to the Terms of Use").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Claim status search")).to_be_visible()
    # Second login the same portal-local day: no terms page.
    page.goto(portal.url + "/logout")
    sign_in(page, portal)
    expect(page.get_by_role("heading", name="Claim status search")).to_be_visible()


def test_wrong_password_and_wrong_code_are_refused(page: Page, make_portal) -> None:
    portal = make_portal()
    page.goto(portal.url + "/login")
    page.get_by_label("User ID").fill(portal.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The user ID or password is incorrect.")
    wrong = f"{(int(pyotp.TOTP(portal.totp_secret).now()) + 500000) % 1000000:06d}"
    sign_in(page, portal, code=wrong)
    expect(page.get_by_role("alert")).to_have_text("That verification code is not valid.")


def test_search_needs_claim_number_or_member_and_dates(page: Page, portal) -> None:
    sign_in(page, portal)
    if page.get_by_label("I have read and agree to the Terms of Use").count():
        page.get_by_label("I have read and agree to the Terms of Use").check()
        page.get_by_role("button", name="Continue").click()
    page.get_by_label("Member ID").fill("BSM000000001")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert")).to_contain_text("member ID with service dates")


def test_idle_session_expires_to_login_with_notice(page: Page, make_portal) -> None:
    portal = make_portal(session_idle_s=60)
    sign_in(page, portal)
    portal.server.advance_clock(61)  # a minute idle, on the portal's clock
    page.goto(portal.url + "/search")
    expect(page).to_have_url(re.compile(r"/login\?expired=1$"))
    expect(page.get_by_role("status")).to_contain_text("session has expired")
