"""Faults on demand for the simulated portals: named profiles of what goes wrong, and the
seeded draws that decide, request by request, whether it does.

A profile says which *transient* faults a failing page request gets (by weight) and at what
rate (the share of page requests that fail: the configured RCMBOT_SIM__FAULT_RATE unless the
profile fixes it), plus latency and the faults that are states rather than draws: the next MFA
code refused once, every sign-in refused, the mailbox refusing its token, the drift layout.
What each fault looks like on the wire (pages, status codes, headers) is the portal's
business: bots.sim.portal renders them."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from bots.core.errors import ConfigError

# Faults drawn per page request: what a portal in trouble answers instead of the page.
Transient = Literal[
    "http_500",  # the portal's own error page
    "http_502",  # the load balancer found the application server gone
    "http_503",  # the portal's "temporarily unavailable" page
    "rate_limited",  # 429 with Retry-After
    "hung",  # held for hang_s, then a gateway timeout (504): longer than any client waits
    "session_expired",  # the caller's session ended, as idle expiry ends it
    "maintenance",  # scheduled maintenance notice: 503 with Retry-After
]
TRANSIENT: tuple[Transient, ...] = get_args(Transient)

# Fields of a claim's detail the selector maps read, of which a "missing fields" page lacks some.
MISSABLE_FIELDS = ("status_text", "status_date", "paid_cents")


@dataclass(frozen=True)
class FaultProfile:
    """What goes wrong in a portal running this profile."""

    name: str
    summary: str
    mix: Mapping[Transient, float] = field(default_factory=dict)  # relative weights of the transient faults
    rate: float | None = None  # share of page requests that fail; None: the configured fault rate
    extra_latency_ms: int = 0  # on every page
    jitter_ms: int = 0  # plus up to this much, drawn per page
    retry_after_s: int | None = None  # the Retry-After of a 429; None: the portal's retry_after_s
    missing_fields: bool = False  # detail pages lack some fields, at the rate
    mfa_reject_once: bool = False  # the next correct MFA code is refused once
    credentials_refused: bool = False  # every sign-in refused, as if the password had changed
    wrong_mailbox_token: bool = False  # the mailbox refuses every bearer token (401)
    drift: bool = False  # the portal shows its drift layout

    def __post_init__(self) -> None:
        unknown = sorted(set(self.mix) - set(TRANSIENT))
        if unknown:
            raise ValueError(f"unknown transient faults {unknown} (known: {', '.join(TRANSIENT)})")
        if self.rate is not None and not 0 <= self.rate <= 1:
            raise ValueError(f"a fault rate is a share of requests, 0..1, not {self.rate}")


_TRANSIENT_MIX: dict[Transient, float] = {
    "http_500": 1,
    "http_502": 1,
    "http_503": 1,
    "rate_limited": 1,
    "hung": 1,
    "session_expired": 1,
}

PROFILES: dict[str, FaultProfile] = {
    p.name: p
    for p in (
        FaultProfile("none", "no faults"),
        FaultProfile("slow", "every page 1 to 1.5 s slower", extra_latency_ms=1000, jitter_ms=500),
        FaultProfile("flaky", "500, 502, 503, 429, hung responses and ended sessions at the rate", _TRANSIENT_MIX),
        FaultProfile("outage", "every page 503", {"http_503": 1}, rate=1.0),
        FaultProfile("maintenance", "every page a maintenance notice, 503 with Retry-After", {"maintenance": 1}, 1.0),
        FaultProfile("rate_limited", "429 with Retry-After at the rate", {"rate_limited": 1}),
        FaultProfile("hung", "responses held past the client's timeout at the rate", {"hung": 1}),
        FaultProfile("expiring_sessions", "the caller's session ended at the rate", {"session_expired": 1}),
        FaultProfile("mfa_reject_once", "the next correct MFA code refused once", mfa_reject_once=True),
        FaultProfile("credentials_refused", "every sign-in refused", credentials_refused=True),
        FaultProfile("wrong_mailbox_token", "the mailbox refuses its bearer token (401)", wrong_mailbox_token=True),
        FaultProfile("drift", "the drift layout: labels and names a selector map tries first changed", drift=True),
        FaultProfile(
            "missing_fields", "detail pages lacking status, status date or paid, at the rate", missing_fields=True
        ),
        FaultProfile(
            "chaos",
            "what a chaos run survives: 500/502/503, 429 with a 1 s Retry-After, a few hung responses, "
            "ended sessions, and up to 200 ms of latency jitter, at the rate",
            {"http_500": 3, "http_502": 2, "http_503": 3, "rate_limited": 2, "hung": 1, "session_expired": 2},
            jitter_ms=200,
            retry_after_s=1,
        ),
    )
}

# The fields of a profile that POST /_sim/faults may switch one by one on top of a named profile.
SWITCHES = tuple(f.name for f in dataclasses.fields(FaultProfile) if f.name not in ("name", "summary"))


class FaultProfileError(ConfigError, ValueError):
    """An unknown fault profile: a ValueError, which the command line reports as a configuration error."""


def profile(name: str) -> FaultProfile:
    """The named profile; a ValueError naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown fault profile {name!r} (known: {', '.join(PROFILES)})") from None


def switched(base: FaultProfile, changes: Mapping[str, Any]) -> FaultProfile:
    """`base` with some of its SWITCHES changed (POST /_sim/faults: {"rate": 1.0, "drift": true})."""
    unknown = sorted(set(changes) - set(SWITCHES))
    if unknown:
        raise ValueError(f"cannot switch {', '.join(unknown)} (only {', '.join(SWITCHES)})")
    return dataclasses.replace(base, **changes)


def portal_seed(seed: int, kind: str) -> int:
    """The fault draws' seed of one portal: the data set's seed and the portal's kind, so two
    portals of one run fail differently, and every run of a portal alike."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{kind}".encode()).digest()[:8], "big")


@dataclass
class Faults:
    """The faults a running portal is answering with: its profile at its rate, drawn from a
    seeded generator, plus the one-off faults of POST /_sim/faults."""

    profile: FaultProfile
    rate: float
    rng: random.Random
    fail_next: int = 0  # answer the next N page requests with 503, whatever the profile
    latency_ms: int | None = None  # override the configured latency
    mfa_rejections: int = 0  # correct MFA codes still to refuse
    # Sign-in handlers run on worker threads: two codes at once must not both take the one refusal.
    _mfa_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def start(cls, chosen: FaultProfile, rate: float, seed: int) -> Faults:
        faults = cls(chosen, rate, random.Random(seed))
        faults.use(chosen, rate)
        return faults

    def use(self, chosen: FaultProfile, rate: float) -> None:
        """Switch to a profile (its own rate, if it fixes one, over `rate`); arms its one-off MFA refusal."""
        self.profile = chosen
        self.rate = chosen.rate if chosen.rate is not None else rate
        self.mfa_rejections = 1 if chosen.mfa_reject_once else 0

    def transient(self) -> Transient | None:
        """The transient fault this page request gets, if any."""
        if self.fail_next > 0:
            self.fail_next -= 1
            return "http_503"
        mix = self.profile.mix
        if not mix or self.rng.random() >= self.rate:
            return None
        kinds = list(mix)
        return self.rng.choices(kinds, weights=[mix[k] for k in kinds])[0]

    def delay_ms(self, configured_ms: int) -> float:
        """How long this page request waits before it is answered."""
        base = self.latency_ms if self.latency_ms is not None else configured_ms
        jitter = self.rng.uniform(0, self.profile.jitter_ms) if self.profile.jitter_ms else 0.0
        return base + self.profile.extra_latency_ms + jitter

    def missing_fields(self) -> frozenset[str]:
        """The detail fields this page leaves out: some of MISSABLE_FIELDS at the rate, else none."""
        if not self.profile.missing_fields or self.rng.random() >= self.rate:
            return frozenset()
        return frozenset(self.rng.sample(MISSABLE_FIELDS, self.rng.randint(1, len(MISSABLE_FIELDS))))

    def reject_mfa(self) -> bool:
        """Whether to refuse this correct MFA code (once per arming)."""
        with self._mfa_lock:
            if self.mfa_rejections <= 0:
                return False
            self.mfa_rejections -= 1
            return True

    def shown(self) -> dict[str, object]:
        """What POST /_sim/faults answers: the profile in force and the one-off faults pending."""
        return {
            "profile": self.profile.name,
            "rate": self.rate,
            "fail_next": self.fail_next,
            "latency_ms": self.latency_ms,
            "mfa_rejections": self.mfa_rejections,
            **{name: getattr(self.profile, name) for name in SWITCHES if name not in ("mix", "rate")},
            "mix": dict(self.profile.mix),
        }
