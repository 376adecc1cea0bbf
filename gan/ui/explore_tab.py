"""Explore tab: pick a model, a seed, truncation, a class; move discovered directions and raw latent components;
see the image (or the 2-D point cloud) follow while dragging. Bookmarks and share links.

The picture is a pure function of the page's view {model, seed, psi, cls, dirs, raw}: the widgets write it, the
renderer (gan.render) turns it into pixels. The view lives on the server per page (VIEWS), so a slider event
sends only the slider's own value; live events skip Gradio's queue and input preprocessing, and the handler decodes
one image on one CPU thread (the model and its directions are loaded once and cached by the catalog).
"""
from __future__ import annotations

import json
import random
import re
import tempfile
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr

from gan.errors import GanInputError

TITLE = "Explore"
N_DIRS = 6                 # direction sliders on the page (a 2-D model shows as many as it has latent dims)
N_RAW = 16                 # raw latent component sliders (the first N_RAW components of z)
DIR_RANGE = 5.0
RAW_RANGE = 5.0
STRIP_EVERY_S = 0.5        # while dragging, the neighbours strip is redrawn at most this often
REFERENCE_WAIT_S = 1.5     # a model switch waits this long for D's reference scores (later: a timer shows them)
STRIP_LABEL = "Neighbours along the most moved direction"

# The model picker's labels are long ("fashion-mnist-wgan-gp · fashion-mnist · dcgan · wgan-gp · 3000 steps ·
# cpu"): Gradio's dropdown draws its arrow over the input's right end (absolutely placed, size-5 from the
# right, size-5 wide), so the text gets room up to the arrow and ends in an ellipsis. The list shows labels whole.
CSS = """
#explore-model input[role="combobox"] { padding-right: calc(var(--size-5) * 2 + var(--size-1));
  text-overflow: ellipsis; overflow: hidden; white-space: nowrap; }
"""

_TMP = Path(tempfile.mkdtemp(prefix="ganscope-explore-"))


def build(ctx, demo: gr.Blocks) -> None:
    cat = ctx.catalog
    default = cat.default_name()
    entry0 = cat.entries.get(default) if default else None
    z_dim0 = entry0.z_dim if entry0 else N_RAW
    cond0 = bool(entry0 and entry0.conditional)
    # D's reference scores (real data vs the model's samples) are worked out off the event thread, one model at a
    # time, so a slow first load of a dataset never holds a view for longer than REFERENCE_WAIT_S.

    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            model = gr.Dropdown(cat.choices(), value=default, label="Model", allow_custom_value=True,
                                elem_id="explore-model", info="shipped weights and finished runs")
            with gr.Row():
                seed = gr.Number(0, label="Seed", precision=0, elem_id="seed", scale=3,
                                 info="any whole number from 0 to 4,294,967,295: the same seed is the same image")
                random_btn = gr.Button("Random", elem_id="random-seed", scale=1, min_width=90)
            psi = gr.Slider(0.01, 1.0, value=1.0, step=0.01, label="truncation",
                            info="ψ: 1 = none; lower pulls z towards the mean (cleaner, less varied). "
                                 "Back to 1 when you pick another model",
                            elem_id="truncation")
            cls = gr.Dropdown(_class_choices(entry0), value=0 if cond0 else None, label="class",
                              visible=cond0, allow_custom_value=True, elem_id="class")
            dirs_note = gr.Markdown(DIRS_HEADER, elem_id="directions-note")
            dirs = [gr.Slider(-DIR_RANGE, DIR_RANGE, value=0.0, step=0.05, label=f"direction {i + 1}",
                              elem_id=f"direction-{i + 1}", visible=(i < z_dim0)) for i in range(N_DIRS)]
            reset_btn = gr.Button("Reset directions", size="sm", elem_id="reset-directions")
            with gr.Accordion("Advanced: raw latent components", open=False, elem_id="raw-accordion") as raw_acc:
                gr.Markdown(f"This seed's z, component by component (the first {N_RAW}, before truncation). "
                            "Move one to override it; a new seed starts afresh.")
                raws = [gr.Slider(-RAW_RANGE, RAW_RANGE, value=0.0, step=0.01, label=f"z[{i}]",
                                  elem_id=f"raw-{i}", visible=(i < z_dim0)) for i in range(N_RAW)]
        with gr.Column(scale=3, min_width=360):
            image = gr.Image(label="Generated", elem_id="generated", format="png", interactive=False,
                             buttons=["download", "fullscreen"], height=400)
            message = gr.Markdown("", label="message", elem_id="explore-message")
            score = gr.Markdown("", label="D score", elem_id="d-score")
            strip = gr.Image(label=STRIP_LABEL, elem_id="neighbours", format="png",
                             interactive=False, buttons=["download"], height=150)
            info = gr.Markdown("", elem_id="model-info")
            with gr.Accordion("Bookmark and share", open=False, elem_id="bookmark-accordion"):
                with gr.Row():
                    save_btn = gr.Button("Save bookmark (JSON)", elem_id="save-bookmark")
                    load_btn = gr.UploadButton("Load bookmark", file_types=[".json"], type="binary",
                                               elem_id="load-bookmark")
                    link_btn = gr.Button("Make share link", elem_id="make-link")
                bookmark_file = gr.File(label="Bookmark file", interactive=False, elem_id="bookmark-file")
                link = gr.Textbox(label="Link to this view", interactive=False, elem_id="share-link",
                                  buttons=["copy"])
            generate_btn = gr.Button("generate", visible=False)
            # ticks only while D's reference scores for the model shown are still being worked out
            ref_timer = gr.Timer(1.0, active=False)

    view_out = [image, strip, score, message]
    W = Widgets(model, seed, psi, cls, dirs, raws, image, strip, score, message, info, dirs_note, raw_acc,
                reset_btn, ref_timer)
    full_out = W.full_out

    # --------------------------------------------------------------------------------------------- handlers
    # Live events take one input (the widget that moved) instead of all 26 widgets: Gradio spends a little on
    # every input of every event, and that was most of the time of a slider move. The rest of the page's view
    # lives on the server, per page (VIEWS), updated in arrival order under a lock, so quick moves of two
    # different widgets never lose one another.
    def mover(key: str, index: int | None = None, force_strip: bool = False):
        def move(value, request: gr.Request = None):
            sid = _sid(request)
            try:
                if key == "dirs":
                    v = _finite(value, f"direction {index + 1}")
                    st = VIEWS.update(sid, ctx, lambda st: st["dirs"].__setitem__(index, v))
                elif key == "raw":
                    v = _finite(value, f"z[{index}]")
                    st = VIEWS.update(sid, ctx, lambda st: st["raw"].__setitem__(index, v))
                else:
                    from gan.latent import check_truncation

                    v = check_truncation(value)
                    st = VIEWS.update(sid, ctx, lambda st: st.__setitem__("psi", v))
                with_strip = force_strip or _strip_due(sid)
                pipe, view = _render(ctx, st, neighbours=with_strip)
                return W.view_updates(pipe, view, with_strip=with_strip)
            except GanInputError as e:
                return W.error(e)
        return move

    def on_seed(value, request: gr.Request = None):
        """A new seed: redraw from its own z (raw overrides dropped) and show its components on the raw sliders."""
        try:
            s = _seed(value)
            st = VIEWS.update(_sid(request), ctx, lambda st: st.update(seed=s, raw={}))
            pipe, v = _render(ctx, st)
            return {**W.view_updates(pipe, v), **W.raw_updates(pipe, st["seed"])}
        except GanInputError as e:
            return W.error(e)

    def randomize(request: gr.Request = None):
        new_seed = random.randrange(0, 2 ** 32)
        return {seed: new_seed, **on_seed(new_seed, request)}

    def on_class(value, request: gr.Request = None):
        st = VIEWS.update(_sid(request), ctx, lambda st: st.__setitem__("cls", value))
        try:
            return W.view_updates(*_render(ctx, st))
        except GanInputError as e:
            return W.error(e)

    def on_model(m, request: gr.Request = None):
        """Another model: its classes, its directions (reset to 0), its raw components, its image, at the same
        seed and with truncation back to 1 (none).

        Truncation is reset because a ψ picked on one model means something else on the next: ψ 0.3 that tidies a
        2-D cloud collapses mnist-dcgan to nearly the same digit for every seed, and the slider, far from the
        image, does not show why. When ψ was not 1 the message says it was reset and from what, so nothing changes
        silently. A link or a bookmark keeps its own ψ: there the user asked for that exact view."""
        sid = _sid(request)
        st = VIEWS.get(sid, ctx)
        if m == st["model"]:
            # The picker closed on the model it had (the browser sends each pick twice): leave every output as
            # it is. gr.skip() and not {}: Gradio reads an empty dict as one value for all the outputs and fails.
            return gr.skip()
        try:
            out = W.full_state(ctx, sid, m, st["seed"], 1.0, None, [], None)
        except GanInputError as e:  # e.g. a file that failed to load: back to the model the page showed
            return {**W.error(e), model: gr.update(choices=ctx.catalog.choices(), value=st["model"])}
        if st["psi"] != 1.0:
            out[message] = (f"Truncation is back to 1 (none) for this model; it was {st['psi']:g} on the last one. "
                            "Lower it again to trade variety for cleaner images.")
        return out

    def on_reference_tick(request: gr.Request = None):
        """D's reference scores are ready (or gave up): show the score with its scale, and stop the timer. Only
        the score text changes, so a message the page shows (e.g. the truncation note) stays."""
        st = VIEWS.get(_sid(request), ctx)
        try:
            entry = ctx.catalog.entry(st["model"])
            pending = _reference(ctx, entry, ctx.catalog.get(entry.name))
            if pending is not None and not pending.done():
                return gr.skip()
            pipe, v = _render(ctx, st)
        except GanInputError:
            return {ref_timer: gr.Timer(active=False)}
        return {score: W.view_updates(pipe, v, with_strip=False)[score], ref_timer: gr.Timer(active=False)}

    def reset_dirs(request: gr.Request = None):
        st = VIEWS.update(_sid(request), ctx, lambda st: st.__setitem__("dirs", [0.0] * N_DIRS))
        try:
            return {**{d: 0.0 for d in dirs}, **W.view_updates(*_render(ctx, st))}
        except GanInputError as e:
            return W.error(e)

    def on_load(request: gr.Request):
        """First paint, from the link's query parameters when there are any (?model=&seed=&psi=&class=&d=)."""
        q = dict(request.query_params) if request is not None else {}
        sid = _sid(request)
        ctx.catalog.refresh()
        m = q.get("model") or ctx.catalog.default_name()
        try:
            dvals = [float(x) for x in q["d"].split(",")] if q.get("d") else []
            out = W.full_state(ctx, sid, m, q.get("seed", 0), q.get("psi", 1.0), q.get("class"), dvals, None,
                               choices=True)
        except (GanInputError, ValueError) as e:
            m = ctx.catalog.default_name()
            if m is None:
                return {**W.error(e), model: gr.update(choices=[], value=None)}
            out = W.full_state(ctx, sid, m, 0, 1.0, None, [], None, choices=True)
            out[message] = f"⚠ The link could not be used ({e}); showing the default model."
        return out

    def save_bookmark(request: gr.Request = None):
        from gan.render import make_bookmark

        st = VIEWS.get(_sid(request), ctx)
        try:
            pipe = ctx.catalog.get(st["model"])
            mark = make_bookmark(st["model"], st["seed"], st["psi"], st["cls"] if pipe.config.conditional else None,
                                 st["dirs"][: _n_dirs(pipe)], st["raw"])
        except GanInputError as e:
            return W.error(e)
        _clean_tmp()
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{st['model']}-{mark['seed']}")[:80]
        path = _TMP / f"bookmark-{safe}.json"
        path.write_text(json.dumps(mark, indent=2))
        return {bookmark_file: str(path), message: ""}

    def load_bookmark(data, request: gr.Request = None):
        from gan.render import parse_bookmark

        sid = _sid(request)
        current = VIEWS.get(sid, ctx)["model"]
        try:
            mark = parse_bookmark(data or b"")
            m = mark["model"] if mark["model"] in ctx.catalog.names() else current
            out = W.full_state(ctx, sid, m, mark["seed"], mark["truncation"], mark["class"], mark["directions"],
                               mark["raw"])
            if m != mark["model"]:
                out[message] = (f"⚠ The bookmark's model {mark['model']!r} is not here; "
                                f"its latent is shown on {m!r}.")
            return out
        except GanInputError as e:
            return W.error(e)

    def generate(seed: int = 0, model: str | None = default, truncation: float = 1.0, class_label=None,
                 direction_1: float = 0.0, direction_2: float = 0.0, direction_3: float = 0.0,
                 direction_4: float = 0.0, direction_5: float = 0.0, direction_6: float = 0.0):
        """The image for a seed on a model (plus truncation, class and direction values). Returns the image, the
        neighbours strip (None for 2-D models), D's score as text, and a message (empty when all went well)."""
        amounts = [direction_1, direction_2, direction_3, direction_4, direction_5, direction_6]
        try:
            pipe, v = _view(ctx, model, seed, truncation, class_label, amounts, reference_wait_s=REFERENCE_WAIT_S)
            _, why = _basis(ctx, model)
        except GanInputError as e:
            raise gr.Error(str(e)) from None
        from gan.render import score_text

        note = ""
        if why is not None and any(float(a or 0.0) for a in amounts):
            note = f"The direction values were ignored: {_no_dirs_text(why)}"
        return v.image, v.strip, score_text(v.score, pipe.info.get("loss"), v.reference, _subject(pipe)), note

    # ------------------------------------------------------------------------------------------------ events
    # preprocess=False: the inputs are plain numbers and strings, which the handlers check themselves (Gradio
    # would otherwise hop to a worker thread per input before calling the handler).
    live = dict(trigger_mode="always_last", show_progress="hidden", queue=False, api_visibility="private",
                preprocess=False)
    for slider, key, index in [(psi, "psi", None), *[(d, "dirs", i) for i, d in enumerate(dirs)],
                               *[(r, "raw", i) for i, r in enumerate(raws)]]:
        slider.input(mover(key, index), slider, view_out, **live)
        slider.release(mover(key, index, force_strip=True), slider, view_out, **live)
    seed.input(on_seed, seed, view_out + raws, **live)
    seed.submit(on_seed, seed, view_out + raws, **live)
    cls.input(on_class, cls, view_out, **live)
    random_btn.click(randomize, None, [seed, *view_out, *raws], **{**live, "trigger_mode": None})
    reset_btn.click(reset_dirs, None, [*dirs, *view_out], **{**live, "trigger_mode": None})
    ref_timer.tick(on_reference_tick, None, [score, ref_timer], queue=False, show_progress="hidden",
                   api_visibility="private")
    def rescan():
        """The picker is opened: list what is there now (a run that just finished, a live run)."""
        ctx.catalog.refresh()
        return gr.update(choices=ctx.catalog.choices())

    model.focus(rescan, None, model, queue=False, show_progress="hidden", api_visibility="private")
    model.input(on_model, model, full_out, show_progress="minimal", show_progress_on=[image],
                api_visibility="private", concurrency_id="models", concurrency_limit=1)
    demo.load(on_load, None, full_out, show_progress="minimal", show_progress_on=[image],
              api_visibility="private", concurrency_id="models", concurrency_limit=1)
    save_btn.click(save_bookmark, None, [bookmark_file, message], api_visibility="private")
    load_btn.upload(load_bookmark, load_btn, full_out, api_visibility="private")
    link_btn.click(None, [model, seed, psi, cls, *dirs], link, js=_LINK_JS, api_visibility="private")
    generate_btn.click(generate, [seed, model, psi, cls, *dirs], [image, strip, score, message],
                       api_name="generate", concurrency_id="models", concurrency_limit=4)


# ------------------------------------------------------------------------------------------------- helpers
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


DIRS_HEADER = ("**Discovered directions** (GANSpace: principal components of an early layer, mapped back to z; "
               "values in z units)")


class Widgets:
    """The Explore tab's output components, and the update dicts the handlers return (a non-empty dict leaves
    every component it does not name as it is, so an error touches only the message)."""

    def __init__(self, model, seed, psi, cls, dirs, raws, image, strip, score, message, info, dirs_note, raw_acc,
                 reset_btn, ref_timer):
        self.model, self.seed, self.psi, self.cls, self.dirs, self.raws = model, seed, psi, cls, dirs, raws
        self.image, self.strip, self.score, self.message, self.info = image, strip, score, message, info
        self.dirs_note, self.raw_acc, self.reset_btn, self.ref_timer = dirs_note, raw_acc, reset_btn, ref_timer

    @property
    def full_out(self) -> list:
        """Every component full_state() sets: the outputs of the events that show a whole view."""
        return [self.model, self.seed, self.psi, self.cls, *self.dirs, *self.raws, self.image, self.strip,
                self.score, self.message, self.info, self.dirs_note, self.raw_acc, self.reset_btn, self.ref_timer]

    def error(self, e: Exception) -> dict:
        return {self.message: f"⚠ {e}"}

    def view_updates(self, pipe, v, with_strip: bool = True) -> dict:
        from gan.render import score_text

        text = score_text(v.score, pipe.info.get("loss"), v.reference, _subject(pipe))
        if v.active >= 0:
            where = "black plus signs" if pipe.is_points else "the strip below, each tile captioned with its value"
            text += f"  \nNeighbours: {where}, 1 step apart along direction {v.active + 1}."
        out = {self.image: v.image, self.message: "", self.score: text}
        if not with_strip:
            return out
        if v.strip is not None:
            label = (f"Neighbours along direction {v.active + 1} (its value under each tile; framed: this image)"
                     if v.strip_values else STRIP_LABEL)
            out[self.strip] = gr.update(value=v.strip, visible=True, label=label)
        else:  # a 2-D model, or a model without directions to walk along
            out[self.strip] = gr.update(value=None, visible=False)
        return out

    def raw_updates(self, pipe, seed, overrides: dict | None = None) -> dict:
        from gan.latent import check_seed, seed_to_z

        n = min(pipe.config.z_dim, N_RAW)
        z = seed_to_z([check_seed(seed)], pipe.config.z_dim, pipe.config.z_dist)[0]
        for i, v in (overrides or {}).items():
            if 0 <= int(i) < n:
                z[int(i)] = float(v)
        return {r: gr.update(value=round(max(-RAW_RANGE, min(RAW_RANGE, float(z[i]))), 4), visible=True)
                if i < n else gr.update(visible=False) for i, r in enumerate(self.raws)}

    def full_state(self, ctx, sid, m, s, p, c, dvals, raw, choices: bool = False) -> dict:
        """Every widget for model m at seed s, truncation p, class c, directions dvals and raw overrides."""
        from gan.latent import check_seed, check_truncation

        cat = ctx.catalog
        entry = cat.entry(m)
        pipe = cat.get(entry.name)
        s, p = check_seed(s), check_truncation(p)
        basis, why = _basis(ctx, entry.name)
        k = min(basis.k, N_DIRS) if basis is not None else 0
        dvals = [float(x) for x in list(dvals)[:k]] + [0.0] * (N_DIRS - min(len(dvals), k))
        label = None
        if pipe.config.conditional:
            from gan.render import check_label

            label = check_label(pipe, c)
        raw_dict = {int(i): float(v) for i, v in (raw or {}).items()}
        st = {"model": entry.name, "seed": s, "psi": p, "cls": label, "dirs": dvals, "raw": raw_dict}
        _, v = _render(ctx, st, reference_wait_s=REFERENCE_WAIT_S)
        pending = _reference(ctx, entry, pipe)
        out = {self.seed: s, self.psi: p,
               self.cls: gr.update(choices=_class_choices(entry), value=label, visible=label is not None),
               **{d: gr.update(value=max(-DIR_RANGE, min(DIR_RANGE, dvals[i])), visible=i < k,
                               info=f"{basis.explained[i]:.1%} of the early layer's variance" if i < k else None)
                  for i, d in enumerate(self.dirs)},
               **self.raw_updates(pipe, s, raw_dict),
               **self.view_updates(pipe, v),
               self.info: _info_text(entry, pipe, basis, why),
               self.dirs_note: DIRS_HEADER if why is None else f"**Discovered directions**: {_no_dirs_text(why)}",
               self.reset_btn: gr.update(visible=k > 0),
               # still working out D's scale: the timer shows it when it is ready
               self.ref_timer: gr.Timer(active=pending is not None and not pending.done())}
        if why is not None:  # the raw latent is then the way to move: show it
            out[self.raw_acc] = gr.update(open=True)
        VIEWS.set(sid, st)
        out[self.model] = gr.update(choices=cat.choices(), value=entry.name) if choices else entry.name
        return out


def _new_view(ctx) -> dict:
    return {"model": ctx.catalog.default_name(), "seed": 0, "psi": 1.0, "cls": None, "dirs": [0.0] * N_DIRS,
            "raw": {}}


def _copy(st: dict) -> dict:
    return {**st, "dirs": list(st["dirs"]), "raw": dict(st["raw"])}


class ViewStore:
    """Each page's view ({model, seed, psi, cls, dirs, raw}) on the server, keyed by Gradio's session hash;
    the oldest pages are forgotten past max_pages. Handlers get copies, so rendering happens outside the lock."""

    def __init__(self, max_pages: int = 2000):
        self._views: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()
        self.max_pages = max_pages

    def get(self, sid: str, ctx) -> dict:
        with self._lock:
            st = self._views.get(sid)
            return _copy(st) if st is not None else _new_view(ctx)

    def set(self, sid: str, st: dict) -> None:
        with self._lock:
            self._views[sid] = _copy(st)
            self._views.move_to_end(sid)
            while len(self._views) > self.max_pages:
                self._views.popitem(last=False)

    def update(self, sid: str, ctx, change) -> dict:
        """Apply change(view) to this page's view atomically; returns a copy of the result."""
        with self._lock:
            st = self._views.get(sid)
            if st is None:
                st = _new_view(ctx)
            change(st)
            self._views[sid] = st
            self._views.move_to_end(sid)
            while len(self._views) > self.max_pages:
                self._views.popitem(last=False)
            return _copy(st)


VIEWS = ViewStore()


def _sid(request) -> str:
    return getattr(request, "session_hash", None) or "no-session"


def _finite(value, what: str) -> float:
    import math

    try:
        v = float(value)
    except (TypeError, ValueError):
        raise GanInputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise GanInputError(f"{what} must be a finite number")
    return v


def _seed(value) -> int:
    from gan.latent import check_seed

    if value is None or value == "":
        raise GanInputError("type a seed: any whole number from 0 to 4,294,967,295")
    return check_seed(value)


def _render(ctx, st: dict, neighbours: bool = True, reference_wait_s: float = 0.0):
    return _view(ctx, st["model"], st["seed"], st["psi"], st["cls"], st["dirs"], raw=st["raw"],
                 neighbours=neighbours, reference_wait_s=reference_wait_s)


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


def _view(ctx, model, seed, psi, cls, dirs, raw=None, neighbours: bool = True, reference_wait_s: float = 0.0):
    """(pipeline, gan.render.View) for the widget values, with D's reference scores when they are ready (or
    become ready within reference_wait_s)."""
    from gan import render as ex

    cat = ctx.catalog
    entry = cat.entry(model)
    pipe = cat.get(entry.name)
    basis, _ = _basis(ctx, entry.name)
    label = ex.check_label(pipe, cls)
    amounts = [float(d or 0.0) for d in list(dirs or [])[: basis.k]] if basis is not None else []
    z = ex.latent_for(pipe, seed, psi, basis, amounts, raw)
    pending = _reference(ctx, entry, pipe)
    if pipe.is_points:
        backdrop = cat.cached(entry.name, "backdrop", lambda p: ex.points_backdrop(p, p.info.get("dataset")))
        v = ex.render_points_view(pipe, z, label, backdrop, psi, basis, amounts)
    else:
        v = ex.render_image_view(pipe, z, label, basis, amounts, neighbours=neighbours)
    v.reference = _reference_result(pending, reference_wait_s)
    return pipe, v


def _reference(ctx, entry, pipe):
    """The future of this model's D reference scores (gan.render.score_reference), started once per loaded
    model on the tab's worker; None for a model without D and for a live run (its D changes as it trains)."""
    pool = ctx.shared("explore_reference_pool", lambda: ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="ganscope-d-reference"))
    if pipe.discriminator is None or entry.source == "live":
        return None
    from gan.render import score_reference

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


_last_strip: dict[str, float] = {}


def _strip_due(session: str | None) -> bool:
    """True when this page's neighbours strip has not been redrawn for STRIP_EVERY_S (throttles the strip while
    a slider is dragged; keyboard moves and single clicks, which fire no release, still get one)."""
    if session is None:
        return True
    now = time.monotonic()
    if now - _last_strip.get(session, 0.0) < STRIP_EVERY_S:
        return False
    if len(_last_strip) > 10_000:
        _last_strip.clear()
    _last_strip[session] = now
    return True


def _subject(pipe) -> str:
    return "point" if pipe.is_points else "image"


def _n_dirs(pipe) -> int:
    return min(pipe.config.z_dim, N_DIRS)


def _class_choices(entry) -> list[tuple[str, int]]:
    if entry is None or not entry.conditional:
        return []
    return [(f"{i}: {name}" if name != str(i) else name, i) for i, name in enumerate(entry.class_names)]


def _info_text(entry, pipe, basis, why: str | None = None) -> str:
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


def _clean_tmp(max_age_s: float = 3600) -> None:
    now = time.time()
    for p in _TMP.glob("*"):
        try:
            if now - p.stat().st_mtime > max_age_s:
                p.unlink()
        except OSError:
            pass
