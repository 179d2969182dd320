"""Run the apply-review-decisions flow in this process (embedded Prefect unless PREFECT_API_URL),
on demand or right after approvals in the console."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from bots.core.logs import get_logger
from bots.core.settings import Settings

log = get_logger(__name__)


def run_apply_flow(settings: Settings, portal_urls: dict[str, str] | None = None) -> dict[str, Any]:
    """Apply every approved review decision through the `apply-review-decisions` flow; its counts."""
    from prefect.flows import load_flow_from_entrypoint

    entry = f"{settings.project_root / 'flows/apply_review_decisions.py'}:apply_review_decisions"
    flow: Any = load_flow_from_entrypoint(entry)
    return dict(asyncio.run(flow(portal_urls=portal_urls, settings=settings)))


class ApplyTrigger:
    """Starts the apply flow in a background thread when called (the console calls it after an
    approval): one run at a time, and a call during a run asks for one more run after it, so an
    approval made while a run is under way is applied without waiting for the schedule."""

    def __init__(self, settings: Settings, portal_urls: dict[str, str] | None = None) -> None:
        self.settings, self.portal_urls = settings, portal_urls
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: threading.Thread | None = None
        self.runs = 0  # finished runs, for whoever waits on them

    def __call__(self) -> None:
        with self._lock:
            self._wanted = True
            if self._thread is None:  # the loop clears it, under the lock, as it ends
                self._thread = threading.Thread(target=self._loop, name="apply-review-decisions", daemon=True)
                self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Until no run is under way or asked for (tests, and the demo before it stops)."""
        while (thread := self._thread) is not None:
            thread.join(timeout)
            if timeout is not None:
                return

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._thread = None
                    return
                self._wanted = False
            try:
                summary = run_apply_flow(self.settings, self.portal_urls)
                log.info("apply run", **{k: v for k, v in summary.items() if k != "failures"})
            except Exception as exc:  # a failed run is reported; the next approval or the schedule tries again
                log.error("apply run failed", error=type(exc).__name__)
            finally:
                self.runs += 1
