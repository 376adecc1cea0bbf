"""Explore with your own image and your own model (issue 19): the gallery (64 seeds, a click opens one), projection
of a drawing, latent arithmetic A − B + C and the memorisation check. Handlers are driven directly with stand-in
hooks (the Explore tab's, as a plain namespace) where that says enough; the gallery endpoint through
gradio_client; the gallery click and the drawing → projection → Explore → share link flow in Chromium."""
from __future__ import annotations

import io
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image


# ------------------------------------------------------------------------------------------- stand-in hooks
class Hooks(SimpleNamespace):
    """The Explore tab's hooks for handler tests: a page's view as a dict, show_latent recorded."""

    def __init__(self, catalog, **view):
        super().__init__(view={"model": "tiny-mnist", "seed": 0, "z": None, "psi": 1.0, "cls": None,
                               "dirs": [], "raw": {}, **view}, shown=[], catalog=catalog)

    def current_view(self, ctx, request):
        return dict(self.view)

    def current_latent(self, ctx, request):
        from gan.render import latent_for

        pipe = self.catalog.get(self.view["model"])
        z = self.view["z"] if self.view["z"] is not None else latent_for(pipe, self.view["seed"], self.view["psi"])
        return pipe, z, self.view["cls"] if pipe.config.conditional else None

    def show_latent(self, ctx, request, *, model, seed=None, z=None, cls=None, psi=None):
        self.shown.append(dict(model=model, seed=seed, z=z, cls=cls, psi=psi))
        self.view.update(model=model, seed=seed, z=z, cls=cls, psi=1.0 if psi is None else psi)
        return {"seed": seed, "image": "drawn"}


@pytest.fixture(scope="module")
def ctx(weights_dir, runs_dir):
    from gan.catalog import Catalog
    from gan.ui.app import AppContext

    c = AppContext(Catalog(weights_dir, runs_dir, device="cpu"))
    yield c
    c.close()


@pytest.fixture
def small_training_sets(monkeypatch):
    """The memorisation check against the first 1,000 training images instead of all (the whole of the bundled
    MNIST takes 10 s to embed on a busy 2-core box); the library's cache is emptied before and after, so no other
    test sees the cut set."""
    from gan import data, memorisation

    real = data.load_dataset

    def first_1000(*args, **kwargs):
        ds = real(*args, **kwargs)
        ds.data = ds.data[:1000]
        ds.labels = None if ds.labels is None else ds.labels[:1000]
        return ds

    memorisation.clear_cache()
    monkeypatch.setattr(data, "load_dataset", first_1000)
    yield
    memorisation.clear_cache()


def drawing_of_a_one(side: int = 280) -> dict:
    """What the sketchpad sends: an RGBA composite, a dark vertical stroke on transparent paper."""
    a = np.zeros((side, side, 4), np.uint8)
    a[side // 5: side - side // 5, side // 2 - 12: side // 2 + 12] = (0, 0, 0, 255)
    return {"background": None, "layers": [], "composite": a}


# ------------------------------------------------------------------------------------------------ gallery
def test_gallery_is_one_batched_grid_of_64_seeds_in_order(ctx):
    from gan.ui.explore_gallery import gallery_picture
    from gan.viz import tile_at

    pipe = ctx.catalog.get("tiny-mnist")
    calls = []
    handle = pipe.generator.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    try:
        grid, seeds, label = gallery_picture(pipe, 10, 0.7)
    finally:
        handle.remove()
    assert calls == [64]                                     # one batched decode
    assert seeds == list(range(10, 74)) and label is None
    assert grid.shape == (8 * 58 + 2, 8 * 58 + 2)            # 28 px tiles at 56 px, 2 px apart
    # tile 9 (row 1, column 1) is seed 19's image at ψ 0.7, upscaled x2
    want = pipe(seeds=[19], truncation=0.7, output_type="np")[0].repeat(2, 0).repeat(2, 1)
    x0 = y0 = 2 + 58
    assert tile_at(x0 + 10, y0 + 10, 64, 28) == 9
    assert np.abs(grid[y0:y0 + 56, x0:x0 + 56].astype(int) - want).max() <= 1
    assert tile_at(x0 - 1, y0 + 10, 64, 28) is None          # the white gap between two tiles


def test_a_click_opens_that_seed_and_points_models_get_a_message(ctx):
    from gan.errors import GanInputError
    from gan.ui import explore_gallery as eg

    hooks = Hooks(ctx.catalog, model="tiny-mnist-cond", cls=3, psi=0.8)
    out = eg.on_show(ctx, 128, hooks=hooks, shift=-64)
    assert out["gal_seeds"] == list(range(64, 128)) and out["gal_start"] == 64
    assert "class 3" in out["gal_note"] and "0.8" in out["gal_note"]
    step = 58                                                # tile 56 px + 2 px gap
    picked = eg.on_pick(ctx, out["gal_state"], SimpleNamespace(index=[2 + 5 * step + 3, 2 + 2 * step + 3]),
                        hooks=hooks)
    assert hooks.shown[-1] == dict(model="tiny-mnist-cond", seed=64 + 2 * 8 + 5, z=None, cls=3, psi=0.8)
    assert picked["seed"] == 85 and "85" in picked["gal_note"]
    assert eg.on_show(ctx, 0, hooks=Hooks(ctx.catalog, model="tiny-grid25"))["gal_note"] == eg.POINTS_NOTE
    with pytest.raises(GanInputError, match="at most"):
        eg.gallery_picture(ctx.catalog.get("tiny-mnist"), 2**32 - 10)


# ------------------------------------------------------------------------------------------------ projection
def test_projection_of_a_drawing_is_kept_and_opens_in_explore(ctx):
    from gan.ui import explore_latent as el

    hooks = Hooks(ctx.catalog)
    progress = []
    out = el.on_project(ctx, drawing_of_a_one(), el.FIND_CLASS, 20,
                        progress=lambda *a, **k: progress.append(a[0]), hooks=hooks)
    assert out["proj_target"].shape == (el.CELL, el.CELL) and out["proj_result"].shape == (el.CELL, el.CELL)
    assert out["proj_target"][0, 0] == 0 and out["proj_target"].max() == 255   # inverted: light on black
    state = out["proj_state"]
    assert state["model"] == "tiny-mnist" and len(state["z"]) == 16 and state["cls"] is None
    assert progress[-1] == (20, 20)                          # the library's callback reached gr.Progress
    assert out["proj_plot"].axes[0].get_xlabel() == "optimisation step"
    opened = el.on_explore_projection(ctx, state, hooks=hooks)
    assert torch.equal(hooks.shown[-1]["z"], torch.tensor([state["z"]]))
    assert "open in Explore" in opened["proj_note"]
    # bad input: the library's own words
    junk = el.on_project_upload(ctx, b"not a picture", el.FIND_CLASS, 20, progress=lambda *a, **k: None,
                                hooks=hooks)
    assert junk["proj_note"].startswith("⚠ the upload is not an image that can be read")
    assert "Draw something" in el.on_project(ctx, {"composite": None}, hooks=hooks)["proj_note"]


# ------------------------------------------------------------------------------------------------ arithmetic
def test_arithmetic_takes_seeds_this_and_the_projection(ctx):
    from gan.arithmetic import arithmetic_row
    from gan.ui import explore_latent as el

    hooks = Hooks(ctx.catalog, seed=7, psi=0.9)
    pipe = ctx.catalog.get("tiny-mnist")
    out = el.on_arithmetic(ctx, "this", "this", "4, 5, 6", None, hooks=hooks)
    assert torch.allclose(torch.tensor([out["arith_state"]["z"]]), pipe.latents([4, 5, 6], 0.9).mean(0, True),
                          atol=1e-6)                         # this − this + C is C
    assert out["arith_row"].shape == arithmetic_row(pipe, "1", "2", "3").image.shape
    projection = {"model": "tiny-mnist", "z": [0.5] * 16, "cls": None, "loss": 0.1}
    out = el.on_arithmetic(ctx, "projection", "3", "3", projection, hooks=hooks)
    assert out["arith_state"]["z"] == pytest.approx([0.5] * 16, abs=1e-6)
    el.on_explore_arithmetic(ctx, out["arith_state"], hooks=hooks)
    assert hooks.shown[-1]["z"].shape == (1, 16)
    assert "no" in el.on_arithmetic(ctx, "projection", "1", "2", None, hooks=hooks)["arith_note"]
    other = {**projection, "model": "tiny-mnist-cond"}
    assert "project again" in el.on_arithmetic(ctx, "projection", "1", "2", other, hooks=hooks)["arith_note"]
    assert el.on_arithmetic(ctx, "1, x", "1", "2", None, hooks=hooks)["arith_note"].startswith("⚠ term A")


# ------------------------------------------------------------------------------------------------ memorisation
def test_memorisation_check_gives_the_verdict_or_why_not(ctx, small_training_sets):
    from gan.ui import explore_latent as el

    hooks = Hooks(ctx.catalog, seed=3)
    out = el.on_memorisation(ctx, progress=lambda *a, **k: None, hooks=hooks)
    assert "typical distance between two real digits" in out["mem_note"]
    assert "In pixels: #" in out["mem_note"] and out["mem_figure"].ndim == 3
    assert "all 1,000 training images" in out["mem_note"]
    pipe = ctx.catalog.get("tiny-mnist")
    hooks.current_latent = lambda c, r: (SimpleNamespace(**{**vars(pipe), "info": {}, "decode": pipe.decode,
                                                             "is_points": False}), pipe.latents([3]), None)
    out = el.on_memorisation(ctx, progress=lambda *a, **k: None, hooks=hooks)
    assert out["mem_figure"] is None and "does not say which images it was trained on" in out["mem_note"]


# ------------------------------------------------------------------------------------------------ the server
def test_gallery_endpoint_returns_the_grid_and_its_seeds(client):
    grid, seeds = client.predict(model="tiny-mnist", start_seed=100, truncation=0.8, class_label=None,
                                 api_name="/gallery")
    assert seeds == list(range(100, 164))
    assert Image.open(grid).size == (8 * 58 + 2, 8 * 58 + 2)
    _, cond = client.predict(model="tiny-mnist-cond", start_seed=0, truncation=1.0, class_label=4,
                             api_name="/gallery")
    assert cond == list(range(64))
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="image models"):
        client.predict(model="tiny-grid25", start_seed=0, truncation=1.0, class_label=None, api_name="/gallery")


# ------------------------------------------------------------------------------------------------ the page
def _open(page, url):
    from playwright.sync_api import expect

    page.goto(url + "?model=tiny-mnist&seed=0")              # a known seed, not the rule's opening one
    img = page.locator("#generated img")
    expect(img).to_be_visible(timeout=60_000)
    expect(page.locator("#seed input")).to_have_value("0", timeout=30_000)
    return img


def _pixels(page, img) -> np.ndarray:
    """The picture an <img> shows, as the server sent it."""
    return np.asarray(Image.open(io.BytesIO(page.request.get(img.get_attribute("src")).body())).convert("L"))


def _click_natural(img, x: float, y: float) -> None:
    """Click an <img> at pixel (x, y) of the picture itself, wherever the browser scaled and placed it (the
    object-fit: contain mapping Gradio's select event reverses)."""
    box = img.bounding_box()
    nw, nh = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    r = min(box["width"] / nw, box["height"] / nh, 1)
    img.click(position={"x": (box["width"] - nw * r) / 2 + x * r, "y": (box["height"] - nh * r) / 2 + y * r})


def test_clicking_a_gallery_tile_opens_that_seed(page, app_url):
    from playwright.sync_api import expect

    img = _open(page, app_url)
    page.locator("#gallery-accordion").click()
    grid = page.locator("#gallery-grid img")
    expect(grid).to_be_visible(timeout=30_000)
    page.locator("#gallery-next").click()
    expect(page.locator("#gallery-note")).to_contain_text("64 to 127", timeout=15_000)
    expect(page.locator("#gallery-start input")).to_have_value("64")
    before = img.get_attribute("src")
    _click_natural(grid, 2 + 2 * 58 + 28, 2 + 1 * 58 + 28)     # row 1, column 2: the 11th tile, seed 74
    expect(page.locator("#seed input")).to_have_value("74", timeout=15_000)
    expect(img).not_to_have_attribute("src", before, timeout=15_000)


def test_draw_project_explore_share_and_check(page, browser, app_url, small_training_sets):
    """A drawing on the sketchpad, projected, opened in Explore, shared as a link that a fresh page opens on the
    same image; then the memorisation check of it."""
    from playwright.sync_api import expect

    img = _open(page, app_url)
    page.locator("#projection-accordion").click()
    canvas = page.locator("#proj-sketch canvas").first
    expect(canvas).to_be_visible(timeout=15_000)
    page.locator("#proj-sketch").get_by_role("button", name="Brush").click()   # Gradio starts with no tool
    box = canvas.bounding_box()
    x, top = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2
    page.mouse.move(x, top)
    page.mouse.down()
    for i in range(1, 4):                                     # a vertical stroke: a "1" (the brush joins the points)
        page.mouse.move(x + i * 2, top + i * box["height"] * 0.2)
    page.mouse.up()
    steps = page.locator("#proj-steps input[type=number]")   # the fewest steps the page offers: the flow, not the fit
    steps.fill("10")
    steps.press("Enter")
    page.locator("#proj-go").click()
    expect(page.locator("#proj-note")).to_contain_text("Found the latent", timeout=30_000)
    expect(page.locator("#proj-note")).to_contain_text("after 10 steps")      # the page's steps reach the library
    expect(page.locator("#proj-result img")).to_be_visible()
    before = img.get_attribute("src")
    page.locator("#proj-explore").click()
    expect(img).not_to_have_attribute("src", before, timeout=15_000)
    expect(page.locator("#z-note")).to_be_visible()
    shown = _pixels(page, img)
    page.locator("#bookmark-accordion").click()
    page.locator("#make-link").click()
    link = page.locator("#share-link textarea")
    expect(link).to_have_value(re.compile(r"[?&]z="), timeout=15_000)
    fresh = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()   # another visitor
    fresh.goto(link.input_value())
    again = fresh.locator("#generated img")
    expect(fresh.locator("#z-note")).to_be_visible(timeout=60_000)
    assert np.abs(_pixels(fresh, again).astype(int) - shown.astype(int)).max() <= 8   # z travels as float16
    fresh.context.close()
    page.locator("#memorisation-accordion").click()
    page.locator("#mem-go").click()
    expect(page.locator("#mem-note")).to_contain_text("typical distance between two real digits", timeout=30_000)
    expect(page.locator("#mem-figure img")).to_be_visible()


def test_the_onnx_section_exports_the_model_on_screen_and_onnxruntime_runs_it(ctx):
    """Explore's "Download as ONNX" writes the page's model (gan.export), named per page, and says how to call it;
    the file runs in onnxruntime and draws what torch draws for the same z."""
    import numpy as np
    import onnxruntime as ort

    from gan.ui.explore_export import on_export

    hooks = Hooks(ctx.catalog, model="tiny-mnist-cond", cls=3)
    request = SimpleNamespace(session_hash="abc123xyz")
    out = on_export(ctx, request, hooks=hooks)
    assert out["onnx_file"].endswith("tiny-mnist-cond-abc123xy.onnx"), out
    assert "`class` (N,) int64 from 0 to 9" in out["onnx_note"]
    pipe = ctx.catalog.get("tiny-mnist-cond")
    z = np.random.default_rng(0).standard_normal((3, pipe.config.z_dim), dtype=np.float32)
    labels = np.array([1, 3, 7], dtype=np.int64)
    got = ort.InferenceSession(out["onnx_file"], providers=["CPUExecutionProvider"]).run(
        None, {"z": z, "class": labels})[0]
    import torch

    want = pipe.decode(torch.from_numpy(z), labels.tolist()).cpu().numpy()
    assert np.abs(got - want).max() < 1e-4
    hooks.view["model"] = "tiny-grid25"
    assert "`points` (N, 2)" in on_export(ctx, request, hooks=hooks)["onnx_note"]
