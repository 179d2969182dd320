"""The handshake between a benchmark point and the parent measuring it: the point marks its
clock's start and stop with a file each and waits until the parent has sampled the CPU of its
process tree and acknowledged the mark (bots.bench.run measures, bots.bench.point marks). Kept
apart so the measured process imports nothing of the parent's."""

from __future__ import annotations

import time
from pathlib import Path

SAMPLE_S = 0.25  # how often the parent samples the tree (memory and CPU)
ACK_WAIT_S = 30.0  # a parent that never acknowledges a mark: the point carries on, unmeasured


def marks(result_path: Path) -> tuple[Path, Path]:
    """The files a point writes when its clock starts and when it stops."""
    return result_path.with_suffix(".started"), result_path.with_suffix(".ended")


def acknowledgement(mark: Path) -> Path:
    return mark.with_suffix(mark.suffix + ".ack")


def mark_and_wait(mark: Path) -> None:
    """Write a mark and wait until the parent has sampled the tree at it."""
    mark.touch()
    deadline = time.monotonic() + ACK_WAIT_S
    while not acknowledgement(mark).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
