"""`python -m bots.browser.install`: make sure a usable Chromium exists (used by `make setup`).

Installs Debian's chromium package only when no browser is found, so it is idempotent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from bots.browser.launch import browser_version, find_browser
from bots.core.errors import BrowserNotFoundError
from bots.core.settings import Settings


def main() -> int:
    settings = Settings().browser
    try:
        path = find_browser(settings)
    except BrowserNotFoundError:
        if not shutil.which("apt-get"):
            print(
                "error: no Chromium found and no apt-get to install one; "
                "set RCMBOT_BROWSER__PATH to a Chromium executable",
                file=sys.stderr,
            )
            return 1
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        print("no Chromium found: installing Debian's chromium package", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)
        path = find_browser(settings)
    print(f"browser: {path} ({browser_version(path)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
