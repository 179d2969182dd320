"""Evidence store: content-addressed atomic writes; verify finds missing and altered files."""

from __future__ import annotations

import hashlib

from bots.evidence.store import LocalEvidenceStore, safe_url


def put(store: LocalEvidenceStore, content: bytes, media_type: str = "text/html") -> str:
    return store.put(
        content,
        media_type,
        item_id=1,
        portal="bluestem",
        page_url="http://127.0.0.1/x",
        run_id="run-t",
        flow_run_id=None,
    ).path


def test_files_are_named_by_content_hash_and_verified(tmp_path) -> None:
    store = LocalEvidenceStore(tmp_path)
    path = put(store, b"<html>claim</html>")
    assert hashlib.sha256((tmp_path / path).read_bytes()).hexdigest() in path
    assert store.verify() == []
    assert not list(tmp_path.rglob(".tmp-*"))


def test_one_changed_byte_and_a_missing_file_are_both_named(tmp_path) -> None:
    store = LocalEvidenceStore(tmp_path)
    altered, missing = put(store, b"<html>one</html>"), put(store, b"\x89PNG fake", "image/png")
    data = bytearray((tmp_path / altered).read_bytes())
    data[3] ^= 1
    (tmp_path / altered).write_bytes(bytes(data))
    (tmp_path / missing).unlink()
    problems = store.verify()
    assert any(p.startswith("altered: ") and altered in p for p in problems)
    assert any(p.startswith("missing: ") and missing in p for p in problems)


def test_torn_manifest_line_is_reported_and_earlier_records_kept(tmp_path) -> None:
    store = LocalEvidenceStore(tmp_path)
    put(store, b"<html>kept</html>")
    with open(store.manifest, "a") as f:
        f.write('{"sha256": "ab')  # a crash mid-append
    assert len(store.records()) == 1
    assert any("line 2: not a valid manifest record" in p for p in store.verify())


def test_manifest_urls_carry_no_secrets() -> None:
    assert (
        safe_url("http://u:p@127.0.0.1:8/results/4?page_no=2&session=abc&otp=1#x")
        == "http://127.0.0.1:8/results/4?page_no=2"
    )
