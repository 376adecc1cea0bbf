"""Every visitor's own Playground: a registry of 2-D GAN sessions, each trained by its own background thread.

A classroom opens one server: each browser (or API client) is a visitor with its own Playground, created on its
first call. The server bounds what they cost:

- at most `max_playing` Playgrounds train at once; one more Play is refused with a message (stepping by hand
  while paused is always allowed);
- a playing Playground that no page has polled for `poll_timeout_s` (60 s) pauses itself;
- one idle for `idle_drop_s` (30 min) is dropped with its memory, and past `max_sessions` the least recently used
  paused one goes;
- a session's thread is started on its first Play and waits on an Event while paused (training nothing);
- frames are drawn only while a page looks at them, at most one per `frame_s` (10 a second), and a page is sent a
  frame only when it changed (its version moved).

    from gan.playground_manager import Playgrounds
    reg = Playgrounds(max_playing=8)
    s = reg.session("visitor-1")          # created on first use
    reg.play("visitor-1"); s.status(); reg.close()

No Gradio here: the UI (gan.ui.playground_tab) maps a page or an API client to a visitor id and shows what this says.
"""
from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from typing import Callable

import numpy as np

from gan import lessons
from gan.errors import GanInputError
from gan.playground import Playground, PlaygroundConfig, points_dataset

log = logging.getLogger(__name__)

DEFAULT_LESSON = "Mode collapse"
FRAME_S = 0.1               # a playing, watched session draws a frame at most this often (~10 frames/s)
STEP_CHUNK_S = 0.03         # training time between two looks at the flags
FIGURES_S = 0.3             # modes covered & co. are recomputed at most this often while playing
WATCH_S = 2.0               # a page that polled the frames within this long is watching: frames are drawn
POLL_TIMEOUT_S = 60.0       # a playing session no one polled for this long pauses itself
IDLE_DROP_S = 30 * 60.0     # a session no one called for this long is dropped
MAX_SESSIONS = 256          # sessions kept at most (the least recently used paused ones go first)
SWEEP_S = 5.0               # the registry looks for idle sessions at most this often
_VISITOR_ID = re.compile(r"[0-9a-f]{32}")

FrameFn = Callable[[Playground, bool], "tuple[np.ndarray, str]"]


class PlaygroundsBusy(GanInputError):
    """Play refused: the server's limit of Playgrounds training at once is reached."""


def busy_message(limit: int) -> str:
    what = "1 playground is" if limit == 1 else f"{limit} playgrounds are"
    return f"{what} playing on this server; press Play again in a moment"


def default_frame(pg: Playground, figures: bool, size: int = 320) -> tuple[np.ndarray, str]:
    """A session's picture (gan.playground's composed frame: the views and the curves) and its status line.
    `figures=False` reuses the last mode figures (they cost as much as a view)."""
    snap = pg.snapshot(size, figures=figures, frame=True)
    return snap["frame"], snap["status"]


class PlaygroundSession:
    """One visitor's Playground: its run, a lazily started thread that trains while playing, the latest frame and
    a status. Buttons only flip flags or post a single step; the thread does the training."""

    def __init__(self, frame_fn: FrameFn = default_frame, clock: Callable[[], float] = time.monotonic,
                 poll_timeout_s: float = POLL_TIMEOUT_S):
        lesson = lessons.get(DEFAULT_LESSON)
        self.lock = threading.Lock()           # guards the frame and the status text
        self.control = threading.RLock()       # one control (play, reset, step...) of this visitor at a time
        self.pg = Playground(lesson.playground)
        self.lesson: str | None = lesson.name
        self.playing = False
        self.frame: np.ndarray | None = None
        self.frame_id = 0                      # frames drawn so far
        self.version = 0                       # moves with every change a page shows (frame, notice)
        self.status_text = ""
        self.notice = ""                       # a message for the page ("... press Play again in a moment")
        self.fps = 0.0
        self.steps_per_s = 0.0
        self._frame_fn = frame_fn
        self._clock = clock
        self._poll_timeout_s = poll_timeout_s
        now = clock()
        self.polled_at = now                   # last call of a page or client: status, frames, controls
        self.watched_at = -1e9                 # last time a page asked for frames
        self._stale = True                     # the run moved since the last frame
        self._frame_times: list[float] = []
        self._figures_at = 0.0
        self._render_s = 0.0
        self._wake = threading.Event()
        self._parked = threading.Event()       # set while the thread sits in its paused wait, training nothing
        self._parked.set()
        self._closed = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------- controls
    def touch(self) -> None:
        """A page or a client called: the session is in use (it is not paused or dropped as unpolled)."""
        self.polled_at = self._clock()

    def play(self) -> None:
        """Train in the background from now on (the registry checks the server's limit first). It takes no
        control lock: a Play pressed while a reset runs is kept, and the reset's run is the one that plays."""
        self.touch()
        self._set_notice("")
        self._parked.clear()
        self.playing = True
        with self.lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._main, name="playground", daemon=True)
                self._thread.start()
        self._wake.set()

    def pause(self, timeout: float = 10.0, notice: str = "") -> None:
        """Stop playing, and wait (up to `timeout`) for the thread to finish its chunk of steps and park, so the
        step and the frame a caller sees next are the ones the session stays at."""
        self.playing = False
        if notice:
            self._set_notice(notice)
        if threading.current_thread() is not self._thread:
            self._parked.wait(timeout)

    @property
    def parked(self) -> bool:
        """True once the thread has stopped training: what a paused session shows is then where it stays (pages
        and tests wait for this instead of sleeping)."""
        return self._parked.is_set()

    def single(self, which: str) -> None:
        """One D update, one G update, or one full iteration (works while paused, whatever the server's limit)."""
        fn = {"d": self.pg.step_d, "g": self.pg.step_g, "both": self.pg.step_both}.get(which)
        if fn is None:
            raise GanInputError(f"step what? 'd', 'g' or 'both', not {which!r}")
        from gan.render import one_cpu_thread_here

        one_cpu_thread_here()
        with self.control:
            self.touch()
            fn(1)
            self._stale = True

    def reset(self, config: PlaygroundConfig, lesson: str | None = None, points: np.ndarray | None = None) -> None:
        """A fresh run; a playing session goes on playing it. The playing flag is left alone: the thread steps
        under the Playground's lock, so a reset under that lock is atomic, and a Play pressed while a reset runs
        is kept (saving and restoring the flag here once undid it: one step, then stopped)."""
        dataset = points_dataset(points) if points is not None else None
        with self.control:
            self.touch()
            with self.pg.lock:
                self.pg.reset(config, dataset=dataset)
                self.lesson = lesson
                self.fps = self.steps_per_s = 0.0
                self._frame_times.clear()
                self._stale = True

    def set_hyperparameters(self, **kw) -> dict:
        with self.control:
            self.touch()
            return self.pg.set_hyperparameters(**kw)

    def status(self) -> dict:
        """The session as JSON: step, D updates, losses, modes covered, frames per second, playing, lesson, and
        the latest message for the page ("" when none)."""
        self.touch()
        f = self.pg.figures()
        return {**{k: v for k, v in f.items() if isinstance(v, (int, float, str))}, "playing": self.playing,
                "fps": round(self.fps, 1), "lesson": self.lesson, "message": self.notice}

    # ------------------------------------------------------------------------------------- frames
    def view(self) -> tuple[int, np.ndarray, str]:
        """(version, frame, status text) for a page; a page that already holds this version needs nothing new.
        Asking marks the session as watched: while playing its thread then draws ~10 frames a second. A paused
        session whose run moved (a step by hand, a reset) draws its frame here, once."""
        now = self._clock()
        self.polled_at = self.watched_at = now
        if self.frame is None or (self._stale and not self.playing):
            self.render()
        with self.lock:
            rate = f" · {self.fps:.1f} frames/s, {self.steps_per_s:.0f} steps/s" if self.playing and self.fps else ""
            state = "playing" if self.playing else "paused"
            note = f" · **{self.notice}**" if self.notice else ""
            return self.version, self.frame, f"**{state}** · {self.status_text}{rate}{note}"

    def render(self) -> None:
        from gan.render import one_cpu_thread_here

        one_cpu_thread_here()
        now = time.perf_counter()
        fresh = not self.playing or now - self._figures_at >= FIGURES_S
        if fresh:
            self._figures_at = now
        with self.pg.lock:
            self._stale = False
            frame, text = self._frame_fn(self.pg, fresh)
        now = time.perf_counter()
        with self.lock:
            self._frame_times = [t for t in self._frame_times if now - t < 2.0] + [now]
            if len(self._frame_times) > 1 and self.playing:
                self.fps = (len(self._frame_times) - 1) / (self._frame_times[-1] - self._frame_times[0])
            self.frame = frame
            self.frame_id += 1
            self.version += 1
            self.status_text = text

    def _set_notice(self, text: str) -> None:
        with self.lock:
            if text != self.notice:
                self.notice = text
                self.version += 1

    @property
    def watched(self) -> bool:
        return self._clock() - self.watched_at < WATCH_S

    def close(self) -> None:
        """Stop the thread for good (the session is being dropped)."""
        self._closed = True
        self.playing = False
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5)

    def _main(self) -> None:
        from gan.render import one_cpu_thread_here

        one_cpu_thread_here()  # small nets: one OpenMP thread is ~10x faster than two on a busy machine
        played = False
        while not self._closed:
            if not self.playing:
                if played and self.watched:  # one more frame, so viewers see "paused" at the step it stays at
                    try:
                        self.render()
                    except Exception:
                        log.exception("playground frame failed")
                played = False
                self._parked.set()
                self._wake.wait()             # parked: no training, no polling, until Play or close
                self._wake.clear()
                continue
            self._parked.clear()
            played = True
            if self._clock() - self.polled_at > self._poll_timeout_s:
                self.pause(notice=f"paused by the server: no page looked at this Playground for "
                                  f"{self._poll_timeout_s:.0f} s; press Play to go on")
                continue
            try:
                t0 = time.perf_counter()
                steps = 0
                watched = self.watched
                budget = max(FRAME_S - self._render_s, 0.01) if watched else FRAME_S
                while time.perf_counter() - t0 < budget and self.playing:
                    c0 = time.perf_counter()
                    self.pg.step_both(1)
                    steps += 1
                    if time.perf_counter() - c0 > STEP_CHUNK_S:
                        break
                self._stale = True
                if watched:
                    r0 = time.perf_counter()
                    self.render()
                    self._render_s = time.perf_counter() - r0
                self.steps_per_s = steps / max(time.perf_counter() - t0, 1e-6)
                if self.pg.diverged:
                    self.playing = False
            except Exception as e:  # keep the thread alive; the page says what happened
                log.exception("playground step failed")
                self.playing, played = False, False  # no last frame: it would hide the message below
                with self.lock:
                    self.status_text = f"stopped: {e}"
                    self.version += 1


class Playgrounds:
    """The server's Playgrounds, one per visitor id, created on first use. Thread-safe."""

    def __init__(self, max_playing: int = 8, frame_fn: FrameFn = default_frame, max_sessions: int = MAX_SESSIONS,
                 poll_timeout_s: float = POLL_TIMEOUT_S, idle_drop_s: float = IDLE_DROP_S,
                 clock: Callable[[], float] = time.monotonic):
        if int(max_playing) < 1:
            raise GanInputError(f"at least 1 Playground must be allowed to play, got {max_playing}")
        self.max_playing = int(max_playing)
        self.max_sessions = max(int(max_sessions), 1)
        self.poll_timeout_s = poll_timeout_s
        self.idle_drop_s = idle_drop_s
        self._frame_fn = frame_fn
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, PlaygroundSession] = OrderedDict()   # least recently used first
        self._bound: OrderedDict[str, tuple[str, float]] = OrderedDict()      # page session -> (visitor, when)
        self._swept_at = clock()

    # ------------------------------------------------------------------------------------- visitors
    @staticmethod
    def issue(candidate=None) -> str:
        """The id a browser keeps: `candidate` when it is one of ours in form (never issued or dropped ones
        included: they simply get a fresh Playground), else a new random one."""
        if isinstance(candidate, str) and _VISITOR_ID.fullmatch(candidate):
            return candidate
        return secrets.token_hex(16)

    def bind(self, page: str, visitor: str) -> str:
        """Remember that a page (Gradio's session of one tab load) belongs to a browser's visitor id."""
        visitor = self.issue(visitor)
        with self._lock:
            self._bound[page] = (visitor, self._clock())
            self._bound.move_to_end(page)
        return visitor

    def visitor_for(self, page: str | None) -> str:
        """The key of the Playground a page or client acts on: its browser's visitor id when the page was bound
        on load, else the session itself (an API client is a visitor of its own)."""
        page = page or "no-session"
        with self._lock:
            hit = self._bound.get(page)
            if hit is not None:
                self._bound[page] = (hit[0], self._clock())
                return "v:" + hit[0]
        return "s:" + page

    @staticmethod
    def is_browser(key: str) -> bool:
        """True for the key of a browser's visitor id (a page bound on load), False for an unbound session."""
        return key.startswith("v:")

    # ------------------------------------------------------------------------------------- sessions
    def session(self, key: str, create: bool = True) -> PlaygroundSession | None:
        """This visitor's Playground, created on first use (None when `create` is False and there is none)."""
        self._sweep()
        with self._lock:
            s = self._sessions.get(key)
            if s is not None:
                self._sessions.move_to_end(key)
                return s
        if not create:
            return None
        fresh = PlaygroundSession(self._frame_fn, self._clock, self.poll_timeout_s)  # outside the lock: ~30 ms
        with self._lock:
            s = self._sessions.setdefault(key, fresh)
            self._sessions.move_to_end(key)
            evicted = self._evict_locked()
        for old in evicted:
            old.close()
        return s

    def play(self, key: str) -> PlaygroundSession:
        """Play this visitor's Playground, unless `max_playing` others already play: PlaygroundsBusy then."""
        s = self.session(key)
        with self._lock:
            if not s.playing and self._playing_locked() >= self.max_playing:
                s.touch()
                s._set_notice(busy_message(self.max_playing))
                raise PlaygroundsBusy(busy_message(self.max_playing))
            s.play()   # under the registry's lock, so two visitors cannot both take the last place
        return s

    def drop(self, key: str) -> bool:
        """Forget this visitor's Playground and stop its thread (its next call gets a fresh one)."""
        with self._lock:
            s = self._sessions.pop(key, None)
        if s is not None:
            s.close()
        return s is not None

    def playing(self) -> int:
        with self._lock:
            return self._playing_locked()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def close(self) -> None:
        """Stop every session's thread and forget them (the server is closing)."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
            self._bound.clear()
        for s in sessions:
            s.close()

    # ------------------------------------------------------------------------------------- housekeeping
    def _playing_locked(self) -> int:
        return sum(s.playing for s in self._sessions.values())

    def _evict_locked(self) -> list[PlaygroundSession]:
        """Past max_sessions, the least recently used paused sessions go (playing ones are bounded already)."""
        out = []
        for key in list(self._sessions):
            if len(self._sessions) <= self.max_sessions:
                break
            if not self._sessions[key].playing:
                out.append(self._sessions.pop(key))
        return out

    def _sweep(self) -> None:
        """Drop sessions and page bindings idle for idle_drop_s (at most once per SWEEP_S)."""
        now = self._clock()
        with self._lock:
            if now - self._swept_at < min(SWEEP_S, self.idle_drop_s / 4):
                return
            self._swept_at = now
            idle = [k for k, s in self._sessions.items() if now - s.polled_at > self.idle_drop_s]
            gone = [self._sessions.pop(k) for k in idle]
            for page in [p for p, (_, t) in self._bound.items() if now - t > self.idle_drop_s]:
                del self._bound[page]
        for s in gone:
            s.close()
        if gone:
            log.info("dropped %d idle playground(s)", len(gone))
