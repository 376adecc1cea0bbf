"""The Train tab's "Compare runs" section: every run (in runs/ and live) in one sortable table, the ticked runs'
curves of one figure overlaid on one chart, a lesson pair opened side by side, and Delete for a run that is done.

The figures come from gan.run_compare (torch-free: the table's rows, the settings that differ, disk use, the curves);
the chart from gan.viz.compare_figure. The section polls on a timer of its own that ticks only while it is open,
and a page gets a new table or chart only when what it shows changed (a per-page gr.State remembers what it has).
Named API endpoints:
    compare_runs(run_ids)                -> {"runs": [row, ...], "differing": [...], "total_disk_bytes"}
                                            (gan.run_compare.compare_runs tells each row's keys; no ids: every run)
    delete_run(run_id, teacher_token="") -> a sentence; refused for a run that trains, sits paused or is unknown
Handlers are plain functions of the app context and the values (on_*), wired with gan.ui.app.bind, as in the tabs.
"""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from gan import run_compare
from gan.errors import GanInputError
from gan.ui.app import AppContext, bind, call_library, said
from gan.ui.train_state import classroom, figures, publish_live

REFRESH_S = 2.0          # the section's own poll, slower than the Train tab's second: a table is bigger than a line
# The metric list's words (the chart's axis says more: gan.run_compare.METRICS).
METRIC_CHOICES = [("Loss D", "loss_d"), ("Loss G", "loss_g"), ("D(x)", "d_real"), ("D(G(z))", "d_fake"),
                  ("FD (Fréchet distance)", "fd"), ("Classes or modes covered", "covered")]
X_CHOICES = [("step", "step"), ("wall time", "time")]
# The table's columns: (header, row key or a function of the row, Gradio datatype). The differing settings'
# columns go after "loss"; numbers stay numbers, so a click on a header sorts them as numbers.
HEAD = (("run", "run_id", "str"), ("dataset", "dataset", "str"), ("architecture", "arch", "str"),
        ("loss", "loss", "str"))
TAIL = (("state", "state", "str"), ("step", "step", "number"), ("total steps", "total_steps", "number"),
        ("wall time (s)", "wall_time_s", "number"), ("loss D", "loss_d", "number"), ("loss G", "loss_g", "number"),
        ("D(x)", "d_real", "number"), ("D(G(z))", "d_fake", "number"), ("FD", "fd", "number"),
        ("FD floor", "fd_floor", "number"), ("covered", "covered", "number"),
        ("out of", lambda r: f"{r['covered_of']} {r['covered_what']}" if r["covered_what"] else "", "str"),
        ("disk (MB)", lambda r: round(r["disk_bytes"] / 1e6, 2), "number"))
NO_PAIR = "(no lesson pair)"


# ---------------------------------------------------------------------------------------------- endpoints
def on_compare_runs(ctx: AppContext, run_ids: list[str] | None = None) -> dict:
    """The runs (every run, the newest first, when run_ids is empty) as JSON: {"runs": [one dict per run: run_id,
    dataset, arch, loss, settings (the differing ones), state, step, total_steps, wall_time_s, loss_d, loss_g,
    d_real, d_fake, quality_step, fd, fd_floor, covered, covered_of, covered_what, disk_bytes], "differing": [the
    settings whose values differ between these runs], "total_disk_bytes"}."""
    return call_library(lambda: run_compare.compare_runs(ctx.runs, run_ids or None))


def on_delete_run(ctx: AppContext, run_id: str, teacher_token: str = "") -> str:
    """Delete a run that is done (stopped, finished or failed): its folder, checkpoints and model go. A run that
    trains or sits paused is refused with the library's message; so is an unknown id."""
    classroom(ctx).check(teacher_token, "delete a run")
    return call_library(lambda: _delete(ctx, run_id))


def _delete(ctx: AppContext, run_id) -> str:
    if not run_id or not isinstance(run_id, str):
        raise GanInputError("pick a run to delete first")
    run = ctx.runs.get(run_id)
    ctx.runs.delete(run.id)
    ctx.catalog.refresh()             # its model leaves the Explore list
    return f"Deleted run {run.id}, its checkpoints and its model."


# ---------------------------------------------------------------------------------------------- handlers
def on_view(ctx: AppContext, ticked, metric, x, seen):
    """What the section shows: the table and its disk total, the run lists, and the ticked runs' chart, each only
    when it changed since this page last got it (`seen`)."""
    seen = dict(seen or {})
    ctx.runs.rescan()
    ids = [r.id for r in ctx.runs.newest_first()]
    ticked = [t for t in (ticked or []) if t in ids]
    table = total = pick = delete_pick = gr.skip()
    key = (run_compare.table_key(ctx.runs), tuple(ticked))
    if seen.get("table") != key:
        seen["table"] = key
        data = run_compare.compare_runs(ctx.runs, None, among=ticked if len(ticked) >= 2 else None)
        table, total = table_frame(data), total_line(data)
    if seen.get("ids") != ids:
        seen["ids"] = ids
        pick = gr.update(choices=ids, value=ticked)
        delete_pick = gr.update(choices=ids)
    return (table, total, pick, delete_pick, *_chart(ctx, ticked, metric, x, seen), seen)


def _chart(ctx: AppContext, ticked, metric, x, seen):
    """The overlay chart and the line under it that says what it shows (in words, for a screen reader too), drawn
    when the ticked runs' figures (or the choices) changed; one drawing is shared by every page that shows the
    same thing."""
    metric = metric if metric in run_compare.METRICS else "loss_d"
    x = x if x in run_compare.X_AXES else "step"
    key = run_compare.curves_key(ctx.runs, ticked, metric, x)
    if seen.get("chart") == key:
        return gr.skip(), gr.skip()
    seen["chart"] = key
    if not ticked:
        return None, "Tick one run or more to see their curves here."
    label = dict((v, k) for k, v in METRIC_CHOICES)[metric]
    note = (f"{label} against the {run_compare.X_AXES[x]} for {len(ticked)} run{'s' if len(ticked) > 1 else ''}: "
            + ", ".join(ticked))

    def draw():
        from gan.viz import compare_figure
        return compare_figure(run_compare.curves(ctx.runs, ticked, metric, x), run_compare.METRICS[metric],
                              run_compare.X_AXES[x], log_y=metric == "fd")
    return figures(ctx).get("compare", key, draw), note


def on_delete_pick(ctx: AppContext, run_id, confirmed, teacher_token=""):
    """Delete the run picked under the table once "yes, delete it" is ticked; the library refuses an active one
    and the message line says why."""
    classroom(ctx).check(teacher_token, "delete a run")
    if run_id and not confirmed:
        return (f"Tick **yes, delete it** first: deleting removes run {run_id}, its checkpoints and its model "
                "for good."), gr.skip(), gr.skip()
    try:
        message = _delete(ctx, run_id)
    except GanInputError as e:
        return said(e), gr.skip(), gr.skip()
    return message, False, gr.update(value=None)


def on_lesson_pair(ctx: AppContext, pair, teacher_token=""):
    """A lesson pair ("problem vs fix"): find each lesson's newest run, start the ones missing while a run slot is
    free (the teacher only, in classroom mode), tick them and show their class coverage."""
    if not pair or pair == NO_PAIR:
        return gr.skip(), gr.skip(), "Pick a lesson pair first."
    start = classroom(ctx).allows(teacher_token)
    ids, started, message = call_library(lambda: run_compare.open_lesson_pair(ctx.runs, pair, start=start))
    for run_id in started:
        publish_live(ctx, ctx.runs.get(run_id))
    every = [r.id for r in ctx.runs.newest_first()]
    return gr.update(choices=every, value=ids), "covered" if ids else gr.skip(), message


def on_open(ctx: AppContext):
    """The section opened: poll while it stays open."""
    return gr.Timer(active=True)


def on_close(ctx: AppContext):
    return gr.Timer(active=False)


# ---------------------------------------------------------------------------------------------- helpers
def table_frame(data: dict):
    """compare_runs's JSON as the page's table: the differing settings (other than dataset, architecture and
    loss, which have columns of their own) between "loss" and "state"."""
    import pandas as pd

    extra = [k for k in data["differing"] if k not in run_compare.SHOWN_SETTINGS]
    columns = [*HEAD, *((k, (lambda r, k=k: _setting(r["settings"].get(k))), "str") for k in extra), *TAIL]
    rows = [[get(r) if callable(get) else r[get] for _, get, _ in columns] for r in data["runs"]]
    frame = pd.DataFrame(rows, columns=[head for head, _, _ in columns])
    return gr.update(value=frame, datatype=[kind for _, _, kind in columns])


def _setting(value) -> str:
    return "" if value is None or value == "" else f"{value:g}" if isinstance(value, float) else str(value)


def total_line(data: dict) -> str:
    n = len(data["runs"])
    if not n:
        return "No runs yet: start one above."
    mb = data["total_disk_bytes"] / 1e6
    differ = ", ".join(data["differing"]) or "none"
    return f"{n} run{'s' if n != 1 else ''} · {mb:,.1f} MB on disk in all · settings that differ: {differ}"


# ---------------------------------------------------------------------------------------------- layout
def build(ctx: AppContext, demo: gr.Blocks, train: SimpleNamespace) -> None:
    """Lay out the section (an accordion, closed) inside the Train tab and wire it. `train` holds the tab's
    widgets; the section uses its teacher token box."""
    pairs = list(run_compare.lesson_pairs())
    w = SimpleNamespace()
    with gr.Accordion("Compare runs", open=False, elem_id="runs-view") as w.section:
        gr.Markdown("Every run, live ones too. To sort by a column, click its header, then its ⋮ menu. Tick "
                    "runs to overlay their curves. The columns between *loss* and *state* are the settings that "
                    "differ between the ticked runs (between all runs while fewer than two are ticked).")
        w.table = gr.Dataframe(label="Runs", interactive=False, elem_id="runs-table", max_height=420)
        w.total = gr.Markdown("", elem_id="runs-total")
        w.ticked = gr.CheckboxGroup([], value=[], label="Overlay these runs", elem_id="runs-ticked")
        with gr.Row():
            w.metric = gr.Dropdown(METRIC_CHOICES, value="loss_d", label="Figure", elem_id="runs-metric")
            w.x = gr.Radio(X_CHOICES, value="step", label="x axis", elem_id="runs-x")
        w.chart = gr.Plot(label="The ticked runs", elem_id="runs-chart")
        w.chart_note = gr.Markdown("Tick one run or more to see their curves here.", elem_id="runs-chart-note")
        with gr.Row():
            w.pair = gr.Dropdown([NO_PAIR, *pairs], value=pairs[0] if pairs else NO_PAIR,
                                 label="Lesson pair: a problem and its fix", elem_id="runs-pair")
            w.pair_btn = gr.Button("Open the pair (start the runs it lacks)", elem_id="runs-pair-open")
        with gr.Row():
            w.delete_pick = gr.Dropdown([], value=None, label="Run to delete", allow_custom_value=True,
                                        elem_id="runs-delete-pick")
            w.delete_confirm = gr.Checkbox(False, label="yes, delete it", elem_id="runs-delete-confirm")
            w.delete_btn = gr.Button("Delete run", variant="stop", elem_id="runs-delete")
        w.message = gr.Markdown("", elem_id="runs-message")
    w.timer, w.seen = gr.Timer(REFRESH_S, active=False), gr.State({})
    _wire(ctx, w, train.teacher_box)


def _wire(ctx: AppContext, w: SimpleNamespace, token) -> None:
    view = dict(fn=bind(on_view, ctx), inputs=[w.ticked, w.metric, w.x, w.seen],
                outputs=[w.table, w.total, w.ticked, w.delete_pick, w.chart, w.chart_note, w.seen], preprocess=False,
                show_progress="hidden", api_visibility="private", concurrency_limit=None)
    w.section.expand(bind(on_open, ctx), None, w.timer, api_visibility="private").then(**view)
    w.section.collapse(bind(on_close, ctx), None, w.timer, api_visibility="private")
    w.timer.tick(**view)
    for picked in (w.ticked, w.metric, w.x):
        picked.input(**view, trigger_mode="always_last")
    w.pair_btn.click(bind(on_lesson_pair, ctx), [w.pair, token], [w.ticked, w.metric, w.message],
                     preprocess=False, api_visibility="private", concurrency_id="train-control").then(**view)
    w.delete_btn.click(bind(on_delete_pick, ctx), [w.delete_pick, w.delete_confirm, token],
                       [w.message, w.delete_confirm, w.delete_pick], preprocess=False, api_visibility="private",
                       concurrency_id="train-control").then(**view)
    gr.api(bind(on_compare_runs, ctx), api_name="compare_runs")
    gr.api(bind(on_delete_run, ctx), api_name="delete_run", concurrency_id="train-control")
