"""Readable on a projector, by everyone (issue 16, part 3): colours that differ under a deuteranopia simulation and
are backed by shapes and line styles, the Playground's views at least 480 px wide on a 1400 px page with 14 px text,
alt text on the pictures, and the Playground's buttons reachable and pressed with the keyboard alone."""
from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import expect

# Machado, Oliveira & Fernandes (2009), deuteranopia at severity 1, applied to linear RGB.
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968],
                         [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])


def _linear(rgb) -> np.ndarray:
    c = np.asarray(rgb, np.float64) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lightness_seen_by_deuteranope(rgb) -> float:
    """CIE L* (0 black .. 100 white) of a colour as a deuteranope sees it."""
    y = float(np.clip(_linear(rgb) @ DEUTERANOPIA.T, 0, 1) @ np.array([0.2126, 0.7152, 0.0722]))
    return 116 * np.cbrt(y) - 16 if y > 216 / 24389 else y * 24389 / 27


def test_colours_told_apart_differ_in_lightness_under_deuteranopia():
    from gan import playground as pgm
    from gan import viz

    def gap(a, b) -> float:
        return abs(lightness_seen_by_deuteranope(a) - lightness_seen_by_deuteranope(b))

    # the simulation itself: the old green (real, modes) and red (reverse KL) were one colour to a deuteranope
    assert gap((20, 140, 60), (200, 40, 60)) < 2
    style = pgm.CURVE_STYLES
    pairs = {"real vs generated points": (viz.REAL_RGB, viz.FAKE_RGB),
             "heatmap's real vs fake end": (pgm.HEAT_REAL, pgm.HEAT_FAKE),
             "seed vs its neighbours": (viz.SEED_RGB, viz.NEIGHBOUR_RGB),
             "loss D vs loss G": (style["loss_d"][0], style["loss_g"][0]),
             "modes vs high quality": (style["modes"][0], style["high_quality"][0]),
             "modes vs reverse KL": (style["modes"][0], style["reverse_kl"][0]),
             "high quality vs reverse KL": (style["high_quality"][0], style["reverse_kl"][0])}
    for what, (a, b) in pairs.items():
        assert gap(a, b) >= 10, f"{what}: {gap(a, b):.1f} L* apart under deuteranopia"
    # and never by colour alone: each panel's curves have their own line style
    for panel in (("loss_d", "loss_g"), ("modes", "high_quality", "reverse_kl")):
        assert len({style[k][1] for k in panel}) == len(panel)


def test_real_and_generated_points_differ_in_shape():
    """One real point is a filled disc, one generated point a hollow square: the centre of the generated marker is
    the background, its corner the marker's colour (a disc leaves its corner blank)."""
    from gan.viz import FAKE_RGB, REAL_RGB, marker_size, scatter_array

    size = 481   # the data centre falls on pixel 240 exactly
    real = scatter_array(np.array([[0.0, 0.0]]), np.empty((0, 2)), size, bounds=(-1, 1, -1, 1))
    fake = scatter_array(None, np.array([[0.0, 0.0]]), size, bounds=(-1, 1, -1, 1))
    c, half = (size - 1) // 2, (marker_size(size) + 2 - 1) // 2
    assert tuple(real[c, c]) == REAL_RGB and tuple(real[c - half, c - half]) == (255, 255, 255)
    assert tuple(fake[c, c]) == (255, 255, 255) and tuple(fake[c - half, c - half]) == FAKE_RGB


def test_curves_text_is_at_least_14_px():
    """The curves' title ("losses") is drawn in a 14 px font: its ink is over 10 px high (PIL's old bitmap font
    drew it 8 px high)."""
    from gan.playground import FONT_PX, Playground, PlaygroundConfig

    pg = Playground(PlaygroundConfig(dataset="ring8", g_width=16, d_width=16, batch_size=64))
    pg.step_both(3)
    curves = pg.render_curves(968, 320)
    title = curves[: FONT_PX + 6, :80].min(-1) < 128   # dark ink of the title row
    rows = np.flatnonzero(title.any(1))
    assert FONT_PX >= 14 and rows.max() - rows.min() + 1 >= 10


def test_every_image_has_alt_text(demo):
    import gradio as gr

    images = [b for b in demo.blocks.values() if isinstance(b, gr.Image)]
    assert len(images) >= 5
    for b in images:
        assert b.alt_text and len(b.alt_text) > len("image"), b.elem_id


# How much the browser scales an <img>'s picture: its box, as object-fit fills it (Gradio's scale-down never enlarges).
SHOWN_SCALE = """e => { const r = e.getBoundingClientRect();
  let s = Math.min(r.width / e.naturalWidth, r.height / e.naturalHeight);
  if (getComputedStyle(e).objectFit === 'scale-down') s = Math.min(s, 1);
  return [s, e.naturalWidth, e.naturalHeight]; }"""


@pytest.fixture
def wide_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_explore_image_is_big_and_described(wide_page, app_url):
    """On a 1400 px page the Explore image is at least 540 px high, and says what it shows."""
    page = wide_page
    page.goto(app_url)
    generated = page.locator("#generated img")
    expect(generated).to_be_visible(timeout=30_000)
    page.wait_for_function("() => { const i = document.querySelector('#generated img'); "
                           "return i && i.complete && i.naturalWidth > 0; }")
    scale, _, natural_h = generated.evaluate(SHOWN_SCALE)
    assert scale * natural_h >= 540
    expect(generated).to_have_attribute("alt", re.compile("generated image for the chosen model"))


def test_playground_on_a_projector_page_and_from_the_keyboard(wide_page, app_url):
    """On a 1400 px page the Playground's picture is shown so that each of its views is at least 480 px wide, and
    it says what it shows. Tab from the lesson picker reaches Play (with a visible focus ring), Enter presses it;
    Tab moves on to Pause, Space presses it."""
    from gan.playground import FRAME_GAP
    from gan.ui.playground_tab import VIEW_SIZE

    page = wide_page
    page.goto(app_url)
    page.get_by_role("tab", name="Playground").click()
    view = page.locator("#pg-view img")
    expect(view).to_be_visible(timeout=30_000)
    page.wait_for_function("() => { const i = document.querySelector('#pg-view img'); "
                           "return i && i.complete && i.naturalWidth > 0; }")
    scale, natural, natural_h = view.evaluate(SHOWN_SCALE)
    assert natural == 2 * VIEW_SIZE + FRAME_GAP and natural_h > VIEW_SIZE   # two views a row, the curves below
    assert VIEW_SIZE * scale >= 480
    alt = view.get_attribute("alt")
    assert "blue discs" in alt and "orange hollow squares" in alt

    status = page.locator("#pg-status")
    expect(status).to_contain_text("paused", timeout=30_000)
    page.locator("#pg-lesson input").focus()

    def tab_to(elem_id: str, most: int = 6) -> None:
        for _ in range(most):
            page.keyboard.press("Tab")
            if page.evaluate("() => document.activeElement && document.activeElement.id") == elem_id:
                return
        raise AssertionError(f"Tab never reached #{elem_id}")

    tab_to("pg-play")
    ring = page.evaluate("() => getComputedStyle(document.activeElement).outlineWidth")
    assert float(ring.rstrip("px")) >= 3
    page.keyboard.press("Enter")
    expect(status).to_contain_text("playing", timeout=30_000)
    tab_to("pg-pause", most=1)
    page.keyboard.press("Space")
    expect(status).to_contain_text("paused", timeout=30_000)
