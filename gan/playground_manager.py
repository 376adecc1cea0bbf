"""Every visitor's own Playground: the server's PlaygroundManager (twin of gan.run_manager.RunManager) and the
sessions it keeps, trained by a few worker threads that take turns.

A classroom opens one server: each browser (or API client) is a visitor with its own Playground, created on its
first call. The server bounds what they cost:

- a visitor's session is a few hundred bytes until it is used: its networks are built on the first step, reset,
  Play or frame (a crowd that only asks for its status, or presses Play beyond the limit, builds nothing);
- at most `max_playing` Playgrounds train at once; one more Play is refused with a message, before anything is
  built (stepping by hand while paused is always allowed);
- the playing ones are trained by a fixed pool of worker threads (as many as the machine has cores, at most
  `max_playing`), each taking turns over the playing sessions, a frame's worth of steps (~0.1 s) a turn: 25
  playing visitors cost two threads on a two-core server, not 25;
- a playing Playground that no page has polled for `poll_timeout_s` (60 s) pauses itself;
- one idle for `idle_drop_s` (30 min) is dropped with its memory, and past `max_sessions` the least recently used
  paused one goes; one no page has looked at for a minute lets go of its last frame (redrawn when asked);
- the named point datasets (50,000 points each) are made once per server and shared, read-only, by every session;
- frames are drawn only while a page looks at them, at most one per `FRAME_S` (10 a second), and a page is sent a
  frame only when it changed (its version moved); the status figures are computed once per step.

    from gan.playground_manager import PlaygroundManager
    playgrounds = PlaygroundManager(max_playing=8)
    s = playgrounds.session("visitor-1")          # created on first use (cheap)
    playgrounds.play("visitor-1"); s.status(); playgrounds.close()

No Gradio here: the UI (gan.ui.playground_tab) maps a page or an API client to a visitor id and shows what this says.
"""
from __future__ import annotations

import copy
import logging
import os
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from typing import Callable

import numpy as np

from gan import lessons
from gan.config import check_number
from gan.data import Dataset, is_points_dataset, load_dataset
from gan.errors import GanInputError
from gan.playground import POINT_CHOICES as POINT_NAMES
from gan.playground import Playground, PlaygroundConfig, page_frame, points_dataset

log = logging.getLogger(__name__)

DEFAULT_LESSON = "Mode collapse"
FRAME_S = 0.1               # a playing, watched session draws a frame at most this often (~10 frames/s)
FIGURES_S = 0.3             # modes covered & co. are recomputed at most this often for a watched, playing session
STATUS_FIGURES_S = 1.0      # ... and at most this often for a status poll (an API client that watches no frames)
WATCH_S = 2.0               # a page that polled the frames within this long is watching: frames are drawn
POLL_TIMEOUT_S = 60.0       # a playing session no one polled for this long pauses itself
FRAME_KEEP_S = 60.0         # a session no page looked at for this long lets go of its last frame
IDLE_DROP_S = 30 * 60.0     # a session no one called for this long is dropped
MAX_SESSIONS = 256          # sessions kept at most (the least recently used paused ones go first)
SWEEP_S = 5.0               # the manager looks for idle sessions at most this often
FRAME_POLLS_PER_S = 40      # frames the whole server draws per second for its watching pages, at most (frame_every)
_VISITOR_ID = re.compile(r"[0-9a-f]{32}")

FrameFn = Callable[[Playground, bool], "tuple[np.ndarray, str]"]
default_frame: FrameFn = page_frame     # the page's picture (gan.playground.page_frame, VIEW_SIZE views)


class PlaygroundsBusy(GanInputError):
    """Play refused: the server's limit of Playgrounds training at once is reached."""


def busy_message(limit: int) -> str:
    what = "1 playground is" if limit == 1 else f"{limit} playgrounds are"
    return f"{what} playing on this server; press Play again in a moment"


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, which a container or taskset narrows), else all."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def frame_every(watching: int) -> float:
    """Seconds between the frames a watched, playing Playground draws, when `watching` pages watch: 10 a second
    for up to FRAME_POLLS_PER_S / 10 pages, then slower, so that the server draws at most FRAME_POLLS_PER_S
    frames a second in all (at least one every 2 s) and the rest of the CPU trains. A frame costs 18-29 ms, a
    step 7.6 ms (2-D lessons, one thread): drawn every turn for 25 pages, frames left the Playgrounds a median
    of 29 steps a minute on two cores (benchmarks/classroom.py, 2026-12-02)."""
    return round(min(max(FRAME_S, watching / FRAME_POLLS_PER_S), 2.0), 2)


class SharedData:
    """What every visitor's Playground shares, read-only: the named point datasets (made once; each session gets
    a shallow copy, its own object over the same tensors, which nothing writes to) and the step-0 figures of a
    config (so a visitor who only asked for its status needs no networks of its own)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._datasets: dict[str, Dataset] = {}
        self._fresh: dict[str, dict] = {}
        self.frame_every = FRAME_S     # how often a watched Playground draws and a page asks (PlaygroundManager sets it)

    def load(self, name: str) -> Dataset:
        """A named point dataset, made on first use; a CSV is read each time (its file may change)."""
        if name.startswith("csv:") or not is_points_dataset(name):
            return load_dataset(name)
        with self._lock:
            if name not in self._datasets:
                self._datasets[name] = load_dataset(name)
            return copy.copy(self._datasets[name])

    def fresh_figures(self, config: PlaygroundConfig) -> dict:
        """The figures of a fresh Playground of `config` (seeded: the same for every visitor), computed once."""
        key = repr(config)
        with self._lock:
            hit = self._fresh.get(key)
        if hit is None:
            hit = Playground(config, load=self.load).figures()
            with self._lock:
                self._fresh[key] = hit
        return dict(hit)


class TurnPool:
    """A fixed number of worker threads that train the playing sessions by turns. A session in line is taken by
    the next free worker, trained for one turn (PlaygroundSession.turn), and put back at the end of the line while
    it plays. Threads start with the first session put in line and wait on a condition while none plays."""

    def __init__(self, workers: int = 1):
        self.size = max(int(workers), 1)
        self._cond = threading.Condition()
        self._line: deque[PlaygroundSession] = deque()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, session: PlaygroundSession) -> None:
        """Put a session in line (nothing when it is already in line or in a turn)."""
        with self._cond:
            if self._closed or session._queued:
                return
            session._queued = True
            self._line.append(session)
            while len(self._threads) < min(self.size, len(self._line) + self._busy_locked()):
                t = threading.Thread(target=self._work, name=f"playground-{len(self._threads)}", daemon=True)
                self._threads.append(t)
                t.start()
            self._cond.notify()

    def withdraw(self, session: PlaygroundSession) -> bool:
        """Take a session out of the line if it waits there (not in a turn); True when it did."""
        with self._cond:
            if session in self._line:
                self._line.remove(session)
                session._queued = False
                session._parked.set()
                return True
            return False

    @property
    def threads(self) -> int:
        return len(self._threads)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._line.clear()
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)

    def _busy_locked(self) -> int:
        return sum(1 for t in self._threads if getattr(t, "busy", False))

    def _work(self) -> None:
        """One worker: take the session waiting longest, give it a turn, put it back while it plays."""
        from gan.render import one_cpu_thread_here

        one_cpu_thread_here()  # small nets: one OpenMP thread is ~10x faster than two on a busy machine
        me = threading.current_thread()
        while True:
            with self._cond:
                while not self._line and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                session = self._line.popleft()
                session._parked.clear()
                me.busy = True
            try:
                session.turn()
            except Exception:  # noqa: BLE001 - turn() reports its own failures; never lose a worker
                log.exception("playground turn failed")
            with self._cond:
                me.busy = False
                if session.playing and not session._closed and not self._closed:
                    self._line.append(session)
                    self._cond.notify()
                else:
                    session._queued = False
                    session._parked.set()


class PlaygroundSession:
    """One visitor's Playground: its run (built on first use), the latest frame and a status. Buttons only flip
    flags or post a single step; while it plays, the pool's workers train it by turns."""

    def __init__(self, frame_fn: FrameFn = default_frame, clock: Callable[[], float] = time.monotonic,
                 poll_timeout_s: float = POLL_TIMEOUT_S, pool: TurnPool | None = None,
                 shared: SharedData | None = None):
        self.lock = threading.Lock()           # guards the frame and the status text
        self.control = threading.RLock()       # one control (reset, step...) of this visitor at a time
        self._build = threading.Lock()         # builds the Playground once
        self._config = lessons.get(DEFAULT_LESSON).playground
        self._pg: Playground | None = None
        self.lesson: str | None = DEFAULT_LESSON
        self.stop_at: int | None = lessons.get(DEFAULT_LESSON).steps   # a lesson's budget: play pauses there once
        self._replay: list[dict] = []          # a hand-in link's live changes still to make, each at its step
        self._replaying = False                # playing towards a hand-in link's step (stop_at)
        self.hand_steps = 0                    # D-only or G-only steps by hand in this run (a link cannot replay)
        self.link_lesson: str | None = None    # the lesson a hand-in link's page load set its picker to (the UI's)
        self.twin: Playground | None = None    # the other run of a compare pair (compare()), stepped with this one
        self.twin_labels: tuple[str, str] = ("", "")
        self.playing = False
        self.frame: np.ndarray | None = None
        self.frame_id = 0                      # frames drawn so far
        self.version = 0                       # moves with every change a page shows (frame, notice, state)
        self.status_text = ""
        self.notice = ""                       # a message for the page ("... press Play again in a moment")
        self.fps = 0.0
        self.steps_per_s = 0.0
        self._frame_fn = frame_fn
        self._clock = clock
        self._poll_timeout_s = poll_timeout_s
        self._own_pool = pool is None          # a session on its own (tests) trains on a pool of its own
        self._pool = pool
        self._shared = shared or SharedData()
        now = clock()
        self.polled_at = now                   # last call of a page or client: status, frames, controls
        self.watched_at = -1e9                 # last time a page asked for frames
        self._stale = True                     # the run moved since the last frame
        self._frame_times: list[float] = []
        self._figures_at = -1e9                # when the mode figures were last recorded (perf_counter)
        self._render_s = 0.0
        self._queued = False                   # in the pool's line or in a turn (the pool's lock guards it)
        self._parked = threading.Event()       # set while no worker trains it
        self._parked.set()
        self._closed = False

    @property
    def pg(self) -> Playground:
        """The visitor's Playground, built on first use (~30 ms, a few MB)."""
        if self._pg is None:
            with self._build:
                if self._pg is None:
                    self._pg = Playground(self._config, load=self._shared.load)
        return self._pg

    @property
    def built(self) -> bool:
        return self._pg is not None

    # ------------------------------------------------------------------------------------- controls
    def touch(self) -> None:
        """A page or a client called: the session is in use (it is not paused or dropped as unpolled)."""
        self.polled_at = self._clock()

    def play(self) -> None:
        """Train by turns from now on (the manager checks the server's limit first). It takes no control lock: a
        Play pressed while a reset runs is kept, and the reset's run is the one that plays."""
        self.touch()
        self._set_notice("")
        self.playing = True
        self._parked.clear()
        if self._pool is None:
            self._pool = TurnPool(1)
        self._pool.submit(self)
        self._bump()

    def pause(self, timeout: float = 10.0, notice: str = "") -> None:
        """Stop playing, and wait (up to `timeout`) for a turn in progress to end, so the step and the frame a
        caller sees next are the ones the session stays at."""
        self.playing = False
        if notice:
            self._set_notice(notice)
        if self._pool is not None and not self._pool.withdraw(self):
            self._parked.wait(timeout)
        self._bump()                           # the page's next frame says "paused"

    @property
    def parked(self) -> bool:
        """True once no worker trains it: what a paused session shows is then where it stays (pages and tests
        wait for this instead of sleeping)."""
        return self._parked.is_set()

    def single(self, which: str) -> None:
        """One D update, one G update, or one full iteration (works while paused, whatever the server's limit)."""
        if which not in ("d", "g", "both"):
            raise GanInputError(f"step what? 'd', 'g' or 'both', not {which!r}")
        from gan.render import one_cpu_thread_here

        one_cpu_thread_here()
        with self.control:
            self.touch()
            pg, twin = self.pg, self.twin
            {"d": pg.step_d, "g": pg.step_g, "both": pg.step_both}[which](1)
            if twin is not None:
                {"d": twin.step_d, "g": twin.step_g, "both": twin.step_both}[which](1)
            self.hand_steps += which != "both"
            self._stale = True

    def reset(self, config: PlaygroundConfig, lesson: str | None = None, points: np.ndarray | None = None) -> None:
        """A fresh run; a playing session goes on playing it. The playing flag is left alone: a worker steps
        under the Playground's lock, so a reset under that lock is atomic, and a Play pressed while a reset runs
        is kept (saving and restoring the flag here once undid it: one step, then stopped)."""
        dataset = points_dataset(points) if points is not None else None
        with self.control:
            self.touch()
            with self._build:
                if self._pg is None:            # never built: build this run, not the default one first
                    self._pg = Playground(config, dataset=dataset, load=self._shared.load)
                else:
                    with self._pg.lock:
                        self._pg.reset(config, dataset=dataset)
                self._config = config
            self.lesson = lesson
            self.stop_at = lessons.get(lesson).steps if lesson else None
            self._replay, self._replaying, self.hand_steps = [], False, 0
            self.twin = None
            self._set_notice("")                # a notice of the run before (its lesson's end) is not this one's
            self.fps = self.steps_per_s = 0.0
            self._frame_times.clear()
            self._figures_at = -1e9
            self._stale = True

    def rewind(self, step) -> dict:
        """Show the run at a past (or, after a rewind, a later) step of its timeline; a playing session pauses
        first. Play or a step goes on from there as a fork. A step not on the timeline: GanInputError, and
        nothing changes."""
        with self.control:
            self.touch()
            self.pg.timeline.at(step)           # refuse before pausing anything
            if self.twin is not None:
                self.twin.timeline.at(step)
            if self.playing:
                self.pause()
            self.pg.rewind(step)
            if self.twin is not None:
                self.twin.rewind(step)
            here, info = self.pg.step, self.pg.timeline_info()
            ahead = (f" The timeline goes on to step {info['last']}: Play or Step forks the run here, and the "
                     "later steps are dropped." if info["rewound"] else "")
            self._set_notice(f"At step {here} of the timeline.{ahead}")
            self._figures_at = -1e9
            self._stale = True
            self._bump()
            return self.status()

    def compare(self, setting, value) -> dict:
        """Open a compare pair: this run restarted from step 0 (A) beside a twin on the same data and seed with
        one setting changed (B); they step together, the frame shows both. A setting that cannot differ or a
        value that is not one: GanInputError, and nothing changes."""
        from gan.playground_compare import label, twin_config

        start = self._config
        twin_cfg = twin_config(start, setting, value)   # raises before anything changes
        if start.dataset not in POINT_NAMES:
            raise GanInputError("compare runs on named data (ring8, grid25, spiral, moons), not on your own points")
        twin = Playground(twin_cfg, load=self._shared.load)
        with self.control, self.pg.lock:        # no turn steps A alone between the reset and the pairing
            self.reset(start, lesson=self.lesson)
            self.twin = twin
            self.twin_labels = (label(start, setting), label(twin_cfg, setting))
            self._set_notice(f"Comparing A ({self.twin_labels[0]}) with B ({self.twin_labels[1]}): press Play.")
            self._bump()
        return self.status()

    def handin_link(self) -> tuple[str, str]:
        """(query string, note) of a link that restores this run at its current step (gan.playground_handin)."""
        from gan.playground_handin import handin_query

        self.touch()
        pg = self.pg
        with pg.lock:
            changes = [c for c in pg.changes if c["step"] <= pg.step]
            return handin_query(self._config, self.lesson, pg.step, changes, self.hand_steps)

    def open_handin(self, query: dict) -> str:
        """Reset to a hand-in link's lesson and settings; the manager then plays it, and the turns replay the
        link's live changes at their steps and pause at its step. Returns the notice the page shows."""
        from gan.playground_handin import parse_handin

        h = parse_handin(query)                 # raises before anything changes
        self.reset(h.config, lesson=h.lesson)
        with self.control:
            self._replay = list(h.changes)
            self.stop_at = h.step
            self._replaying = True
            self._apply_replay(self.pg)
        note = f"Replaying the hand-in link to step {h.step}…"
        self._set_notice(note)
        return note

    def _apply_replay(self, pg: Playground) -> None:
        while self._replay and self._replay[0]["step"] <= pg.step:
            change = self._replay.pop(0)
            pg.set_hyperparameters(**{k: v for k, v in change.items() if k != "step"})

    def set_hyperparameters(self, **values) -> dict:
        """The live fields (lr_g, lr_d, n_critic), each checked as the Trainer checks it (gan.config.check_number:
        an empty field, text, NaN or a fraction of a step is refused with its limits); returns what changed."""
        checked = {name: check_number(name, value) for name, value in values.items()}
        with self.control:
            self.touch()
            return self.pg.set_hyperparameters(**checked)

    def status(self) -> dict:
        """The session as JSON: step, D updates, losses, modes covered, frames per second, playing, lesson, and
        the latest message for the page ("" when none). Cheap to poll: a never-used session answers with the
        shared step-0 figures, a paused one with its figures of this step (computed once), a playing one with
        mode figures at most STATUS_FIGURES_S old."""
        self.touch()
        if self._pg is None:
            f = self._shared.fresh_figures(self._config)
        elif self.playing and time.perf_counter() - self._figures_at < STATUS_FIGURES_S:
            f = self._pg.recent_figures()
        else:
            f = self._pg.record_figures() if self.playing else self._pg.figures()
            if self.playing:
                self._figures_at = time.perf_counter()
        return {**{k: v for k, v in f.items() if isinstance(v, (int, float, str))}, "playing": self.playing,
                "fps": round(self.fps, 1), "lesson": self.lesson, "message": self.notice}

    # ------------------------------------------------------------------------------------- frames
    def view(self) -> tuple[int, np.ndarray, str]:
        """(version, frame, status text) for a page; a page that already holds this version needs nothing new.
        Asking marks the session as watched: while playing, its turns then draw ~10 frames a second. A paused
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
        """Draw the frame and its status line now (the mode figures at most every FIGURES_S while playing)."""
        from gan.render import one_cpu_thread_here

        one_cpu_thread_here()
        now = time.perf_counter()
        fresh = not self.playing or now - self._figures_at >= FIGURES_S
        if fresh:
            self._figures_at = now
        pg, twin = self.pg, self.twin
        with pg.lock:
            self._stale = False
            if twin is not None:
                from gan.playground_compare import compare_frame

                frame, text = compare_frame(pg, twin, *self.twin_labels)
            else:
                frame, text = self._frame_fn(pg, fresh)
        now = time.perf_counter()
        with self.lock:
            self._frame_times = [t for t in self._frame_times if now - t < 2.0] + [now]
            if len(self._frame_times) > 1 and self.playing:
                self.fps = (len(self._frame_times) - 1) / (self._frame_times[-1] - self._frame_times[0])
            self.frame = frame
            self.frame_id += 1
            self.version += 1
            self.status_text = text

    def forget_frame(self) -> None:
        """Let go of the last frame (~2 MB) of a session no page looks at; the next view draws it again."""
        with self.lock:
            if self.frame is not None and not self.watched:
                self.frame = None
                self._stale = True

    def _set_notice(self, text: str) -> None:
        with self.lock:
            if text != self.notice:
                self.notice = text
                self.version += 1

    def _bump(self) -> None:
        with self.lock:
            self.version += 1

    @property
    def watched(self) -> bool:
        return self._clock() - self.watched_at < WATCH_S

    # ------------------------------------------------------------------------------------- a worker's turn
    def turn(self) -> None:
        """One worker's turn: train for a frame's worth of time (FRAME_S, less the time a frame takes to draw when a
        page watches, but never less than that), then draw the frame if one does. A session no one polled for poll_timeout_s pauses here."""
        if not self.playing or self._closed:
            return
        if self._clock() - self.polled_at > self._poll_timeout_s:
            self.playing = False
            self._set_notice(f"paused by the server: no page looked at this Playground for "
                             f"{self._poll_timeout_s:.0f} s; press Play to go on")
            return
        try:
            t0 = time.perf_counter()
            steps, watched, pg = 0, self.watched, self.pg
            # at least as long training as drawing: on a crowded server a frame may take longer than frame_every
            every = self._shared.frame_every
            budget = max(every - self._render_s, self._render_s, 0.01) if watched else every
            stop = self.stop_at
            while time.perf_counter() - t0 < budget and self.playing:   # a Pause ends the turn at once
                if stop is not None and pg.step >= stop:
                    break
                if self._replay:
                    self._apply_replay(pg)
                with pg.lock:                   # a compare pair steps as one (compare() sets it under this lock)
                    pg.step_both(1)
                    twin = self.twin
                    if twin is not None:
                        twin.step_both(1)
                steps += 1
            self._stale = True
            if stop is not None and pg.step >= stop:
                self._end_of_lesson(stop)
            if watched:
                r0 = time.perf_counter()
                self.render()
                self._render_s = time.perf_counter() - r0
            self.steps_per_s = steps / max(time.perf_counter() - t0, 1e-6)
            if pg.diverged:
                self.playing = False
                self._bump()
        except Exception as e:  # the worker lives on; the page says what happened
            log.exception("playground step failed")
            self.playing = False
            with self.lock:
                self.status_text = f"stopped: {e}"
                self.version += 1

    def _end_of_lesson(self, step: int) -> None:
        """The lesson's step budget is reached: pause there (once per reset; Play goes on past it) and say what
        to look at, so no student has to catch the moment by hand."""
        self.playing = False
        self.stop_at = None
        if self._replaying:
            self._replaying = False
            self._set_notice(f"Paused at step {step}, the step of the hand-in link. Press Play to go on.")
            self._bump()
            return
        lesson = lessons.LESSONS.get(self.lesson or "")
        look = f" {lesson.look}" if lesson is not None and lesson.look else ""
        self._set_notice(f"Paused at step {step}, the end of this lesson.{look} Press Play to go on.")
        self._bump()

    def close(self) -> None:
        """Stop for good (the session is being dropped): out of the line, no more turns."""
        self._closed = True
        self.playing = False
        if self._pool is not None:
            self._pool.withdraw(self)
            if self._own_pool:
                self._pool.close()


class PlaygroundManager:
    """The server's Playgrounds, one per visitor id, created on first use, trained by one TurnPool. Thread-safe."""

    def __init__(self, max_playing: int = 8, frame_fn: FrameFn = default_frame, max_sessions: int = MAX_SESSIONS,
                 poll_timeout_s: float = POLL_TIMEOUT_S, idle_drop_s: float = IDLE_DROP_S,
                 clock: Callable[[], float] = time.monotonic, workers: int | None = None):
        if int(max_playing) < 1:
            raise GanInputError(f"at least 1 Playground must be allowed to play, got {max_playing}")
        self.max_playing = int(max_playing)
        self.max_sessions = max(int(max_sessions), 1)
        self.poll_timeout_s = poll_timeout_s
        self.idle_drop_s = idle_drop_s
        self.pool = TurnPool(workers or min(usable_cores(), self.max_playing))
        self.shared = SharedData()
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
        """This visitor's Playground, created on first use (None when `create` is False and there is none).
        Creating one is cheap: its networks are built when it is first used."""
        self._sweep()
        with self._lock:
            s = self._sessions.get(key)
            if s is None and create:
                s = self._sessions[key] = PlaygroundSession(self._frame_fn, self._clock, self.poll_timeout_s,
                                                            pool=self.pool, shared=self.shared)
                evicted = self._evict_locked()
            else:
                evicted = []
            if s is not None:
                self._sessions.move_to_end(key)
        for old in evicted:
            old.close()
        return s

    def play(self, key: str) -> PlaygroundSession:
        """Play this visitor's Playground, unless `max_playing` others already play: PlaygroundsBusy then (the
        refusal builds nothing)."""
        s = self.session(key)
        with self._lock:
            if not s.playing and self._playing_locked() >= self.max_playing:
                s.touch()
                s._set_notice(busy_message(self.max_playing))
                raise PlaygroundsBusy(busy_message(self.max_playing))
            s.play()   # under the manager's lock, so two visitors cannot both take the last place
        return s

    def drop(self, key: str) -> bool:
        """Forget this visitor's Playground (its next call gets a fresh one)."""
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
        """Stop every session and the workers, and forget them (the server is closing)."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
            self._bound.clear()
        for s in sessions:
            s.close()
        self.pool.close()

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

    @property
    def frame_every(self) -> float:
        """Seconds between a watched Playground's frames now: FRAME_S for a few pages, longer for a crowd, set by
        _sweep (see frame_every())."""
        return self.shared.frame_every

    def _sweep(self) -> None:
        """Drop sessions and page bindings idle for idle_drop_s, and the frames of sessions no page has looked at
        for FRAME_KEEP_S; set how often watched Playgrounds draw (at most once per SWEEP_S)."""
        now = self._clock()
        with self._lock:
            if now - self._swept_at < min(SWEEP_S, self.idle_drop_s / 4):
                return
            self._swept_at = now
            idle = [k for k, s in self._sessions.items() if now - s.polled_at > self.idle_drop_s]
            gone = [self._sessions.pop(k) for k in idle]
            unwatched = [s for s in self._sessions.values() if now - s.watched_at > FRAME_KEEP_S]
            watching = sum(1 for s in self._sessions.values() if now - s.watched_at < WATCH_S)
            self.shared.frame_every = frame_every(watching)
            for page in [p for p, (_, t) in self._bound.items() if now - t > self.idle_drop_s]:
                del self._bound[page]
        for s in gone:
            s.close()
        for s in unwatched:
            s.forget_frame()
        if gone:
            log.info("dropped %d idle playground(s)", len(gone))
