"""A portal's circuit breaker: after N failed checks in a row (a claim, or a clearinghouse's batch
inquiry of several claims, counts once), across every page working the portal, more tries would
only add load to a portal in trouble (and time to the run). It opens for the rest of the run: the
portal stops, and its remaining items are deferred with the reason."""

from __future__ import annotations

from bots.core.models import CheckResult, Outcome


class CircuitBreaker:
    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.in_a_row = 0
        self.last_error: str | None = None

    def observe(self, results: list[CheckResult]) -> bool:
        """Count one check's results (a claim's, or a batch's); True when this failure opens the breaker."""
        outcomes = {result.outcome for result in results}
        if outcomes <= {Outcome.DEFERRED}:  # not an answer from the portal, nor a failure
            return False
        if outcomes != {Outcome.ERROR}:
            self.in_a_row = 0
            return False
        self.in_a_row += 1
        self.last_error = results[0].error
        return self.in_a_row == self.threshold

    def reason(self, portal: str) -> str:
        return (
            f"{portal}: circuit breaker open after {self.in_a_row} failed checks in a row "
            f"(the last: {self.last_error or 'no reason given'}); the rest wait for the next sweep"
        )
