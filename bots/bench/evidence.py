"""`rcmbot bench evidence`: how fast evidence is verified, beside `sha256sum` over the same files.

Two measurements, each in one run on this machine:
1. Full verification of a store of `files` evidence files of realistic sizes (screenshots of
   60-250 KB and HTML snapshots of 8-30 KB, random so that nothing compresses), against
   `sha256sum` reading and hashing the same stored files. Both run from a warm page cache,
   alternately, best of `rounds`. Throughput is stored bytes per second.
2. `verify --since-checkpoint` on a log of `records` records (default a million) after a run's
   worth of new evidence (200 claims, a screenshot and a snapshot each), from the frontier the
   last full verification saved.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

from bots.core.settings import Settings
from bots.evidence.checkpoint import Signer, load_public_key
from bots.evidence.crypto import Keyring
from bots.evidence.records import EvidenceRecord
from bots.evidence.store import LocalEvidenceStore
from bots.evidence.verify import verify

TARGET_RATIO = 0.8  # of sha256sum's throughput
TARGET_SINCE_S = 2.0
RUN_CLAIMS = 200


def bench_evidence(
    settings: Settings, files: int, records: int, encrypted: bool, rounds: int, say: Callable[[str], None]
) -> dict[str, Any]:
    root = settings.state_path / "bench-evidence"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    try:
        signer = Signer.load_or_create(root / "keys" / "signing.pem")
        keyring = Keyring.load_or_create(root / "keys" / "evidence-keys.json") if encrypted else None
        key = load_public_key(signer.public_pem())
        full = _full(LocalEvidenceStore(root / "full", keyring), signer, key, files, rounds, say)
        since = _since(LocalEvidenceStore(root / "large", keyring), signer, key, records, say)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"encrypted": encrypted, "cpus": os.cpu_count(), **full, **since}


def _full(
    store: LocalEvidenceStore, signer: Signer, key: Any, files: int, rounds: int, say: Callable[[str], None]
) -> dict[str, Any]:
    rng = random.Random(13)
    say(f"writing {files:,} evidence files...")
    for n in range(files):
        shot = n % 2 == 0
        size = rng.randrange(60_000, 250_000) if shot else rng.randrange(8_000, 30_000)
        _put(store, rng.randbytes(size), "image/png" if shot else "text/html", n)
    store.checkpoint(signer)
    stored = sum(p.stat().st_size for p in store.objects.rglob("*") if p.is_file())
    rcmbot_s, sha256sum_s = [], []
    for n in range(rounds):
        started = time.monotonic()
        subprocess.run(f"find {store.objects} -type f -print0 | xargs -0 sha256sum > /dev/null", shell=True, check=True)
        sha256sum_s.append(time.monotonic() - started)
        started = time.monotonic()
        report = verify(store, key)
        rcmbot_s.append(time.monotonic() - started)
        if not report.ok:
            raise AssertionError(f"the benchmark's own store did not verify: {report.problems[:3]}")
        say(f"  round {n + 1}: rcmbot verify {rcmbot_s[-1]:.2f} s, sha256sum {sha256sum_s[-1]:.2f} s")
    best_rcmbot, best_sha = min(rcmbot_s), min(sha256sum_s)
    ratio = best_sha / best_rcmbot
    say(
        f"full verify of {files:,} files ({stored / 1e9:.2f} GB): {stored / best_rcmbot / 1e6:.0f} MB/s, "
        f"sha256sum {stored / best_sha / 1e6:.0f} MB/s: {ratio:.2f}x (target {TARGET_RATIO}x)"
    )
    return {
        "files": files,
        "stored_bytes": stored,
        "verify_s": round(best_rcmbot, 3),
        "sha256sum_s": round(best_sha, 3),
        "ratio_vs_sha256sum": round(ratio, 3),
        "ratio_met": ratio >= TARGET_RATIO,
    }


def _since(
    store: LocalEvidenceStore, signer: Signer, key: Any, records: int, say: Callable[[str], None]
) -> dict[str, Any]:
    say(f"writing a log of {records:,} records...")
    store.encrypt = False  # the log's records share a hundred files: only plain objects may be shared
    base = [_put(store, f"<html>capture {n}</html>".encode(), "text/html", n) for n in range(100)]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=365)

    def record(n: int) -> bytes:  # the n-th record, sharing one of the stored files
        moved = {"seq": n, "item_id": n, "captured_at": start + dt.timedelta(seconds=n)}
        return base[n % len(base)].model_copy(update=moved).log_line()

    with open(store.log, "ab") as log:
        for first in range(len(base), records, 50_000):
            log.write(b"".join(record(n) for n in range(first, min(records, first + 50_000))))
    store.checkpoint(signer)
    started = time.monotonic()
    baseline = verify(store, key)
    full_s = time.monotonic() - started
    assert baseline.verified is not None, baseline.problems[:3]
    rng = random.Random(14)
    store.encrypt = store.keyring is not None  # the run's evidence is stored as the benchmark's setting says
    for n in range(RUN_CLAIMS):  # one run's evidence: a screenshot and a snapshot a claim
        _put(store, rng.randbytes(rng.randrange(60_000, 250_000)), "image/png", n)
        _put(store, rng.randbytes(rng.randrange(8_000, 30_000)), "text/html", n)
    store.checkpoint(signer)
    started = time.monotonic()
    since = verify(store, key, previous=baseline.verified, since=True)
    since_s = time.monotonic() - started
    assert since.ok and since.records == 2 * RUN_CLAIMS, since.problems[:3]
    say(
        f"verify --since-checkpoint after a {RUN_CLAIMS}-claim run on {records:,} records: {since_s:.2f} s "
        f"(target < {TARGET_SINCE_S:.0f} s; a full verification of that log took {full_s:.1f} s)"
    )
    return {
        "records": records,
        "full_verify_large_s": round(full_s, 2),
        "since_checkpoint_s": round(since_s, 3),
        "since_met": since_s < TARGET_SINCE_S,
    }


def _put(store: LocalEvidenceStore, content: bytes, media_type: str, item_id: int) -> EvidenceRecord:
    return store.put(
        content,
        media_type,
        item_id=item_id,
        portal="bluestem",
        page_url="http://127.0.0.1/claims",
        run_id="bench",
        flow_run_id=None,
        durable=False,
    )
