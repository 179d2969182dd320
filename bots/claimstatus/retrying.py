"""The one retry policy of portal work (a claim's check, with the sign-in it needs): tenacity, at most
`retry_attempts` tries started within `retry_total_s`, exponential backoff with jitter between
them, or the portal's own Retry-After when it gave one. Only transient trouble (ApplicationError)
is retried; a Retry-After longer than `retry_after_max_s` is not waited on (the caller stops the
portal for the run)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from bots.core.errors import ApplicationError, PortalBusyError
from bots.core.models import FailureKind
from bots.core.settings import SweepSettings


def too_long(exc: BaseException, sweep: SweepSettings) -> bool:
    """A Retry-After no run should wait on."""
    return isinstance(exc, PortalBusyError) and (exc.retry_after_s or 0) > sweep.retry_after_max_s


def waited_too_long(exc: ApplicationError) -> FailureKind:
    """The kind of a stop for a Retry-After too long to wait: a 429's is rate limiting, a 503's
    maintenance."""
    return (
        FailureKind.RATE_LIMITED if isinstance(exc, PortalBusyError) and exc.status == 429 else FailureKind.MAINTENANCE
    )


def retrying(
    sweep: SweepSettings, before_sleep: Callable[[RetryCallState], Awaitable[None]] | None = None
) -> AsyncRetrying:
    backoff = wait_exponential_jitter(
        multiplier=sweep.backoff_initial_s, max=sweep.backoff_max_s, jitter=sweep.backoff_initial_s
    )

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, PortalBusyError) and exc.retry_after_s is not None:
            return exc.retry_after_s
        return float(backoff(state))

    return AsyncRetrying(
        stop=stop_after_attempt(sweep.retry_attempts) | stop_before_delay(sweep.retry_total_s),
        wait=wait,
        retry=retry_if_exception(lambda exc: isinstance(exc, ApplicationError) and not too_long(exc, sweep)),
        before_sleep=before_sleep,
        reraise=True,
    )
