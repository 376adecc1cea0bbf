"""The Playground tab in a real browser: reset to "Mode collapse", press Play, watch the step counter and the picture
move, Pause, and the counter stops; a dropdown opened and closed changes nothing; the two resets; drawing your own
points. Its own server with only this tab, queued as app.py queues it (the shared fixtures give the browser).
Each test's page is a fresh browser context, so a visitor of its own with its own Playground: `mine()` finds it."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port, pause_every_playground

SHOTS = Path(os.environ.get("GANSCOPE_SCREENSHOTS", "/tmp/ganscope-screenshots"))


_DEMO: dict = {}


@pytest.fixture(scope="module")
def playground_url(tmp_path_factory):
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from gan.ui.app import build_demo, launch_kwargs

    demo = build_demo(tmp_path_factory.mktemp("w"), tmp_path_factory.mktemp("r"), device="cpu",
                      tabs=["gan.ui.playground_tab"])
    _, url, _ = demo.queue(default_concurrency_limit=2).launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                    quiet=True, **launch_kwargs())
    _DEMO["demo"] = demo
    yield url
    demo.ganscope.playgrounds.close()
    demo.close()


@pytest.fixture(autouse=True)
def _nothing_left_playing():
    yield
    pause_every_playground(_DEMO.get("demo"))


def mine():
    """The Playground of the page this test has open: the one a page asked frames of last (each test's page is a
    new browser, and the pages of earlier tests are closed)."""
    reg = _DEMO["demo"].ganscope.playgrounds
    _until(lambda: len(reg) > 0)
    return max((reg.session(k, create=False) for k in reg.keys()), key=lambda s: s.watched_at)


def _until(predicate, timeout=30.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.05)


def test_mode_collapse_lesson_plays_and_pauses(page, playground_url):
    page.goto(playground_url)
    view = page.locator("#pg-view img")
    expect(view).to_be_visible(timeout=30_000)
    page.locator("#pg-reset-lesson").click()     # the dropdown shows "Mode collapse": a fresh run of it
    expect(page.locator("#pg-lesson-text")).to_contain_text("leaving the rest of the ring empty", timeout=30_000)
    expect(page.locator("#pg-status")).to_contain_text("step 0 ", timeout=30_000)
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
    _until(lambda: mine().parked)  # the thread has drawn its last frame and trains no more
    stopped = mine().pg.step
    assert stopped > 20
    expect(page.locator("#pg-status")).to_contain_text(f"step {stopped} ", timeout=30_000)  # the counter stops

    for n in (1, 2):  # Step both: exactly one more G update per press (a session still playing would overshoot)
        page.locator("#pg-step").click()
        expect(page.locator("#pg-status")).to_contain_text(f"step {stopped + n} ", timeout=30_000)
    assert mine().pg.step == stopped + 2 and mine().parked


def test_a_lesson_fills_the_form_and_reset_keeps_its_settings(page, playground_url):
    page.goto(playground_url)
    expect(page.locator("#pg-view img")).to_be_visible(timeout=30_000)
    page.locator("#pg-lesson input").click()
    page.get_by_role("option", name="Wasserstein + gradient penalty", exact=True).click()
    expect(page.locator("#pg-lesson-text")).to_contain_text("gradient penalty", timeout=30_000)
    page.get_by_text("Data and model (press Reset with my settings to apply)").click()
    expect(page.locator("#pg-gp-lambda input")).to_have_value("0.1", timeout=30_000)
    assert mine().lesson == "Wasserstein + gradient penalty"
    page.locator("#pg-reset").click()      # applies the form: the lesson's penalty weight must survive it
    _until(lambda: mine().lesson is None)  # a reset from the form is no longer the lesson itself
    cfg = mine().pg.trainer.cfg
    assert (cfg.loss, cfg.gp_lambda, cfg.n_critic) == ("wgan-gp", 0.1, 5)


def test_hand_drawn_strokes_become_points():
    import numpy as np

    from gan.errors import GanInputError
    from gan.ui.playground_tab import sketch_to_points

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


def _step_at_least(page, n: int, timeout: float = 90_000) -> None:
    page.wait_for_function("n => { const m = document.querySelector('#pg-status').innerText.match(/step (\\d+)/);"
                           " return m && Number(m[1]) >= n; }", arg=n, timeout=timeout)


def test_closing_the_lesson_dropdown_changes_nothing_and_play_plays(page, playground_url):
    """Opening the lesson dropdown and pressing Escape used to re-apply the lesson when the dropdown lost focus
    (Gradio 6 fires .input on blur): the run was wiped, and a Play pressed then raced with that reset and stopped
    after one step. Now only a real new choice applies a lesson."""
    page.goto(playground_url)
    expect(page.locator("#pg-view img")).to_be_visible(timeout=30_000)
    page.locator("#pg-play").click()
    _step_at_least(page, 5)
    run = mine().pg.trainer                 # a reset builds a new Trainer: the same object means the same run

    def open_and_escape():
        page.locator("#pg-lesson input").click()
        expect(page.get_by_role("option", name="Spectral norm", exact=True)).to_be_visible(timeout=10_000)
        page.keyboard.press("Escape")
        expect(page.get_by_role("option", name="Spectral norm", exact=True)).to_be_hidden(timeout=10_000)

    open_and_escape()
    page.locator("#pg-pause").click()          # the dropdown loses focus here
    _until(lambda: mine().parked)
    paused = mine().pg.step
    assert paused >= 5 and mine().pg.trainer is run

    open_and_escape()
    page.locator("#pg-play").click()           # the first Play after closing the dropdown plays on
    _step_at_least(page, paused + 10)
    assert mine().playing and mine().pg.trainer is run

    page.locator("#pg-lesson input").click()   # a real choice does apply the lesson, and playing goes on
    page.get_by_role("option", name="Spectral norm", exact=True).click()
    _until(lambda: mine().lesson == "Spectral norm" and mine().pg.trainer is not run)
    _until(lambda: mine().pg.step >= 5)
    assert mine().playing and mine().pg.config.spectral_norm
    page.locator("#pg-pause").click()
    _until(lambda: mine().parked)


def test_a_play_pressed_during_a_reset_is_kept():
    """app.py lets two playground events run at once; a reset saved the playing flag, and a Play that came in
    meanwhile was undone when the reset put the old value back (one step, then stopped)."""
    from gan.playground import PlaygroundConfig
    from gan.playground_manager import PlaygroundSession

    mgr = PlaygroundSession()
    try:
        real_reset = mgr.pg.reset

        def reset_while_play_is_pressed(*a, **kw):
            mgr.play()
            real_reset(*a, **kw)

        mgr.pg.reset = reset_while_play_is_pressed
        mgr.reset(PlaygroundConfig(dataset="ring8", g_width=16, d_width=16, batch_size=32))
        assert mgr.playing
        _until(lambda: mgr.pg.step >= 5)
    finally:
        mgr.close()


def test_reset_to_lesson_restores_its_settings_and_reset_keeps_mine(page, playground_url):
    name = "Learning rate too high: oscillation"
    page.goto(playground_url)
    expect(page.locator("#pg-view img")).to_be_visible(timeout=30_000)
    page.locator("#pg-lesson input").click()
    page.get_by_role("option", name=name, exact=True).click()
    lr_g = page.locator("#pg-lr-g input")
    expect(lr_g).to_have_value("0.01", timeout=30_000)
    _until(lambda: mine().lesson == name)

    lr_g.fill("0.001")
    lr_g.press("Enter")                        # a live change: it applies now, and the curves mark it
    expect(page.get_by_text("changed lr G to 0.001")).to_be_visible(timeout=30_000)
    _until(lambda: mine().pg.changes and mine().pg.changes[-1].get("lr_g") == 0.001)

    page.locator("#pg-reset").click()          # my settings: the changed learning rate stays
    expect(page.locator("#pg-lesson-text")).to_contain_text("press Reset to lesson", timeout=30_000)
    expect(page.locator("#pg-lesson-text")).to_contain_text("lr G 0.001")
    assert mine().pg.trainer.cfg.lr_g == 0.001 and mine().lesson is None and mine().pg.changes == []

    page.locator("#pg-reset-lesson").click()   # the lesson's own settings again, so its text holds
    expect(lr_g).to_have_value("0.01", timeout=30_000)
    expect(page.locator("#pg-lesson-text")).not_to_contain_text("press Reset to lesson", timeout=30_000)
    _until(lambda: mine().lesson == name)
    assert mine().pg.trainer.cfg.lr_g == 0.01 and mine().pg.trainer.cfg.lr_d == 0.01


def test_drawing_points_is_one_step_on_a_large_canvas(page, playground_url):
    """Paint on the canvas (the brush is ready: no tool to pick) and press Use my drawing: the run restarts on the
    drawn points. The canvas is large and its label is not cut off."""
    from gan.ui.playground_tab import DRAW_SIZE

    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(playground_url)
    expect(page.locator("#pg-view img")).to_be_visible(timeout=30_000)
    label = page.locator("#pg-drawing").get_by_text("Draw your points", exact=True)
    expect(label).to_be_visible(timeout=30_000)
    assert label.evaluate("el => el.scrollWidth <= el.clientWidth")          # the whole label shows
    canvas = page.locator("#pg-drawing canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert DRAW_SIZE >= 320 and box["width"] >= 320
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for y in (cy - 50, cy + 50):               # two horizontal strokes, 100 px apart (the brush joins the moves)
        page.mouse.move(cx - 100, y)
        page.mouse.down()
        for x in (cx - 30, cx + 40, cx + 100):
            page.mouse.move(x, y)
        page.mouse.up()
    page.locator("#pg-use-drawing").click()
    _until(lambda: mine().pg.config.dataset == "drawn")
    expect(page.locator("#pg-lesson-text")).to_contain_text("Your drawing", timeout=30_000)
    expect(page.locator("#pg-status")).to_contain_text("step 0 ", timeout=30_000)
    data = mine().pg.trainer.data.data.numpy()
    assert len(data) == 2000
    y = data[:, 1]                             # two strokes: two bands of points, nothing in between
    mid = (y.min() + y.max()) / 2
    assert (y < mid).sum() > 500 and (y > mid).sum() > 500
    assert (abs(y - mid) < 0.2 * (y.max() - y.min())).sum() < 50
    page.get_by_text("Data and model (press Reset with my settings to apply)").click()
    expect(page.locator("#pg-data input")).to_have_value("drawn by hand", timeout=30_000)


def test_scrub_back_fork_export_and_open_the_hand_in_link_in_a_fresh_browser(browser, page, playground_url):
    """The timeline in a real page: Play on a lesson stops at exactly its step budget and the status says what to
    look at; the slider scrubs back to a kept step (the view redraws there), Step forks from there, a GIF and a
    hand-in link are exported, and the link opened in a fresh browser replays to the same step and shows the same
    figures."""
    from gan import lessons

    name = "Discriminator too strong: vanishing gradients"
    lesson = lessons.get(name)
    page.goto(playground_url)
    expect(page.locator("#pg-view img")).to_be_visible(timeout=30_000)
    page.locator("#pg-lesson input").click()
    page.get_by_role("option", name=name, exact=True).click()
    _until(lambda: mine().lesson == name)
    page.locator("#pg-play").click()
    status = page.locator("#pg-status")
    expect(status).to_contain_text(f"Paused at step {lesson.steps}, the end of this lesson.", timeout=60_000)
    expect(status).to_contain_text(lesson.look[:40], timeout=10_000)
    assert mine().pg.step == lesson.steps == 60 and not mine().playing
    box = page.locator("#pg-timeline input[type=number]")
    expect(box).to_have_value("60", timeout=10_000)           # the slider followed the paused run
    before = page.locator("#pg-view img").get_attribute("src")
    box.fill("25")
    box.press("Enter")
    expect(status).to_contain_text("At step 25 of the timeline", timeout=30_000)
    expect(page.locator("#pg-view img")).not_to_have_attribute("src", before, timeout=10_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "playground-rewound.png"), full_page=True)
    page.locator("#pg-step").click()                          # a fork from step 25
    expect(status).to_contain_text("step 26 ", timeout=30_000)
    assert mine().pg.timeline.steps[-1] == 25 and not mine().pg.rewound
    page.locator("#pg-export").click()                         # GIF, the default
    expect(page.locator("#pg-export-msg")).to_contain_text(".gif:", timeout=60_000)
    page.get_by_label("link").check()
    page.locator("#pg-export").click()
    link_box = page.locator("#pg-link textarea")
    expect(link_box).to_have_value(re.compile(r"pg_step=26"), timeout=30_000)
    link = link_box.input_value()
    assert link.startswith(playground_url.rstrip("/"))
    figures = mine().pg.figures()
    fresh = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        other = fresh.new_page()
        other.goto(link)
        expect(other.locator("#pg-status")).to_contain_text("the step of the hand-in link", timeout=60_000)
        expect(other.locator("#pg-status")).to_contain_text("step 26 ", timeout=10_000)
        expect(other.locator("#pg-lesson input")).to_have_value(name, timeout=10_000)   # the page says whose run
        expect(other.locator("#pg-lesson-text")).to_contain_text(name)
        other.screenshot(path=str(SHOTS / "playground-hand-in-link.png"), full_page=True)
        opened = mine()
        assert opened.pg.step == 26 and opened.lesson == name
        assert opened.pg.figures()["reverse_kl"] == figures["reverse_kl"]
    finally:
        fresh.close()


def test_a_compare_pair_opens_side_by_side_and_plays(page, playground_url):
    """The Mode collapse lesson against its cure (pack 2), opened from the page: both fields under their names,
    both runs' curves on one chart, and Play steps both."""
    page.goto(playground_url)
    expect(page.locator("#pg-view img")).to_be_visible(timeout=30_000)
    page.locator("#pg-compare").click()                       # pack, 2: the form's first choice
    status = page.locator("#pg-status")
    expect(status).to_contain_text("Comparing A (pack 1) with B (pack 2)", timeout=30_000)
    page.locator("#pg-play").click()
    _until(lambda: mine().twin is not None and mine().pg.step >= 50, timeout=90)
    page.locator("#pg-pause").click()
    _until(lambda: mine().parked)
    assert mine().twin.step == mine().pg.step
    expect(status).to_contain_text("B: pack 2", timeout=30_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "playground-compare.png"), full_page=True)
