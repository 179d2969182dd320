"""Status mapping kept as data, and PHI redaction in structured fields and free text."""

from __future__ import annotations

import io
import json

import pytest
import structlog
from pydantic import SecretStr

from bots.claimstatus.statusmap import StatusMap
from bots.core.logs import REDACTED, configure_logging, redactor
from bots.core.settings import LogSettings
from tests.conftest import ROOT

STATUSES = StatusMap.load(ROOT / "config/status/bluestem.yaml")


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Paid", "F1"),
        ("  partially   PAID ", "F1"),
        ("Denied", "F2"),
        ("Pending – Medical Review", "P2"),
        ("Medical Records Requested", "R4"),
        ("Returned - Invalid Information", "A7"),
    ],
)
def test_known_texts_map_to_277_categories(text, category) -> None:
    assert STATUSES.lookup(text).category == category


@pytest.mark.parametrize("text", ["Suspended - Legacy Hold", "Under Reconsideration", "Paid?"])
def test_unknown_texts_stay_unmapped(text) -> None:
    assert STATUSES.lookup(text) is None


def log_lines(dataset_row, register: bool) -> list[dict]:
    out = io.StringIO()
    configure_logging(LogSettings(format="json"), stream=out)
    if register:
        redactor.register([dataset_row.patient_name, dataset_row.member_id, dataset_row.account_number])
    log = structlog.get_logger("test")
    row = dataset_row
    log.info(
        "checked",
        item_id=7,
        patient_name=row.patient_name,
        member_id=row.member_id,
        account_number=row.account_number,
        dos_from=row.dos_from.isoformat(),
        password=SecretStr("hunter2-secret"),
        nested={"patient_dob": "1970-01-02", "portal": "bluestem"},
    )
    log.warning(
        f"no match for {row.patient_name} ({row.member_id}), account {row.account_number}, "
        f"claim {row.payer_claim_number or '2026123456789'}, seen {row.dos_from:%m/%d/%Y} "
        f"and {row.dos_from.isoformat()}"
    )
    try:
        raise ValueError(f"portal said member {row.member_id} unknown")
    except ValueError:
        log.exception("boom", item_id=7)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_structured_phi_fields_and_secrets_are_redacted(dataset) -> None:
    row = dataset.worklist[0]
    first = log_lines(row, register=False)[0]
    for key in ("patient_name", "member_id", "account_number", "dos_from", "password"):
        assert first[key] == REDACTED
    assert first["nested"] == {"patient_dob": REDACTED, "portal": "bluestem"}
    assert first["item_id"] == 7


def test_free_text_phi_is_redacted(dataset) -> None:
    for row in dataset.worklist[:25]:
        lines = log_lines(row, register=True)
        text = json.dumps(lines)
        claim = row.payer_claim_number or "2026123456789"
        for value in (
            row.patient_name,
            row.member_id,
            row.account_number,
            claim,
            row.dos_from.isoformat(),
            row.dos_from.strftime("%m/%d/%Y"),
            "hunter2-secret",
        ):
            assert value not in text, value
        assert lines[1]["event"].startswith("no match for [REDACTED]")


def test_every_setting_and_registry_credential_is_in_env_example() -> None:
    from pydantic import BaseModel

    from bots.core.registry import PortalRegistry
    from bots.core.settings import Settings

    example = (ROOT / "config/.env.example").read_text()

    def names(model: type[BaseModel], prefix: str) -> list[str]:
        out = []
        for field, info in model.model_fields.items():
            kind = info.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                out += names(kind, f"{prefix}{field.upper()}__")
            else:
                out.append(f"{prefix}{field.upper()}")
        return out

    missing = [n for n in names(Settings, "RCMBOT_") if n not in example and n != "RCMBOT_PROJECT_ROOT"]
    refs = [
        r
        for e in PortalRegistry.load(ROOT / "config/portals.yaml").portals.values()
        for name in ("username", "password", "totp_secret", "mailbox_token")
        if (r := getattr(e.credentials, f"{name}_env"))
    ]
    assert missing == [] and [r for r in refs if r not in example] == []


def test_prefect_and_sqlalchemy_log_records_are_redacted_too(dataset) -> None:
    """Their loggers are stdlib's, with handlers Prefect installs itself (console, API log
    shipping): each record is redacted as it is made, message and exception text alike."""
    import logging

    row = dataset.worklist[0]
    redactor.register([row.account_number, row.member_id])
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    for name in ("prefect.task_runs", "sqlalchemy.engine.Engine"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        try:
            logger.error("Task run failed for account %s on %s", row.account_number, row.dos_from.isoformat())
            try:
                raise RuntimeError(f"(sqlite3.IntegrityError) [parameters: ('{row.member_id}', '2026-07-04')]")
            except RuntimeError:
                logger.exception("Encountered exception during execution")
        finally:
            logger.removeHandler(handler)
    text = out.getvalue()
    assert "prefect.task_runs Task run failed for account [REDACTED]" in text and "IntegrityError" in text
    for value in (row.account_number, row.member_id, row.dos_from.isoformat(), "2026-07-04"):
        assert value not in text, value


def test_uvicorn_access_lines_keep_their_format_and_lose_their_values(dataset) -> None:
    """uvicorn's access formatter reads its five args itself: they stay args, each redacted."""
    import logging

    from uvicorn.logging import AccessFormatter

    row = dataset.worklist[0]
    redactor.register([row.account_number])
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    logger = logging.getLogger("uvicorn.access")
    logger.addHandler(handler)
    try:
        path = f"/search/results?account={row.account_number}"
        logger.warning('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
    finally:
        logger.removeHandler(handler)
    assert out.getvalue().strip() == '127.0.0.1:5000 - "GET /search/results?account=[REDACTED] HTTP/1.1" 200 OK'
