"""Find a Chromium to drive: a configured path, else a Playwright-managed browser, else the
system's Chromium. Launch it headless with only the flags this environment needs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Playwright

from bots.core.errors import BrowserNotFoundError
from bots.core.settings import BrowserSettings

SYSTEM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
# Keep Chromium from phoning home: this machine has no network but loopback.
QUIET_FLAGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _playwright_managed() -> Path | None:
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            path = Path(p.chromium.executable_path)
    except Exception:  # no driver or no browser: fall through to the system one
        return None
    return path if path.is_file() else None


def find_browser(settings: BrowserSettings, playwright_chromium: Path | None = None) -> Path:
    """The executable to launch, or BrowserNotFoundError explaining how to get one. Under an event
    loop, pass Playwright's own Chromium path (`pw.chromium.executable_path`): its sync API, which
    looks it up otherwise, cannot run inside a loop."""
    if settings.path is not None:
        if settings.path.is_file() and os.access(settings.path, os.X_OK):
            return settings.path
        raise BrowserNotFoundError(f"RCMBOT_BROWSER__PATH={settings.path} is not an executable file")
    managed = playwright_chromium if playwright_chromium is not None else _playwright_managed()
    if managed is not None and managed.is_file():
        return managed
    for name in SYSTEM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise BrowserNotFoundError(
        "no Chromium found: set RCMBOT_BROWSER__PATH, run `playwright install chromium`, "
        "or install the system package (Debian: apt-get install chromium)"
    )


def launch_args() -> list[str]:
    # Chromium's sandbox cannot start as root; elsewhere keep it.
    return (["--no-sandbox"] if os.geteuid() == 0 else []) + QUIET_FLAGS


def browser_version(path: Path) -> str:
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or out.stderr.strip()


def renderer_limit(settings: BrowserSettings) -> int:
    # Two per core: a renderer's main thread waits on the portal about half the time.
    return settings.renderer_processes or 2 * (os.cpu_count() or 1)


async def launch(pw: Playwright, settings: BrowserSettings, executable: Path | None = None) -> Browser:
    return await pw.chromium.launch(
        executable_path=str(executable or find_browser(settings, Path(pw.chromium.executable_path))),
        headless=settings.headless,
        args=[
            *launch_args(),
            f"--renderer-process-limit={renderer_limit(settings)}",
            f"--js-flags=--max-old-space-size={settings.js_heap_mb} --max-semi-space-size={settings.js_young_mb}",
            *settings.extra_args,
        ],
    )


async def new_context(browser: Browser, settings: BrowserSettings) -> BrowserContext:
    """A context for one portal: its pages share the login's cookies (Chromium runs them in far
    fewer processes than a context per page); service workers off, so requests stay visible."""
    context = await browser.new_context(viewport={"width": 1100, "height": 900}, service_workers="block")
    context.set_default_timeout(settings.action_timeout_s * 1000)
    return context
