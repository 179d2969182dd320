"""`rcmbot backup DIR` and `rcmbot restore DIR`: a consistent copy of the worklist database and
the evidence store, taken while sweeps run, and putting one back.

Consistent without stopping anybody: the database is copied first, with SQLite's online backup
(a snapshot of one moment), then the evidence. Every record the database refers to was written
before the database snapshot, so it is in the evidence copied after it; the evidence may hold a
few records more, which is harmless. The evidence files only grow by appending whole lines, and
objects never change once written: the copy takes each file up to its last complete line, then
the objects those lines name. The keyring and signing key are copied too (a restore needs them);
keep the backup as safe as the keys themselves.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from bots.core.errors import InputError
from bots.core.settings import Settings
from bots.evidence.records import parse_log_line, parse_relocation
from bots.evidence.store import CHECKPOINTS, LOG, RELOCATIONS, Lines

DATABASE, EVIDENCE, KEYS = "worklist.db", "evidence", "keys"


@dataclass(frozen=True)
class Copied:
    records: int
    objects: int
    bytes: int


def _sqlite_path(settings: Settings) -> Path:
    url = make_url(settings.worklist_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise InputError(
            "rcmbot backup copies the embedded SQLite database; for a shared database (RCMBOT_DATABASE_URL) "
            "use its own tools (pg_dump) and back up the evidence directory and keys beside it"
        )
    return Path(url.database)


def _empty(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InputError(f"{path}: not an empty directory; {what} into a new one")


def backup(settings: Settings, dest: Path) -> Copied:
    source = _sqlite_path(settings)
    if not source.exists():
        raise InputError(f"{source}: no worklist database to back up")
    _empty(dest, "back up")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # written beside DEST and renamed when complete: a backup cut short is never taken for one
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        with sqlite3.connect(source) as live, sqlite3.connect(work / DATABASE) as copy:
            live.backup(copy)  # one moment's snapshot, while others keep writing
        copied = _copy_evidence(settings.evidence_path, work / EVIDENCE)
        keys = [settings.evidence_key_path, settings.signing_key_path]
        for key in (k for k in keys if k.exists()):
            (work / KEYS).mkdir(mode=0o700, exist_ok=True)
            shutil.copy2(key, work / KEYS / key.name)
        if dest.exists():
            dest.rmdir()  # empty, as checked
        work.rename(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return copied


def _copy_evidence(root: Path, dest: Path) -> Copied:
    dest.mkdir(parents=True)
    paths: dict[int, str | None] = {}
    records = size = 0
    # checkpoints first (the log copied after holds every record they sign), then the log (the
    # objects it names exist already), then the relocations (applied to the records copied)
    for name in (CHECKPOINTS, LOG, RELOCATIONS):
        lines = Lines(root / name)
        with open(dest / name, "wb") as out:
            for line in lines:
                out.write(line + b"\n")
                if name == LOG:
                    record = parse_log_line(line)[1]
                    paths[record.seq] = record.stored.path
                    records += 1
                elif name == RELOCATIONS:
                    seq, stored = parse_relocation(line)
                    if seq in paths:
                        paths[seq] = stored.path
    objects = 0
    for rel in sorted({p for p in paths.values() if p}):
        target = dest / rel
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(root / rel, target)
        except FileNotFoundError as exc:
            raise InputError(
                f"{root / rel} went away while it was copied (a key rotation or retention ran meanwhile): "
                "back up again into a new directory"
            ) from exc
        objects += 1
        size += target.stat().st_size
    return Copied(records, objects, size)


def restore(settings: Settings, backup_dir: Path) -> Copied:
    """Put a backup in place of the state of `settings`, whose database and evidence must not
    exist yet (nothing is overwritten)."""
    if not (backup_dir / DATABASE).is_file() or not (backup_dir / EVIDENCE).is_dir():
        raise InputError(f"{backup_dir}: not an rcmbot backup (no {DATABASE} and {EVIDENCE}/)")
    target = _sqlite_path(settings)
    if target.exists():
        raise InputError(f"{target}: a worklist database is already there; restore into a new state directory")
    _empty(settings.evidence_path, "restore")
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(backup_dir / DATABASE) as saved, sqlite3.connect(target) as copy:
        saved.backup(copy)
    settings.evidence_path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(backup_dir / EVIDENCE, settings.evidence_path, dirs_exist_ok=True)
    for path in (settings.evidence_key_path, settings.signing_key_path):
        key = backup_dir / KEYS / path.name
        if key.exists() and not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copy2(key, path)
    files = [p for p in (settings.evidence_path / "objects").rglob("*") if p.is_file()]
    return Copied(sum(1 for _ in Lines(settings.evidence_path / LOG)), len(files), sum(p.stat().st_size for p in files))
