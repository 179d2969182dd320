"""Bad input is refused by row and field with nothing imported, a spreadsheet never runs what the
export wrote, and one poisoned item ends only its own claim: the sweep goes on."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from bots.core.errors import ConfigError, InputError
from bots.worklist.csvio import read_worklist_csv, write_worklist_csv
from bots.worklist.followup import FollowUpRules
from tests.conftest import run_sweep
from tests.test_worklist import csv_file


@pytest.mark.parametrize(
    ("billed", "why"),
    [
        ("1e3", "not an amount"),
        ("1,2,3.00", "not an amount"),
        ("-10.00", "not an amount"),
        ("+10.00", "not an amount"),
        ("Infinity", "not an amount"),
        ("NaN", "not an amount"),
        ("12.345", "more than two decimals"),
        ("123456789012345678901", "is more than 10000000.00"),
        ("10000000.01", "is more than 10000000.00"),
    ],
)
def test_a_billed_amount_is_read_strictly(tmp_path, billed: str, why: str) -> None:
    path = csv_file(tmp_path, f'BSTM1,PA1,M1,2026-09-01,,"{billed}"\n')
    with pytest.raises(InputError, match=f"row 2: field billed: .*{why}"):
        read_worklist_csv(path)


def test_amounts_written_as_people_write_them_are_read(tmp_path) -> None:
    path = csv_file(tmp_path, 'BSTM1,PA1,M1,2026-09-01,,"$1,234.50"\nBSTM1,PA2,M1,2026-09-01,,150\n')
    assert [r["billed_cents"] for r in read_worklist_csv(path)] == [123450, 15000]


def test_implausible_dates_repeated_columns_and_payer_case(tmp_path) -> None:
    with pytest.raises(InputError, match="row 2: field dos_from: not a plausible date"):
        read_worklist_csv(csv_file(tmp_path, "BSTM1,PA1,M1,9999-01-01,,150.00\n"))
    header = "payer_id,account_number,member_id,dos_from,billed,payer_id\n"
    with pytest.raises(InputError, match=r"line 1 \(header\): column\(s\) payer_id given more than once"):
        read_worklist_csv(csv_file(tmp_path, "BSTM1,PA1,M1,2026-09-01,150.00,JNPR1\n", header=header))
    with pytest.raises(InputError, match="same payer_id and account_number as row 2"):
        read_worklist_csv(csv_file(tmp_path, "bstm1,PA1,M1,2026-09-01,,150.00\n BSTM1 ,PA1,M1,2026-09-01,,150.00\n"))


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ("BSTM1,PA1\x07,M1,2026-09-01,,150.00", "field account_number: holds a control character \\(U\\+0007\\)"),
        ('BSTM1,PA1,"M1\x1b[31m",2026-09-01,,150.00', "field member_id: holds a control character \\(U\\+001B\\)"),
        ('BSTM1,"PA\n1",M1,2026-09-01,,150.00', "field account_number: holds a control character \\(U\\+000A\\)"),
        (f"BSTM1,{'A' * 65},M1,2026-09-01,,150.00", "field account_number: is longer than 64 characters"),
        (f"{'B' * 33},PA1,M1,2026-09-01,,150.00", "field payer_id: is longer than 32 characters"),
    ],
)
def test_control_characters_and_over_long_fields_are_row_errors(tmp_path, row: str, why: str) -> None:
    with pytest.raises(InputError, match=f"row [23]: {why}"):  # a quoted line break ends the row on line 3
        read_worklist_csv(csv_file(tmp_path, row + "\n"))


def test_a_file_too_large_to_be_a_worklist_is_refused_unread(tmp_path, monkeypatch) -> None:
    import bots.worklist.csvio as csvio

    path = csv_file(tmp_path, "BSTM1,PA1,M1,2026-09-01,,150.00\n")
    monkeypatch.setattr(csvio, "MAX_FILE_BYTES", path.stat().st_size - 1)
    with pytest.raises(InputError, match="larger than .* MB: split it"):
        read_worklist_csv(path)


def test_the_export_neutralises_cells_a_spreadsheet_would_run(tmp_path) -> None:
    from bots.worklist.db import upgrade
    from bots.worklist.store import WorklistStore

    upgrade(f"sqlite:///{tmp_path / 'wl.db'}")
    store = WorklistStore(f"sqlite:///{tmp_path / 'wl.db'}")
    formulas = ['=HYPERLINK("http://127.0.0.1")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\t=1", "\r=1"]
    rows = [
        {
            "payer_id": "BSTM1",
            "account_number": f"PA{n}",
            "member_id": "M1",
            "patient_name": text,
            "dos_from": dt.date(2026, 9, 1),
            "dos_to": dt.date(2026, 9, 1),
            "billed_cents": 100,
        }
        for n, text in enumerate(formulas)
    ]
    store.upsert(rows)
    out = io.StringIO()
    write_worklist_csv(store.items(), out)

    names = [row["patient_name"] for row in csv.DictReader(io.StringIO(out.getvalue(), newline=""))]
    assert names == [f"'{text}".replace("\r", "\n") for text in formulas]


def test_follow_up_rules_without_a_catch_all_are_refused_at_load(tmp_path) -> None:
    path = tmp_path / "followup.yaml"
    path.write_text(
        'coding_carcs: ["4"]\nrules:\n  - {name: paid, when: {categories: [F1]}, next_action: Post, close: true}\n'
    )
    with pytest.raises(ConfigError, match="catch-all"):
        FollowUpRules.load(path)


def test_one_poisoned_item_ends_its_own_claim_and_the_sweep_goes_on(settings, portal, dataset) -> None:
    from bots.sweep.runner import Sweep, SweepDeps
    from bots.worklist.db import upgrade
    from bots.worklist.store import WorklistStore

    upgrade(settings.worklist_url)
    worklist = WorklistStore(settings.worklist_url)
    good = [r for r in dataset.worklist if r.kind == "paid"][:2]
    rows = [
        {
            "payer_id": r.payer_id,
            "account_number": r.account_number,
            "member_id": r.member_id,
            "dos_from": r.dos_from,
            "dos_to": r.dos_to,
            "billed_cents": r.billed_cents,
        }
        for r in good
    ]
    # stored before imports were strict (or by hand): a date its search cannot widen
    rows.append(
        {**rows[0], "account_number": "PA9999", "dos_from": dt.date(9999, 12, 1), "dos_to": dt.date(9999, 12, 31)}
    )
    worklist.upsert(rows)
    sweep = Sweep(SweepDeps.load(settings), base_urls={"bluestem": portal.url})
    summary = run_sweep(sweep, sweep.due())
    assert summary.claims == 3 and summary.errors == 1 and summary.by_category.get("F1") == 2
    poisoned = next(i for i in worklist.items() if i.account_number == "PA9999")
    (history,) = worklist.history(poisoned.id)
    assert history.outcome == "error" and "unexpected OverflowError" in history.error


def test_configuration_is_validated_completely_at_load(tmp_path) -> None:
    from bots.core.registry import PortalRegistry
    from tests.conftest import ROOT

    rules = tmp_path / "followup.yaml"
    catch_all = "  - {name: anything else, next_action: Review, follow_up: 1d}\n"
    for duration in ("-5", "0", "4000000d"):
        rules.write_text(
            f'coding_carcs: ["4"]\nrules:\n  - {{name: a, next_action: B, follow_up: {duration}}}\n' + catch_all
        )
        with pytest.raises(ConfigError, match="not a follow-up time|not a duration"):
            FollowUpRules.load(rules)
    rules.write_text('coding_carcs: ["4"]\ncoding_carcs: ["5"]\nrules:\n' + catch_all)
    with pytest.raises(ConfigError, match=r"followup.yaml:2: coding_carcs: key given twice"):
        FollowUpRules.load(rules)
    registry = tmp_path / "portals.yaml"
    text = (ROOT / "config/portals.yaml").read_text()
    registry.write_text(text.replace('date_format: "%Y-%m-%d"', 'date_format: "%Q"', 1))
    with pytest.raises(ConfigError, match="date_format: not a date format"):
        PortalRegistry.load(registry)
    registry.write_text(text.replace('date_format: "%Y-%m-%d"', 'date_format: "%m/%Y"', 1))
    with pytest.raises(ConfigError, match="does not write the whole date"):
        PortalRegistry.load(registry)


def test_yaml_merge_keys_load_and_a_key_written_twice_is_still_named(tmp_path) -> None:
    """Merge keys (<<) fold a shared block into a mapping, which may override some of it: not a
    repetition. A key written twice in one mapping is."""
    from pydantic import BaseModel

    from bots.core.yamlfile import load_model

    class Portals(BaseModel):
        base: dict[str, int]
        portals: dict[str, dict[str, int]]

    path = tmp_path / "merge.yaml"
    path.write_text(
        "base: &base {session_limit: 2, timeout_s: 20}\nportals:\n  slow:\n    <<: *base\n    timeout_s: 60\n"
    )
    assert load_model(path, Portals).portals == {"slow": {"session_limit": 2, "timeout_s": 60}}
    path.write_text(path.read_text() + "    timeout_s: 90\n")
    with pytest.raises(ConfigError, match=r"merge.yaml:6: portals.slow.timeout_s: key given twice"):
        load_model(path, Portals)
