"""The allocator setting every rcmbot command makes before its threads start."""

from __future__ import annotations

import platform

from bots.core import limit_malloc_arenas


def test_glibc_takes_the_arena_limit_and_malloc_arena_max_stands(monkeypatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert platform.libc_ver()[0] == "glibc"  # Debian, as the README's machine
    assert limit_malloc_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False  # the operator's choice is left alone
