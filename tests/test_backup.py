"""`rcmbot backup` while evidence is being written, then `rcmbot restore` into a new state
directory: the same worklist, and evidence that verifies against the same signed checkpoints."""

from __future__ import annotations

import threading

import pytest

from bots.core.errors import InputError
from bots.evidence import evidence_store, public_key, signer
from bots.evidence.verify import verify
from bots.orchestration.backup import backup, restore
from bots.worklist import WorklistStore
from tests.conftest import sweep_rows


def test_a_backup_taken_while_evidence_is_written_restores_and_verifies(tmp_path, settings, portal, dataset) -> None:
    settings = settings.model_copy(update={"evidence": settings.evidence.model_copy(update={"encryption": True})})
    sweep_rows(settings, portal, dataset.worklist[:4])  # checked, recorded, signed
    store, stop = evidence_store(settings), threading.Event()

    def writing() -> None:  # a sweep still running: records appended and signed meanwhile
        n = 0
        while not stop.is_set():
            store.put(
                f"<html>{n}</html>".encode(),
                "text/html",
                item_id=1,
                portal="bluestem",
                page_url="",
                run_id="later",
                flow_run_id=None,
            )
            store.checkpoint(signer(settings))
            n += 1

    writer = threading.Thread(target=writing)
    writer.start()
    try:
        copied = backup(settings, tmp_path / "backup")
    finally:
        stop.set()
        writer.join()
    assert copied.records >= 8 and (tmp_path / "backup" / "keys").is_dir()

    new = settings.model_copy(update={"state_dir": tmp_path / "new", "evidence_dir": tmp_path / "new" / "evidence"})
    restored = restore(new, tmp_path / "backup")
    assert restored.records == copied.records
    report = verify(evidence_store(new), public_key(new))
    assert report.ok and report.records == copied.records, report.problems
    before, after = WorklistStore(settings.worklist_url).items(), WorklistStore(new.worklist_url).items()
    assert [(i.id, i.account_number, i.outcome) for i in after] == [(i.id, i.account_number, i.outcome) for i in before]
    with pytest.raises(InputError, match="already there"):
        restore(new, tmp_path / "backup")
    with pytest.raises(InputError, match="not an empty directory"):
        backup(settings, tmp_path / "backup")
