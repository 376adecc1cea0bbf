"""glibc malloc settings for a long-running server process (app.py): fewer arenas, and freed pages handed back.

A classroom server allocates and frees large arrays all the time (every watched Playground draws a ~2 MB frame and
its temporaries ten times a second), from many threads. glibc keeps what is freed for reuse, so without these the
server's RSS grows by hundreds of MB in a minute without holding more live data (benchmarks/classroom.py). Both are
no-ops where the C library is not glibc.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
import time


def fewer_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for the server process (what MALLOC_ARENA_MAX does, set before any thread starts).

    glibc gives each new thread its own arena, up to 8 per core, and keeps freed memory in each: a classroom server
    runs Gradio's request threads next to the Playground workers, and with 25 visitors its RSS grew 393 MB in 60 s
    against 227 MB with two arenas (benchmarks/classroom.py, 2026-12-02), at no measurable cost in speed. A no-op
    where the C library is not glibc, or when the user set MALLOC_ARENA_MAX themselves."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    return mallopt(-8, arenas) == 1      # M_ARENA_MAX in glibc's malloc.h


def trim_malloc_every(seconds: float = 1.0) -> threading.Thread | None:
    """Hand the pages glibc's malloc keeps free back to the system every `seconds` (malloc_trim), in a daemon
    thread. The Playground draws ~2 MB frames and their temporaries for every watched visitor, and glibc raises its
    mmap threshold after the first large free, so later ones come from the heap and stay there once freed: a
    classroom server's RSS grew +247 / +248 MB in 20 s with 25 visitors, +164 / +185 / +184 MB with this thread
    (benchmarks/classroom.py --seconds 20 --burst 0 --timeline-steps 0, 2026-12-04), and +186 MB in the
    benchmark's 60 s against +238 to +274 MB before. A fixed mmap threshold (MALLOC_MMAP_THRESHOLD_=128 KiB) did as
    well for memory but drew and trained 25-35% slower; a trim a second changed no figure of
    benchmarks/playground_fps.py. None where the C library has no malloc_trim (not glibc)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None

    def loop():
        while True:
            time.sleep(seconds)
            trim(0)

    t = threading.Thread(target=loop, name="ganscope-malloc-trim", daemon=True)
    t.start()
    return t
