"""Compare training runs: every run of a RunManager as rows of one table, the settings that tell them apart, their
disk use, and the curves to overlay on one chart. Torch-free (it reads what the runs already hold in memory and the
sizes of their folders), so a table of a hundred runs costs no model loading; the Train tab's "Compare runs"
section and the `compare_runs` endpoint show what it returns.

    from gan.run_compare import compare_runs, curves
    table = compare_runs(manager)                      # {"runs": [row, ...], "differing": [...], "total_disk_bytes"}
    lines = curves(manager, ["run-a", "run-b"], "fd", x="time")

The manager is duck-typed (gan.run_manager.RunManager: rescan, newest_first, get; each Run: id, folder, cfg, view(),
history_copy()); importing gan.run_manager here would load torch. Only the lesson-pair helpers load gan.lessons
(and with it torch), when called.
"""
from __future__ import annotations

import bisect
import dataclasses
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from gan.config import TrainConfig
from gan.errors import GanInputError

if TYPE_CHECKING:
    from gan.run_manager import Run, RunManager

# Always shown as columns of their own, so never repeated among the differing settings' columns.
SHOWN_SETTINGS = ("dataset", "arch", "loss")
# Settings that never change what a run learns (where the data is read from, how often it logs and writes grids and
# checkpoints), so never listed as differing: they would crowd out the ones that do.
IGNORED_SETTINGS = ("data_root", "sample_every", "checkpoint_every", "log_every", "n_samples", "tensorboard")
# The figures the overlay chart can show: key -> the axis label. Loss-log keys come from each log line
# (gan.trainer.Trainer.flush), the quality keys from the monitor's readings ({"event": "quality"} lines).
METRICS = {"loss_d": "Loss D", "loss_g": "Loss G", "d_real": "D(x)", "d_fake": "D(G(z))",
           "fd": "FD (log scale, lower is better)", "covered": "classes or modes covered"}
QUALITY_METRICS = ("fd", "covered")
X_AXES = {"step": "step", "time": "wall time (s)"}
LOSS_KEYS = ("loss_d", "loss_g", "d_real", "d_fake")
# Settings a lesson's run must share with the lesson to count as that lesson's run; the schedule, the length and
# where it trains do not change what the lesson shows.
_NOT_LESSON_SETTINGS = {"steps", "device", "data_root", "amp", "channels_last", "compile", "sample_every",
                        "checkpoint_every", "log_every", "n_samples"}


# ---------------------------------------------------------------------------------------------- the table
def disk_bytes(folder: str | Path) -> int:
    """Bytes the files under `folder` take (links not followed); 0 for a folder that is gone."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass              # removed while we walked (a checkpoint being replaced)
    return total


def differing_settings(configs: list[dict]) -> list[str]:
    """The TrainConfig fields (in their dataclass order) whose values are not the same in all `configs` (dicts as
    TrainConfig.to_dict gives); none for fewer than two."""
    if len(configs) < 2:
        return []
    fields = [f.name for f in dataclasses.fields(TrainConfig) if f.name not in IGNORED_SETTINGS]
    return [k for k in fields if len({repr(c.get(k)) for c in configs}) > 1]


def _round(value, digits: int = 4):
    return round(float(value), digits) if isinstance(value, (int, float)) and value == value else None


def _covered(quality: dict) -> tuple[int | None, int | None, str | None]:
    """(covered, out of, "classes" | "modes") of a monitor reading; Nones without one."""
    if "classes_covered" in quality:
        return quality["classes_covered"], len(quality.get("class_histogram") or []) or 10, "classes"
    if "modes_covered" in quality:
        return (quality["modes_covered"], quality.get("n_modes") or len(quality.get("mode_histogram") or []) or None,
                "modes")
    return None, None, None


def run_row(run: Run, differing: list[str] = ()) -> dict:
    """One run as a row of the table (the shape is told in compare_runs)."""
    view = run.view()
    cfg = run.cfg.to_dict()
    latest, quality = view.latest, view.quality
    covered, out_of, what = _covered(quality)
    return {"run_id": run.id, "dataset": cfg.get("dataset"), "arch": cfg.get("arch"), "loss": cfg.get("loss"),
            "settings": {k: cfg.get(k) for k in differing}, "state": view.state, "step": view.step,
            "total_steps": view.total_steps, "wall_time_s": _round(latest.get("time"), 1),
            **{k: _round(latest.get(k)) for k in LOSS_KEYS},
            "quality_step": quality.get("step"), "fd": _round(quality.get("fd")),
            "fd_floor": _round(quality.get("fd_floor")), "covered": covered, "covered_of": out_of,
            "covered_what": what, "disk_bytes": disk_bytes(run.folder)}


def _runs(manager: RunManager, run_ids) -> list[Run]:
    """The runs named by `run_ids` (each once, in the order given), or every run, the newest first; an unknown id
    is refused by the manager ("unknown run id ...")."""
    manager.rescan()
    if not run_ids:
        return manager.newest_first()
    if isinstance(run_ids, str):
        run_ids = [run_ids]
    if not isinstance(run_ids, (list, tuple)) or not all(isinstance(r, str) and r for r in run_ids):
        raise GanInputError(f"run_ids must be a list of run ids, got {run_ids!r}")
    return [manager.get(r) for r in dict.fromkeys(run_ids)]


def compare_runs(manager: RunManager, run_ids: list[str] | None = None, among: list[str] | None = None) -> dict:
    """The runs named (every run, the newest first, when none is) as one table:

        {"runs": [{"run_id", "dataset", "arch", "loss",
                   "settings": {name: value for each differing setting},
                   "state": running|paused|stopped|finished|failed, "step", "total_steps",
                   "wall_time_s": training time so far (None before the first log line),
                   "loss_d", "loss_g", "d_real", "d_fake": the last logged figures,
                   "quality_step", "fd", "fd_floor": the latest monitor reading (None without one),
                   "covered", "covered_of", "covered_what": e.g. 7, 10, "classes" (or "modes" for 2-D data),
                   "disk_bytes": what its folder takes}, ...],
         "differing": [the TrainConfig fields whose values differ between the compared runs],
         "total_disk_bytes": the listed runs' folders together}

    `among` (ids): compare the settings of these runs instead of the listed ones (the page lists every run and
    compares the ticked ones)."""
    runs = _runs(manager, run_ids)
    compared = _runs(manager, among) if among else runs
    differing = differing_settings([r.cfg.to_dict() for r in compared])
    rows = [run_row(r, differing) for r in runs]
    return {"runs": rows, "differing": differing, "total_disk_bytes": sum(r["disk_bytes"] for r in rows)}


def table_key(manager: RunManager) -> tuple:
    """What the table shows changes only when this does: each run's id, state, step and latest monitor reading
    (a viewer polls it and redraws nothing while it stays the same)."""
    manager.rescan()
    key = []
    for run in manager.newest_first():
        view = run.view()
        key.append((run.id, view.state, view.step, view.quality.get("step")))
    return tuple(key)


# ---------------------------------------------------------------------------------------------- the curves
def check_metric(metric: str, x: str = "step") -> None:
    if metric not in METRICS:
        raise GanInputError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
    if x not in X_AXES:
        raise GanInputError(f"unknown x axis {x!r}; choose one of: {', '.join(X_AXES)}")


def _time_at(steps: list[int], times: list[float], step: int) -> float | None:
    """The training time of the last log line at or before `step` (the monitor's readings carry no time)."""
    i = bisect.bisect_right(steps, step) - 1
    return times[i] if i >= 0 else None


def run_curve(run: Run, metric: str, x: str = "step") -> dict:
    """One run's line on the overlay chart: {"run_id", "x": [...], "y": [...], "floor": the FD floor real images
    score (metric "fd" only, else None), "what": "classes" | "modes" (metric "covered" only)}. The loss figures
    come from the run's log lines, FD and coverage from its monitor readings."""
    check_metric(metric, x)
    history = [e for e in run.history_copy() if "time" in e] if x == "time" else run.history_copy()
    xs, ys, floor, what = [], [], None, None
    if metric in QUALITY_METRICS:
        steps = [e["step"] for e in history]
        times = [e.get("time") for e in history]
        for q in run.view().quality_history:
            if metric == "fd":
                y = q.get("fd")
                floor = q.get("fd_floor", floor)
            else:
                y, _, w = _covered(q)
                what = w or what
            at = q.get("step") if x == "step" else _time_at(steps, times, q.get("step", 0))
            if y is not None and at is not None:
                xs.append(at)
                ys.append(y)
    else:
        for e in history:
            if metric in e:
                xs.append(e["step"] if x == "step" else e["time"])
                ys.append(e[metric])
    return {"run_id": run.id, "x": xs, "y": ys, "floor": floor, "what": what}


def curves(manager: RunManager, run_ids: list[str], metric: str, x: str = "step") -> list[dict]:
    """The named runs' lines for one metric (run_curve each), in the order given."""
    check_metric(metric, x)
    return [run_curve(r, metric, x) for r in _runs(manager, run_ids)] if run_ids else []


def curves_key(manager: RunManager, run_ids: list[str], metric: str, x: str = "step") -> tuple:
    """What the overlay chart shows changes only when this does: the choices, and each run's step and latest
    monitor reading (a finished run's chart is drawn once)."""
    key = [metric, x]
    for run_id in run_ids or ():
        try:
            view = manager.get(run_id).view()
        except GanInputError:
            key.append((run_id, None))
            continue
        key.append((run_id, view.step, len(view.quality_history), view.state))
    return tuple(key)


# ---------------------------------------------------------------------------------------------- lesson pairs
def lesson_pairs() -> dict[str, tuple[str, str]]:
    """Image lessons that form "a problem and its fix" (gan.lessons: the fix names the problem in compare_with), as
    {"problem vs fix": (problem, fix)}."""
    from gan import lessons

    pairs = {}
    for name, lesson in lessons.LESSONS.items():
        other = lessons.LESSONS.get(lesson.compare_with or "")
        if lesson.train is not None and other is not None and other.train is not None:
            pairs[f"{other.name} vs {name}"] = (other.name, name)
    return pairs


def is_lesson_run(run: Run, lesson_cfg: TrainConfig) -> bool:
    """Whether a run trains with a lesson's settings (every setting the lesson gives, the schedule aside)."""
    cfg = run.cfg
    for f in dataclasses.fields(TrainConfig):
        wanted = getattr(lesson_cfg, f.name)
        if f.name not in _NOT_LESSON_SETTINGS and wanted is not None and getattr(cfg, f.name, None) != wanted:
            return False
    return True


def lesson_run_name(lesson: str) -> str:
    """The name a lesson's run is started under ("collapse-on-mnist-the-fix"), before the manager's time stamp."""
    return "lesson-" + re.sub(r"[^a-z0-9]+", "-", lesson.lower()).strip("-")


def open_lesson_pair(manager: RunManager, pair: str, start: bool = True) -> tuple[list[str], list[str], str]:
    """The runs of a lesson pair, for the comparison: each lesson's newest run with its settings, else (with
    `start`) one started now, while the manager has a free run slot. Returns (run ids found or started, ids
    started, what happened in a sentence); a lesson that could not get a run says why in the sentence."""
    from gan import lessons

    pairs = lesson_pairs()
    if pair not in pairs:
        raise GanInputError(f"unknown lesson pair {pair!r}; choose one of: {', '.join(pairs) or 'none'}")
    manager.rescan()
    ids, started, said = [], [], []
    for name in pairs[pair]:
        cfg = lessons.train_config(name)
        found = next((r for r in manager.newest_first() if is_lesson_run(r, cfg)), None)
        if found is not None:
            ids.append(found.id)
            said.append(f"{name}: run {found.id} ({found.state})")
            continue
        if not start:
            said.append(f"{name}: no run yet, and only the teacher starts runs")
            continue
        try:
            run = manager.start(cfg, name=lesson_run_name(name))
        except GanInputError as e:
            said.append(f"{name}: not started ({e}); press again once a run slot is free")
            continue
        ids.append(run.id)
        started.append(run.id)
        said.append(f"{name}: started run {run.id}")
    return ids, started, "; ".join(said) + "."
