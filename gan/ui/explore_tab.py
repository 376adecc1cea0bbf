"""Explore tab: pick a model, a seed, truncation, a class; move discovered directions and raw latent components;
see the image (or the 2-D point cloud) follow while dragging. Bookmarks and share links.

The picture is a pure function of the page's view {model, seed, psi, cls, dirs, raw}: the widgets write it, the
renderer (gan.render) turns it into pixels. Each page's view lives on the server (a PageViews made once per server
with ctx.shared, keyed by the page's session), so a slider event sends only the slider's own value; live events skip
Gradio's queue and input preprocessing (the library checks the raw value and its message is shown), and the
handler decodes one image on one CPU thread (the model and its directions are loaded once and cached by the
catalog).

Handlers are module-level functions of (ctx, values..., request) that return {widget name: value}; a name left out
keeps its value, so an error touches only the message. build() lays out the widgets under those names (WIDGETS)
and wires each event with _wire.
"""
from __future__ import annotations

import functools
import inspect
import json
import random
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import gradio as gr

from gan.errors import GanInputError
from gan.latent import AMOUNT_LIMIT, SEED_LIMIT, check_amount, check_seed, check_truncation
from gan.ui.app import bind, call_library, clean_scratch

TITLE = "Explore"
N_DIRS = 6                 # direction sliders on the page (a 2-D model shows as many as it has latent dims)
N_RAW = 16                 # raw latent component sliders (the first N_RAW components of z)
STRIP_EVERY_S = 0.5        # while dragging, the neighbours strip is redrawn at most this often
REFERENCE_WAIT_S = 1.5     # a model switch waits this long for D's reference scores (later: a timer shows them)
STRIP_LABEL = "Neighbours along the most moved direction"
DIRS_HEADER = ("**Discovered directions** (GANSpace: principal components of an early layer, mapped back to z; "
               "values in z units)")

# The widgets' names, as handlers name them in what they return.
DIRS = [f"dir{i}" for i in range(N_DIRS)]
RAWS = [f"raw{i}" for i in range(N_RAW)]
VIEW_OUT = ["image", "strip", "score", "message"]
FULL_OUT = ["model", "seed", "psi", "cls", *DIRS, *RAWS, *VIEW_OUT, "info", "dirs_note", "raw_acc", "reset",
            "ref_timer"]   # every widget _whole_view sets: the outputs of the events that show a whole view

# The model picker's labels are long ("fashion-mnist-wgan-gp · fashion-mnist · dcgan · wgan-gp · 3000 steps ·
# cpu"): Gradio's dropdown draws its arrow over the input's right end (absolutely placed, size-5 from the
# right, size-5 wide), so the text gets room up to the arrow and ends in an ellipsis. The list shows labels whole.
CSS = """
#explore-model input[role="combobox"] { padding-right: calc(var(--size-5) * 2 + var(--size-1));
  text-overflow: ellipsis; overflow: hidden; white-space: nowrap; }
"""


# ------------------------------------------------------------------------------------------ live handlers
# Live events take one input (the widget that moved) instead of all 26 widgets: Gradio spends a little on every
# input of every event, and that was most of the time of a slider move. The rest of the page's view lives on the
# server (PageViews), updated in arrival order under a lock, so quick moves of two widgets never lose one another.
def on_psi(ctx, value, request: gr.Request = None, *, release: bool = False) -> dict:
    """Truncation moved (release: the pointer let go, so the neighbours strip is redrawn too)."""
    try:
        psi = check_truncation(value)
        return _moved(ctx, request, lambda st: st.__setitem__("psi", psi), release)
    except GanInputError as e:
        return _error(e)


def on_direction(ctx, value, request: gr.Request = None, *, index: int, release: bool = False) -> dict:
    """Direction `index` (0-based; the page says "direction 1" for 0) moved."""
    try:
        amount = check_amount(value, f"direction {index + 1}")
        return _moved(ctx, request, lambda st: st["dirs"].__setitem__(index, amount), release)
    except GanInputError as e:
        return _error(e)


def on_raw(ctx, value, request: gr.Request = None, *, index: int, release: bool = False) -> dict:
    """Raw latent component z[index] moved: it overrides the seed's own value until the next seed."""
    try:
        amount = check_amount(value, f"z[{index}]")
        return _moved(ctx, request, lambda st: st["raw"].__setitem__(index, amount), release)
    except GanInputError as e:
        return _error(e)


def on_seed(ctx, value, request: gr.Request = None) -> dict:
    """A new seed: redraw from its own z (raw overrides dropped) and show its components on the raw sliders."""
    try:
        seed = check_seed(value)
        st = _views(ctx).update(_sid(request), ctx, lambda st: st.update(seed=seed, raw={}))
        pipe, v = _render(ctx, st)
        return {**_view_out(pipe, v), **_raw_out(pipe, seed)}
    except GanInputError as e:
        return _error(e)


def on_random(ctx, request: gr.Request = None) -> dict:
    """The Random button: a seed drawn at random, shown in the seed box and drawn."""
    seed = random.randrange(0, SEED_LIMIT)
    return {"seed": seed, **on_seed(ctx, seed, request)}


def on_class(ctx, value, request: gr.Request = None) -> dict:
    """Another class for a conditional model (checked against the model before the view keeps it)."""
    from gan.render import check_label

    views, sid = _views(ctx), _sid(request)
    try:
        label = check_label(_pipe(ctx, views.get(sid, ctx)["model"]), value)
        return _view_out(*_render(ctx, views.update(sid, ctx, lambda st: st.__setitem__("cls", label))))
    except GanInputError as e:
        return _error(e)


def on_reset(ctx, request: gr.Request = None) -> dict:
    """Every direction back to 0."""
    st = _views(ctx).update(_sid(request), ctx, lambda st: st.__setitem__("dirs", [0.0] * N_DIRS))
    try:
        return {**{d: 0.0 for d in DIRS}, **_view_out(*_render(ctx, st))}
    except GanInputError as e:
        return _error(e)


def _moved(ctx, request, change, release: bool) -> dict:
    """Apply change(view) to this page's view and draw it; the strip only on release or every STRIP_EVERY_S."""
    views, sid = _views(ctx), _sid(request)
    st = views.update(sid, ctx, change)
    with_strip = release or views.strip_due(sid)
    pipe, v = _render(ctx, st, neighbours=with_strip)
    return _view_out(pipe, v, with_strip=with_strip)


# ------------------------------------------------------------------------------------- whole-view handlers
def on_model(ctx, name, request: gr.Request = None) -> dict:
    """Another model: its classes, its directions (reset to 0), its raw components, its image, at the same
    seed and with truncation back to 1 (none).

    Truncation is reset because a ψ picked on one model means something else on the next: ψ 0.3 that tidies a
    2-D cloud collapses mnist-dcgan to nearly the same digit for every seed, and the slider, far from the
    image, does not show why. When ψ was not 1 the message says it was reset and from what, so nothing changes
    silently. A link or a bookmark keeps its own ψ: there the user asked for that exact view."""
    sid = _sid(request)
    st = _views(ctx).get(sid, ctx)
    if name == st["model"]:
        return {}  # the picker closed on the model it had (the browser sends each pick twice): nothing changes
    try:
        out = _whole_view(ctx, sid, name, st["seed"], 1.0, None, [], None)
    except GanInputError as e:  # e.g. a file that failed to load: back to the model the page showed
        return {**_error(e), "model": gr.update(choices=ctx.catalog.choices(), value=st["model"])}
    if st["psi"] != 1.0:
        out["message"] = (f"Truncation is back to 1 (none) for this model; it was {st['psi']:g} on the last one. "
                          "Lower it again to trade variety for cleaner images.")
    return out


def on_load(ctx, request: gr.Request = None) -> dict:
    """First paint, from the link's query parameters when there are any (?model=&seed=&psi=&class=&d=)."""
    q = dict(request.query_params) if request is not None else {}
    sid = _sid(request)
    ctx.catalog.refresh()
    name = q.get("model") or ctx.catalog.default_name()
    try:
        amounts = q["d"].split(",") if q.get("d") else []
        return _whole_view(ctx, sid, name, q.get("seed", 0), q.get("psi", 1.0), q.get("class"), amounts, None,
                           choices=True)
    except GanInputError as e:
        name = ctx.catalog.default_name()
        if name is None:
            return {**_error(e), "model": gr.update(choices=[], value=None)}
        out = _whole_view(ctx, sid, name, 0, 1.0, None, [], None, choices=True)
        out["message"] = f"⚠ The link could not be used ({e}); showing the default model."
        return out


def on_reference_tick(ctx, request: gr.Request = None) -> dict:
    """D's reference scores are ready (or gave up): show the score with its scale, and stop the timer. Only the
    score text changes, so a message the page shows (e.g. the truncation note) stays."""
    st = _views(ctx).get(_sid(request), ctx)
    try:
        entry = ctx.catalog.entry(st["model"])
        pending = _reference(ctx, entry, ctx.catalog.get(entry.name))
        if pending is not None and not pending.done():
            return {}
        pipe, v = _render(ctx, st, neighbours=False)
    except GanInputError:
        return {"ref_timer": gr.Timer(active=False)}
    return {"score": _view_out(pipe, v, with_strip=False)["score"], "ref_timer": gr.Timer(active=False)}


def on_rescan(ctx) -> dict:
    """The picker is opened: list what is there now (a run that just finished, a live run)."""
    ctx.catalog.refresh()
    return {"model": gr.update(choices=ctx.catalog.choices())}


def on_save_bookmark(ctx, request: gr.Request = None) -> dict:
    """This page's view as a bookmark file (JSON) to download."""
    from gan.render import make_bookmark

    st = _views(ctx).get(_sid(request), ctx)
    try:
        pipe = _pipe(ctx, st["model"])
        mark = make_bookmark(st["model"], st["seed"], st["psi"], st["cls"] if pipe.config.conditional else None,
                             st["dirs"][: _n_dirs(pipe)], st["raw"])
    except GanInputError as e:
        return _error(e)
    folder = ctx.scratch("explore")
    clean_scratch(folder)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{st['model']}-{mark['seed']}")[:80]
    path = folder / f"bookmark-{safe}.json"
    path.write_text(json.dumps(mark, indent=2))
    return {"bookmark_file": str(path), "message": ""}


def on_load_bookmark(ctx, data, request: gr.Request = None) -> dict:
    """A bookmark file uploaded: its view, on its model if that is here (else on the model shown, and said)."""
    from gan.render import parse_bookmark

    sid = _sid(request)
    current = _views(ctx).get(sid, ctx)["model"]
    try:
        mark = parse_bookmark(data or b"")
        name = mark["model"] if mark["model"] in ctx.catalog.names() else current
        out = _whole_view(ctx, sid, name, mark["seed"], mark["truncation"], mark["class"], mark["directions"],
                          mark["raw"])
    except GanInputError as e:
        return _error(e)
    if name != mark["model"]:
        out["message"] = f"⚠ The bookmark's model {mark['model']!r} is not here; its latent is shown on {name!r}."
    return out


def on_generate(ctx, seed: int = 0, model: str | None = None, truncation: float = 1.0, class_label=None,
                direction_1: float = 0.0, direction_2: float = 0.0, direction_3: float = 0.0,
                direction_4: float = 0.0, direction_5: float = 0.0, direction_6: float = 0.0):
    """The image for a seed on a model (None: the default model), plus truncation, class and direction values.
    Returns the image, the neighbours strip (None for 2-D models), D's score as text, and a message (empty when
    all went well)."""
    from gan.render import check_amounts, score_text

    def view():
        amounts = check_amounts([direction_1, direction_2, direction_3, direction_4, direction_5, direction_6])
        name = ctx.catalog.entry(model if model is not None else ctx.catalog.default_name()).name
        pipe, v = _view(ctx, name, seed, truncation, class_label, amounts, reference_wait_s=REFERENCE_WAIT_S)
        return amounts, pipe, v, _basis(ctx, name)[1]

    amounts, pipe, v, why = call_library(view)
    note = f"The direction values were ignored: {_no_dirs_text(why)}" if why is not None and any(amounts) else ""
    return v.image, v.strip, score_text(v.score, pipe.info.get("loss"), v.reference, _subject(pipe)), note


# ------------------------------------------------------------------------------------------------- layout
def build(ctx, demo: gr.Blocks) -> None:
    """Lay out the tab (two columns: the controls, the picture) and wire its events."""
    entry0 = ctx.catalog.entries.get(ctx.catalog.default_name() or "")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            w = _layout_controls(ctx.catalog, entry0)
        with gr.Column(scale=3, min_width=360):
            w.update(_layout_picture())
    _wire_events(ctx, demo, w)


def _layout_controls(cat, entry0) -> dict:
    """The model, seed, truncation and class pickers, the direction sliders and the raw latent sliders."""
    z_dim0 = entry0.z_dim if entry0 else N_RAW
    cond0 = bool(entry0 and entry0.conditional)
    w = {"model": gr.Dropdown(cat.choices(), value=cat.default_name(), label="Model", allow_custom_value=True,
                              elem_id="explore-model", info="shipped weights and finished runs")}
    with gr.Row():
        w["seed"] = gr.Number(0, label="Seed", elem_id="seed", scale=3,
                              info=f"any whole number from 0 to {SEED_LIMIT - 1:,}: the same seed is the same image")
        w["random"] = gr.Button("Random", elem_id="random-seed", scale=1, min_width=90)
    w["psi"] = gr.Slider(0.01, 1.0, value=1.0, step=0.01, label="truncation", elem_id="truncation",
                         info="ψ: 1 = none; lower pulls z towards the mean (cleaner, less varied). "
                              "Back to 1 when you pick another model")
    w["cls"] = gr.Dropdown(_class_choices(entry0), value=0 if cond0 else None, label="class", visible=cond0,
                           allow_custom_value=True, elem_id="class")
    w["dirs_note"] = gr.Markdown(DIRS_HEADER, elem_id="directions-note")
    for i, name in enumerate(DIRS):
        w[name] = gr.Slider(-AMOUNT_LIMIT, AMOUNT_LIMIT, value=0.0, step=0.05, label=f"direction {i + 1}",
                            elem_id=f"direction-{i + 1}", visible=i < z_dim0)
    w["reset"] = gr.Button("Reset directions", size="sm", elem_id="reset-directions")
    with gr.Accordion("Advanced: raw latent components", open=False, elem_id="raw-accordion") as w["raw_acc"]:
        gr.Markdown(f"This seed's z, component by component (the first {N_RAW}, before truncation). "
                    "Move one to override it; a new seed starts afresh.")
        for i, name in enumerate(RAWS):
            w[name] = gr.Slider(-AMOUNT_LIMIT, AMOUNT_LIMIT, value=0.0, step=0.01, label=f"z[{i}]",
                                elem_id=f"raw-{i}", visible=i < z_dim0)
    return w


def _layout_picture() -> dict:
    """The image, the message, D's score, the neighbours strip, the model's description, bookmarks and links."""
    w = {"image": gr.Image(label="Generated", elem_id="generated", format="png", interactive=False,
                           buttons=["download", "fullscreen"], height=400),
         "message": gr.Markdown("", label="message", elem_id="explore-message"),
         "score": gr.Markdown("", label="D score", elem_id="d-score"),
         "strip": gr.Image(label=STRIP_LABEL, elem_id="neighbours", format="png", interactive=False,
                           buttons=["download"], height=150),
         "info": gr.Markdown("", elem_id="model-info")}
    with gr.Accordion("Bookmark and share", open=False, elem_id="bookmark-accordion"):
        with gr.Row():
            w["save"] = gr.Button("Save bookmark (JSON)", elem_id="save-bookmark")
            w["load"] = gr.UploadButton("Load bookmark", file_types=[".json"], type="binary", elem_id="load-bookmark")
            w["make_link"] = gr.Button("Make share link", elem_id="make-link")
        w["bookmark_file"] = gr.File(label="Bookmark file", interactive=False, elem_id="bookmark-file")
        w["link"] = gr.Textbox(label="Link to this view", interactive=False, elem_id="share-link", buttons=["copy"])
    w["ref_timer"] = gr.Timer(1.0, active=False)  # ticks only while D's reference scores are being worked out
    return w


def _wire_events(ctx, demo: gr.Blocks, w: dict) -> None:
    """Every event of the tab. Live ones (sliders, seed, class, buttons) skip the queue and preprocessing: the
    handler gets the raw value, and the library's check says what is wrong with it."""
    live = dict(trigger_mode="always_last", show_progress="hidden", queue=False, api_visibility="private",
                preprocess=False)
    once = {**live, "trigger_mode": None}
    models = dict(show_progress="minimal", show_progress_on=[w["image"]], api_visibility="private",
                  concurrency_id="models", concurrency_limit=1)
    sliders = [("psi", on_psi, {})] + [(d, on_direction, {"index": i}) for i, d in enumerate(DIRS)] + \
              [(r, on_raw, {"index": i}) for i, r in enumerate(RAWS)]
    for name, fn, where in sliders:
        _wire(w[name].input, ctx, w, fn, [name], VIEW_OUT, bound=where, **live)
        _wire(w[name].release, ctx, w, fn, [name], VIEW_OUT, bound={**where, "release": True}, **live)
    for event in (w["seed"].input, w["seed"].submit):
        _wire(event, ctx, w, on_seed, ["seed"], VIEW_OUT + RAWS, **live)
    _wire(w["cls"].input, ctx, w, on_class, ["cls"], VIEW_OUT, **live)
    _wire(w["random"].click, ctx, w, on_random, [], ["seed", *VIEW_OUT, *RAWS], **once)
    _wire(w["reset"].click, ctx, w, on_reset, [], [*DIRS, *VIEW_OUT], **once)
    _wire(w["ref_timer"].tick, ctx, w, on_reference_tick, [], ["score", "ref_timer"], queue=False,
          show_progress="hidden", api_visibility="private")
    _wire(w["model"].focus, ctx, w, on_rescan, [], ["model"], queue=False, show_progress="hidden",
          api_visibility="private")
    _wire(w["model"].input, ctx, w, on_model, ["model"], FULL_OUT, **models)
    _wire(demo.load, ctx, w, on_load, [], FULL_OUT, **models)
    _wire(w["save"].click, ctx, w, on_save_bookmark, [], ["bookmark_file", "message"], api_visibility="private")
    _wire(w["load"].upload, ctx, w, on_load_bookmark, ["load"], FULL_OUT, api_visibility="private")
    w["make_link"].click(None, [w[n] for n in ("model", "seed", "psi", "cls", *DIRS)], w["link"], js=_LINK_JS,
                         api_visibility="private")
    # The API's /generate: no button on the page (triggers=[]), the same inputs as the page, raw values.
    gr.on([], bind(on_generate, ctx), [w[n] for n in ("seed", "model", "psi", "cls", *DIRS)],
          [w[n] for n in VIEW_OUT], api_name="generate", concurrency_id="models", concurrency_limit=4,
          preprocess=False)


def _wire(listener, ctx, w: dict, fn, inputs: list[str], outputs: list[str], bound: dict | None = None,
          **options):
    """listener(handler, ...) for a handler fn(ctx, values..., request=None, **bound) -> {widget name: value}:
    inputs and outputs are named by w's keys, and an output the result leaves out keeps its value (gr.skip()).
    `bound`: fixed keyword arguments (a slider's index), kept out of the signature Gradio reads."""
    handler, bound = bind(fn, ctx), bound or {}

    @functools.wraps(handler)
    def by_name(*args, **kwargs):
        out = handler(*args, **bound, **kwargs)
        values = [out.get(name, gr.skip()) for name in outputs]
        return values[0] if len(values) == 1 else values

    sig = inspect.signature(handler)
    by_name.__signature__ = sig.replace(parameters=[p for p in sig.parameters.values() if p.name not in bound])
    return listener(by_name, [w[n] for n in inputs], [w[n] for n in outputs], **options)


_LINK_JS = """
(model, seed, psi, cls, ...d) => {
  const p = new URLSearchParams();
  p.set("model", model ?? ""); p.set("seed", String(seed ?? 0)); p.set("psi", String(psi ?? 1));
  if (cls !== null && cls !== undefined && cls !== "") p.set("class", String(cls));
  const nz = d.map(x => Number(x || 0));
  while (nz.length && nz[nz.length - 1] === 0) nz.pop();
  if (nz.length) p.set("d", nz.map(x => String(Math.round(x * 100) / 100)).join(","));
  return window.location.origin + window.location.pathname + "?" + p.toString().replace(/%2C/g, ",");
}
"""


# ---------------------------------------------------------------------------------------- what handlers return
def _error(e: Exception) -> dict:
    return {"message": f"⚠ {e}"}


def _view_out(pipe, v, with_strip: bool = True) -> dict:
    """The image, D's score in words, an empty message and (with_strip) the neighbours strip for view v."""
    from gan.render import score_text

    text = score_text(v.score, pipe.info.get("loss"), v.reference, _subject(pipe))
    if v.active >= 0:
        where = "black plus signs" if pipe.is_points else "the strip below, each tile captioned with its value"
        text += f"  \nNeighbours: {where}, 1 step apart along direction {v.active + 1}."
    out = {"image": v.image, "message": "", "score": text}
    if not with_strip:
        return out
    if v.strip is not None:
        label = (f"Neighbours along direction {v.active + 1} (its value under each tile; framed: this image)"
                 if v.strip_values else STRIP_LABEL)
        out["strip"] = gr.update(value=v.strip, visible=True, label=label)
    else:  # a 2-D model, or a model without directions to walk along
        out["strip"] = gr.update(value=None, visible=False)
    return out


def _raw_out(pipe, seed, overrides: dict | None = None) -> dict:
    """The raw sliders: this seed's z (with the overrides), one slider per component up to N_RAW."""
    from gan.latent import seed_to_z

    n = min(pipe.config.z_dim, N_RAW)
    z = seed_to_z([seed], pipe.config.z_dim, pipe.config.z_dist)[0]
    for i, v in (overrides or {}).items():
        if 0 <= int(i) < n:
            z[int(i)] = float(v)
    return {r: gr.update(value=round(max(-AMOUNT_LIMIT, min(AMOUNT_LIMIT, float(z[i]))), 4), visible=True)
            if i < n else gr.update(visible=False) for i, r in enumerate(RAWS)}


def _whole_view(ctx, sid, name, seed, psi, cls, amounts, raw, choices: bool = False) -> dict:
    """Every widget for model `name` at this seed, truncation, class, directions and raw overrides (checked by
    the library); the page's view becomes that. choices: the model list is sent again (a fresh page)."""
    from gan.render import check_amounts, check_label

    entry = ctx.catalog.entry(name)
    pipe = ctx.catalog.get(entry.name)
    seed, psi, label = check_seed(seed), check_truncation(psi), check_label(pipe, cls)
    basis, why = _basis(ctx, entry.name)
    k = min(basis.k, N_DIRS) if basis is not None else 0
    amounts = check_amounts(amounts)[:k]
    amounts += [0.0] * (N_DIRS - len(amounts))
    st = {"model": entry.name, "seed": seed, "psi": psi, "cls": label, "dirs": amounts, "raw": dict(raw or {})}
    _, v = _render(ctx, st, reference_wait_s=REFERENCE_WAIT_S)
    pending = _reference(ctx, entry, pipe)
    out = {"seed": seed, "psi": psi,
           "cls": gr.update(choices=_class_choices(entry), value=label, visible=label is not None),
           **{d: gr.update(value=amounts[i], visible=i < k,
                           info=f"{basis.explained[i]:.1%} of the early layer's variance" if i < k else None)
              for i, d in enumerate(DIRS)},
           **_raw_out(pipe, seed, st["raw"]), **_view_out(pipe, v),
           "info": _info_text(entry, pipe, basis, why),
           "dirs_note": DIRS_HEADER if why is None else f"**Discovered directions**: {_no_dirs_text(why)}",
           "reset": gr.update(visible=k > 0),
           # still working out D's scale: the timer shows it when it is ready
           "ref_timer": gr.Timer(active=pending is not None and not pending.done()),
           "model": gr.update(choices=ctx.catalog.choices(), value=entry.name) if choices else entry.name}
    if why is not None:  # the raw latent is then the way to move: show it
        out["raw_acc"] = gr.update(open=True)
    _views(ctx).set(sid, st)
    return out


# ------------------------------------------------------------------------------------------- each page's view
def _new_view(ctx) -> dict:
    return {"model": ctx.catalog.default_name(), "seed": 0, "psi": 1.0, "cls": None, "dirs": [0.0] * N_DIRS,
            "raw": {}}


def _copy(st: dict) -> dict:
    return {**st, "dirs": list(st["dirs"]), "raw": dict(st["raw"])}


class PageViews:
    """Each page's view ({model, seed, psi, cls, dirs, raw}) and when its neighbours strip was last drawn, keyed
    by Gradio's session hash (one per page load); the oldest pages are forgotten past max_pages. Handlers get
    copies, so rendering happens outside the lock. One per server: ctx.shared("explore.views", PageViews)."""

    def __init__(self, max_pages: int = 2000):
        self._views: OrderedDict[str, dict] = OrderedDict()
        self._strip_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self.max_pages = max_pages

    def get(self, sid: str, ctx) -> dict:
        with self._lock:
            st = self._views.get(sid)
            return _copy(st) if st is not None else _new_view(ctx)

    def set(self, sid: str, st: dict) -> None:
        with self._lock:
            self._keep(sid, _copy(st))

    def update(self, sid: str, ctx, change) -> dict:
        """Apply change(view) to this page's view atomically; returns a copy of the result."""
        with self._lock:
            st = self._views.get(sid) or _new_view(ctx)
            change(st)
            self._keep(sid, st)
            return _copy(st)

    def strip_due(self, sid: str) -> bool:
        """True when this page's neighbours strip has not been redrawn for STRIP_EVERY_S (throttles the strip
        while a slider is dragged; keyboard moves and single clicks, which fire no release, still get one)."""
        now = time.monotonic()
        with self._lock:
            if now - self._strip_at.get(sid, 0.0) < STRIP_EVERY_S:
                return False
            self._strip_at[sid] = now
            return True

    def _keep(self, sid: str, st: dict) -> None:
        self._views[sid] = st
        self._views.move_to_end(sid)
        while len(self._views) > self.max_pages:
            old, _ = self._views.popitem(last=False)
            self._strip_at.pop(old, None)


def _views(ctx) -> PageViews:
    return ctx.shared("explore.views", PageViews)


def _sid(request) -> str:
    return getattr(request, "session_hash", None) or "no-session"


# ------------------------------------------------------------------------------------------------ rendering
def _pipe(ctx, name):
    return ctx.catalog.get(ctx.catalog.entry(name).name)


def _render(ctx, st: dict, neighbours: bool = True, reference_wait_s: float = 0.0):
    return _view(ctx, st["model"], st["seed"], st["psi"], st["cls"], st["dirs"], raw=st["raw"],
                 neighbours=neighbours, reference_wait_s=reference_wait_s)


def _view(ctx, model, seed, psi, cls, dirs, raw=None, neighbours: bool = True, reference_wait_s: float = 0.0):
    """(pipeline, gan.render.View) for the widget values, with D's reference scores when they are ready (or
    become ready within reference_wait_s)."""
    from gan import render as ex

    cat = ctx.catalog
    entry = cat.entry(model)
    pipe = cat.get(entry.name)
    basis, _ = _basis(ctx, entry.name)
    label = ex.check_label(pipe, cls)
    amounts = ex.check_amounts(dirs)[: basis.k] if basis is not None else []
    z = ex.latent_for(pipe, seed, psi, basis, amounts, raw)
    pending = _reference(ctx, entry, pipe)
    if pipe.is_points:
        backdrop = cat.cached(entry.name, "backdrop", lambda p: ex.points_backdrop(p, p.info.get("dataset")))
        v = ex.render_points_view(pipe, z, label, backdrop, psi, basis, amounts)
    else:
        v = ex.render_image_view(pipe, z, label, basis, amounts, neighbours=neighbours)
    v.reference = _reference_result(pending, reference_wait_s)
    return pipe, v


def _basis(ctx, name: str):
    """(GANSpace directions, None), or (None, why) for a model whose directions cannot be computed
    (gan.directions.NoDirections). Such a model still opens in Explore: every model that loads can be looked at,
    through its raw latent components; only a model that fails to load is an error."""
    from gan.directions import NoDirections

    try:
        return ctx.catalog.directions(name), None
    except NoDirections as e:
        return None, str(e)


def _no_dirs_text(why: str) -> str:
    return (f"not available for this model ({why}). Move the raw latent components under "
            "*Advanced* instead.")


def _reference(ctx, entry, pipe):
    """The future of this model's D reference scores (gan.render.score_reference), started once per loaded
    model on the tab's worker; None for a model without D and for a live run (its D changes as it trains)."""
    if pipe.discriminator is None or entry.source == "live":
        return None
    from gan.render import score_reference

    pool = ctx.shared("explore_reference_pool", lambda: ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="ganscope-d-reference"))
    return ctx.catalog.cached(entry.name, "d-reference",
                              lambda p: pool.submit(score_reference, p, p.info.get("dataset")))


def _reference_result(pending, wait_s: float):
    """The reference if it is ready within wait_s seconds, else None (the next view shows it)."""
    from concurrent.futures import TimeoutError as FutureTimeout

    if pending is None or (wait_s <= 0 and not pending.done()):
        return None
    try:
        return pending.result(timeout=max(wait_s, 0.0))
    except FutureTimeout:
        return None
    except Exception:  # score_reference returns None for data it cannot use; anything else: no scale, still a view
        return None


# ------------------------------------------------------------------------------------------------ text
def _subject(pipe) -> str:
    return "point" if pipe.is_points else "image"


def _n_dirs(pipe) -> int:
    return min(pipe.config.z_dim, N_DIRS)


def _class_choices(entry) -> list[tuple[str, int]]:
    if entry is None or not entry.conditional:
        return []
    return [(f"{i}: {name}" if name != str(i) else name, i) for i, name in enumerate(entry.class_names)]


def _info_text(entry, pipe, basis, why: str | None = None) -> str:
    """The model in words: where it comes from, what it was trained on and how, what it makes."""
    i = entry.info
    where = {"shipped": f"shipped weights `{entry.path.name}`" if entry.path else "shipped weights",
             "run": f"training run `{entry.path.parent.name}`" if entry.path else "a training run",
             "live": "a live training run"}.get(entry.source, entry.source)
    bits = [f"**{entry.name}**: {where}.",
            f"Trained on **{i.get('dataset', '?')}** with **{i.get('arch', pipe.config.arch)}** / "
            f"**{i.get('loss', '?')}** for {i.get('steps', '?')} steps on {i.get('device', '?')}"
            + (f" ({i['wall_time_s']:.0f} s)." if isinstance(i.get("wall_time_s"), (int, float)) else ".")]
    cfg = pipe.config
    shape = "2-D points" if pipe.is_points else f"{cfg.image_size}x{cfg.image_size}x{cfg.channels} images"
    bits.append(f"z: {cfg.z_dim} dims ({cfg.z_dist}); makes {shape}"
                + ("; class-conditional" if cfg.conditional else "")
                + ("; carries its discriminator" if pipe.discriminator is not None else "; no discriminator")
                + (f". Directions from layer `{basis.layer}`." if basis is not None
                   else f". No discovered directions: {why}."))
    return "  \n".join(bits)
