"""The app in headless Chromium: the page paints a default model, sliders and the model picker change the image,
bad input is a message, the interpolation GIF downloads."""
from __future__ import annotations

import re

from playwright.sync_api import expect


def open_app(page, url):
    page.goto(url)
    img = page.locator("#generated img")
    expect(img).to_be_visible(timeout=60_000)
    return img


def test_page_loads_with_default_model_and_image(page, app_url, opening_seed):
    img = open_app(page, app_url)
    expect(page.locator("#explore-model input")).to_have_value(re.compile(r"^tiny-mnist ·"))
    expect(page.locator("#seed input")).to_have_value(str(opening_seed))      # gan.first_view's clean sample
    expect(page.locator("#neighbours img")).to_be_visible()
    expect(page.locator("#d-score")).to_contain_text("D's score")
    # the bad files are reported, the good models listed
    expect(page.locator("#catalog-problems")).to_contain_text("broken.safetensors")
    expect(page.locator("#catalog-problems")).to_contain_text("foreign.safetensors")
    assert img.get_attribute("src")


def test_moving_a_slider_changes_the_image(page, app_url):
    img = open_app(page, app_url)
    strip = page.locator("#neighbours img")
    strip_before = strip.get_attribute("src")
    for label in ("range slider for direction 1", "range slider for truncation"):
        before = img.get_attribute("src")
        page.get_by_label(label).fill("0.5")
        expect(img).not_to_have_attribute("src", before, timeout=15_000)
    expect(strip).not_to_have_attribute("src", strip_before, timeout=15_000)  # the neighbours follow
    page.locator("#raw-accordion").click()
    before = img.get_attribute("src")
    page.get_by_label("range slider for z[0]").fill("3.5")
    expect(img).not_to_have_attribute("src", before, timeout=15_000)


def test_switching_model_changes_the_image(page, app_url):
    img = open_app(page, app_url)
    before = img.get_attribute("src")
    expect(page.locator("#class")).to_be_hidden()
    page.locator("#explore-model input").click()
    page.get_by_role("option", name=re.compile(r"^tiny-mnist-cond")).click()
    expect(img).not_to_have_attribute("src", before, timeout=30_000)
    expect(page.locator("#class")).to_be_visible()              # a class picker for the conditional model
    page.locator("#explore-model input").click()
    page.get_by_role("option", name=re.compile(r"^tiny-grid25")).click()
    expect(page.locator("#neighbours")).to_be_hidden(timeout=30_000)  # a 2-D model: a scatter plot, no strip
    expect(page.locator("#direction-3")).to_be_hidden()         # z_dim 2: two directions


def test_bad_seed_is_a_message_and_the_app_keeps_working(page, app_url):
    img = open_app(page, app_url)
    seed = page.locator("#seed input")
    seed.fill("-5")
    expect(page.locator("#explore-message")).to_contain_text("seed", timeout=15_000)
    before = img.get_attribute("src")
    seed.fill("12")
    expect(page.locator("#explore-message")).to_have_text("", timeout=15_000)
    expect(img).not_to_have_attribute("src", before, timeout=15_000)


def test_share_link_restores_the_view(page, app_url):
    img = open_app(page, app_url + "?model=tiny-mnist&seed=5&psi=0.8&d=1.5,0")
    expect(page.locator("#seed input")).to_have_value("5")
    expect(page.get_by_label("number input for direction 1")).to_have_value("1.5")
    page.locator("#bookmark-accordion").click()
    page.locator("#make-link").click()
    expect(page.locator("#share-link textarea")).to_have_value(re.compile(r"seed=5&psi=0\.8&d=1\.5$"))
    assert img.get_attribute("src")


def test_two_browsers_keep_their_own_views(browser, app_url, opening_seed):
    """Each page's Explore view is its own on the server (issue 16): one visitor's seed and sliders never reach
    another's picture or bookmark."""
    import json
    from urllib.parse import urljoin

    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}) for _ in range(2)]
    try:
        pages = [c.new_page() for c in contexts]
        imgs = [open_app(p, app_url) for p in pages]
        moves = [lambda p: p.locator("#seed input").fill("31"),
                 lambda p: p.get_by_label("range slider for direction 2").fill("-1.5")]
        for page, img, move in zip(pages, imgs, moves):
            before = img.get_attribute("src")
            move(page)
            expect(img).not_to_have_attribute("src", before, timeout=30_000)
        for page, wanted in zip(pages, [(31, 0.0), (opening_seed, -1.5)]):
            page.locator("#bookmark-accordion").click()
            page.locator("#save-bookmark").click()
            link = page.locator("#bookmark-file a").first
            expect(link).to_be_visible(timeout=30_000)
            mark = json.loads(page.request.get(urljoin(app_url, link.get_attribute("href"))).body())
            assert (mark["seed"], mark["directions"][1]) == wanted, mark
    finally:
        for c in contexts:
            c.close()


def test_interpolation_export_downloads_a_gif(page, app_url, tmp_path):
    open_app(page, app_url)
    page.get_by_role("tab", name="Interpolate").click()
    page.locator("#keyframes textarea").fill("1, 2, 3")
    page.locator("#interp-frames input").fill("8")
    page.locator("#interp-go").click()
    expect(page.locator("#interp-animation img")).to_be_visible(timeout=60_000)
    link = page.locator("#interp-gif a").first
    expect(link).to_be_visible(timeout=30_000)
    with page.expect_download() as info:
        link.click()
    path = tmp_path / "walk.gif"
    info.value.save_as(path)
    assert path.read_bytes()[:6] in (b"GIF89a", b"GIF87a")


def test_picker_lists_the_good_models_only(page, app_url):
    open_app(page, app_url)
    page.locator("#explore-model input").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    names = {t.strip().splitlines()[-1].split(" ·")[0].strip() for t in options.all_inner_texts()}
    # the good files, and never the bad ones (runs other tests started may be listed too, as "live: ...")
    assert {"tiny-grid25", "tiny-mnist", "tiny-mnist-cond"} <= names
    assert not names & {"broken", "foreign", "not-a-model", "classifier-mnist"}
    assert all(n in ("tiny-grid25", "tiny-mnist", "tiny-mnist-cond") or n.startswith("live: ") or "-" in n
               for n in names)


def test_bookmark_saves_and_loads_back(page, app_url, tmp_path, opening_seed):
    img = open_app(page, app_url)
    # each change redraws the picture: wait for it before the next one, so `wanted` is the last change's picture
    before = img.get_attribute("src")
    page.locator("#seed input").fill("31")
    expect(img).not_to_have_attribute("src", before, timeout=30_000)
    page.locator("#raw-accordion").click()
    before = img.get_attribute("src")
    page.get_by_label("range slider for z[2]").fill("2.5")
    expect(img).not_to_have_attribute("src", before, timeout=30_000)
    before = img.get_attribute("src")
    page.get_by_label("range slider for direction 2").fill("-1.5")
    expect(img).not_to_have_attribute("src", before, timeout=30_000)
    expect(page.locator("#explore-message")).to_have_text("")
    wanted = img.get_attribute("src")
    page.locator("#bookmark-accordion").click()
    page.locator("#save-bookmark").click()
    link = page.locator("#bookmark-file a").first
    expect(link).to_be_visible(timeout=30_000)
    with page.expect_download() as info:
        link.click()
    mark = tmp_path / "mark.json"
    info.value.save_as(mark)
    import json

    saved = json.loads(mark.read_text())
    assert saved["seed"] == 31 and saved["raw"] == {"2": 2.5} and saved["directions"][1] == -1.5
    # a fresh page, then load the bookmark: the same picture comes back
    page.goto(app_url)
    expect(page.locator("#seed input")).to_have_value(str(opening_seed), timeout=60_000)
    page.locator("#bookmark-accordion").click()
    page.locator("#load-bookmark").locator("xpath=..").locator("input[type=file]").set_input_files(str(mark))
    expect(page.locator("#seed input")).to_have_value("31", timeout=30_000)
    expect(img).to_have_attribute("src", wanted, timeout=30_000)


def test_a_model_added_later_shows_when_the_picker_opens(page, app_url, demo):
    open_app(page, app_url)
    catalog = demo.ganscope.catalog
    catalog.add_live("live: test-run", catalog.get("tiny-mnist"), {"dataset": "mnist", "loss": "bce", "steps": 3})
    try:
        img = page.locator("#generated img")
        before = img.get_attribute("src")
        page.locator("#seed input").fill("77")  # a different picture first, so the switch shows a change
        expect(img).not_to_have_attribute("src", before, timeout=15_000)
        page.locator("#explore-model input").click()
        option = page.get_by_role("option", name=re.compile(r"^live: test-run"))
        expect(option).to_be_visible(timeout=15_000)
        option.click()
        expect(page.locator("#model-info")).to_contain_text("live training run", timeout=30_000)
    finally:
        catalog.remove_live("live: test-run")


def pick_model(page, name):
    page.locator("#explore-model input").click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(name)} ·")).click()


# Records every error Gradio shows: the "Error" badge of a component's status tracker and the error toasts. A
# MutationObserver, because the badge of an event that failed is replaced by the next event's progress.
WATCH_ERRORS_JS = """() => {
  window.__errors = [];
  const look = () => {
    for (const el of document.querySelectorAll('[data-testid="status-tracker"], .toast-body, .toast-wrap')) {
      const text = (el.textContent || "").trim();
      if (/\\bError\\b/.test(text)) window.__errors.push(text.slice(0, 200));
    }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true,
                                                     attributes: true});
}"""


def test_switching_models_shows_no_error(page, app_url, client, capfd):
    img = open_app(page, app_url)
    page.evaluate(WATCH_ERRORS_JS)
    capfd.readouterr()
    for name in ("tiny-mnist-cond", "tiny-grid25", "tiny-mnist", "tiny-mnist-cond"):
        before = img.get_attribute("src")
        pick_model(page, name)
        expect(img).not_to_have_attribute("src", before, timeout=30_000)
        expect(page.locator("#explore-model input")).to_have_value(re.compile(rf"^{name} ·"))
    # Model events share one queue of concurrency 1 (FIFO) with /generate: once this call is answered, every event
    # the page sent for the picks above has been handled, and a failure would be in the server's log.
    client.predict(api_name="/generate")
    assert page.evaluate("window.__errors") == []
    err = capfd.readouterr().err
    assert "Traceback" not in err and "on_model" not in err, err[-2000:]


def test_the_shipped_progan_opens_and_stays_picked(page, shipped_url):
    img = open_app(page, shipped_url)
    picker = page.locator("#explore-model input")
    expect(picker).to_have_value(re.compile(r"^mnist-dcgan ·"))
    before = img.get_attribute("src")
    pick_model(page, "mnist-progan")
    expect(img).not_to_have_attribute("src", before, timeout=30_000)
    expect(picker).to_have_value(re.compile(r"^mnist-progan ·"))
    expect(page.locator("#explore-message")).to_have_text("")
    expect(page.locator("#model-info")).to_contain_text("progan")
    expect(page.locator("#direction-1")).to_be_visible()
    # a link to it opens it too, instead of falling back to the default
    page.goto(shipped_url + "?model=mnist-progan&seed=4")
    expect(page.locator("#seed input")).to_have_value("4", timeout=60_000)
    expect(picker).to_have_value(re.compile(r"^mnist-progan ·"))
    expect(page.locator("#explore-message")).to_have_text("")
    expect(img).to_be_visible()


def test_a_model_without_directions_opens_with_the_raw_sliders_and_a_note(page, weights_dir, tmp_path,
                                                                         monkeypatch):
    from gan import directions
    from tests.conftest import launch_explore

    def no_layer(generator):
        raise directions.NoDirections("this generator has no activation layer to analyse")

    monkeypatch.setattr(directions, "early_layer", no_layer)
    demo, url = launch_explore(weights_dir, tmp_path / "runs")
    try:
        img = open_app(page, url)
        expect(page.locator("#explore-model input")).to_have_value(re.compile(r"^tiny-mnist ·"))
        expect(page.locator("#directions-note")).to_contain_text("not available for this model")
        expect(page.locator("#directions-note")).to_contain_text("no activation layer")
        expect(page.locator("#direction-1")).to_be_hidden()
        expect(page.locator("#neighbours")).to_be_hidden()
        raw = page.get_by_label("range slider for z[0]")
        expect(raw).to_be_visible()                                # the Advanced accordion opened by itself
        before = img.get_attribute("src")
        raw.fill("3.5")
        expect(img).not_to_have_attribute("src", before, timeout=15_000)
        expect(page.locator("#explore-message")).to_have_text("")
    finally:
        demo.close()
