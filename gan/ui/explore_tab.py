"""Explore tab: pick a model, a seed, truncation, a class; move discovered directions and raw latent components;
see the image (or the 2-D point cloud) follow while dragging. Bookmarks and share links.

The picture is a pure function of the page's view {model, seed, z, psi, cls, dirs, raw}: the widgets write it, the
renderer (gan.render) turns it into pixels. `z` is None for a seed's latent, else a latent that is not a seed (a
projection's, arithmetic's, a link's or a bookmark's: z_dim floats), drawn with the same truncation, directions
and raw overrides as a seed's z; the seed box then keeps the last seed, with a note, and a seed typed or drawn at
random goes back to seeds. Each page's view lives on the server (a PageViews made once per server
with ctx.shared, keyed by the page's session), so a slider event sends only the slider's own value; live events skip
Gradio's queue and input preprocessing (the library checks the raw value and its message is shown), and the
handler decodes one image on one CPU thread (the model and its directions are loaded once and cached by the
catalog).

Handlers are module-level functions of (ctx, values..., request) that return {widget name: value}; a name left out
keeps its value, so an error touches only the message. build() lays out the widgets under those names and wires
each event with wire().

Your own model: the PyTorch DCGAN example's .pth dropped on the page is converted (gan.own_models, gan.convert) and
listed as "yours: <file>" in that page's picker only; every look-up of a model name goes through the page's
PageCatalog (its own models, then the server's catalog), so no other page lists or opens it.

Hooks for the tab's other sections (gan.ui.explore_gallery, gan.ui.explore_latent), which must not import this
module: build() calls their build(ctx, demo, w, hooks) inside the picture column, under the bookmark accordion,
after this tab's own events are wired, with hooks = hooks() (show_latent, current_view, current_latent, wire,
full_out). Named API endpoints (undocumented, for scripts and tests; each acts on the caller's own session):
/explore_own_model, /explore_models, /explore_save_bookmark, /explore_load_bookmark, /explore_share_link,
/explore_open_link, and the documented /generate.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import json
import random
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

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
            "ref_timer", "z_note"]   # every widget _whole_view sets: the outputs of the events that show a whole view
SEED_OUT = [*VIEW_OUT, *RAWS, "z_note"]   # what a new seed sets
SECTIONS = ["gan.ui.explore_gallery", "gan.ui.explore_latent", "gan.ui.explore_export"]   # built under the picture, given hooks()
OWN_KEY = "explore.own"                   # ctx.shared name of the pages' own models (gan.own_models.OwnModels)
Z_NOTE = ("**Not a seed:** this image is drawn from a latent of its own (a projection, latent arithmetic, a link "
          "or a bookmark); the seed box keeps the last seed. Type a seed or press **Random** to go back to seeds.")

# The model picker's labels are long ("fashion-mnist-wgan-gp · fashion-mnist · dcgan · wgan-gp · 3000 steps ·
# cpu"): Gradio's dropdown draws its arrow over the input's right end (absolutely placed, size-5 from the
# right, size-5 wide), so the text gets room up to the arrow and ends in an ellipsis. The list shows labels whole.
CSS = """
#explore-model input[role="combobox"] { padding-right: calc(var(--size-5) * 2 + var(--size-1));
  text-overflow: ellipsis; overflow: hidden; white-space: nowrap; }
#z-note { border-left: 4px solid #0072B2; padding-left: var(--size-2); }
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
    """A new seed: redraw from its own z (raw overrides dropped; a latent that was not a seed is left) and show its
    components on the raw sliders."""
    try:
        seed = check_seed(value)
        sid = _sid(request)
        st = _views(ctx).update(sid, ctx, lambda st: st.update(seed=seed, raw={}, z=None))
        pipe, v = _render(ctx, sid, st)
        return {**_view_out(pipe, v), **_raw_out(pipe, seed), "z_note": gr.update(visible=False)}
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
        label = check_label(_pipe(ctx, views.get(sid, ctx)["model"], sid), value)
        return _view_out(*_render(ctx, sid, views.update(sid, ctx, lambda st: st.__setitem__("cls", label))))
    except GanInputError as e:
        return _error(e)


def on_reset(ctx, request: gr.Request = None) -> dict:
    """Every direction back to 0."""
    sid = _sid(request)
    st = _views(ctx).update(sid, ctx, lambda st: st.__setitem__("dirs", [0.0] * N_DIRS))
    try:
        return {**{d: 0.0 for d in DIRS}, **_view_out(*_render(ctx, sid, st))}
    except GanInputError as e:
        return _error(e)


def _moved(ctx, request, change, release: bool) -> dict:
    """Apply change(view) to this page's view and draw it; the strip only on release or every STRIP_EVERY_S."""
    views, sid = _views(ctx), _sid(request)
    st = views.update(sid, ctx, change)
    with_strip = release or views.strip_due(sid)
    pipe, v = _render(ctx, sid, st, neighbours=with_strip)
    return _view_out(pipe, v, with_strip=with_strip)


# ------------------------------------------------------------------------------------- whole-view handlers
def on_model(ctx, name, request: gr.Request = None) -> dict:
    """Another model: its classes, its directions (reset to 0), its raw components, its image, at the same
    seed and with truncation back to 1 (none).

    Truncation is reset because a ψ picked on one model means something else on the next: ψ 0.3 that tidies a
    2-D cloud collapses mnist-dcgan to nearly the same digit for every seed, and the slider, far from the
    image, does not show why. When ψ was not 1 the message says it was reset and from what, so nothing changes
    silently. A latent that was not a seed belonged to the last model (a projection is found for one model): the
    view goes back to the seed, and says so. A link or a bookmark keeps its own ψ: there the user asked for that
    exact view."""
    sid = _sid(request)
    st = _views(ctx).get(sid, ctx)
    if name == st["model"]:
        return {}  # the picker closed on the model it had (the browser sends each pick twice): nothing changes
    try:
        out = _whole_view(ctx, sid, name, st["seed"], 1.0, None, [], None)
    except GanInputError as e:  # e.g. a file that failed to load: back to the model the page showed
        return {**_error(e), "model": gr.update(choices=_models(ctx, sid).choices(), value=st["model"])}
    notes = []
    if st["psi"] != 1.0:
        notes.append(f"Truncation is back to 1 (none) for this model; it was {st['psi']:g} on the last one. "
                     "Lower it again to trade variety for cleaner images.")
    if st["z"] is not None:
        notes.append(f"Back to seed {st['seed']}: the latent that was not a seed belonged to the last model.")
    if notes:
        out["message"] = " ".join(notes)
    return out


def on_load(ctx, request: gr.Request = None) -> dict:
    """First paint, from the link's query parameters when there are any (?model=&seed=&psi=&class=&d=&r=, or z=
    instead of seed= for a latent that is not a seed: gan.render.share_query)."""
    q = dict(request.query_params) if request is not None else {}
    return _open_query(ctx, _sid(request), q)


def on_open_link(ctx, link, request: gr.Request = None) -> dict:
    """A share link (or its query string) opened on this page, as on_load opens the page's own address."""
    from urllib.parse import parse_qsl, urlsplit

    if not isinstance(link, str) or not link.strip() or len(link) > 16 * 1024:
        return _error(GanInputError("paste a GANscope link (…?model=…&seed=… or …&z=…)"))
    text = link.strip()
    query = urlsplit(text).query if "://" in text or text.startswith("?") else text
    return _open_query(ctx, _sid(request), dict(parse_qsl(query)))


def _open_query(ctx, sid, q: dict) -> dict:
    """The whole view a link's query parameters describe; for a link that cannot be used, the default view and a
    message that says why."""
    from gan.latent import decode_z
    from gan.render import parse_raw_overrides

    ctx.catalog.refresh()
    models = _models(ctx, sid)
    name = q.get("model") or models.default_name()
    try:
        amounts = q["d"].split(",") if q.get("d") else []
        raw = parse_raw_overrides(q["r"]) if q.get("r") else None
        z = decode_z(q["z"], _pipe(ctx, name, sid).config.z_dim) if q.get("z") is not None else None
        seed, cls = q.get("seed"), q.get("class")
        if seed is None and z is None:      # no seed named: the model's clean sample (gan.first_view)
            seed, label = _opening(models, name)
            cls = label if cls is None else cls
        elif seed is None:                  # a latent that is not a seed: the seed field keeps 0
            seed = 0
        return _whole_view(ctx, sid, name, seed, q.get("psi", 1.0), cls, amounts, raw, choices=True, z=z)
    except GanInputError as e:
        name = models.default_name()
        if name is None:
            return {**_error(e), "model": gr.update(choices=[], value=None)}
        seed, label = _opening(models, name)
        out = _whole_view(ctx, sid, name, seed, 1.0, label, [], None, choices=True)
        out["message"] = f"⚠ The link could not be used ({e}); showing the default model."
        return out


def _opening(models, name) -> tuple[int, int | None]:
    """(seed, class) a view of `name` opens on when nothing names a seed: gan.first_view's rule,
    worked out once per model file; seed 0 when the model cannot be judged."""
    from gan.first_view import first_view

    try:
        fv = models.cached(models.entry(name).name, "first_view", first_view)
    except GanInputError:
        return 0, None
    return fv.seed, fv.label


def on_reference_tick(ctx, request: gr.Request = None) -> dict:
    """D's reference scores are ready (or gave up): show the score with its scale, and stop the timer. Only the
    score text changes, so a message the page shows (e.g. the truncation note) stays."""
    sid = _sid(request)
    st = _views(ctx).get(sid, ctx)
    try:
        models = _models(ctx, sid)
        entry = models.entry(st["model"])
        pending = _reference(ctx, entry, models.get(entry.name), models)
        if pending is not None and not pending.done():
            return {}
        pipe, v = _render(ctx, sid, st, neighbours=False)
    except GanInputError:
        return {"ref_timer": gr.Timer(active=False)}
    return {"score": _view_out(pipe, v, with_strip=False)["score"], "ref_timer": gr.Timer(active=False)}


def on_rescan(ctx, request: gr.Request = None) -> dict:
    """The picker is opened: list what is there now (a run that just finished, a live run, this page's own
    models)."""
    ctx.catalog.refresh()
    return {"model": gr.update(choices=_models(ctx, _sid(request)).choices())}


def on_save_bookmark(ctx, request: gr.Request = None) -> dict:
    """This page's view as a bookmark file (JSON) to download (with its z when the latent is not a seed's)."""
    from gan.render import make_bookmark

    try:
        st, view = _saved_view(ctx, _sid(request))
        mark = make_bookmark(*view)
    except GanInputError as e:
        return _error(e)
    folder = ctx.scratch("explore")
    clean_scratch(folder)
    what = "z" if st["z"] is not None else mark["seed"]
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{st['model']}-{what}")[:80]
    path = folder / f"bookmark-{safe}.json"
    path.write_text(json.dumps(mark, indent=2))
    return {"bookmark_file": str(path), "message": ""}


def _saved_view(ctx, sid: str) -> tuple[dict, tuple]:
    """The page's view, and what a bookmark or a share link keeps of it (gan.render.make_bookmark and share_query
    take the same): model, seed, psi, the class (conditional models), the directions it has, raw overrides, z."""
    st = _views(ctx).get(sid, ctx)
    pipe = _pipe(ctx, st["model"], sid)
    return st, (st["model"], st["seed"], st["psi"], st["cls"] if pipe.config.conditional else None,
                st["dirs"][: _n_dirs(pipe)], st["raw"], st["z"])


def on_load_bookmark(ctx, data, request: gr.Request = None) -> dict:
    """A bookmark file uploaded (or a z file from python -m gan.project): its view, on its model if this page has
    it (else on the model shown, and said; a z of another length than that model's is refused, and said)."""
    from gan.render import check_z, parse_bookmark

    sid = _sid(request)
    models = _models(ctx, sid)
    current = _views(ctx).get(sid, ctx)["model"]
    try:
        mark = parse_bookmark(data or b"")
        here = bool(mark["model"]) and mark["model"] in models.names()
        name = mark["model"] if here else current
        if mark["z"] is not None:
            made_on = f" (made on {mark['model']!r}, which is not here)" if mark["model"] and not here else ""
            check_z(_pipe(ctx, name, sid), mark["z"], f"the bookmark's z{made_on}")
        out = _whole_view(ctx, sid, name, mark["seed"], mark["truncation"], mark["class"], mark["directions"],
                          mark["raw"], z=mark["z"])
    except GanInputError as e:
        return _error(e)
    if mark["model"] and not here:
        out["message"] = f"⚠ The bookmark's model {mark['model']!r} is not here; its latent is shown on {name!r}."
    return out


def on_share_link(ctx, base="", request: gr.Request = None) -> dict:
    """A link to this page's view, made on the server (gan.render.share_query: a latent that is not a seed
    travels in it as a short code). `base`: the page's address, which the browser sends (window.location's origin
    and path) and the link starts with; without one the link is the query alone."""
    from gan.render import share_query

    try:
        query = share_query(*_saved_view(ctx, _sid(request))[1])
    except GanInputError as e:
        return _error(e)
    return {"link": f"{_link_base(base)}?{query}", "message": ""}


def _link_base(base) -> str:
    """The page's address without its query or fragment, when it is an http(s) address; else nothing."""
    from urllib.parse import urlsplit, urlunsplit

    if not isinstance(base, str) or len(base) > 2048:
        return ""
    parts = urlsplit(base.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def on_own_model(ctx, files, request: gr.Request = None) -> dict:
    """The .pth file(s) dropped on the page: the PyTorch DCGAN example's netG (and netD), converted and loaded as
    this page's own model "yours: <file>" (gan.own_models; no other page lists it), and shown at the page's seed.
    A file that cannot be used is one message and nothing else changes. The drop zone empties either way, and the
    uploaded copies are removed (the converted model file is what is kept)."""
    from gan.own_models import OwnModels

    sid = _sid(request)
    paths = _upload_paths(files)
    try:
        own = ctx.shared(OWN_KEY, lambda: OwnModels(lambda: ctx.scratch("explore-own"),
                                                    device=ctx.catalog.device))
        entry = own.add(sid, paths)
        st = _views(ctx).get(sid, ctx)
        out = _whole_view(ctx, sid, entry.name, st["seed"], 1.0, None, [], None, choices=True)
        c, files_in = entry.config, entry.info.get("source_files") or {}
        d = f", with its discriminator {files_in['discriminator']}" if files_in.get("discriminator") else ""
        out["own_note"] = (f"**{entry.name}**: {files_in.get('generator', '?')}{d}, a {c.get('image_size')}x"
                           f"{c.get('image_size')} DCGAN with z of {c.get('z_dim')}. Only this page lists it; a "
                           "reload forgets it (drop it again).")
    except GanInputError as e:
        out = {**_error(e), "own_note": ""}
    finally:
        _remove_uploads(paths)
    out["own_files"] = None
    return out


def _upload_paths(files) -> list[str]:
    """The paths of what a gr.File gave (a path, a list of paths, or file data dicts)."""
    items = files if isinstance(files, (list, tuple)) else [files]
    out = []
    for f in items:
        path = f.get("path") if isinstance(f, dict) else getattr(f, "path", f)
        if isinstance(path, (str, Path)) and str(path):
            out.append(str(path))
    return out


def _remove_uploads(paths: list[str]) -> None:
    """Remove Gradio's copies of uploaded files (only files inside its upload folder)."""
    from gradio.utils import get_upload_folder

    root = Path(get_upload_folder()).resolve()
    for p in paths:
        try:
            path = Path(p).resolve()
            if path.is_file() and path.is_relative_to(root):
                path.unlink()
        except OSError:
            pass


def on_generate(ctx, seed: int = 0, model: str | None = None, truncation: float = 1.0, class_label=None,
                direction_1: float = 0.0, direction_2: float = 0.0, direction_3: float = 0.0,
                direction_4: float = 0.0, direction_5: float = 0.0, direction_6: float = 0.0,
                request: gr.Request = None):
    """The image for a seed on a model (None: the default model), plus truncation, class and direction values.
    Returns the image, the neighbours strip (None for 2-D models), D's score as text, and a message (empty when
    all went well)."""
    from gan.render import check_amounts

    sid = _sid(request)

    def view():
        amounts = check_amounts([direction_1, direction_2, direction_3, direction_4, direction_5, direction_6])
        models = _models(ctx, sid)
        name = models.entry(model if model is not None else models.default_name()).name
        pipe, v = _view(ctx, name, seed, truncation, class_label, amounts, reference_wait_s=REFERENCE_WAIT_S,
                        sid=sid)
        return amounts, pipe, v, _basis(ctx, name, sid)[1]

    amounts, pipe, v, why = call_library(view)
    note = f"The direction values were ignored: {_no_dirs_text(why)}" if why is not None and any(amounts) else ""
    return v.image, v.strip, _score_text(pipe, v), note


# ------------------------------------------------------------------------------------ hooks for other sections
# What the tab's other sections (gan.ui.explore_gallery, gan.ui.explore_latent) call, handed to their build() as
# hooks() so that they never import this module. Stable names and signatures.
def show_latent(ctx, request, *, model: str, seed: int | None = None, z=None, cls=None, psi=None) -> dict:
    """Set this page's view to a latent and return every widget of the whole view ({widget name: value}, the names
    in FULL_OUT: wire the event with outputs=hooks.full_out). A seed (z None), or `z` (a list of z_dim numbers, or
    a tensor or array holding that many: a projection's or arithmetic's latent; the seed box keeps the page's last
    seed and a note says the image is not a seed's). Directions and raw overrides go back to 0; `cls` None: class
    0 of a conditional model; `psi` None keeps the page's truncation. On a GanInputError (an unknown model, a z of
    the wrong length or with a NaN, a bad class) returns {"message": "⚠ ..."} and the view is unchanged."""
    sid = _sid(request)
    st = _views(ctx).get(sid, ctx)
    try:
        if z is None and seed is None:
            raise GanInputError("show_latent needs a seed or a z")
        return _whole_view(ctx, sid, model, st["seed"] if z is not None else seed,
                           st["psi"] if psi is None else psi, cls, [], None, z=z)
    except GanInputError as e:
        return _error(e)


def current_view(ctx, request) -> dict:
    """A copy of this page's view: {"model", "seed", "z" (None or a list of z_dim floats), "psi", "cls" (None for
    an unconditional model), "dirs" (N_DIRS floats), "raw" ({component index: value})}."""
    return _views(ctx).get(_sid(request), ctx)


def current_latent(ctx, request):
    """(pipeline, z, label): exactly what the image on screen was drawn from: z (1, z_dim) float32 on the CPU
    after raw overrides, truncation and directions (gan.render.latent_for), the class (None when unconditional),
    and the page's GeneratorPipeline (pipe.decode(z, None if label is None else [label]) redraws the image).
    Raises GanInputError when the page's model is gone (a live run ended, an own model was dropped)."""
    from gan.render import check_label, latent_for

    sid = _sid(request)
    st = _views(ctx).get(sid, ctx)
    models = _models(ctx, sid)
    name = models.entry(st["model"]).name
    pipe = models.get(name)
    basis, _ = _basis(ctx, name, sid)
    amounts = st["dirs"][: basis.k] if basis is not None else []
    z = latent_for(pipe, st["seed"], st["psi"], basis, amounts, st["raw"], z=st["z"])
    return pipe, z, check_label(pipe, st["cls"])


def wire(listener, ctx, w: dict, fn, inputs: list[str], outputs: list[str], bound: dict | None = None,
         **options):
    """listener(handler, ...) for a handler fn(ctx, values..., request=None, **bound) -> {widget name: value}:
    inputs and outputs are named by w's keys, and an output the result leaves out keeps its value (gr.skip()).
    `bound`: fixed keyword arguments (a slider's index), kept out of the signature Gradio reads. `options` go to
    the listener as they are (api_name, queue, concurrency_id, js, ...)."""
    handler, bound = bind(fn, ctx), bound or {}

    @functools.wraps(handler)
    def by_name(*args, **kwargs):
        out = handler(*args, **bound, **kwargs)
        values = [out.get(name, gr.skip()) for name in outputs]
        return values[0] if len(values) == 1 else values

    sig = inspect.signature(handler)
    by_name.__signature__ = sig.replace(parameters=[p for p in sig.parameters.values() if p.name not in bound])
    return listener(by_name, [w[n] for n in inputs], [w[n] for n in outputs], **options)


_wire = wire   # the name the tab used before


def hooks() -> SimpleNamespace:
    """What a section's build(ctx, demo, w, hooks) gets: show_latent, current_view, current_latent, wire and
    full_out (FULL_OUT, the outputs of an event whose handler returns show_latent's dict)."""
    return SimpleNamespace(show_latent=show_latent, current_view=current_view, current_latent=current_latent,
                           wire=wire, full_out=FULL_OUT)


def api_only(handler, inputs, outputs, **options):
    """A listener for wire(): a named endpoint with no trigger on the page (for scripts and gradio_client)."""
    return gr.on([], handler, inputs, outputs, **options)


# ------------------------------------------------------------------------------------------------- layout
def build(ctx, demo: gr.Blocks) -> None:
    """Lay out the tab (two columns: the controls, the picture) and wire its events. Then each of SECTIONS builds
    inside the picture column, under the bookmark accordion (so its accordions come next in that column), with
    w (the widgets by name: add yours under prefixed names, e.g. "gallery_grid", to wire() them) and hooks()."""
    entry0 = ctx.catalog.entries.get(ctx.catalog.default_name() or "")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            w = _layout_controls(ctx.catalog, entry0)
        with gr.Column(scale=3, min_width=360):
            w.update(_layout_picture())
            _wire_events(ctx, demo, w)
            h = hooks()
            for path in SECTIONS:
                importlib.import_module(path).build(ctx, demo, w, h)


def _layout_controls(cat, entry0) -> dict:
    """The model, seed, truncation and class pickers, the direction sliders and the raw latent sliders."""
    z_dim0 = entry0.z_dim if entry0 else N_RAW
    cond0 = bool(entry0 and entry0.conditional)
    w = {"model": gr.Dropdown(cat.choices(), value=cat.default_name(), label="Model", allow_custom_value=True,
                              elem_id="explore-model",
                              info="shipped weights, finished runs, and yours (drop a .pth below)")}
    with gr.Accordion("Your own model (.pth)", open=False, elem_id="own-accordion"):
        gr.Markdown("Drop the PyTorch DCGAN example's `netG_epoch_N.pth`, and its `netD_epoch_N.pth` too for D's "
                    "score. It is read as tensors only (a file that holds code is refused, never run), converted, "
                    "and listed as **yours: …** for this page only. At most 200 MB a file.")
        w["own_files"] = gr.File(label="netG (and netD) .pth", file_count="multiple", file_types=[".pth", ".pt"],
                                 type="filepath", elem_id="own-model", height=120)
        w["own_note"] = gr.Markdown("", elem_id="own-note")
    with gr.Row():
        w["seed"] = gr.Number(0, label="Seed", elem_id="seed", scale=3,
                              info=f"any whole number from 0 to {SEED_LIMIT - 1:,}: the same seed is the same image")
        w["random"] = gr.Button("Random", elem_id="random-seed", scale=1, min_width=90)
    w["z_note"] = gr.Markdown(Z_NOTE, visible=False, elem_id="z-note")
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
        gr.Markdown(f"This seed's z (or the latent shown, when it is not a seed's), component by component (the "
                    f"first {N_RAW}, before truncation). "
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
    handler gets the raw value, and the library's check says what is wrong with it. The named endpoints are
    "undocumented" (callable by gradio_client, out of the API page) except /generate."""
    live = dict(trigger_mode="always_last", show_progress="hidden", queue=False, api_visibility="private",
                preprocess=False)
    once = {**live, "trigger_mode": None}
    models = dict(show_progress="minimal", show_progress_on=[w["image"]], api_visibility="private",
                  concurrency_id="models", concurrency_limit=1)
    api = dict(api_visibility="undocumented", concurrency_id="models", concurrency_limit=4)
    own = dict(concurrency_id="own-models", concurrency_limit=1)   # one conversion at a time on the server
    sliders = [("psi", on_psi, {})] + [(d, on_direction, {"index": i}) for i, d in enumerate(DIRS)] + \
              [(r, on_raw, {"index": i}) for i, r in enumerate(RAWS)]
    for name, fn, where in sliders:
        wire(w[name].input, ctx, w, fn, [name], VIEW_OUT, bound=where, **live)
        wire(w[name].release, ctx, w, fn, [name], VIEW_OUT, bound={**where, "release": True}, **live)
    for event in (w["seed"].input, w["seed"].submit):
        wire(event, ctx, w, on_seed, ["seed"], SEED_OUT, **live)
    wire(w["cls"].input, ctx, w, on_class, ["cls"], VIEW_OUT, **live)
    wire(w["random"].click, ctx, w, on_random, [], ["seed", *SEED_OUT], **once)
    wire(w["reset"].click, ctx, w, on_reset, [], [*DIRS, *VIEW_OUT], **once)
    wire(w["ref_timer"].tick, ctx, w, on_reference_tick, [], ["score", "ref_timer"], queue=False,
         show_progress="hidden", api_visibility="private")
    wire(w["model"].focus, ctx, w, on_rescan, [], ["model"], queue=False, show_progress="hidden",
         api_name="explore_models", api_visibility="undocumented")
    wire(w["model"].input, ctx, w, on_model, ["model"], FULL_OUT, **models)
    wire(demo.load, ctx, w, on_load, [], FULL_OUT, **models)
    wire(w["own_files"].upload, ctx, w, on_own_model, ["own_files"], [*FULL_OUT, "own_note", "own_files"],
         **{**models, **own})
    wire(w["save"].click, ctx, w, on_save_bookmark, [], ["bookmark_file", "message"],
         api_name="explore_save_bookmark", api_visibility="undocumented")
    wire(w["load"].upload, ctx, w, on_load_bookmark, ["load"], FULL_OUT, api_visibility="private")
    # the link is made on the server (a latent that is not a seed travels as a code); the browser gives its address
    wire(w["make_link"].click, ctx, w, on_share_link, ["link"], ["link", "message"],
         js="(link) => window.location.origin + window.location.pathname", queue=False, show_progress="hidden",
         api_name="explore_share_link", api_visibility="undocumented")
    # Named endpoints with no trigger on the page, for scripts and tests: what the page's events do, each
    # answering with the picture and the message only.
    wire(api_only, ctx, w, on_own_model, ["own_files"], ["model", "image", "own_note", "message"],
         api_name="explore_own_model", **{**api, **own})
    wire(api_only, ctx, w, on_load_bookmark, ["load"], ["image", "message"], api_name="explore_load_bookmark", **api)
    wire(api_only, ctx, w, on_open_link, ["link"], ["image", "message"], api_name="explore_open_link", **api)
    # The API's /generate: no button on the page (triggers=[]), the same inputs as the page, raw values.
    gr.on([], bind(on_generate, ctx), [w[n] for n in ("seed", "model", "psi", "cls", *DIRS)],
          [w[n] for n in VIEW_OUT], api_name="generate", concurrency_id="models", concurrency_limit=4,
          preprocess=False)


# ---------------------------------------------------------------------------------------- what handlers return
def _error(e: Exception) -> dict:
    return {"message": f"⚠ {e}"}


def _score_text(pipe, v) -> str:
    """D's score in words (gan.render.score_text), and for a D with a cure for mode collapse in its shape, how it
    scored a single sample (GeneratorPipeline.score): a packed D judged a pack of copies of this one, an mbstd D
    took the spread of a batch from its training."""
    from gan.render import score_text

    text = score_text(v.score, pipe.info.get("loss"), v.reference, _subject(pipe))
    cfg = pipe.config
    if v.score is None or not (cfg.pack > 1 or cfg.mbstd):
        return text
    how = []
    if cfg.pack > 1:
        how.append(f"This D judges packs of {cfg.pack} samples (PacGAN): it scored a pack of {cfg.pack} copies of "
                   f"this {_subject(pipe)}.")
    if cfg.mbstd:
        how.append("Its minibatch-std feature took the value it averaged over its training batches.")
    return f"{text}  \n{' '.join(how)}"


def _view_out(pipe, v, with_strip: bool = True) -> dict:
    """The image, D's score in words, an empty message and (with_strip) the neighbours strip for view v."""
    text = _score_text(pipe, v)
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


def _raw_out(pipe, seed, overrides: dict | None = None, z=None) -> dict:
    """The raw sliders: this seed's z, or the latent z when it is not a seed's (with the overrides), one slider
    per component up to N_RAW."""
    from gan.latent import seed_to_z
    from gan.render import check_z

    n = min(pipe.config.z_dim, N_RAW)
    z = check_z(pipe, z)[0] if z is not None else seed_to_z([seed], pipe.config.z_dim, pipe.config.z_dist)[0]
    for i, v in (overrides or {}).items():
        if 0 <= int(i) < n:
            z[int(i)] = float(v)
    return {r: gr.update(value=round(max(-AMOUNT_LIMIT, min(AMOUNT_LIMIT, float(z[i]))), 4), visible=True)
            if i < n else gr.update(visible=False) for i, r in enumerate(RAWS)}


def _whole_view(ctx, sid, name, seed, psi, cls, amounts, raw, choices: bool = False, z=None) -> dict:
    """Every widget for model `name` at this seed (or latent z, when it is not a seed's: see gan.render.check_z),
    truncation, class, directions and raw overrides (checked by the library); the page's view becomes that.
    choices: the model list is sent again (a fresh page, a new own model)."""
    from gan.render import check_amounts, check_label, check_z

    models = _models(ctx, sid)
    entry = models.entry(name)
    pipe = models.get(entry.name)
    seed, psi, label = check_seed(seed), check_truncation(psi), check_label(pipe, cls)
    z = check_z(pipe, z)[0].tolist() if z is not None else None
    basis, why = _basis(ctx, entry.name, sid)
    k = min(basis.k, N_DIRS) if basis is not None else 0
    amounts = check_amounts(amounts)[:k]
    amounts += [0.0] * (N_DIRS - len(amounts))
    st = {"model": entry.name, "seed": seed, "z": z, "psi": psi, "cls": label, "dirs": amounts,
          "raw": dict(raw or {})}
    _, v = _render(ctx, sid, st, reference_wait_s=REFERENCE_WAIT_S)
    pending = _reference(ctx, entry, pipe, models)
    out = {"seed": seed, "psi": psi,
           "cls": gr.update(choices=_class_choices(entry), value=label, visible=label is not None),
           **{d: gr.update(value=amounts[i], visible=i < k,
                           info=f"{basis.explained[i]:.1%} of the early layer's variance" if i < k else None)
              for i, d in enumerate(DIRS)},
           **_raw_out(pipe, seed, st["raw"], z), **_view_out(pipe, v),
           "info": _info_text(entry, pipe, basis, why),
           "dirs_note": DIRS_HEADER if why is None else f"**Discovered directions**: {_no_dirs_text(why)}",
           "reset": gr.update(visible=k > 0),
           # still working out D's scale: the timer shows it when it is ready
           "ref_timer": gr.Timer(active=pending is not None and not pending.done()),
           "z_note": gr.update(visible=z is not None),
           "model": gr.update(choices=models.choices(), value=entry.name) if choices else entry.name}
    if why is not None:  # the raw latent is then the way to move: show it
        out["raw_acc"] = gr.update(open=True)
    _views(ctx).set(sid, st)
    return out


# ------------------------------------------------------------------------------------------- each page's view
def _new_view(ctx) -> dict:
    return {"model": ctx.catalog.default_name(), "seed": 0, "z": None, "psi": 1.0, "cls": None,
            "dirs": [0.0] * N_DIRS, "raw": {}}


def _copy(st: dict) -> dict:
    return {**st, "z": list(st["z"]) if st.get("z") is not None else None, "dirs": list(st["dirs"]),
            "raw": dict(st["raw"])}


class PageViews:
    """Each page's view ({model, seed, z, psi, cls, dirs, raw}) and when its neighbours strip was last drawn, keyed
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
def _models(ctx, sid=None):
    """The models this page can open (gan.own_models.PageCatalog): its own dropped models, then the server's."""
    from gan.own_models import PageCatalog

    own = ctx.shared(OWN_KEY, None) if ctx.has(OWN_KEY) else None
    return PageCatalog(ctx.catalog, own, sid or _sid(None))


def _pipe(ctx, name, sid=None):
    models = _models(ctx, sid)
    return models.get(models.entry(name).name)


def _render(ctx, sid, st: dict, neighbours: bool = True, reference_wait_s: float = 0.0):
    return _view(ctx, st["model"], st["seed"], st["psi"], st["cls"], st["dirs"], raw=st["raw"],
                 neighbours=neighbours, reference_wait_s=reference_wait_s, z=st.get("z"), sid=sid)


def _view(ctx, model, seed, psi, cls, dirs, raw=None, neighbours: bool = True, reference_wait_s: float = 0.0, *,
          z=None, sid=None):
    """(pipeline, gan.render.View) for the widget values (and the latent z when it is not the seed's), on a model
    page `sid` can open, with D's reference scores when they are ready (or become ready within
    reference_wait_s)."""
    from gan import render as ex

    models = _models(ctx, sid)
    entry = models.entry(model)
    pipe = models.get(entry.name)
    basis, _ = _basis(ctx, entry.name, sid)
    label = ex.check_label(pipe, cls)
    amounts = ex.check_amounts(dirs)[: basis.k] if basis is not None else []
    z = ex.latent_for(pipe, seed, psi, basis, amounts, raw, z=z)
    pending = _reference(ctx, entry, pipe, models)
    if pipe.is_points:
        backdrop = models.cached(entry.name, "backdrop", lambda p: ex.points_backdrop(p, p.info.get("dataset")))
        v = ex.render_points_view(pipe, z, label, backdrop, psi, basis, amounts)
    else:
        v = ex.render_image_view(pipe, z, label, basis, amounts, neighbours=neighbours)
    v.reference = _reference_result(pending, reference_wait_s)
    return pipe, v


def _basis(ctx, name: str, sid=None):
    """(GANSpace directions, None), or (None, why) for a model whose directions cannot be computed
    (gan.directions.NoDirections). Such a model still opens in Explore: every model that loads can be looked at,
    through its raw latent components; only a model that fails to load is an error."""
    from gan.directions import NoDirections

    try:
        return _models(ctx, sid).directions(name), None
    except NoDirections as e:
        return None, str(e)


def _no_dirs_text(why: str) -> str:
    return (f"not available for this model ({why}). Move the raw latent components under "
            "*Advanced* instead.")


def _reference(ctx, entry, pipe, models=None):
    """The future of this model's D reference scores (gan.render.score_reference), started once per loaded
    model on the tab's worker; None for a model without D, for a live run (its D changes as it trains) and for a
    visitor's own model (its file does not say what it was trained on)."""
    if pipe.discriminator is None or entry.source in ("live", "yours"):
        return None
    from gan.render import score_reference

    pool = ctx.shared("explore_reference_pool", lambda: ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="ganscope-d-reference"))
    return (models or ctx.catalog).cached(entry.name, "d-reference",
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
    if entry.source == "yours":
        files = i.get("source_files") or {}
        d = f" and its discriminator `{files['discriminator']}`" if files.get("discriminator") else ""
        bits = [f"**{entry.name}**: your file `{files.get('generator', '?')}`{d}, converted from the "
                f"{i.get('converted_from', '?')} layout. Only this page lists it.",
                "What it was trained on is not in the file" + (f"; D's score reads as a {i['loss']} D's."
                                                               if pipe.discriminator is not None and i.get("loss")
                                                               else ".")]
    else:
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
