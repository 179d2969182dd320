"""Console room: the supervisors' and auditors' web console (FastAPI, server-rendered pages).
Routers per area in bots.console.routes, typed dependencies for the user and their role in
bots.console.deps, security headers and CSRF on every request; the data comes from the rooms
(accounts now; review, worklist and evidence as their pages arrive). Never a browser, never PHI
in URLs or logs: pages address work by internal ids."""

from bots.console.app import create_app
from bots.console.pages import render
from bots.console.server import ConsoleStartError, RunningConsole, console_app, start_console

__all__ = [
    "ConsoleStartError",
    "RunningConsole",
    "console_app",
    "create_app",
    "render",
    "start_console",
]
