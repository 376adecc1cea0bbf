"""The Interpolate tab: classes blend between keyframes (through soft class weights the model input accepts), the
strip says how many frames it shows, the tab opens on the default walk, and its model list is read again when the
tab is opened."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image
from playwright.sync_api import expect

from gan.errors import GanInputError


@pytest.fixture(scope="module")
def cond_pipe(weights_dir):
    from gan.pipeline import load_generator

    return load_generator(weights_dir / "tiny-mnist-cond.safetensors")


def gif_frames(path) -> list[np.ndarray]:
    with Image.open(path) as im:
        out = []
        for i in range(im.n_frames):
            im.seek(i)
            out.append(np.asarray(im.convert("L"), dtype=np.int16))
    return out


# ------------------------------------------------------------------------------------------- the library
def test_integer_labels_give_the_plain_embedding_lookup(cond_pipe):
    """Integer labels go through nn.Embedding as before (bit for bit), and a one-hot weight row gives the same."""
    g = cond_pipe.generator
    z, y = cond_pipe.latents(range(6)), torch.tensor([0, 3, 9, 3, 1, 7])
    with torch.inference_mode():
        reference = g.net(torch.cat([z, g.input.embed.weight[y]], dim=1)[:, :, None, None])
        assert torch.equal(g(z, y), reference)
    assert torch.equal(cond_pipe.decode(z, y.tolist()), reference)
    assert torch.equal(cond_pipe.decode(z, torch.eye(10)[y]), reference)
    assert np.array_equal(cond_pipe.score(reference, torch.eye(10)[y]), cond_pipe.score(reference, y.tolist()))


def test_a_walk_between_two_classes_blends_them(cond_pipe):
    from gan.render import interpolation_frames

    # one seed, two classes: only the class input moves, by a quarter at each frame
    frames = interpolation_frames(cond_pipe, [(3, 1), (3, 7)], 5, mode="linear")
    z = cond_pipe.latents([3])
    one, seven = (cond_pipe(z=z, labels=[c], output_type="np")[0] for c in (1, 7))
    half = cond_pipe(z=z, labels=torch.tensor([[0.0] * 10]).index_fill_(1, torch.tensor([1, 7]), 0.5),
                     output_type="np")[0]
    assert np.array_equal(frames[0], one) and np.array_equal(frames[-1], seven)   # the keyframes themselves
    assert np.array_equal(frames[2], half)                                         # halfway: half of each class
    assert not np.array_equal(half, one) and not np.array_equal(half, seven)       # not a jump to either
    assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:]))       # every frame moves on


@pytest.mark.parametrize("weights, words", [
    (torch.full((2, 10), 0.2), "sum to 1"), (torch.eye(10)[:2] * -1 + torch.eye(10)[2:4] * 2, "not negative"),
    (torch.full((2, 4), 0.25), "one row of 10"), (torch.full((2, 10), float("nan")), "finite"),
])
def test_bad_class_weights_are_refused(cond_pipe, weights, words):
    with pytest.raises(GanInputError, match=words):
        cond_pipe.decode(cond_pipe.latents([1, 2]), weights)


def test_the_strip_caption_says_what_it_shows():
    from gan.ui.interpolate_tab import strip_frames

    assert strip_frames(24) == (list(range(24)), "Frames: all 24")
    pick, caption = strip_frames(60)
    assert pick == list(range(0, 60, 3)) and caption == "Frames: 20 of 60, every 3rd"
    pick, caption = strip_frames(600)
    assert len(pick) == 24 and caption == "Frames: 24 of 600, every 25th"


# ------------------------------------------------------------------------------------------- the server
def test_the_animation_blends_classes(client):
    *_, gif, _mp4, message = client.predict(model="tiny-mnist-cond", keyframes="3:1, 3:7", frames=5, mode="linear",
                                            api_name="/interpolate")
    assert message == ""
    frames = gif_frames(gif)
    # the class switching halfway made frames 0-1 and 3-4 the same picture (and the GIF merges equal frames)
    assert len(frames) == 5
    assert all(np.abs(a - b).max() > 0 for a, b in zip(frames, frames[1:]))


def test_the_strip_shows_every_frame_or_every_kth(client):
    from gan.ui.interpolate_tab import STRIP_CELL

    tile = 28 * (STRIP_CELL // 28)                          # a 28x28 frame, upscaled by a whole factor
    _, strip, *_ = client.predict(model="tiny-mnist", keyframes="1, 2", frames=24, api_name="/interpolate")
    with Image.open(strip) as im:                           # each frame has a 4-pixel white margin
        assert im.size == (12 * (tile + 4) + 4, 2 * (tile + 8))   # all 24: two rows of 12
    _, strip, *_ = client.predict(model="tiny-mnist", keyframes="1, 2", frames=60, api_name="/interpolate")
    with Image.open(strip) as im:
        assert im.size == (10 * (tile + 4) + 4, 2 * (tile + 8))   # every 3rd: 20 frames, two rows of 10


def test_two_clients_at_once_get_their_own_walks(app_url):
    """Two visitors asking at the same time each get their own walk: their own frame count, in their own files."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    def walk(frames):
        c = Client(app_url, verbose=False)
        return c.predict(model="tiny-mnist", keyframes="1, 2", frames=frames, api_name="/interpolate")

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(walk, (5, 7)))
    for (_, _, gif, mp4, message), frames in zip(results, (5, 7)):
        assert message == "" and len(gif_frames(gif)) == frames
    assert results[0][2] != results[1][2] and results[0][3] != results[1][3]


def test_the_first_walk_is_made_once_per_model_for_every_page(demo, weights_dir):
    """The walk a page opens on is the same for every visitor of a model: made once and shared (its files outlive
    the hourly clean of the visitors' own walks); a walk a visitor asks for, a first walk of other values than the
    widgets' defaults and a live run's model (whose weights change) are walked anew each time."""
    from pathlib import Path

    from gan.pipeline import load_generator
    from gan.ui.app import clean_scratch
    from gan.ui.interpolate_tab import on_first_animation, on_interpolate

    from gan.ui.interpolate_tab import FIRST_WALK

    ctx, values = demo.ganscope, FIRST_WALK
    one, two = on_first_animation(ctx, "tiny-mnist", *values), on_first_animation(ctx, "tiny-mnist", *values)
    assert one[4] == "" and len(gif_frames(one[2])) == 24
    assert (one[2], one[3]) == (two[2], two[3]) and np.array_equal(one[1], two[1])
    clean_scratch(ctx.scratch("interpolate"), max_age_s=0)       # as an hour later
    assert Path(one[2]).is_file() and Path(one[3]).is_file()
    assert on_interpolate(ctx, "tiny-mnist", *values)[2] != one[2]
    other = ("1, 2", *values[1:])                                  # a page sending other values: its own walk
    assert on_first_animation(ctx, "tiny-mnist", *other)[2] != on_first_animation(ctx, "tiny-mnist", *other)[2]
    name = "live: first-walk-check"
    ctx.catalog.add_live(name, load_generator(weights_dir / "tiny-mnist.safetensors"))
    try:
        assert on_first_animation(ctx, name, *values)[2] != on_first_animation(ctx, name, *values)[2]
    finally:
        ctx.catalog.remove_live(name)


def test_classes_on_an_unconditional_model_are_a_note(client):
    *files, message = client.predict(model="tiny-mnist", keyframes="3:1, 7:7", frames=4, api_name="/interpolate")
    assert all(files) and "not class-conditional" in message


# ------------------------------------------------------------------------------------------- the page
def test_the_tab_opens_on_the_default_walk_and_lists_new_models(page, app_url, demo, weights_dir):
    from gan.pipeline import load_generator

    page.goto(app_url)
    expect(page.locator("#generated img")).to_be_visible(timeout=60_000)
    catalog, name = demo.ganscope.catalog, "live: interp-tab-check"
    catalog.add_live(name, load_generator(weights_dir / "tiny-mnist.safetensors"))  # after the page loaded
    try:
        page.get_by_role("tab", name="Interpolate").click()
        # nothing pressed: the default walk is there, with its frames, caption and files
        expect(page.locator("#interp-animation img")).to_be_visible(timeout=30_000)
        expect(page.locator("#interp-strip img")).to_be_visible()
        expect(page.locator("#interp-strip")).to_contain_text("Frames: all 24")
        expect(page.locator("#interp-gif a").first).to_have_attribute("download", re.compile(r"\.gif$"))
        expect(page.locator("#interp-mp4 a").first).to_have_attribute("download", re.compile(r"\.mp4$"))
        expect(page.locator("#interp-message")).to_have_text("")
        # opening the tab read the list again: the model added after the page loaded is there
        page.locator("#interp-model input").click()
        expect(page.get_by_role("option", name=name)).to_be_visible(timeout=15_000)
        page.keyboard.press("Escape")
        # a longer walk: the strip shows every 3rd frame and says so
        page.locator("#interp-frames input").fill("60")
        page.locator("#interp-go").click()
        expect(page.locator("#interp-strip")).to_contain_text("Frames: 20 of 60, every 3rd", timeout=30_000)
    finally:
        catalog.remove_live(name)
