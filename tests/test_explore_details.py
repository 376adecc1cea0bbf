"""The Explore tab's details a new user trips over (issue 14, item 9): truncation reset on a model switch, the
picker's text clear of its arrow, captioned neighbour tiles, a copy button on the share link, and D's score read
on its loss's scale."""
from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
from playwright.sync_api import expect

from tests.test_app_browser import open_app


def pick_model(page, name):
    page.locator("#explore-model input").click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(name)} ·")).click()


def shown_pixels(page, img) -> np.ndarray:
    """The pixels of the image the page shows (fetched from its src, as the browser did)."""
    from PIL import Image

    body = page.request.get(img.get_attribute("src")).body()
    return np.asarray(Image.open(io.BytesIO(body)).convert("L"))


def api_pixels(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("L"))


# ------------------------------------------------------------------------------------------------ truncation
def test_switching_model_resets_truncation_and_says_so(page, app_url, client, opening_seed):
    img = open_app(page, app_url)
    expect(page.locator("#explore-model input")).to_have_value(re.compile(r"^tiny-mnist ·"))
    before = img.get_attribute("src")
    page.get_by_label("range slider for truncation").fill("0.3")
    expect(img).not_to_have_attribute("src", before, timeout=15_000)
    before = img.get_attribute("src")
    pick_model(page, "tiny-mnist-cond")
    expect(img).not_to_have_attribute("src", before, timeout=30_000)
    expect(page.get_by_label("number input for truncation")).to_have_value("1")
    message = page.locator("#explore-message")
    expect(message).to_contain_text("Truncation is back to 1", timeout=15_000)
    expect(message).to_contain_text("0.3")
    # what is drawn is the new model at ψ 1, not at the old 0.3 (at the seed the page opened on: gan.first_view)
    shown = shown_pixels(page, img)
    seed = opening_seed
    at_one = api_pixels(client.predict(seed=seed, model="tiny-mnist-cond", truncation=1.0, api_name="/generate")[0])
    at_old = api_pixels(client.predict(seed=seed, model="tiny-mnist-cond", truncation=0.3, api_name="/generate")[0])
    assert not np.array_equal(at_one, at_old)
    assert np.array_equal(shown, at_one)
    # ψ already 1: a switch says nothing
    before = img.get_attribute("src")
    pick_model(page, "tiny-mnist")
    expect(img).not_to_have_attribute("src", before, timeout=30_000)
    expect(message).to_have_text("")


# ------------------------------------------------------------------------------------------------ model picker
def test_picker_text_stops_before_the_arrow_at_laptop_width(browser, app_url, demo, tmp_path):
    long_name = "live: a-run-with-a-rather-long-name-to-show-in-the-picker"
    catalog = demo.ganscope.catalog
    catalog.add_live(long_name, catalog.get("tiny-mnist"), {"dataset": "mnist", "loss": "bce", "steps": 123456})
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        open_app(page, app_url)
        pick_model(page, long_name)
        picker = page.locator("#explore-model input")
        expect(picker).to_have_value(re.compile(rf"^{re.escape(long_name)} ·"), timeout=30_000)
        page.locator("#generated").click()  # focus elsewhere: the picker shows its resting state
        geo = picker.evaluate("""e => {
            const s = getComputedStyle(e), r = e.getBoundingClientRect();
            const arrow = e.closest('#explore-model').querySelector('.icon-wrap').getBoundingClientRect();
            return {textRight: r.right - parseFloat(s.paddingRight), arrowLeft: arrow.left,
                    overflows: e.scrollWidth > e.clientWidth, ellipsis: s.textOverflow};
        }""")
        assert geo["overflows"], geo                        # the label is long enough to need the room
        assert geo["textRight"] <= geo["arrowLeft"], geo    # and its text stops before the arrow
        assert geo["ellipsis"] == "ellipsis", geo
        page.locator("#explore-model").screenshot(path=str(tmp_path / "picker.png"))
    finally:
        context.close()
        catalog.remove_live(long_name)


# ------------------------------------------------------------------------------------------------ neighbours
def test_neighbour_tiles_carry_their_direction_values(weights_dir):
    from gan import render as ex
    from gan.directions import compute_directions
    from gan.pipeline import load_generator

    pipe = load_generator(weights_dir / "tiny-mnist.safetensors")
    basis = compute_directions(pipe, k=3)

    def view(amounts):
        z = ex.latent_for(pipe, 5, 1.0, basis, amounts)
        return ex.render_image_view(pipe, z, None, basis, amounts)

    v1, v2 = view([0.0, 1.0]), view([0.0, 2.0])
    assert v1.active == 1 and v1.strip_values == (-2.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0)
    assert v2.strip_values == (-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
    cell, pad = ex.STRIP_CELL, 4
    assert v1.strip.shape[0] == cell + 2 * pad + ex.CAPTION_HEIGHT   # a caption band under the tiles

    def caption(strip, i):
        x = pad + i * (cell + pad)
        return strip[cell + 2 * pad:, x: x + cell]

    for i in range(7):  # every tile has a caption
        assert (caption(v1.strip, i) < 200).any(), i
    # the caption follows the value, not the place: "0" under tile 2 of one strip, under tile 1 of the other
    assert np.array_equal(caption(v1.strip, 2), caption(v2.strip, 1))
    assert not np.array_equal(caption(v1.strip, 2), caption(v1.strip, 1))
    # the framed tile (this image) is captioned in orange, the others in grey
    centre = caption(v1.strip, 3).reshape(-1, 3).astype(int)
    assert ((centre[:, 0] - centre[:, 2]) > 80).any()
    assert [ex.strip_caption(x) for x in (-0.0, 1.25, 2.0, -0.5, 1e-9)] == ["0", "1.25", "2", "-0.5", "0"]


# ------------------------------------------------------------------------------------------------ share link
def test_share_link_has_a_copy_button_that_copies_it(browser, app_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        open_app(page, app_url + "?model=tiny-mnist&seed=9")
        expect(page.locator("#seed input")).to_have_value("9")
        page.locator("#bookmark-accordion").click()
        page.locator("#make-link").click()
        link = page.locator("#share-link textarea")
        expect(link).to_have_value(re.compile(r"seed=9"))
        page.locator("#share-link").get_by_role("button", name="Copy").click()
        expect(page.locator("#share-link").get_by_role("button", name="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == link.input_value()
    finally:
        context.close()


# ------------------------------------------------------------------------------------------------ D's score
def test_score_text_reads_each_loss_on_its_scale():
    from gan.render import ScoreReference, score_text

    bce = score_text(2.0, "bce")
    assert "probability that this image is real" in bce and "0.88" in bce   # sigmoid(2) = 0.881
    assert "probability" in score_text(-1.0, "minimax") and "0.27" in score_text(-1.0, "minimax")
    assert "1 for real images and 0 for generated" in score_text(0.4, "lsgan")
    assert "above +1" in score_text(0.2, "hinge") and "higher means more real" in score_text(0.2, "hinge")
    for loss in ("wgan", "wgan-gp"):
        text = score_text(-10.16, loss)
        assert "-10.16" in text and "only differences" in text and "higher means more real" in text
    assert "does not say which loss" in score_text(1.0, None)
    ref = ScoreReference(real_median=-10.0, real_low=-15.0, real_high=-7.0, fake_median=-12.5, n=128)
    text = score_text(-10.16, "wgan-gp", ref)
    assert "real test images score -10.00" in text and "-15.00 and -7.00" in text and "samples -12.50" in text
    assert "(p 0.88)" in score_text(2.0, "bce", ScoreReference(2.0, 1.0, 3.0, 0.0, 128))


def _generate_until(client, text, deadline_s=30.0, **kw):
    """/generate's score text, polled until it contains `text` (the reference is worked out in the background)."""
    deadline = time.monotonic() + deadline_s
    while True:
        score = client.predict(api_name="/generate", **kw)[2]
        if text in score or time.monotonic() > deadline:
            return score
        time.sleep(0.2)


@pytest.mark.parametrize("model, meaning, real", [
    ("tiny-mnist", "probability that this image is real", "real test images"),
    ("tiny-mnist-cond", "hinge loss", "real test images"),
    ("tiny-grid25", "probability that this point is real", "real points"),
])
def test_score_comes_with_the_scale_of_real_data(client, demo, model, meaning, real):
    from gan.render import score_reference

    score = _generate_until(client, "For scale", seed=4, model=model)
    assert "D's score" in score and meaning in score
    assert f"For scale: {real} score" in score, score
    pipe = demo.ganscope.catalog.get(model)
    ref = score_reference(pipe, pipe.info["dataset"])
    assert f"score {ref.real_median:+.2f}" in score and f"samples {ref.fake_median:+.2f}" in score


def test_a_slow_scale_shows_by_itself_when_ready(page, weights_dir, tmp_path, monkeypatch):
    """Working out the scale may take longer than a model switch waits (a first load of the data): the page then
    shows it when it is ready, without the user moving anything."""
    from gan import render as explore
    from tests.conftest import launch_explore

    real = explore.score_reference

    def slow(pipe, dataset, n=128):
        time.sleep(3.0)  # longer than the view waits (REFERENCE_WAIT_S)
        return real(pipe, dataset, n)

    monkeypatch.setattr(explore, "score_reference", slow)
    demo, url = launch_explore(weights_dir, tmp_path / "runs")
    try:
        open_app(page, url)
        score = page.locator("#d-score")
        expect(score).to_contain_text("probability that this image is real")
        expect(score).to_contain_text("For scale: real test images score", timeout=20_000)
    finally:
        demo.close()


def test_no_reference_without_local_data_or_without_d(demo):
    from gan.render import score_reference

    pipe = demo.ganscope.catalog.get("tiny-mnist")
    t = time.monotonic()
    assert score_reference(pipe, "cifar10") is None           # not on this machine: never a download
    assert score_reference(pipe, "folder:/nowhere") is None
    assert time.monotonic() - t < 2.0
    assert score_reference(pipe, "mnist").n > 0


def test_page_shows_the_score_scale_and_the_strip_label(page, app_url):
    img = open_app(page, app_url)
    score, strip = page.locator("#d-score"), page.locator("#neighbours")
    expect(score).to_contain_text("probability that this image is real")
    expect(strip).to_contain_text("its value under each tile")
    before = img.get_attribute("src")
    page.get_by_label("range slider for direction 2").fill("-2")
    expect(img).not_to_have_attribute("src", before, timeout=15_000)
    expect(strip).to_contain_text("Neighbours along direction 2", timeout=15_000)
    expect(score).to_contain_text("For scale: real test images score", timeout=15_000)
