"""Assemble the app: a header, then one gr.Tab per module in TABS.

A tab module is a file in gan/ui/ with
    TITLE = "Explore"
    def build(ctx: AppContext, demo: gr.Blocks) -> None      # creates its widgets and events inside the tab
and optionally CSS = "..." (its own style rules, keyed on its elem_ids; the app joins them all).
To add a tab, write the module and append its import path to TABS (or pass tabs=[...] to build_demo).
Shared things (the model catalog, the device, room for a run manager) travel in AppContext, never in gr.State.
"""
from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from gan.catalog import Catalog

TABS = ["gan.ui.explore", "gan.ui.interpolate", "gan.ui.train_tab", "gan.ui.playground"]

# Rules every tab shares: crisp pixels wherever the browser scales an image, and the message colour.
BASE_CSS = """
#generated img, #neighbours img, #interp-animation img, #interp-strip img, #train-grid img { image-rendering: pixelated; }
#generated img { max-height: 420px; object-fit: contain; }
#explore-message p, #interp-message p { color: #b45309; font-weight: 600; }
"""


@dataclass
class AppContext:
    """What every tab may use. Other tabs can keep their own long-lived objects in `extras` (e.g. a RunManager)."""

    catalog: Catalog
    device: str = "cpu"
    weights_dir: Path | None = None
    runs_dir: Path | None = None
    extras: dict = field(default_factory=dict)
    max_playgrounds: int = 8            # Playgrounds training at once on this server (python app.py --max-playgrounds)
    teacher_token: str | None = None    # classroom mode when set: only a browser holding it controls the runs
    tabs: dict = field(default_factory=dict)   # each tab's gr.Tab by id ("interpolate"), e.g. for its .select event


def build_demo(weights_dir: str | os.PathLike | None = "weights", runs_dir: str | os.PathLike | None = "runs",
               device: str = "auto", catalog: Catalog | None = None, tabs: list[str] | None = None,
               max_runs: int = 1, max_playgrounds: int = 8, teacher_token: str | None = None) -> gr.Blocks:
    """The whole app as a gr.Blocks (not launched). Cheap: no torch import until the first image is asked for."""
    catalog = catalog or Catalog(weights_dir, runs_dir, device=device)
    ctx = AppContext(catalog, device, Path(weights_dir) if weights_dir else None,
                     Path(runs_dir) if runs_dir else None, extras={"max_runs": max_runs},
                     max_playgrounds=max_playgrounds, teacher_token=teacher_token)
    with gr.Blocks(title="GANscope", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# GANscope\nSee, train and teach GANs: explore a generator's latent space, walk between "
                    "latents, train a GAN and watch it learn, and play with one on 2-D points.")
        problems = gr.Markdown(_problems_text(catalog), elem_id="catalog-problems")
        with gr.Tabs():
            for path in tabs or TABS:
                module = importlib.import_module(path)
                with gr.Tab(module.TITLE, id=path.rsplit(".", 1)[-1]) as tab:
                    ctx.tabs[tab.id] = tab
                    module.build(ctx, demo)
        demo.load(lambda: _problems_text(catalog, rescan=True), None, problems, queue=False,
                  api_visibility="private")
    guard_numbers(demo)
    demo.ganscope = ctx  # for tests and for tabs added later
    return demo


def guard_numbers(demo: gr.Blocks) -> None:
    """Refuse, with a message, what Gradio's Number and Slider would pass on or fail on without one: a string, a
    list, null in a slider, NaN or infinity (a raw HTTP client can send NaN in JSON; gradio_client cannot), and a
    fraction in a whole-number field (Gradio would round 2.5 to 2 without a word)."""
    for block in demo.blocks.values():
        if isinstance(block, (gr.Number, gr.Slider)) and not getattr(block, "_ganscope_guarded", False):
            block.preprocess = _checked_number(block.preprocess, block.label or block.elem_id or "a number field",
                                               allow_none=not isinstance(block, gr.Slider),
                                               whole=getattr(block, "precision", None) == 0)
            block._ganscope_guarded = True


def _checked_number(preprocess, label: str, allow_none: bool, whole: bool):
    def checked(payload):
        if payload is None and allow_none:
            return preprocess(payload)
        if isinstance(payload, bool) or not isinstance(payload, (int, float)) or \
                not (isinstance(payload, int) or math.isfinite(payload)):
            raise gr.Error(f"{label} must be a finite number, got {str(payload)[:60]!r}", print_exception=False)
        if whole and isinstance(payload, float) and not payload.is_integer():
            raise gr.Error(f"{label} must be a whole number, got {payload}", print_exception=False)
        return preprocess(payload)
    return checked


def _problems_text(catalog: Catalog, rescan: bool = False) -> str:
    if rescan:
        catalog.refresh()
    if not catalog.problems:
        return ""
    lines = "\n".join(f"- {p}" for p in catalog.problems)
    return f"**Some files were skipped** (the other models work):\n{lines}"


MAX_FILE_SIZE = "200mb"     # uploads (zips of images, CSVs, bookmarks) larger than this are refused by the server


def launch_kwargs() -> dict:
    """Arguments for demo.launch() that Gradio 6 no longer takes in gr.Blocks(), and the upload cap."""
    return {"css": app_css(), "ssr_mode": False, "max_file_size": MAX_FILE_SIZE}


def app_css(tabs: list[str] | None = None) -> str:
    """The page's style: the shared rules, then each tab module's own CSS (if it has one)."""
    own = [getattr(importlib.import_module(path), "CSS", "") for path in tabs or TABS]
    return "\n".join([BASE_CSS, *own])
