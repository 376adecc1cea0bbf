"""The app's named endpoints through gradio_client against a real server, plus the Gradio-free pieces behind them
(catalog, directions, bookmarks)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import BAD_FILES, GOOD_MODELS


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# ------------------------------------------------------------------------------------------- library pieces
def test_catalog_lists_generators_and_reports_bad_files(weights_dir, runs_dir):
    from gan.catalog import Catalog

    cat = Catalog(weights_dir, runs_dir)
    assert sorted(cat.names()) == sorted(GOOD_MODELS)          # the classifier is skipped, quietly
    text = "\n".join(cat.problems)
    assert all(name in text for name in BAD_FILES) and "classifier" not in text
    assert cat.default_name() == "tiny-mnist"                  # an unconditional image model first
    label = cat.entries["tiny-mnist-cond"].label
    assert all(w in label for w in ("mnist", "dcgan", "hinge", "3 steps", "cpu"))
    with pytest.raises(ValueError, match="unknown model"):
        cat.get("nope")


def test_catalog_live_models_come_and_go(weights_dir):
    from gan.catalog import Catalog

    cat = Catalog(weights_dir, None)
    pipe = cat.get("tiny-mnist")
    cat.add_live("live: test", pipe, {"dataset": "mnist", "loss": "bce", "steps": 3})
    assert "live: test" in cat.names() and cat.get("live: test") is pipe
    cat.refresh()                                              # a rescan keeps live models
    assert cat.directions("live: test").k >= 1
    cat.remove_live("live: test")
    assert "live: test" not in cat.names()


def test_directions_are_unit_deterministic_and_cached(weights_dir):
    import torch

    from gan.catalog import Catalog
    from gan.directions import compute_directions

    cat = Catalog(weights_dir, None)
    d1 = cat.directions("tiny-mnist")
    assert cat.directions("tiny-mnist") is d1                   # computed once
    assert torch.allclose(d1.vectors.norm(dim=1), torch.ones(d1.k), atol=1e-5)
    assert torch.equal(compute_directions(cat.get("tiny-mnist")).vectors, d1.vectors)
    assert all(a >= b for a, b in zip(d1.explained, d1.explained[1:]))
    assert cat.directions("tiny-grid25").k == 2                 # z_dim 2 caps it


def test_bookmarks_round_trip_and_refuse_junk():
    from gan.errors import GanInputError
    from gan.render import make_bookmark, parse_bookmark
    import json

    mark = make_bookmark("tiny-mnist", 42, 0.7, None, [1.0, -0.5], {3: 0.25})
    back = parse_bookmark(json.dumps(mark))
    assert (back["seed"], back["truncation"], back["directions"], back["raw"]) == (42, 0.7, [1.0, -0.5], {3: 0.25})
    for junk in (b"\xff\xfe", "[]", '{"seed": -1}', '{"seed": 1, "directions": ["x"]}', "{" * 70_000):
        with pytest.raises(GanInputError):
            parse_bookmark(junk)


# ------------------------------------------------------------------------------------------------ endpoints
def test_generate_with_defaults_returns_the_image(client):
    image, strip, score, message = client.predict(api_name="/generate")
    assert pixels(image).shape == (336, 336, 3)                 # 28 px x 12, nearest neighbour
    assert pixels(strip).shape[1] > pixels(strip).shape[0]      # a horizontal strip of neighbours
    assert "score" in score and message == ""


def test_same_seed_same_image_and_sliders_change_it(client):
    a = pixels(client.predict(seed=7, model="tiny-mnist", api_name="/generate")[0])
    b = pixels(client.predict(seed=7, model="tiny-mnist", api_name="/generate")[0])
    assert np.array_equal(a, b)
    other_seed = pixels(client.predict(seed=8, model="tiny-mnist", api_name="/generate")[0])
    moved = pixels(client.predict(seed=7, model="tiny-mnist", direction_1=3.0, api_name="/generate")[0])
    truncated = pixels(client.predict(seed=7, model="tiny-mnist", truncation=0.3, api_name="/generate")[0])
    for img in (other_seed, moved, truncated):
        assert not np.array_equal(a, img)


def test_conditional_and_two_d_models(client):
    seven = pixels(client.predict(seed=1, model="tiny-mnist-cond", class_label=7, api_name="/generate")[0])
    two = pixels(client.predict(seed=1, model="tiny-mnist-cond", class_label=2, api_name="/generate")[0])
    assert not np.array_equal(seven, two)
    image, strip, score, _ = client.predict(seed=1, model="tiny-grid25", api_name="/generate")
    assert pixels(image).shape == (336, 336, 3) and strip is None  # a scatter plot instead of an image


@pytest.mark.parametrize("kwargs, words", [
    (dict(seed=-1), "seed"), (dict(seed=2 ** 32), "seed"), (dict(truncation=0.0), "truncation must be a number above 0"),
    (dict(model="broken"), "unknown model"), (dict(model="tiny-mnist-cond", class_label=12), "class"),
])
def test_bad_input_gets_a_clear_message(client, kwargs, words):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=words):
        client.predict(**kwargs, api_name="/generate")
    assert client.predict(seed=3, api_name="/generate")[0]      # and the app keeps working


def test_interpolate_exports_gif_and_mp4(client):
    animation, strip, gif, mp4, message = client.predict(model="tiny-mnist", keyframes="1, 2, 3", frames=9,
                                                         mode="linear", loop=True, api_name="/interpolate")
    assert message == ""
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 9
    with open(mp4, "rb") as f:
        assert f.read(12)[4:8] == b"ftyp"                        # an MP4 container
    assert pixels(strip).shape[1] > pixels(strip).shape[0]


@pytest.mark.parametrize("kwargs, words", [
    (dict(frames=0), "at least 2 frames"), (dict(keyframes="5"), "at least 2 keyframes"),
    (dict(keyframes="1, x"), "keyframe"), (dict(model="tiny-grid25"), "image models"),
])
def test_interpolate_bad_input_is_a_message(client, kwargs, words):
    *files, message = client.predict(**kwargs, api_name="/interpolate")
    assert words in message and files == [None, None, None, None]


def test_one_cpu_thread_is_pinned_per_thread_only():
    """gan.render.one_cpu_thread_here (threadpoolctl, whichever OpenMP runtime torch loaded) puts the calling
    thread on one OpenMP thread; the thread that called it before and a thread started after keep two."""
    import threading

    import torch

    from gan import render

    saved = torch.get_num_threads()
    torch.set_num_threads(2)   # the suite runs on one thread (tests/conftest.py): give the caller two to keep
    seen = {}

    def pinned():
        seen["before"] = torch.get_num_threads()
        render.one_cpu_thread_here()
        seen["pinned"] = torch.get_num_threads()
        render.one_cpu_thread_here()                     # a second call changes nothing
        torch.ones(100_000).add_(1)                      # nor does a parallel op
        seen["after_op"] = torch.get_num_threads()

    def other():
        torch.ones(100_000).add_(1)
        seen["other"] = torch.get_num_threads()

    try:
        for target in (pinned, other):
            t = threading.Thread(target=target)
            t.start()
            t.join()
        assert seen == {"before": 2, "pinned": 1, "after_op": 1, "other": 2}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)


def test_each_page_keeps_its_own_explore_view(demo, opening_seed):
    """Two pages (two sessions) move their own sliders: each one's view and bookmark stay its own, and the views
    live in the server's context (made on first use), not in the module. (The page's events are private, out of
    gradio_client's reach: test_app_browser.py checks the same with two real browsers.)"""
    from types import SimpleNamespace

    from gan.render import parse_bookmark
    from gan.ui import explore_tab

    ctx = demo.ganscope
    a, b = (SimpleNamespace(session_hash=f"own-view-{x}", query_params={}) for x in "ab")
    explore_tab.on_load(ctx, a)
    explore_tab.on_load(ctx, b)
    assert ctx.has("explore.views") and not hasattr(explore_tab, "VIEWS")
    explore_tab.on_seed(ctx, 31, a)
    explore_tab.on_direction(ctx, -1.5, b, index=1)
    explore_tab.on_raw(ctx, 2.5, a, index=2)
    marks = {}
    for name, request in (("a", a), ("b", b)):
        out = explore_tab.on_save_bookmark(ctx, request)
        with open(out["bookmark_file"]) as f:
            marks[name] = parse_bookmark(f.read())
    assert (marks["a"]["seed"], marks["a"]["directions"][1], marks["a"]["raw"]) == (31, 0.0, {2: 2.5})
    assert (marks["b"]["seed"], marks["b"]["directions"][1], marks["b"]["raw"]) == (opening_seed, -1.5, {})
    # a bad value on one page is that page's message, and its view keeps the last good value
    assert "direction 2 must be a number" in explore_tab.on_direction(ctx, "x", b, index=1)["message"]
    assert ctx.shared("explore.views", None).get(b.session_hash, ctx)["dirs"][1] == -1.5


def test_an_empty_weights_folder_is_a_message_not_a_crash(tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from gan.ui.app import build_demo, launch_kwargs
    from tests.conftest import free_port

    (tmp_path / "w").mkdir()
    demo = build_demo(tmp_path / "w", tmp_path / "r", device="cpu", tabs=["gan.ui.explore_tab", "gan.ui.interpolate_tab"])
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                    quiet=True, **launch_kwargs())
    try:
        client = Client(url, verbose=False)
        with pytest.raises(AppError, match="no generators found"):
            client.predict(api_name="/generate")
        *files, message = client.predict(api_name="/interpolate")
        assert "no generators found" in message and files == [None] * 4
    finally:
        demo.close()


def test_a_file_that_fails_to_load_is_dropped_from_the_list(weights_dir, tmp_path):
    import json
    import shutil

    from safetensors import safe_open
    from safetensors.torch import save_file

    from gan.catalog import Catalog
    from gan.errors import GanInputError

    shutil.copy(weights_dir / "tiny-mnist.safetensors", tmp_path / "good.safetensors")
    with safe_open(str(weights_dir / "tiny-mnist.safetensors"), "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    meta["model_config"] = json.dumps({**json.loads(meta["model_config"]), "g_width": 32})  # not these weights
    save_file(tensors, str(tmp_path / "mismatch.safetensors"), metadata=meta)
    cat = Catalog(tmp_path, None)
    assert sorted(cat.names()) == ["good", "mismatch"]           # its header looks like a generator
    with pytest.raises(GanInputError, match="do not fit"):
        cat.get("mismatch")
    assert cat.names() == ["good"] and "mismatch.safetensors" in "\n".join(cat.problems)
    cat.refresh()
    assert cat.names() == ["good"] and cat.default_name() == "good"
    assert cat.get("good") is not None


# ------------------------------------------------------------------------- every model opens, directions or not
def test_every_shipped_generator_has_discovered_directions():
    from pathlib import Path

    from gan.catalog import Catalog

    cat = Catalog(Path(__file__).resolve().parents[1] / "weights", None)
    assert "mnist-progan" in cat.names()
    for name in cat.names():
        assert cat.directions(name).k >= 1, name                # progan too: its first non-linearity is hooked


def test_generate_on_the_shipped_progan_returns_an_image(shipped_url):
    from gradio_client import Client

    c = Client(shipped_url, verbose=False)
    image, strip, score, message = c.predict(seed=3, model="mnist-progan", api_name="/generate")
    assert pixels(image).shape == (336, 336, 3) and pixels(strip).shape[1] > pixels(strip).shape[0]
    assert message == ""
    moved = c.predict(seed=3, model="mnist-progan", direction_1=3.0, api_name="/generate")[0]
    assert not np.array_equal(pixels(image), pixels(moved))


def test_a_model_without_directions_still_generates_and_says_why(weights_dir, tmp_path, monkeypatch):
    """A generator gan.directions cannot analyse (none shipped now: the hook point stands in for one) is still
    served; direction values are ignored, and the message says so."""
    from gradio_client import Client

    from gan import directions
    from tests.conftest import launch_explore

    def no_layer(generator):
        raise directions.NoDirections("this generator has no activation layer to analyse")

    monkeypatch.setattr(directions, "early_layer", no_layer)
    demo, url = launch_explore(weights_dir, tmp_path / "runs")
    try:
        c = Client(url, verbose=False)
        image, strip, score, message = c.predict(seed=3, model="tiny-mnist", api_name="/generate")
        assert pixels(image).shape == (336, 336, 3) and strip is None and message == ""
        same, _, _, message = c.predict(seed=3, model="tiny-mnist", direction_1=2.0, api_name="/generate")
        assert "ignored" in message and "no activation layer" in message
        assert np.array_equal(pixels(image), pixels(same))
    finally:
        demo.close()
