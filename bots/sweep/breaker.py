"""A portal's circuit breaker: after N failed checks in a row (a claim, or a clearinghouse's batch
inquiry of several claims, counts once), across every page working the portal, more tries would
only add load to a portal in trouble (and time to the run). It opens for the rest of the run: the
portal stops, and its remaining items are deferred with the reason."""

from __future__ import annotations

from bots.core.models import APPLICATION_FAILURES, CheckResult, FailureKind, Outcome

PORTAL_TROUBLE = APPLICATION_FAILURES - {FailureKind.UNEXPECTED}


class CircuitBreaker:
    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.in_a_row = 0
        self.last_failure: FailureKind | None = None
        self.last_signin: int | None = None  # the failed sign-in last counted

    def observe(self, results: list[CheckResult], signin_failure: int | None = None) -> bool:
        """Count one check's results (a claim's, or a batch's); True when this failure opens the
        breaker. The portal's trouble counts (timeouts, 5xx, 429, unreadable screens, ended
        sessions); a refused search (bad data) or a bug is not the portal's, and a deferred item
        is neither an answer nor a failure. A check that failed because a shared sign-in failed
        (`signin_failure`: which one) counts once for that sign-in, however many pages waited on it."""
        answered = [r for r in results if r.outcome not in (Outcome.ERROR, Outcome.DEFERRED, Outcome.MANUAL)]
        failed = [r for r in results if r.outcome == Outcome.ERROR and r.failure in PORTAL_TROUBLE]
        if answered:
            self.in_a_row = 0
            return False
        if not failed or (signin_failure is not None and signin_failure == self.last_signin):
            return False
        self.last_signin = signin_failure
        self.in_a_row += 1
        self.last_failure = failed[0].failure
        return self.in_a_row == self.threshold

    def reason(self, portal: str) -> str:
        """Why, without the page's words (they may name a patient, and this goes out as an alert)."""
        return (
            f"{portal}: circuit breaker open after {self.in_a_row} failed checks in a row "
            f"(the last: {self.last_failure}); the rest wait for the next sweep"
        )
