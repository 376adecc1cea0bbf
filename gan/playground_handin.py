"""Hand in a Playground run: the run over time as a GIF or an MP4, and a link that restores it.

The link names the lesson (if any), every setting that differs from the lesson's (or from free play's defaults),
the live changes made along the way (learning rates, D steps per G step, each at its step) and the step to show:

    ?pg_lesson=Mode+collapse&pg_seed=3&pg_changes=120:lr_g=0.0005&pg_step=800

Opening it replays the run to that step (gan.playground_manager.PlaygroundSession.open_handin): a seeded run
replays step for step on the same machine, so the student's "this is where it collapsed" is the picture the teacher
sees. What a link cannot carry, it says: points drawn or uploaded (export a GIF instead), and single D-only or
G-only steps taken by hand (the replay takes full steps). Every key starts with `pg_`, so a link does not clash
with Explore's (?model=&seed=...).

The animation is drawn from the run's timeline (gan.playground_timeline): one frame per snapshot, the three views
of that moment, written with gan.viz's GIF and MP4 writers.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from gan import lessons
from gan.config import LIMITS, check_number, limit_rule
from gan.errors import GanInputError
from gan.playground import POINT_CHOICES, PlaygroundConfig

EXPORT_FORMATS = ("gif", "mp4")
EXPORT_VIEW_SIZE = 300        # each view's width in an exported frame (the page shows 480)
EXPORT_FPS = 4                # snapshots per second in the animation
MAX_LINK_STEP = 20_000        # a link replays at most this many steps (~3 minutes on one core)
PREFIX = "pg_"
LIVE_KEYS = ("lr_g", "lr_d", "n_critic")
_BOOL = {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False}


@dataclass
class Handin:
    """What a hand-in link restores."""
    config: PlaygroundConfig
    lesson: str | None
    step: int
    changes: list[dict] = field(default_factory=list)   # [{"step": 120, "lr_g": 0.0005}, ...], oldest first


def export_run(pg, fmt, folder: Path, name: str = "playground") -> Path:
    """The run over time (every snapshot of its timeline) as `folder`/name-stepN.gif or .mp4."""
    from gan import viz

    fmt = str(fmt).lower().lstrip(".") if isinstance(fmt, str) else fmt
    if fmt not in EXPORT_FORMATS:
        raise GanInputError(f"export as {' or '.join(EXPORT_FORMATS)}, not {fmt!r}")
    frames = [frame for _, frame in pg.timeline_frames(EXPORT_VIEW_SIZE)]
    if len(frames) < 2:
        raise GanInputError("nothing to animate yet: press Play (the timeline keeps a picture every "
                            f"{pg.timeline.every} steps)")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{name}-step{pg.step}")[:80]
    path = Path(folder) / f"{stem}.{fmt}"
    (viz.save_gif if fmt == "gif" else viz.save_mp4)(path, frames, fps=EXPORT_FPS, size=None)
    return path


def _base(lesson: str | None) -> PlaygroundConfig:
    return lessons.get(lesson).playground if lesson else PlaygroundConfig()


def handin_query(start: PlaygroundConfig, lesson: str | None, step: int, changes, hand_steps: int = 0) \
        -> tuple[str, str]:
    """(query string, a note for the student) for a run that started from `start`, with live `changes`, at
    `step`. Raises GanInputError for a run a link cannot restore (your own points)."""
    if start.dataset not in POINT_CHOICES:
        raise GanInputError("a run on your own points cannot travel in a link (the points stay on this server): "
                            "export a GIF or an MP4 instead")
    base = _base(lesson)
    q = {}
    if lesson:
        q["lesson"] = lesson
    for f in dataclasses.fields(PlaygroundConfig):
        value = getattr(start, f.name)
        if value != getattr(base, f.name):
            q[f.name] = _text(value)
    if changes:
        q["changes"] = ";".join(f"{c['step']}:" + ",".join(f"{k}={_text(c[k])}" for k in LIVE_KEYS if k in c)
                                for c in changes)
    q["step"] = str(int(step))
    note = ""
    if hand_steps:
        note = (f"This run had {hand_steps} D-only or G-only step(s) by hand, which a link does not replay: "
                "the linked run may differ from yours. Export a GIF to hand in exactly what you see.")
    return urlencode({PREFIX + k: v for k, v in q.items()}, quote_via=quote), note


def _text(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(value) if isinstance(value, float) else str(value)


def has_handin(query: dict) -> bool:
    """Whether a page's query parameters hold a hand-in link."""
    return any(str(k).startswith(PREFIX) for k in query)


def parse_handin(query: dict) -> Handin:
    """A link's query parameters (a dict) as a Handin; a clear GanInputError for any key or value it cannot use."""
    q = {k[len(PREFIX):]: v for k, v in query.items() if str(k).startswith(PREFIX)}
    lesson = q.pop("lesson", None) or None
    if lesson is not None and lesson not in lessons.LESSONS:
        raise GanInputError(f"the link names a lesson this server does not have ({lesson!r})")
    if lesson is not None and lessons.get(lesson).playground is None:
        raise GanInputError(f"{lesson!r} is not a Playground lesson")
    if "step" not in q:
        raise GanInputError("the link has no step (pg_step=...)")
    step = _whole("step", q.pop("step"))
    if not 0 <= step <= MAX_LINK_STEP:
        raise GanInputError(f"the link's step {step} is over the limit: a link replays at most {MAX_LINK_STEP} steps")
    changes = _changes(q.pop("changes", ""))
    fields = {f.name: f for f in dataclasses.fields(PlaygroundConfig)}
    unknown = sorted(k for k in q if k not in fields)
    if unknown:
        raise GanInputError(f"the link has settings the Playground does not know: {', '.join(unknown)}")
    base = _base(lesson)
    values = {name: _typed(name, text, getattr(base, name)) for name, text in q.items()}
    config = dataclasses.replace(base, **values)
    if config.dataset not in POINT_CHOICES:
        raise GanInputError(f"the link's data must be one of {', '.join(POINT_CHOICES)}, not {config.dataset!r}")
    for name, value in [*values.items(), *((k, v) for c in changes for k, v in c.items() if k != "step")]:
        if name in LIMITS:
            try:
                check_number(name, value)   # the limits the form's fields have
            except GanInputError:
                raise GanInputError(f"the link's {name} {limit_rule(name)}, not {value!r}") from None
    config.train_config()
    return Handin(config, lesson, step, changes)


_FLOAT_FIELDS = {"lr_g", "lr_d", "beta1", "beta2", "gp_lambda", "r1", "ema"}
_INT_FIELDS = {"n_critic", "batch_size", "z_dim", "g_depth", "g_width", "d_depth", "d_width", "seed", "pack"}


def _typed(name: str, text: str, default, what: str = "the link's ") -> bool | int | float | str:
    """A PlaygroundConfig field's value from text (a link's, or a compare form's: `what` starts the message)."""
    if name in ("spectral_norm", "mbstd"):
        if str(text).lower() not in _BOOL:
            raise GanInputError(f"{what}{name} must be 1 or 0, not {text!r}")
        return _BOOL[str(text).lower()]
    if name in _INT_FIELDS:
        return _whole(name, text, what)
    if name in _FLOAT_FIELDS:
        try:
            return float(text)
        except ValueError:
            raise GanInputError(f"{what}{name} must be a number, not {text!r}") from None
    return str(text)


def _whole(name: str, text, what: str = "the link's ") -> int:
    try:
        return int(str(text))
    except ValueError:
        raise GanInputError(f"{what}{name} must be a whole number, not {text!r}") from None


def _changes(text: str) -> list[dict]:
    """'120:lr_g=0.0005,n_critic=2;300:lr_d=0.001' as [{"step": 120, "lr_g": 0.0005, "n_critic": 2}, ...]."""
    out = []
    for part in filter(None, str(text).split(";")):
        step, _, rest = part.partition(":")
        change = {"step": _whole("changes' step", step)}
        for item in filter(None, rest.split(",")):
            key, _, value = item.partition("=")
            if key not in LIVE_KEYS:
                raise GanInputError(f"the link's changes name {key!r}; only {', '.join(LIVE_KEYS)} change live")
            change[key] = _whole(key, value) if key == "n_critic" else _typed(key, value, None)
        if len(change) == 1 or not 0 <= change["step"] <= MAX_LINK_STEP:
            raise GanInputError(f"the link's change {part!r} cannot be used (STEP:setting=value, step up to "
                                f"{MAX_LINK_STEP})")
        out.append(change)
    return sorted(out, key=lambda c: c["step"])
