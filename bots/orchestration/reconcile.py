"""Reconciling a worklist after runs against what the portals themselves saw (their witness
logs, bots.sim.witness): the figures `rcmbot chaos` judges by.

- lost: an item with no recorded outcome, or a completed check the portal never saw asked about;
- duplicated: an item with two completed checks in one run;
- checked share: of the items of portals that did not refuse the bot's credentials, those
  with a completed check (the portal answered: status, unmapped, not found, ambiguous);
- login attempts after a refusal: sign-ins a portal saw after it first refused one (a real
  portal locks the account after a few)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from bots.core.models import Outcome
from bots.core.registry import PortalRegistry
from bots.worklist.schema import History, Item
from bots.worklist.store import WorklistStore

COMPLETED = {Outcome.STATUS.value, Outcome.UNMAPPED.value, Outcome.NOT_FOUND.value, Outcome.AMBIGUOUS.value}
Witness = Mapping[str, Mapping[str, list[dict[str, Any]]]]  # portal -> {"logins": [...], "claims": [...]}


@dataclass
class Reconciliation:
    items: int
    outcomes: dict[str, int]  # each item's latest outcome (with its failure kind, if any)
    checked_share: float
    lost: int
    duplicated: int
    orphans: int
    login_attempts_after_refusal: int
    evidence_verified: bool
    refused_portals: list[str] = field(default_factory=list)
    lost_items: list[int] = field(default_factory=list)  # internal ids, for a person to look at
    duplicated_items: list[int] = field(default_factory=list)
    surprises: list[str] = field(default_factory=list)  # what the run's plan did not expect

    MIN_CHECKED_SHARE = 0.9

    @property
    def problems(self) -> list[str]:
        """What breaks the promise; empty when it held."""
        found = []
        if self.lost:
            found.append(f"{self.lost} items lost (internal ids {_few(self.lost_items)})")
        if self.duplicated:
            found.append(
                f"{self.duplicated} items checked twice in one run (internal ids {_few(self.duplicated_items)})"
            )
        if self.checked_share < self.MIN_CHECKED_SHARE:
            found.append(
                f"only {self.checked_share:.1%} of the items of portals that took the credentials were checked"
            )
        if self.login_attempts_after_refusal > 1:
            found.append(f"a portal saw {self.login_attempts_after_refusal} sign-in attempts after refusing one")
        if not self.evidence_verified:
            found.append("the evidence store does not verify")
        return found + self.surprises

    def as_json(self) -> dict[str, Any]:
        """The documented JSON keys of `rcmbot chaos --json`."""
        keys = (
            "items",
            "outcomes",
            "checked_share",
            "lost",
            "duplicated",
            "orphans",
            "login_attempts_after_refusal",
            "evidence_verified",
        )
        data = asdict(self)
        return {key: round(data[key], 4) if key == "checked_share" else data[key] for key in keys}


def reconcile(
    store: WorklistStore, registry: PortalRegistry, witness: Witness, *, orphans: int, evidence_verified: bool
) -> Reconciliation:
    with store.session() as s:
        items = {
            row.id: row
            for row in s.execute(
                select(Item.id, Item.payer_id, Item.account_number, Item.payer_claim_number, Item.member_id)
            )
        }
        history = s.execute(
            select(History.id, History.item_id, History.run_id, History.portal, History.outcome, History.failure)
        ).all()
    latest: dict[int, Any] = {}
    completed: dict[int, list[Any]] = defaultdict(list)
    for row in history:
        if row.item_id not in latest or row.id > latest[row.item_id].id:
            latest[row.item_id] = row
        if row.outcome in COMPLETED:
            completed[row.item_id].append(row)
    refused = sorted(key for key, seen in witness.items() if any(x["result"] == "refused" for x in seen["logins"]))
    asked = {key: _identifiers(seen["claims"]) for key, seen in witness.items()}
    members = Counter(item.member_id for item in items.values())
    unwitnessed = [
        item_id
        for item_id, checks in completed.items()
        if any(
            check.portal in asked and not _identifies(items[item_id], asked[check.portal], members) for check in checks
        )
    ]
    lost = sorted({i for i in items if i not in latest} | set(unwitnessed))
    per_run = Counter((row.run_id, row.item_id) for rows in completed.values() for row in rows)
    duplicated = sorted({item_id for (_, item_id), n in per_run.items() if n > 1})
    now = dt.datetime.now(dt.UTC)
    counted = [i for i, item in items.items() if registry.route(item.payer_id, now).portal not in refused]
    checked = sum(1 for i in counted if completed.get(i))
    return Reconciliation(
        items=len(items),
        outcomes=dict(sorted(Counter(_outcome(row) for row in latest.values()).items())),
        checked_share=checked / len(counted) if counted else 0.0,  # nothing to check is no success
        lost=len(lost),
        duplicated=len(duplicated),
        orphans=orphans,
        login_attempts_after_refusal=max((_after_refusal(seen["logins"]) for seen in witness.values()), default=0),
        evidence_verified=evidence_verified,
        refused_portals=refused,
        lost_items=lost,
        duplicated_items=duplicated,
    )


def _outcome(row: Any) -> str:
    return f"{row.outcome}:{row.failure}" if row.failure else str(row.outcome)


def _identifiers(claims: list[dict[str, Any]]) -> set[str]:
    """Every claim number, account number and member id a portal answered about (HTTP 200)."""
    return {
        str(claim[name])
        for claim in claims
        if claim.get("status") == 200
        for name in ("claim_number", "account_number", "member_id")
        if claim.get(name)
    }


def _identifies(item: Any, asked: set[str], members: Counter[str]) -> bool:
    """Whether the portal answered about this item's claim: by its claim or account number, or
    by its member id when no other item has that member (a member's other claim proves nothing)."""
    numbers = (item.payer_claim_number, item.account_number, item.member_id if members[item.member_id] == 1 else None)
    return any(value in asked for value in numbers if value)


def _after_refusal(logins: list[dict[str, Any]]) -> int:
    """Sign-ins (their first step) a portal saw after it first refused one."""
    first = next((n for n, login in enumerate(logins) if login["result"] == "refused"), None)
    return 0 if first is None else sum(1 for login in logins[first + 1 :] if login["step"] == "password")


def _few(ids: list[int]) -> str:
    return ", ".join(map(str, ids[:10])) + (", …" if len(ids) > 10 else "")
