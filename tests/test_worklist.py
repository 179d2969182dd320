"""Worklist store and CSV: all-or-nothing imports with precise errors, history never rewritten,
due selection from follow-up rules whose durations tests can set in seconds."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest

from bots.core.errors import ConfigError, InputError
from bots.core.models import Adjustment, CheckResult, ClaimDetail, Outcome
from bots.core.registry import PortalRegistry
from bots.worklist.csvio import read_worklist_csv, write_worklist_csv
from bots.worklist.db import upgrade
from bots.worklist.followup import FollowUpRules
from bots.worklist.store import WorklistStore
from tests.conftest import ROOT

HEADER = "payer_id,account_number,member_id,dos_from,dos_to,billed,patient_name,payer_claim_number\n"
RULES = FollowUpRules.load(ROOT / "config/followup.yaml")


def csv_file(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "wl.csv"
    path.write_text(header + body)
    return path


@pytest.fixture
def store(tmp_path: Path) -> WorklistStore:
    upgrade(url := f"sqlite:///{tmp_path / 'wl.db'}")
    return WorklistStore(url)


def test_valid_file_imports_with_documented_formats(tmp_path, store) -> None:
    rows = read_worklist_csv(
        csv_file(
            tmp_path,
            'BSTM1,PA1,BSM1,2026-09-01,,"$1,234.50",Avery Test,\n'
            "BSTM1,PA2,BSM2,09/02/2026,09/03/2026,80,,2026000000001\n",
        )
    )
    assert store.upsert(rows) == (2, 0)
    a, b = store.items()
    assert (a.dos_from, a.dos_to, a.billed_cents, a.payer_claim_number) == (
        dt.date(2026, 9, 1),
        dt.date(2026, 9, 1),
        123450,
        None,
    )
    assert (b.dos_to, b.billed_cents, b.payer_claim_number) == (dt.date(2026, 9, 3), 8000, "2026000000001")
    assert len(store.due()) == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("BSTM1,PA1,BSM1,2026-13-01,,10,,\n", "row 2: field dos_from: not a date: '2026-13-01'"),
        ("BSTM1,PA1,,2026-09-01,,10,,\n", "row 2: field member_id: is required"),
        ("BSTM1,PA1,BSM1,2026-09-01,,ten,,\n", "row 2: field billed: not an amount: 'ten'"),
        ("BSTM1,PA1,BSM1,2026-09-01,2026-08-01,10,,\n", "row 2: field dos_to: is before dos_from"),
        ("BSTM1,PA1,BSM1,2026-09-01,,10.001,,\n", "row 2: field billed: more than two decimals"),
        (
            "BSTM1,PA1,BSM1,2026-09-01,,10,,\nBSTM1,PA1,BSM9,2026-09-01,,10,,\n",
            "row 3: field account_number: same payer_id and account_number as row 2",
        ),
    ],
)
def test_bad_row_names_row_and_field_and_imports_nothing(tmp_path, store, body, expected) -> None:
    good = "BSTM1,PA0,BSM0,2026-09-01,,10,,\n"
    path = csv_file(tmp_path, body + good)
    with pytest.raises(InputError) as err:
        store.upsert(read_worklist_csv(path))
    assert f"{path}: {expected}" in str(err.value)
    assert store.items() == []


def test_bad_header_is_named(tmp_path) -> None:
    with pytest.raises(InputError, match=r"line 1 \(header\): missing column\(s\) billed; unknown column\(s\) bill"):
        read_worklist_csv(csv_file(tmp_path, "", header="payer_id,account_number,member_id,dos_from,bill\n"))


def paid_result() -> CheckResult:
    detail = ClaimDetail(
        payer_claim_number="2026000000009",
        account_number="PA1",
        dos_from=dt.date(2026, 9, 1),
        dos_to=dt.date(2026, 9, 1),
        status_text="Paid",
        billed_cents=1000,
        allowed_cents=800,
        paid_cents=800,
        patient_resp_cents=0,
        adjustments=[Adjustment(group_code="CO", carc="45", amount_cents=200)],  # the contractual write-off
    )
    return CheckResult(outcome=Outcome.STATUS, category="F1", status_text="Paid", detail=detail)


def test_reimport_updates_descriptive_fields_and_keeps_history(tmp_path, store) -> None:
    store.upsert(read_worklist_csv(csv_file(tmp_path, "BSTM1,PA1,BSM1,2026-09-01,,10,Avery Test,\n")))
    item = store.items()[0]
    store.record(
        item.id, paid_result(), RULES.decide(paid_result()), portal="bluestem", run_id="run-1", flow_run_id=None
    )
    store.upsert(read_worklist_csv(csv_file(tmp_path, "BSTM1,PA1,BSM1,2026-09-01,,12.50,Avery Q Test,\n")))
    again = store.items()[0]
    assert (again.id, again.billed_cents, again.patient_name) == (item.id, 1250, "Avery Q Test")
    assert again.payer_claim_number == "2026000000009" and again.status_category == "F1"
    assert [h.run_id for h in store.history(item.id)] == ["run-1"]


def test_each_check_appends_history_and_closed_items_are_not_due(tmp_path, store) -> None:
    store.upsert(read_worklist_csv(csv_file(tmp_path, "BSTM1,PA1,BSM1,2026-09-01,,10,,\n")))
    item_id = store.items()[0].id
    pending = CheckResult(outcome=Outcome.STATUS, category="P1", status_text="In Process")
    store.record(item_id, pending, RULES.decide(pending), portal="bluestem", run_id="run-1", flow_run_id="f1")
    assert store.due() == []  # next follow-up in 14 days
    soon = store.due(at=dt.datetime.now(dt.UTC) + dt.timedelta(days=15))
    assert [i.id for i in soon] == [item_id]
    store.record(
        item_id, paid_result(), RULES.decide(paid_result()), portal="bluestem", run_id="run-2", flow_run_id="f2"
    )
    item = store.items()[0]
    assert item.closed_at is not None and item.next_action.startswith("Post payment")
    assert store.due(at=dt.datetime.now(dt.UTC) + dt.timedelta(days=365)) == []
    assert [(h.run_id, h.status_category) for h in store.history(item_id)] == [("run-1", "P1"), ("run-2", "F1")]
    out = io.StringIO()
    assert write_worklist_csv(store.items(), out) == 1
    assert "2026000000009" in out.getvalue() and ",F1," in out.getvalue()


def test_follow_up_durations_in_seconds_make_items_due_again(tmp_path, store) -> None:
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text("coding_carcs: []\nrules:\n  - name: soon\n    next_action: Recheck\n    follow_up: 1s\n")
    rules = FollowUpRules.load(rules_path)
    store.upsert(read_worklist_csv(csv_file(tmp_path, "BSTM1,PA1,BSM1,2026-09-01,,10,,\n")))
    item_id = store.items()[0].id
    pending = CheckResult(outcome=Outcome.STATUS, category="P1")
    checked = dt.datetime.now(dt.UTC)  # the clock is handed in: no waiting for the second to pass
    store.record(
        item_id, pending, rules.decide(pending), portal="bluestem", run_id="r", flow_run_id=None, checked_at=checked
    )
    assert store.due(at=checked) == [] and store.due(at=checked + dt.timedelta(seconds=0.9)) == []
    assert [i.id for i in store.due(at=checked + dt.timedelta(seconds=1.1))] == [item_id]


def test_rules_file_errors_name_file_line_and_key(tmp_path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("coding_carcs: []\nrules:\n  - name: x\n    next_action: y\n    follow_up: soon\n")
    with pytest.raises(ConfigError) as err:
        FollowUpRules.load(path)
    assert (err.value.line, err.value.key) == (5, "rules.0.follow_up")
    assert "not a duration" in str(err.value)


def test_a_clearinghouse_answer_without_remittance_asks_for_the_835() -> None:
    def result(category: str, adjustments: list[Adjustment]) -> CheckResult:
        detail = ClaimDetail(
            payer_claim_number="C1",
            account_number="PA1",
            dos_from=dt.date(2026, 9, 1),
            dos_to=dt.date(2026, 9, 1),
            status_text="x",
            billed_cents=100,
            adjustments=adjustments,
        )
        return CheckResult(outcome=Outcome.STATUS, category=category, detail=detail)

    contractual = [Adjustment(group_code="CO", carc="45", amount_cents=40)]
    assert RULES.decide(result("F1", [])).rule == "paid, remittance not seen"
    assert RULES.decide(result("F1", contractual)).rule == "paid in full"
    assert RULES.decide(result("F2", [])).rule == "denied, reasons not seen"
    missing_info = [Adjustment(group_code="CO", carc="16", amount_cents=100)]
    assert RULES.decide(result("F2", missing_info)).rule == "coding denial"


def test_opening_a_store_or_building_a_sweep_touches_nothing(tmp_path) -> None:
    from bots.core.settings import Settings
    from bots.denials import DenialRules
    from bots.evidence import open_evidence_store
    from bots.review import TaskOpener
    from bots.sweep.runner import Sweep, SweepDeps

    store = WorklistStore(f"sqlite:///{tmp_path / 'nowhere' / 'wl.db'}")
    settings = Settings(project_root=ROOT, state_dir=tmp_path / "state", evidence_dir=tmp_path / "evidence")
    deps = SweepDeps(
        settings=settings,
        store=store,
        evidence=open_evidence_store(tmp_path / "evidence"),
        registry=PortalRegistry.load(ROOT / "config/portals.yaml"),
        rules=FollowUpRules.load(ROOT / "config/followup.yaml"),
        review=TaskOpener(DenialRules.load(ROOT / "config/denials.yaml"), settings.review),
    )
    Sweep(deps, base_urls={"bluestem": "http://127.0.0.1:9"})
    assert not (tmp_path / "nowhere").exists() and not (tmp_path / "state").exists()


def test_listing_is_read_a_page_at_a_time_across_chunks(tmp_path, store) -> None:
    rows = [
        {
            "payer_id": "BSTM1",
            "account_number": f"PA{n:05d}",
            "member_id": "M1",
            "dos_from": dt.date(2026, 9, 1),
            "dos_to": dt.date(2026, 9, 1),
            "billed_cents": 100,
        }
        for n in range(1, 2502)
    ]
    assert store.upsert(rows) == (2501, 0)
    first, total = store.page(5)
    assert total == 2501 and [i.account_number for i in first] == [f"PA{n:05d}" for n in range(1, 6)]
    assert [i.account_number for i in store.iter_items(chunk=1000)] == [r["account_number"] for r in rows]
    assert store.page(0) == ([], 2501)
