"""Explore with your own latents: project a drawing or a picture onto the model (GAN inversion), latent
arithmetic A − B + C, and the memorisation check of the image on screen. Each in its own closed accordion under
Explore's picture.

What is computed is the library's: gan.project.project (the latent closest to a picture, with a progress
callback fed to gr.Progress), gan.arithmetic.arithmetic_row (A − B + C drawn as one row), gan.memorisation
(nearest training images and a verdict). This module turns widget values into their arguments and shows what
they return; their GanInputError messages are shown as they are worded.

A visitor's last projection is kept in a gr.State (model, z, class: plain numbers), so the "projection" term of
the arithmetic and "Explore from here" use it; Explore's own view (and the exact latent on screen) is read with
the tab's hooks. The Explore tab calls build(ctx, demo, w, hooks) inside its picture column; this module must not
import gan.ui.explore_tab (the tab imports it).
"""
from __future__ import annotations

import gradio as gr

from gan.errors import GanInputError
from gan.ui.app import said

FIND_CLASS = "find"                 # the projection's class choice "find it": every class is tried
THIS = ("this", "screen")           # an arithmetic term meaning the latent on screen
PROJECTION = ("projection", "projected")   # ... meaning the visitor's last projection
CELL = 168                          # the projection's target and result: 28 px x 6, nearest
STEPS_MAX = 500                     # the page's steps slider (the library takes up to 5,000 from Python)

PROJ_OUT = ["proj_target", "proj_result", "proj_plot", "proj_note", "proj_state", "proj_explore"]
ARITH_OUT = ["arith_row", "arith_note", "arith_state", "arith_explore"]
MEM_OUT = ["mem_figure", "mem_note"]


# ------------------------------------------------------------------------------------------------ helpers
def _big(image_uint8):
    from gan.viz import upscale

    return upscale(image_uint8, CELL)


def _z_of(state):
    """A kept latent (plain numbers in a gr.State) as the (1, z_dim) tensor the library takes."""
    import torch

    return torch.tensor(state["z"], dtype=torch.float32).view(1, -1)


def _class_choices(pipe) -> list:
    names = [str(n) for n in (pipe.info.get("class_names") or [])]
    return [("find it (try every class)", FIND_CLASS)] + \
        [(f"{i}: {names[i]}" if i < len(names) and names[i] != str(i) else str(i), i)
         for i in range(pipe.config.n_classes)]


# ------------------------------------------------------------------------------------------------ projection
def on_project(ctx, drawing, class_choice=FIND_CLASS, steps=None, request: gr.Request = None,
               progress=gr.Progress(), *, hooks) -> dict:
    """Project the sketchpad's drawing (its composite, transparent paper laid over white by the library)."""
    picture = drawing.get("composite") if isinstance(drawing, dict) else drawing
    if picture is None:
        return {"proj_note": "⚠ Draw something on the sketchpad first (or upload a picture)."}
    return _project(ctx, picture, class_choice, steps, request, progress, hooks, "your drawing")


def on_project_upload(ctx, data, class_choice=FIND_CLASS, steps=None, request: gr.Request = None,
                      progress=gr.Progress(), *, hooks) -> dict:
    """Project an uploaded picture file (its bytes: the library reads and checks it)."""
    if not data:
        return {"proj_note": "⚠ The upload was empty."}
    return _project(ctx, data, class_choice, steps, request, progress, hooks, "your picture")


def _project(ctx, picture, class_choice, steps, request, progress, hooks, what: str) -> dict:
    from gan.project import STEPS_DEFAULT, project
    from gan.viz import projection_figure

    view = hooks.current_view(ctx, request)
    try:
        pipe = hooks.current_latent(ctx, request)[0]   # the page's model (its own models included)
        label = None if class_choice in (None, "", FIND_CLASS) or not pipe.config.conditional else class_choice
        total = STEPS_DEFAULT if steps is None else steps

        def tell(step, n, loss):
            progress((step, n), desc=f"Projecting: step {step} of {n}, error {loss:.4f}")

        progress(0, desc="Projecting: scoring random starts")
        result = project(pipe, picture, steps=total, class_label=label, progress=tell)
    except GanInputError as e:
        return {"proj_note": f"⚠ {said(e)}"}
    target, image = result.pictures()
    did = [d for d, on in (("inverted (dark on light became light on dark, as the model's training images)",
                            result.inverted), ("cropped, scaled and centred as MNIST's digits",
                                               result.framed)) if on]
    cls = "" if result.class_label is None else f" as class **{result.class_label}**"
    note = (f"Found the latent closest to {what}{cls}: pixel error {result.loss:.4f} after {result.steps} steps "
            f"in {result.seconds:.1f} s on **{view['model']}**."
            + (f" Your picture was {' and '.join(did)} first." if did else "")
            + " **Explore from here** opens it in Explore, where the sliders move it like any seed.")
    state = {"model": view["model"], "z": [float(v) for v in result.z.reshape(-1).tolist()],
             "cls": result.class_label, "loss": result.loss}
    return {"proj_target": _big(target), "proj_result": _big(image),
            "proj_plot": projection_figure(result.losses, f"Projection on {view['model']}"),
            "proj_note": note, "proj_state": state, "proj_explore": gr.update(interactive=True)}


def on_explore_projection(ctx, state, request: gr.Request = None, *, hooks) -> dict:
    """The last projection's latent (and class) as Explore's view."""
    if not state:
        return {"proj_note": "⚠ Project a picture first."}
    try:
        out = hooks.show_latent(ctx, request, model=state["model"], z=_z_of(state), cls=state["cls"], psi=1.0)
    except GanInputError as e:
        return {"proj_note": f"⚠ {said(e)}"}
    return {**out, "proj_note": f"The projection is open in Explore above, on **{state['model']}** (its raw "
                                "latent: move the directions and the raw components as with a seed; share it "
                                "with the link or a bookmark)."}


def on_model_shown(ctx, request: gr.Request = None, *, hooks) -> dict:
    """Explore shows another model: the projection's class choice follows it (hidden for an unconditional one)."""
    try:
        pipe = hooks.current_latent(ctx, request)[0]
    except GanInputError:
        return {}
    cond = bool(pipe.config.conditional)
    return {"proj_cls": gr.update(choices=_class_choices(pipe) if cond else [(FIND_CLASS, FIND_CLASS)],
                                  value=FIND_CLASS, visible=cond)}


# ------------------------------------------------------------------------------------------------ arithmetic
def _term(ctx, hooks, request, model: str, text, what: str, projection):
    """An arithmetic term: "this" (the latent on screen), "projection" (the last one), or the library's text."""
    from gan.arithmetic import Term

    word = str(text or "").strip().lower()
    if word in THIS:
        _, z, label = hooks.current_latent(ctx, request)
        return Term(z, label, "this image")
    if word in PROJECTION:
        if not projection:
            raise GanInputError(f"term {what} is the projection, but there is none yet: project a picture first "
                                "(Projection, above)")
        if projection["model"] != model:
            raise GanInputError(f"term {what}: the last projection was made on {projection['model']!r}, not on "
                                f"{model!r}; project again on this model")
        return Term(_z_of(projection), projection["cls"], "projection")
    return text


def on_arithmetic(ctx, a, b, c, projection=None, request: gr.Request = None, *, hooks) -> dict:
    """A − B + C with the page's model, truncation (for seed terms) and class (for terms that name none)."""
    from gan.arithmetic import arithmetic_row

    view = hooks.current_view(ctx, request)
    try:
        pipe = hooks.current_latent(ctx, request)[0]
        terms = [_term(ctx, hooks, request, view["model"], t, n, projection)
                 for t, n in zip((a, b, c), "ABC")]
        row = arithmetic_row(pipe, *terms, truncation=view["psi"], label=view["cls"])
    except GanInputError as e:
        return {"arith_note": f"⚠ {said(e)}"}
    state = {"model": view["model"], "z": [float(v) for v in row.z.reshape(-1).tolist()], "cls": row.label}
    names = ", ".join(f"{n} = {t.name}" for n, t in zip("ABC", row.terms))
    return {"arith_row": row.image, "arith_state": state, "arith_explore": gr.update(interactive=True),
            "arith_note": f"A − B + C on **{view['model']}** ({names}; seeds at ψ {view['psi']:g}). "
                          "**Explore the result** opens it in Explore."}


def on_explore_arithmetic(ctx, state, request: gr.Request = None, *, hooks) -> dict:
    if not state:
        return {"arith_note": "⚠ Compute A − B + C first."}
    try:
        out = hooks.show_latent(ctx, request, model=state["model"], z=_z_of(state), cls=state["cls"], psi=1.0)
    except GanInputError as e:
        return {"arith_note": f"⚠ {said(e)}"}
    return {**out, "arith_note": f"A − B + C is open in Explore above, on **{state['model']}**."}


# ------------------------------------------------------------------------------------------------ memorisation
def on_memorisation(ctx, request: gr.Request = None, progress=gr.Progress(), *, hooks) -> dict:
    """The image on screen against the model's training images: its 5 nearest (pixels, classifier features),
    each distance read against the typical one, and the verdict; or why the check is not available."""
    from gan.memorisation import memorisation_figure, nearest_training_images

    try:
        pipe, z, label = hooks.current_latent(ctx, request)
        progress(0, desc="Comparing with the training images (the first check loads them)")
        image = pipe.decode(z, None if label is None else [label])[0]
        m = nearest_training_images(pipe, image)
    except GanInputError as e:
        return {"mem_figure": None, "mem_note": f"⚠ {said(e)}"}
    if not m.available:
        return {"mem_figure": None, "mem_note": m.reason}
    lines = [m.verdict]
    for nb in (m.pixels, m.features):
        if nb is None:
            continue
        where = "In pixels" if nb.space == "pixels" else "In the classifier's features"
        near = ", ".join(f"#{i} at {d:.2f}" for i, d in zip(nb.indices, nb.distances))
        lines.append(f"{where}: {near} (two real training images are typically {nb.typical:.2f} apart).")
    lines.append(f"Searched all {m.n_train:,} training images of {m.dataset}; first row: nearest in pixels, "
                 "second: in the classifier's features; under each, its distance over the typical one.")
    return {"mem_figure": memorisation_figure(m), "mem_note": "  \n".join(lines)}


# ------------------------------------------------------------------------------------------------ layout
def build(ctx, demo: gr.Blocks, w: dict, hooks) -> None:
    """Three closed accordions (projection, arithmetic, memorisation) and their events."""
    from gan.project import STEPS_DEFAULT

    x = {}
    with gr.Accordion("Projection: find your own image in the model", open=False, elem_id="projection-accordion"):
        gr.Markdown("Draw a digit or upload a picture: the app searches the model's latent space for the z "
                    "(and, for a conditional model, the class) whose image is closest, then you can explore it.")
        with gr.Row(equal_height=False):
            with gr.Column(min_width=300):
                x["proj_sketch"] = gr.Sketchpad(label="Draw here", elem_id="proj-sketch", type="numpy",
                                                canvas_size=(280, 280), fixed_canvas=True, layers=False,
                                                transforms=(), height=360,
                                                brush=gr.Brush(colors=["#000000"], default_size=20,
                                                               color_mode="fixed"))
                x["proj_go"] = gr.Button("Project the drawing", variant="primary", elem_id="proj-go")
                x["proj_upload"] = gr.UploadButton("…or project a picture file", file_types=["image"],
                                                   type="binary", elem_id="proj-upload")
            with gr.Column(min_width=300):
                x["proj_cls"] = gr.Dropdown([(FIND_CLASS, FIND_CLASS)], value=FIND_CLASS, label="class",
                                            visible=False, elem_id="proj-class",
                                            info="a conditional model's class, or find it")
                x["proj_steps"] = gr.Slider(10, STEPS_MAX, value=STEPS_DEFAULT, step=10, label="steps",
                                            elem_id="proj-steps", info="optimisation steps: more is closer, slower")
                with gr.Row():   # captions above, not Gradio's label, which would cover the digit's top
                    with gr.Column(min_width=140):
                        gr.Markdown("**Target**, as the model sees it")
                        x["proj_target"] = gr.Image(label="Target (as the model sees it)", elem_id="proj-target",
                                                    format="png", interactive=False, show_label=False,
                                                    buttons=["download"])
                    with gr.Column(min_width=140):
                        gr.Markdown("**Closest image** the model draws")
                        x["proj_result"] = gr.Image(label="Closest image the model draws", elem_id="proj-result",
                                                    format="png", interactive=False, show_label=False,
                                                    buttons=["download"])
        x["proj_note"] = gr.Markdown("", elem_id="proj-note")
        x["proj_plot"] = gr.Plot(label="Error against the step", elem_id="proj-plot")
        x["proj_explore"] = gr.Button("Explore from here", interactive=False, elem_id="proj-explore")
    with gr.Accordion("Latent arithmetic: A − B + C", open=False, elem_id="arithmetic-accordion"):
        gr.Markdown("Each term is a seed (`3`), the mean of several (`3, 7, 12` or `10-14`; Radford et al. 2016 "
                    "averaged three per concept), `this` (the image above) or `projection` (your last "
                    "projection). Seeds use the truncation above; on a conditional model the result is drawn "
                    "with C's class (`3:5` is seed 3 as class 5).")
        with gr.Row():
            x["arith_a"] = gr.Textbox("this", label="A", elem_id="arith-a", max_lines=1)
            x["arith_b"] = gr.Textbox("1, 2, 3", label="B", elem_id="arith-b", max_lines=1)
            x["arith_c"] = gr.Textbox("4, 5, 6", label="C", elem_id="arith-c", max_lines=1)
        with gr.Row():
            x["arith_go"] = gr.Button("Compute A − B + C", variant="primary", elem_id="arith-go")
            x["arith_explore"] = gr.Button("Explore the result", interactive=False, elem_id="arith-explore")
        x["arith_note"] = gr.Markdown("", elem_id="arith-note")
        x["arith_row"] = gr.Image(label="A − B + C", elem_id="arith-row", format="png", interactive=False,
                                  buttons=["download"])
    with gr.Accordion("Memorisation check: is this image a copy?", open=False, elem_id="memorisation-accordion"):
        gr.Markdown("The image above against every training image of its model: the 5 nearest in pixels and in "
                    "the quality classifier's features, each distance compared with the typical distance "
                    "between two real training images (0 is a copy; about 1, as new as a real image).")
        x["mem_go"] = gr.Button("Check the image above", elem_id="mem-go")
        x["mem_note"] = gr.Markdown("", elem_id="mem-note")
        x["mem_figure"] = gr.Image(label="Nearest training images", elem_id="mem-figure", format="png",
                                   interactive=False, buttons=["download"])
    x["proj_state"] = gr.State(None)     # this visitor's last projection: model, z, class, loss
    x["arith_state"] = gr.State(None)    # the last A − B + C: model, z, class
    _wire(ctx, w, x, hooks)


def _wire(ctx, w: dict, x: dict, hooks) -> None:
    names, bound = {**w, **x}, {"hooks": hooks}
    slow = dict(api_visibility="private", concurrency_id="explore-tools", concurrency_limit=1)
    opens = dict(show_progress="minimal", api_visibility="private", concurrency_id="models", concurrency_limit=1)
    inputs = ["proj_cls", "proj_steps"]
    hooks.wire(x["proj_go"].click, ctx, names, on_project, ["proj_sketch", *inputs], PROJ_OUT, bound=bound,
               show_progress="full", show_progress_on=[x["proj_result"]], **slow)
    hooks.wire(x["proj_upload"].upload, ctx, names, on_project_upload, ["proj_upload", *inputs], PROJ_OUT,
               bound=bound, show_progress="full", show_progress_on=[x["proj_result"]], **slow)
    hooks.wire(x["proj_explore"].click, ctx, names, on_explore_projection, ["proj_state"],
               [*hooks.full_out, "proj_note"], bound=bound, **opens)
    hooks.wire(w["info"].change, ctx, names, on_model_shown, [], ["proj_cls"], bound=bound, queue=False,
               show_progress="hidden", api_visibility="private")
    hooks.wire(x["arith_go"].click, ctx, names, on_arithmetic, ["arith_a", "arith_b", "arith_c", "proj_state"],
               ARITH_OUT, bound=bound, show_progress="minimal", **slow)
    hooks.wire(x["arith_explore"].click, ctx, names, on_explore_arithmetic, ["arith_state"],
               [*hooks.full_out, "arith_note"], bound=bound, **opens)
    hooks.wire(x["mem_go"].click, ctx, names, on_memorisation, [], MEM_OUT, bound=bound, show_progress="full",
               show_progress_on=[x["mem_figure"]], **slow)
