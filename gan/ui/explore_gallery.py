"""Explore's gallery: 64 samples of the page's model at once (seeds start .. start + 63, with the view's class and
truncation), a page back or on, and a click on a tile opens that seed in Explore.

The grid is one picture (gan.viz.tile_grid: one batched decode, one PNG), shown in a gr.Image whose select event
gives the pixel clicked; gan.viz.tile_at turns it into the tile, and the grid's own record (a gr.State: which
model, seeds, class and ψ it shows) into the seed. The picture shown is the one the `gallery` endpoint returns.

The Explore tab calls build(ctx, demo, w, hooks) inside its picture column: `w` is its widget dict, `hooks` its
way to read the page's view (current_view), to show a latent (show_latent) and to wire a handler that returns
{widget name: value} (wire). This module must not import gan.ui.explore_tab (the tab imports it).
"""
from __future__ import annotations

import gradio as gr

from gan.errors import GanInputError
from gan.ui.app import bind, call_library, said

N_TILES = 64
COLUMNS = 8
OPEN_TITLE = "Gallery: 64 samples at once"
POINTS_NOTE = ("The gallery is for image models: this model draws 2-D points, and Explore's scatter already shows "
               "512 of them at once.")

# This module's widget names (prefixed, so they never clash with the Explore tab's).
OUT = ["gal_grid", "gal_seeds", "gal_start", "gal_state", "gal_note"]


# ------------------------------------------------------------------------------------------------ the picture
def gallery_picture(pipe, start, truncation=1.0, class_label=None, n: int = N_TILES):
    """(uint8 grid picture, the seeds row by row, the class used) for seeds start .. start + n - 1 of an image
    model: one batched decode at this truncation and class, tiles upscaled to a size a pointer can pick."""
    from gan.latent import SEED_LIMIT, check_seed, check_truncation
    from gan.render import check_label
    from gan.viz import tile_grid

    if pipe.is_points:
        raise _points_refusal()
    start, psi, label = check_seed(start), check_truncation(truncation), check_label(pipe, class_label)
    if start + n > SEED_LIMIT:
        raise GanInputError(f"the gallery's first seed must be at most {SEED_LIMIT - n:,} (it shows {n} seeds "
                            f"from there, and seeds end at {SEED_LIMIT - 1:,}); you typed {start:,}")
    seeds = list(range(start, start + n))
    images = pipe.decode(pipe.latents(seeds, psi), None if label is None else label)
    return tile_grid(images, COLUMNS), seeds, label


def _points_refusal() -> GanInputError:
    return GanInputError(POINTS_NOTE)


# ------------------------------------------------------------------------------------------------ handlers
def on_show(ctx, start=None, request: gr.Request = None, *, hooks, shift: int = 0) -> dict:
    """Draw the gallery of the page's model, class and ψ from seed `start` + shift (an empty box: seed 0; the
    previous page never goes below seed 0)."""
    view = hooks.current_view(ctx, request)
    try:
        first = 0 if start is None or start == "" else start
        if shift:
            from gan.latent import check_seed

            first = max(0, check_seed(first) + shift)
        pipe = hooks.current_latent(ctx, request)[0]   # the page's model (its own models included)
        if pipe.is_points:  # not an error of the user's: the grid goes, the note says why
            return {"gal_grid": None, "gal_seeds": [], "gal_state": None, "gal_note": POINTS_NOTE}
        picture, seeds, label = gallery_picture(pipe, first, view["psi"], view["cls"])
    except GanInputError as e:
        return {"gal_note": f"⚠ {said(e)}"}
    state = {"model": view["model"], "psi": view["psi"], "cls": label, "seeds": seeds,
             "image_size": pipe.config.image_size}
    cls = "" if label is None else f", class {_class_name(pipe, label)}"
    note = (f"Seeds **{seeds[0]:,} to {seeds[-1]:,}** of **{view['model']}**{cls}, truncation ψ {view['psi']:g}, "
            "row by row from the top left. Click one to open it in Explore above. (Changed the class or ψ "
            "above? **Redraw** shows them.)")
    return {"gal_grid": picture, "gal_seeds": seeds, "gal_start": seeds[0], "gal_state": state, "gal_note": note}


def on_model_shown(ctx, is_open, start=None, request: gr.Request = None, *, hooks) -> dict:
    """Explore shows another model (its description changed): redraw if the gallery is open, else nothing."""
    return on_show(ctx, start, request, hooks=hooks) if is_open else {}


def on_pick(ctx, state, evt: gr.SelectData, request: gr.Request = None, *, hooks) -> dict:
    """A click on the grid: the tile under the pointer opens as Explore's seed (with the grid's class and ψ)."""
    from gan.viz import tile_at

    if not state:
        return {"gal_note": "⚠ The gallery has not been drawn yet."}
    where = evt.index if isinstance(evt.index, (list, tuple)) and len(evt.index) == 2 else (None, None)
    index = tile_at(where[0], where[1], len(state["seeds"]), state["image_size"], COLUMNS)
    if index is None:
        return {}  # the white gap between two tiles
    seed = state["seeds"][index]
    try:
        out = hooks.show_latent(ctx, request, model=state["model"], seed=seed, cls=state["cls"], psi=state["psi"])
    except GanInputError as e:
        return {"gal_note": f"⚠ {said(e)}"}
    return {**out, "gal_note": f"Seed **{seed:,}** is open in Explore above (tile {index + 1} of "
                               f"{len(state['seeds'])})."}


def api_gallery(ctx, model=None, start_seed=0, truncation=1.0, class_label=None):
    """64 samples of a model (None: the default model), seeds start_seed .. start_seed + 63, as one grid picture
    (8 tiles a row), and the list of those seeds in the grid's order (row by row)."""
    def draw():
        name = ctx.catalog.entry(model if model not in (None, "") else ctx.catalog.default_name()).name
        picture, seeds, _ = gallery_picture(ctx.catalog.get(name), start_seed, truncation, class_label)
        return picture, seeds

    return call_library(draw)


def _class_name(pipe, label: int) -> str:
    names = [str(n) for n in (pipe.info.get("class_names") or [])]
    return names[label] if label < len(names) and names[label] != str(label) else str(label)


# ------------------------------------------------------------------------------------------------ layout
def build(ctx, demo: gr.Blocks, w: dict, hooks) -> None:
    """The gallery accordion (closed: nothing is drawn until it opens) and its events."""
    g = {}
    with gr.Accordion(OPEN_TITLE, open=False, elem_id="gallery-accordion") as acc:
        gr.Markdown("A page of samples of the model above, with its class and truncation: see what it makes "
                    "at a glance, then click one to explore it.")
        with gr.Row(equal_height=True):
            g["gal_prev"] = gr.Button("◀ Previous 64", elem_id="gallery-prev", min_width=100, scale=1)
            g["gal_start"] = gr.Number(0, label="First seed", elem_id="gallery-start", scale=2)
            g["gal_next"] = gr.Button("Next 64 ▶", elem_id="gallery-next", min_width=100, scale=1)
            g["gal_redraw"] = gr.Button("Redraw", elem_id="gallery-redraw", min_width=80, scale=1)
        g["gal_note"] = gr.Markdown("", elem_id="gallery-note")
        g["gal_grid"] = gr.Image(label="Gallery (click a sample to open it)", elem_id="gallery-grid",
                                 format="png", interactive=False, buttons=["download"], show_label=False,
                                 alt_text="A grid of 64 generated samples, 8 a row, seeds counting up from the "
                                          "first seed row by row; clicking one opens it in Explore")
        g["gal_seeds"] = gr.JSON(visible=False, label="Seeds, row by row")
    g["gal_state"] = gr.State(None)     # what the grid shows: model, seeds, class, ψ, image size
    g["gal_open"] = gr.State(False)
    names = {**w, **g}
    draw = dict(show_progress="minimal", show_progress_on=[g["gal_grid"]], api_visibility="private",
                concurrency_id="explore-gallery", concurrency_limit=2)
    hooks.wire(acc.expand, ctx, names, on_show, ["gal_start"], OUT, bound={"hooks": hooks}, **draw)
    acc.expand(lambda: True, None, g["gal_open"], queue=False, api_visibility="private")
    acc.collapse(lambda: False, None, g["gal_open"], queue=False, api_visibility="private")
    for event in (g["gal_start"].submit, g["gal_redraw"].click):
        hooks.wire(event, ctx, names, on_show, ["gal_start"], OUT, bound={"hooks": hooks}, **draw)
    for button, shift in (("gal_prev", -N_TILES), ("gal_next", N_TILES)):
        hooks.wire(g[button].click, ctx, names, on_show, ["gal_start"], OUT,
                   bound={"hooks": hooks, "shift": shift}, **draw)
    hooks.wire(w["info"].change, ctx, names, on_model_shown, ["gal_open", "gal_start"], OUT,
               bound={"hooks": hooks}, **{**draw, "show_progress": "hidden"})
    hooks.wire(g["gal_grid"].select, ctx, names, on_pick, ["gal_state"], [*hooks.full_out, "gal_note"],
               bound={"hooks": hooks}, show_progress="minimal", api_visibility="private",
               concurrency_id="models", concurrency_limit=1)
    # The API's /gallery: no trigger on the page, raw values checked by the library.
    gr.on([], bind(api_gallery, ctx), [w["model"], g["gal_start"], w["psi"], w["cls"]],
          [g["gal_grid"], g["gal_seeds"]], api_name="gallery", concurrency_id="explore-gallery",
          concurrency_limit=2, preprocess=False)
