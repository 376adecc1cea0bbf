"""A classroom on one server (issue 16): every browser has its own Playground, kept across a reload and shared by
its tabs; an API client is a visitor of its own; at most max_playgrounds train at once and one more Play gets a
message, not a stall; a visitor id the server does not know gets a fresh Playground without an error.
Its own server with only the Playground tab and a limit of 1 Playground playing (the shared fixtures give the
browser)."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port, pause_every_playground
from tests.test_app_browser import WATCH_ERRORS_JS

SHOTS = Path(os.environ.get("GANSCOPE_SCREENSHOTS", "/tmp/ganscope-screenshots"))
BUSY = "1 playground is playing on this server; press Play again in a moment"


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """(demo, url): the Playground tab served with --max-playgrounds 1."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from gan.ui.app import build_demo, launch_kwargs

    demo = build_demo(tmp_path_factory.mktemp("w"), tmp_path_factory.mktemp("r"), device="cpu",
                      tabs=["gan.ui.playground_tab"], max_playgrounds=1)
    assert not demo.ganscope.has("playgrounds")
    _, url, _ = demo.queue(default_concurrency_limit=2).launch(prevent_thread_lock=True, server_name="127.0.0.1",
                                                               server_port=free_port(), quiet=True, **launch_kwargs())
    yield demo, url
    demo.ganscope.playgrounds.close()
    demo.close()


@pytest.fixture(autouse=True)
def _nothing_left_playing(request):
    yield
    if "classroom" in request.fixturenames:
        pause_every_playground(request.getfixturevalue("classroom")[0])


def _open(browser, url, init_script: str | None = None):
    """A new browser (its own localStorage: a visitor of its own) with the app open and its picture shown."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    expect(page.locator("#pg-view img")).to_be_visible(timeout=30_000)
    page.evaluate(WATCH_ERRORS_JS)
    return context, page


def _step(page) -> int:
    m = re.search(r"step (\d+)", page.locator("#pg-status").inner_text())
    return int(m.group(1)) if m else -1


def _step_at_least(page, n: int, timeout: float = 60_000) -> None:
    page.wait_for_function("n => { const m = document.querySelector('#pg-status').innerText.match(/step (\\d+)/);"
                           " return m && Number(m[1]) >= n; }", arg=n, timeout=timeout)


def _pick(page, lesson: str) -> None:
    page.locator("#pg-lesson input").click()
    page.get_by_role("option", name=lesson, exact=True).click()
    expect(page.locator("#pg-lesson-text")).to_contain_text(lesson, timeout=30_000)


@pytest.fixture(scope="module")
def two(browser, classroom):
    """Two browsers, A and B, each with the app open (opened once for this file's tests, in order)."""
    ctx_a, a = _open(browser, classroom[1])
    ctx_b, b = _open(browser, classroom[1])
    yield a, b
    ctx_a.close()
    ctx_b.close()


def test_two_browsers_two_lessons_reset_and_reload(two, classroom):
    """Two browsers show two lessons at once; Reset in one leaves the other playing on; a reload, and a second
    tab of the same browser, show that browser's own Playground."""
    demo, url = classroom
    a, b = two
    _pick(b, "Wasserstein + gradient penalty")                # 25 modes on a grid
    expect(b.locator("#pg-status")).to_contain_text("/25,", timeout=30_000)
    expect(a.locator("#pg-status")).to_contain_text("/8,")    # A still shows its Mode collapse (a ring of 8)
    # A plays the lesson's settings from the form: no lesson, so no budget at which it would pause itself (the
    # lesson's 1,500 steps take seconds here, and A must still be playing after the reloads below)
    a.locator("#pg-reset").click()
    reg = demo.ganscope.playgrounds
    end = time.monotonic() + 30
    while not any(s is not None and s.lesson is None for s in (reg.session(k, create=False) for k in reg.keys())):
        assert time.monotonic() < end, "A's reset with the form's settings did not arrive"
        time.sleep(0.05)
    a.locator("#pg-play").click()
    _step_at_least(a, 3)
    assert _step(b) == 0 and "paused" in b.locator("#pg-status").inner_text()

    before = _step(a)
    b.locator("#pg-reset-lesson").click()                     # B's reset: A plays on from where it was
    expect(b.locator("#pg-status")).to_contain_text("step 0 ", timeout=30_000)
    _step_at_least(a, before + 3)
    SHOTS.mkdir(parents=True, exist_ok=True)
    a.screenshot(path=str(SHOTS / "classroom-a.png"))
    b.screenshot(path=str(SHOTS / "classroom-b.png"))
    assert a.evaluate("window.__errors") == [] and b.evaluate("window.__errors") == []

    played = _step(a)
    a.reload()                                                # the same browser: the same Playground, still playing
    expect(a.locator("#pg-status")).to_contain_text("playing", timeout=30_000)
    a.evaluate(WATCH_ERRORS_JS)
    expect(a.locator("#pg-status")).to_contain_text("/8,")
    assert _step(a) >= played
    second = a.context.new_page()                             # a second tab of browser A: A's Playground too
    try:
        second.goto(url)
        expect(second.locator("#pg-status")).to_contain_text("playing", timeout=30_000)
        expect(second.locator("#pg-status")).to_contain_text("/8,")
        assert _step(second) >= played
    finally:
        second.close()
    assert _step(b) == 0 and "/25," in b.locator("#pg-status").inner_text()
    assert len(demo.ganscope.playgrounds) == 2     # two browsers, three pages: two Playgrounds
    a.locator("#pg-pause").click()
    expect(a.locator("#pg-status")).to_contain_text("paused", timeout=30_000)


def test_one_more_play_than_the_limit_gets_the_message(two):
    """With room for one, the second browser's Play is refused with the message (a warning, no error); once the
    first pauses, it plays. Stepping by hand is allowed meanwhile."""
    a, b = two
    a.locator("#pg-play").click()
    expect(a.locator("#pg-status")).to_contain_text("playing", timeout=30_000)
    b.locator("#pg-play").click()
    expect(b.locator("#pg-status")).to_contain_text(BUSY, timeout=30_000)
    expect(b.get_by_text(BUSY).first).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    b.screenshot(path=str(SHOTS / "classroom-busy.png"))
    assert "paused" in b.locator("#pg-status").inner_text()
    start = _step(b)
    b.locator("#pg-step").click()                             # by hand: always allowed
    expect(b.locator("#pg-status")).to_contain_text(f"step {start + 1} ", timeout=30_000)

    a.locator("#pg-pause").click()
    expect(a.locator("#pg-status")).to_contain_text("paused", timeout=30_000)
    b.locator("#pg-play").click()
    expect(b.locator("#pg-status")).to_contain_text("playing", timeout=30_000)
    expect(b.locator("#pg-status")).not_to_contain_text(BUSY)
    _step_at_least(b, start + 3)
    b.locator("#pg-pause").click()
    expect(b.locator("#pg-status")).to_contain_text("paused", timeout=30_000)
    assert a.evaluate("window.__errors") == [] and b.evaluate("window.__errors") == []


def test_an_unknown_or_dropped_visitor_id_gets_a_fresh_playground(browser, classroom):
    """A browser holding a value the server cannot read (another server's, or tampered with) and a browser whose
    Playground the server dropped both get a fresh Playground, without an error."""
    demo, url = classroom
    from gan.ui.playground_tab import VISITOR_KEY

    garbage = (f"if (!sessionStorage.getItem('planted')) {{ sessionStorage.setItem('planted', '1'); "
               f"localStorage.setItem({VISITOR_KEY!r}, 'bm90IG91cnM=:bm90IG91cnMgZWl0aGVy'); }}")  # first load only
    reg = demo.ganscope.playgrounds
    others = set(reg.keys())
    ctx, page = _open(browser, url, init_script=garbage)
    try:
        expect(page.locator("#pg-status")).to_contain_text("step 0 ", timeout=30_000)
        page.locator("#pg-step").click()
        expect(page.locator("#pg-status")).to_contain_text("step 1 ", timeout=30_000)
        (mine,) = set(reg.keys()) - others                    # this browser's, under a new id
        assert reg.drop(mine)                                 # as after 30 idle minutes
        page.reload()
        expect(page.locator("#pg-view img")).to_be_visible(timeout=30_000)
        page.evaluate(WATCH_ERRORS_JS)
        expect(page.locator("#pg-status")).to_contain_text("step 0 ", timeout=30_000)
        page.locator("#pg-step").click()
        expect(page.locator("#pg-status")).to_contain_text("step 1 ", timeout=30_000)
        assert mine in reg.keys()                             # the same visitor id, a fresh Playground
        assert page.evaluate("window.__errors") == []
    finally:
        ctx.close()


def test_each_api_client_is_a_visitor_of_its_own(classroom):
    from gradio_client import Client

    _, url = classroom
    one, two = Client(url, verbose=False), Client(url, verbose=False)
    one.predict("Spectral norm", api_name="/playground_lesson")
    two.predict("Learning rate too high: oscillation", api_name="/playground_lesson")
    one.predict(api_name="/playground_step")
    first, second = one.predict(api_name="/playground_status"), two.predict(api_name="/playground_status")
    assert (first["lesson"], first["step"]) == ("Spectral norm", 1)
    assert (second["lesson"], second["step"]) == ("Learning rate too high: oscillation", 0)
    assert {"lesson", "step", "playing", "fps", "message"} <= set(first)


def test_bad_numbers_sent_to_the_playground_get_messages(classroom):
    """The form's values reach the library as sent (no Gradio rounding or bounds): a fraction in a whole-number
    field, text, nothing, NaN or infinity is refused with the field's page label and its limits, never a
    traceback, and the visitor's Playground is left as it was."""
    import httpx
    from gradio_client import Client

    _, url = classroom
    client = Client(url, verbose=False)
    client.predict("Spectral norm", api_name="/playground_lesson")
    form = ["ring8", None, None, "bce", "adam", 1e-3, 1e-3, 1, 64, 2, "normal", 2, 32, 2, 32, False, 0, 10.0, None]
    cases = {8: (2.5, "Batch size must be a whole number"), 11: ("abc", "G hidden layers must be a whole number"),
             5: ("fast", "Lr G (live) must be a number above 0"), 16: (None, "Seed must be a whole number"),
             9: (1.5, "Noise dimensions must be a whole number from 1 to 16"),
             6: (-1, "Lr D (live) must be a number above 0")}
    for index, (value, words) in cases.items():
        sent = list(form)
        sent[index] = value
        with pytest.raises(Exception) as e:
            client.predict(*sent, api_name="/playground_reset")
        assert words in str(e.value) and "Traceback" not in str(e.value), str(e.value)
    st = client.predict(api_name="/playground_status")
    assert (st["lesson"], st["step"]) == ("Spectral norm", 0)          # nothing changed

    def raw(body: str) -> str:
        r = httpx.post(f"{url}gradio_api/call/playground_reset", content=f'{{"data": {body}}}'.encode(),
                       headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == 200, r.text
        return httpx.get(f"{url}gradio_api/call/playground_reset/{r.json()['event_id']}", timeout=60).text

    for bad, words in (("NaN", "Batch size must be a whole number"), ("Infinity", "Batch size must be")):
        text = raw('["ring8", null, null, "bce", "adam", 0.001, 0.001, 1, %s, 2, "normal", 2, 32, 2, 32, false, 0, '
                   '10.0, null]' % bad)
        assert "event: error" in text and words in text and "Traceback" not in text, text
    sent = list(form)
    sent[8] = 32
    assert client.predict(*sent, api_name="/playground_reset")[0]["step"] == 0     # good values still work
