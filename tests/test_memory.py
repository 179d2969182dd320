"""The allocator setting every rcmbot command makes before its threads start."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# Eight threads hold memory at once while the process counts glibc's arenas (malloc_info).
ARENAS = r"""
import ctypes, os, sys, tempfile, threading
from bots.core import limit_malloc_arenas
if sys.argv[1] == "limited":
    assert limit_malloc_arenas()
allocated, counted = threading.Barrier(9), threading.Event()
def work():
    blocks = [ctypes.create_string_buffer(4096) for _ in range(50)]  # malloc, not Python's own allocator
    allocated.wait()
    counted.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
allocated.wait()  # all eight hold their blocks now
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
fd, path = tempfile.mkstemp()
os.close(fd)
stream = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(stream))
libc.fclose(ctypes.c_void_p(stream))
counted.set()
for t in threads:
    t.join()
print(open(path).read().count("<heap nr="))
os.remove(path)
"""


def arenas(how: str, env: dict[str, str] | None = None) -> int:
    done = subprocess.run(
        [sys.executable, "-c", ARENAS, how], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="arenas are glibc's")
def test_threads_share_two_arenas_once_limited_and_malloc_arena_max_stands(monkeypatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert arenas("default") > 2  # glibc's own default: an arena per thread, up to 8 per core
    assert arenas("limited") <= 2
    monkeypatch.setenv("MALLOC_ARENA_MAX", "3")
    from bots.core import limit_malloc_arenas

    assert limit_malloc_arenas() is False  # the operator's choice is left alone
