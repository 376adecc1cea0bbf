"""The Playground tab in a real browser: pick "Mode collapse", press Play, watch the step counter and the picture
move, Pause, and the counter stops. Its own server with only this tab (the shared fixtures give the browser)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port

SHOTS = Path(os.environ.get("GANSCOPE_SCREENSHOTS", "/tmp/ganscope-screenshots"))


@pytest.fixture(scope="module")
def playground_url(tmp_path_factory):
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from gan.ui.app import build_demo, launch_kwargs

    demo = build_demo(tmp_path_factory.mktemp("w"), tmp_path_factory.mktemp("r"), device="cpu",
                      tabs=["gan.ui.playground"])
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                    quiet=True, **launch_kwargs())
    yield url
    from gan.ui.playground import manager
    manager().pause()
    demo.close()


def _until(predicate, timeout=30.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.05)


def test_mode_collapse_lesson_plays_and_pauses(page, playground_url):
    page.goto(playground_url)
    view = page.locator("#pg-view img")
    expect(view).to_be_visible(timeout=30_000)
    page.locator("#pg-lesson input").click()
    page.get_by_role("option", name="Mode collapse", exact=True).click()
    expect(page.locator("#pg-lesson-text")).to_contain_text("leave whole rows or columns of modes empty", timeout=30_000)
    expect(page.locator("#pg-status")).to_contain_text("step 0", timeout=30_000)
    before = view.get_attribute("src")

    page.locator("#pg-play").click()
    expect(page.locator("#pg-status")).to_contain_text("playing", timeout=30_000)
    page.wait_for_function("() => { const m = document.querySelector('#pg-status').innerText.match(/step (\\d+)/);"
                           " return m && Number(m[1]) >= 20; }", timeout=90_000)
    expect(view).not_to_have_attribute("src", before, timeout=30_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "playground-playing.png"), full_page=True)

    page.locator("#pg-pause").click()
    expect(page.locator("#pg-status")).to_contain_text("paused", timeout=30_000)
    from gan.ui.playground import manager
    _until(lambda: manager().parked)  # the thread has drawn its last frame and trains no more
    stopped = manager().pg.step
    assert stopped > 20
    expect(page.locator("#pg-status")).to_contain_text(f"step {stopped} ", timeout=30_000)  # the counter stops

    for n in (1, 2):  # Step both: exactly one more G update per press (a session still playing would overshoot)
        page.locator("#pg-step").click()
        expect(page.locator("#pg-status")).to_contain_text(f"step {stopped + n} ", timeout=30_000)
    assert manager().pg.step == stopped + 2 and manager().parked


def test_a_lesson_fills_the_form_and_reset_keeps_its_settings(page, playground_url):
    from gan.ui.playground import manager

    page.goto(playground_url)
    expect(page.locator("#pg-view img")).to_be_visible(timeout=30_000)
    page.locator("#pg-lesson input").click()
    page.get_by_role("option", name="Wasserstein + gradient penalty", exact=True).click()
    expect(page.locator("#pg-lesson-text")).to_contain_text("gradient penalty", timeout=30_000)
    page.get_by_text("Data and model (press Reset to apply)").click()
    expect(page.locator("#pg-gp-lambda input")).to_have_value("0.1", timeout=30_000)
    assert manager().lesson == "Wasserstein + gradient penalty"
    page.locator("#pg-reset").click()      # applies the form: the lesson's penalty weight must survive it
    _until(lambda: manager().lesson is None)  # a reset from the form is no longer the lesson itself
    cfg = manager().pg.trainer.cfg
    assert (cfg.loss, cfg.gp_lambda, cfg.n_critic) == ("wgan-gp", 0.1, 5)


def test_hand_drawn_strokes_become_points():
    import numpy as np

    from gan.errors import GanInputError
    from gan.ui.playground import sketch_to_points

    canvas = np.zeros((200, 200, 4), np.uint8)          # the editor's transparent canvas
    canvas[50:60, 20:180] = (0, 0, 0, 255)              # one black horizontal stroke
    pts = sketch_to_points({"background": None, "layers": [], "composite": canvas})
    assert pts.shape == (2000, 2)
    assert 19 <= pts[:, 0].min() and pts[:, 0].max() <= 180
    assert 139 <= pts[:, 1].min() and pts[:, 1].max() <= 150   # y points up
    with pytest.raises(GanInputError):
        sketch_to_points({"composite": np.zeros((200, 200, 4), np.uint8)})
    with pytest.raises(GanInputError):
        sketch_to_points(None)
