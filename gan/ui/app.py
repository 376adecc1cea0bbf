"""Assemble the app: a header, then one gr.Tab per module in TABS.

A tab module is a file in gan/ui/ with
    TITLE = "Explore"
    def build(ctx: AppContext, demo: gr.Blocks) -> None      # creates its widgets and events inside the tab
and optionally CSS = "..." (its own style rules, keyed on its elem_ids; the app joins them all).
To add a tab, write the module and append its import path to TABS (or pass tabs=[...] to build_demo).
Handlers are plain module-level functions of (ctx, values) -> values; the build wires them with bind(fn, ctx).
What the server owns (the catalog, the run manager, every visitor's Playground) travels in one AppContext.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

import gradio as gr

from gan.catalog import Catalog

if TYPE_CHECKING:
    from gan.playground_manager import PlaygroundManager
    from gan.run_manager import RunManager

T = TypeVar("T")

TABS = ["gan.ui.explore_tab", "gan.ui.interpolate_tab", "gan.ui.train_tab", "gan.ui.playground_tab"]

# Rules every tab shares: crisp pixels wherever the browser scales an image, the message colour, pictures big enough
# for the back of a room on a projector (the Explore image 560 px high: a 28 px digit at 20 screen px a pixel; the
# Train tab's sample grid 480 px under its label, scaled up to its box: Gradio's own rule only ever scales an image
# down), and a keyboard focus ring that shows on every control (Okabe-Ito blue).
BASE_CSS = """
#generated img, #neighbours img, #interp-animation img, #interp-strip img, #train-grid img { image-rendering: pixelated; }
#generated { height: 562px !important; }
#generated img { max-height: 100%; object-fit: contain; }
#train-grid { height: 514px !important; }
#train-grid img { padding-top: 32px; box-sizing: border-box; }
#train-grid img, #train-travel-grid img, #train-travel-one img { object-fit: contain; }
#explore-message p, #interp-message p { color: #b45309; font-weight: 600; }
.gradio-container button:focus-visible, .gradio-container input:focus-visible,
.gradio-container textarea:focus-visible, .gradio-container [tabindex]:focus-visible {
  outline: 3px solid #0072B2 !important; outline-offset: 2px; }
"""
# What each main picture shows, said to screen readers (gr.Image's alt_text), by elem_id. Any other image without
# alt text of its own is described by its label; a tab that sets alt_text itself keeps it.
IMAGE_ALT = {
    "generated": "The generated image for the chosen model, seed, truncation, class and directions (for a 2-D model: "
                 "its real points as blue discs, generated points as orange squares, this seed as a big ringed disc "
                 "and its neighbours as plus signs)",
    "neighbours": "A strip of generated images one step apart along the direction moved most, each captioned with "
                  "its value; the framed, underlined one is the image above",
    "pg-view": "The Playground. Top left: D's opinion of the plane, pale blue where it says real and darker sand "
               "where it says fake, the real points as blue discs, G's points as orange hollow squares, and arrows "
               "where D pushes G's points. Top right: G's noise grid carried through G, over the real points. "
               "Below: the losses of D (solid line) and G (dashed), and modes covered (solid), high-quality share "
               "(dashed) and reverse KL (dotted) against the step",
    "train-grid": "Samples from the run's fixed noise, drawn by its EMA generator at the latest step (for 2-D data: "
                  "real points as blue discs, generated points as orange squares)",
    "train-real": "A grid of the run's real training images as its discriminator D receives them, next to the "
                  "generated samples",
    "train-travel-grid": "Samples from the run's fixed noise at the checkpoint picked on the Step slider",
    "train-travel-one": "The followed seed's image at the checkpoint picked on the Step slider",
    "train-travel-animation": "An animation of the run's fixed-noise samples through its checkpoints",
    "interp-animation": "An animation walking between the keyframes' images",
    "interp-strip": "The interpolation's frames side by side, from the first keyframe to the last",
}


@dataclass
class AppContext:
    """The app's one context: what the server owns, made by build_demo and handed to every handler.

    Plain settings (the catalog, folders, limits, classroom token) are fields. Long-lived objects that cost
    something (the run manager and its threads, every visitor's Playground, Explore's per-page views, a worker
    pool, a scratch folder) are made on first use with `shared(name, make)`, never at import or while the demo is
    built, and `close()` stops and removes them. A visitor's own state lives inside those objects, keyed by the
    visitor, never in a module global."""

    catalog: Catalog
    device: str = "cpu"
    weights_dir: Path | None = None
    runs_dir: Path | None = None
    max_runs: int = 1                   # training runs at once (python app.py --max-runs)
    max_playgrounds: int = 8            # Playgrounds training at once on this server (python app.py --max-playgrounds)
    teacher_token: str | None = None    # classroom mode when set: only a browser holding it controls the runs
    tabs: dict = field(default_factory=dict)   # each tab's gr.Tab by id ("interpolate"), e.g. for its .select event
    _made: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def shared(self, name: str, make: Callable[[], T]) -> T:
        """The server-wide object `name`, made by make() the first time anyone asks (thread-safe)."""
        with self._lock:
            if name not in self._made:
                self._made[name] = make()
            return self._made[name]

    def has(self, name: str) -> bool:
        """Whether `name` has been made yet (tests check that building the demo makes nothing)."""
        return name in self._made

    @property
    def runs(self) -> RunManager:
        """The server's training runs (one manager for every page: runs outlive pages)."""
        from gan.run_manager import RunManager
        return self.shared("runs", lambda: RunManager(self.runs_dir or "runs", max_active=self.max_runs))

    @property
    def playgrounds(self) -> PlaygroundManager:
        """Every visitor's Playground (one per browser or API client), trained by the manager's workers."""
        from gan.playground_manager import PlaygroundManager
        return self.shared("playgrounds", lambda: PlaygroundManager(max_playing=self.max_playgrounds))

    def scratch(self, name: str) -> Path:
        """A folder for this server's temporary files of one kind ("explore", "interpolate"), made on first use
        under one temporary root that close() removes; files older than an hour are cleaned by clean_scratch."""
        root = self.shared("scratch", lambda: Path(tempfile.mkdtemp(prefix="ganscope-")))
        folder = root / name
        folder.mkdir(exist_ok=True)
        return folder

    def close(self) -> None:
        """Stop what the server started (run threads, Playgrounds, pools) and remove its scratch folder."""
        with self._lock:
            made, self._made = self._made, {}
        for name, thing in made.items():
            if name == "scratch":
                shutil.rmtree(thing, ignore_errors=True)
            elif hasattr(thing, "close"):
                thing.close()
            elif hasattr(thing, "shutdown"):
                thing.shutdown(wait=False, cancel_futures=True)


def clean_scratch(folder: Path, max_age_s: float = 3600) -> None:
    """Remove files and folders in `folder` older than max_age_s (exports and animations a page has long shown)."""
    cutoff = time.time() - max_age_s
    for item in folder.iterdir():
        try:
            if item.stat().st_mtime < cutoff:
                shutil.rmtree(item) if item.is_dir() else item.unlink()
        except OSError:
            pass


def bind(fn: Callable, ctx: AppContext) -> Callable:
    """`fn(ctx, *values)` as a Gradio event handler of the values only. Unlike functools.partial, the result keeps
    fn's name (the endpoint's default name), its signature less `ctx` (Gradio counts inputs by it) and its type
    hints (Gradio injects a gr.Request by them); a generator stays a generator (streaming handlers)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def handler(*args, **kwargs):
            yield from fn(ctx, *args, **kwargs)
    else:
        @functools.wraps(fn)
        def handler(*args, **kwargs):
            return fn(ctx, *args, **kwargs)
    sig = inspect.signature(fn)
    handler.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])
    return handler


def call_library(fn: Callable[[], T], labels: dict[str, str] | None = None) -> T:
    """fn(), with the library's refusal of a user's input shown as the page shows messages: a GanInputError becomes
    a gr.Error with its message (no traceback in the log, no "Error" from Gradio's own wording), and a FieldError
    whose field is in `labels` ({TrainConfig field: the page's label}) names that field as the page labels it
    ("Batch size must be a whole number from 1 to 65,536; you typed 0"). Anything else is a bug and keeps its
    traceback."""
    from gan.errors import FieldError, GanInputError

    try:
        return fn()
    except GanInputError as e:
        named = isinstance(e, FieldError) and bool(labels) and e.field in labels
        raise gr.Error(said(e, labels), title="Check the form" if named else "Not possible",
                       print_exception=False) from None


def said(error: Exception, labels: dict[str, str] | None = None) -> str:
    """The library's message as a page says it: a FieldError whose field is in `labels` by the page's label (not
    by its command-line flag), anything else as the library worded it."""
    from gan.errors import FieldError

    if isinstance(error, FieldError) and labels and error.field in labels:
        return error.worded(labels[error.field])
    return str(error)


def build_demo(weights_dir: str | os.PathLike | None = "weights", runs_dir: str | os.PathLike | None = "runs",
               device: str = "auto", catalog: Catalog | None = None, tabs: list[str] | None = None,
               max_runs: int = 1, max_playgrounds: int = 8, teacher_token: str | None = None) -> gr.Blocks:
    """The whole app as a gr.Blocks (not launched). Building it starts no thread and makes no run manager,
    Playground or folder (the app context makes them on first use); it does import torch, for the Train tab's
    registries and the run manager's types."""
    catalog = catalog or Catalog(weights_dir, runs_dir, device=device)
    ctx = AppContext(catalog, device, Path(weights_dir) if weights_dir else None,
                     Path(runs_dir) if runs_dir else None, max_runs=max_runs,
                     max_playgrounds=max_playgrounds, teacher_token=teacher_token)
    with gr.Blocks(title="GANscope", delete_cache=(600, 3600)) as demo:
        gr.Markdown("# GANscope\nSee, train and teach GANs: explore a generator's latent space, walk between "
                    "latents, train a GAN and watch it learn, and play with one on 2-D points.")
        problems = gr.Markdown(_problems_text(catalog), elem_id="catalog-problems")
        with gr.Tabs() as tabs_block:
            for path in tabs or TABS:
                module = importlib.import_module(path)
                with gr.Tab(module.TITLE, id=tab_id(path)) as tab:
                    ctx.tabs[tab.id] = tab
                    module.build(ctx, demo)
        demo.load(lambda: _problems_text(catalog, rescan=True), None, problems, queue=False,
                  api_visibility="private")
        if "playground" in ctx.tabs:
            demo.load(_tab_for_link, None, tabs_block, queue=False, api_visibility="private")
    describe_images(demo)
    demo.ganscope = ctx  # for tests and for tabs added later
    return demo


def _tab_for_link(request: gr.Request = None):
    """A Playground hand-in link (?pg_...) opens on the Playground tab; any other address on the first tab."""
    from gan.playground_handin import has_handin

    query = dict(request.query_params) if request is not None else {}
    return gr.Tabs(selected="playground") if has_handin(query) else gr.skip()


def tab_id(path: str) -> str:
    """A tab's id from its module's name, without the _tab suffix: "gan.ui.explore_tab" -> "explore"."""
    return path.rsplit(".", 1)[-1].removesuffix("_tab")


def describe_images(demo: gr.Blocks) -> None:
    """Give every gr.Image alt text that says what it shows (IMAGE_ALT, else its label), so a screen reader reads
    more than "image". Gradio 6 has the prop (alt_text) and sends it with the page config, built at launch."""
    for block in demo.blocks.values():
        if isinstance(block, gr.Image) and not getattr(block, "alt_text", None):
            block.alt_text = IMAGE_ALT.get(block.elem_id or "") or block.label or "an image"


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
