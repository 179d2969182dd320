"""The process's C allocator, set for a process of many threads that mostly wait."""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8  # glibc's mallopt() parameter number
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Let glibc's allocator keep at most `arenas` arenas. By default every thread that allocates
    gets one of its own (up to eight per core) and what is freed stays in it: a sweep's
    database, evidence and Prefect threads held about 30 MB that way at concurrency 8. Threads
    that mostly wait on I/O need few. Call it early, before threads start. Whether the allocator
    took it: not where MALLOC_ARENA_MAX or GLIBC_TUNABLES already decides (the operator's
    choice stands), nor off glibc (musl's mallopt does nothing)."""
    if os.environ.get("MALLOC_ARENA_MAX") or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # no C library to load by None (Windows), no mallopt
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
