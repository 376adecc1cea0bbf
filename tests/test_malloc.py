"""gan.malloc on this machine's glibc: the trim thread hands memory that malloc kept after a free back to the system
(the classroom server's RSS growth), in a process of its own so no other test's memory is counted."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# glibc raises its mmap threshold to the size of the first large block freed (16 MiB here; at most 32 MiB), so the
# 1 MiB blocks after it come from the heap; all but the last one (which pins the heap's top, so no automatic trim)
# are freed, and the RSS stays up until malloc_trim hands the free pages back.
PROBE = textwrap.dedent("""
    import ctypes, sys, time
    from gan.malloc import trim_malloc_every

    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]

    def rss_mb():
        return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

    def touch(p, n):
        ctypes.memset(p, 1, n)
        return p

    libc.free(touch(libc.malloc(16 << 20), 16 << 20))
    blocks = [touch(libc.malloc(1 << 20), 1 << 20) for _ in range(200)]
    for p in blocks[:-1]:
        libc.free(p)
    kept = rss_mb()
    thread = sys.argv[1] == "trim" and trim_malloc_every(0.05)
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end and rss_mb() > kept - 150:
        time.sleep(0.05)
    print(kept, rss_mb(), bool(thread and thread.daemon and thread.is_alive()))
""")


def probe(mode: str, wait_s: float) -> tuple[float, float, bool]:
    """(RSS with the blocks freed, RSS after waiting up to wait_s for it to drop, whether a trim thread ran)."""
    done = subprocess.run([sys.executable, "-c", PROBE, mode, str(wait_s)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    kept, after, alive = done.stdout.split()
    return float(kept), float(after), alive == "True"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is what is tested")
def test_the_trim_thread_hands_freed_heap_memory_back():
    kept, after, alive = probe("trim", 10.0)
    assert alive and after < kept - 150, (kept, after)     # ~199 MiB freed by the program, handed back
    kept, after, _ = probe("none", 1.0)                       # without the thread glibc keeps it (the test can fail)
    assert after > kept - 20, (kept, after)
