"""Explore with your own latent and your own model (issue 19): a view whose latent is not a seed (bookmarks and share
links carry its z, and open on the same image), the hooks the tab's other sections use, and the PyTorch DCGAN
example's .pth dropped on a page, converted and shown to that page only; a hostile or wrong file is one message and
leaves nothing behind."""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from gan.errors import GanInputError
from tests.test_convert import WritesAFile, example_discriminator, example_generator, saved

MODEL = "tiny-mnist"   # conftest's weights: z of 16


def visitor(name: str):
    """A page, as the handlers see a request (its session hash)."""
    return SimpleNamespace(session_hash=f"own-test-{name}", query_params={})


def pixels(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("L")).astype(int)


@pytest.fixture(scope="module")
def example_pair(tmp_path_factory):
    """The PyTorch DCGAN example's netG / netD checkpoints (tests/test_convert.py's builders), small: z 16."""
    folder = tmp_path_factory.mktemp("pth")
    torch.manual_seed(1)
    G, D = example_generator(16, 8, 1), example_discriminator(8, 1)
    return saved(folder / "netG_mine.pth", G), saved(folder / "netD_mine.pth", D), G


def a_z(seed: int = 5) -> list[float]:
    return torch.randn(16, generator=torch.Generator().manual_seed(seed)).tolist()


# ---------------------------------------------------------------------------------------- library: z and links
def test_z_bookmarks_and_share_queries_check_their_latent(demo):
    from gan.latent import decode_z
    from gan.render import check_z, make_bookmark, parse_bookmark, parse_raw_overrides, share_query

    pipe = demo.ganscope.catalog.get(MODEL)
    z = a_z()
    mark = parse_bookmark(json.dumps(make_bookmark(MODEL, 7, 0.8, None, [1.0], {2: 0.5}, z=torch.tensor([z]))))
    assert mark["z"] == z and mark["seed"] == 7 and mark["raw"] == {2: 0.5}       # float32 numbers, exactly
    assert parse_bookmark(json.dumps({"z": z, "class": None, "loss": 0.1, "steps": 9}))["z"] == z  # gan.project's
    for bad in ('{"z": [1, "x"]}', '{"z": []}', '{"z": [true]}', '{"z": 3}', '{"z": [1e999]}'):
        with pytest.raises(GanInputError):
            parse_bookmark(bad)
    with pytest.raises(GanInputError, match="holds 5 numbers, but tiny-mnist's z has 16"):
        check_z(pipe, [0.0] * 5)
    with pytest.raises(GanInputError, match="not a finite number"):
        check_z(pipe, [float("nan")] * 16)
    # a z view's link: the code of z with the raw override in it, no seed; a seed view's keeps seed and r=
    q = dict(part.split("=", 1) for part in share_query(MODEL, 7, 0.8, None, [1.5, 0], {2: 0.5}, z=z).split("&"))
    assert set(q) == {"model", "z", "psi", "d"} and q["d"] == "1.5"
    back = decode_z(q["z"], 16)[0]
    assert abs(back[2].item() - 0.5) < 1e-3 and torch.allclose(back, torch.tensor(z).index_put_(
        (torch.tensor([2]),), torch.tensor(0.5)), atol=3e-3)
    assert share_query(MODEL, 7, 0.8, None, [1.5, 0], {2: 0.5}) == "model=tiny-mnist&seed=7&psi=0.8&d=1.5&r=2:0.5"
    assert parse_raw_overrides("2:0.5,10:-1") == {2: 0.5, 10: -1.0}
    with pytest.raises(GanInputError):
        parse_raw_overrides("2:9")


# ---------------------------------------------------------------------------------------- hooks, in process
def test_hooks_show_a_latent_and_give_back_what_is_drawn(demo):
    from gan.render import check_z
    from gan.ui import explore_tab as ex

    ctx, p = demo.ganscope, visitor("hooks")
    pipe = ctx.catalog.get(MODEL)
    z = a_z(9)
    out = ex.show_latent(ctx, p, model=MODEL, z=torch.tensor([z]), psi=0.7)
    assert out["message"] == "" and out["z_note"]["visible"] is True and set(out) <= set(ex.FULL_OUT)
    view = ex.current_view(ctx, p)
    assert view["z"] == z and view["psi"] == 0.7 and view["dirs"] == [0.0] * ex.N_DIRS and view["raw"] == {}
    ex.on_raw(ctx, 1.25, p, index=3)
    ex.on_direction(ctx, 0.5, p, index=0)
    got_pipe, latent, label = ex.current_latent(ctx, p)
    want = check_z(pipe, z)
    want[0, 3] = 1.25
    want = want * 0.7 + ctx.catalog.directions(MODEL).offset([0.5])
    assert got_pipe is pipe and label is None and torch.allclose(latent, want)
    # the image on screen is the decode of that latent
    shown = ex._render(ctx, p.session_hash, ex.current_view(ctx, p), neighbours=False)[1].image
    from gan.pipeline import to_uint8
    from gan.viz import upscale
    assert np.array_equal(shown, upscale(to_uint8(pipe.decode(latent))[0], shown.shape[0]))
    # bad latents are a message and change nothing
    assert "holds 3 numbers" in ex.show_latent(ctx, p, model=MODEL, z=[0.0] * 3)["message"]
    assert ex.current_view(ctx, p)["z"] == z
    # another model: back to the seed, and said
    said = ex.on_model(ctx, "tiny-mnist-cond", p)["message"]
    assert "Back to seed" in said and "Truncation is back to 1" in said and ex.current_view(ctx, p)["z"] is None
    ex.show_latent(ctx, p, model=MODEL, seed=4)
    assert ex.current_view(ctx, p)["z"] is None and ex.current_view(ctx, p)["seed"] == 4
    # a seed typed goes back to seeds
    ex.show_latent(ctx, p, model=MODEL, z=z)
    assert ex.on_seed(ctx, 12, p)["z_note"]["visible"] is False and ex.current_view(ctx, p)["z"] is None


def test_the_sections_get_the_hooks(demo):
    """explore_gallery and explore_latent are built with the hooks and without importing this tab."""
    import ast

    from gan.ui import explore_tab

    for path in explore_tab.SECTIONS:
        source = Path(__import__(path, fromlist=["x"]).__file__).read_text()
        imports = [n for n in ast.walk(ast.parse(source)) if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not any("explore_tab" in ast.unparse(n) for n in imports), path
    h = explore_tab.hooks()
    assert (h.show_latent, h.current_view, h.current_latent, h.wire, h.full_out) == (
        explore_tab.show_latent, explore_tab.current_view, explore_tab.current_latent, explore_tab.wire,
        explore_tab.FULL_OUT)


# ------------------------------------------------------------------------------------------ own models, store
def test_own_models_are_bounded_per_page_and_per_server(example_pair, tmp_path):
    from gan.own_models import OwnModels, PageCatalog

    g_path, d_path, _ = example_pair
    folder = tmp_path / "own"
    own = OwnModels(lambda: folder, max_models=3)
    names = []
    for i in range(3):   # a third model on one page replaces its least recently used
        g = tmp_path / f"netG_{i}.pth"
        g.write_bytes(g_path.read_bytes())
        names.append(own.add("a", [g]).name)
    assert [n for _, n in own.choices("a")] == names[1:] == ["yours: netG_1", "yours: netG_2"]
    assert len(list(folder.iterdir())) == 2
    own.add("b", [d_path, g_path])           # either order: generator and discriminator told apart
    assert own.get("b", "yours: netG_mine").discriminator is not None
    own.get("a", "yours: netG_2")             # used: netG_1 is now the server's least recently used
    own.add("c", [g_path])
    assert [n for _, n in own.choices("a")] == ["yours: netG_2"] and len(list(folder.iterdir())) == 3
    with pytest.raises(GanInputError, match="not on this page"):
        own.get("c", "yours: netG_2")
    models = PageCatalog(SimpleNamespace(entries={}, entry=None), own, "c")
    with pytest.raises(GanInputError, match="not on this page"):
        models.entry("yours: netG_2")


def test_a_too_large_file_is_refused_unread(demo, tmp_path):
    from gan.own_models import UPLOAD_MAX_BYTES
    from gan.ui import explore_tab as ex

    big = tmp_path / "netG_big.pth"
    with open(big, "wb") as f:
        f.truncate(UPLOAD_MAX_BYTES + 1)          # sparse: nothing is written, nothing is read
    before = ex.current_view(demo.ganscope, visitor("big"))
    out = ex.on_own_model(demo.ganscope, [str(big)], visitor("big"))
    assert "over the 200 MB" in out["message"] and "image" not in out and out["own_files"] is None
    assert ex.current_view(demo.ganscope, visitor("big")) == before


# --------------------------------------------------------------------------------------- through the server
@pytest.fixture(scope="module")
def clients(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False), Client(app_url, verbose=False)


def test_z_bookmark_and_link_round_trip_through_the_server(clients, demo, app_url, tmp_path):
    from gradio_client import handle_file

    from gan.ui import explore_tab as ex

    a, b = clients
    z = a_z(3)
    mark = tmp_path / "mark.json"
    mark.write_text(json.dumps({"ganscope_bookmark": 1, "model": MODEL, "seed": 3, "truncation": 0.9,
                                "class": None, "directions": [0.5], "raw": {}, "z": z}))
    image, message = a.predict(handle_file(str(mark)), api_name="/explore_load_bookmark")
    assert message == ""
    assert ex.current_view(demo.ganscope, SimpleNamespace(session_hash=a.session_hash))["z"] == z
    saved_mark, message = a.predict(api_name="/explore_save_bookmark")
    back = json.loads(Path(saved_mark).read_text())
    assert (back["model"], back["z"], back["truncation"], back["directions"][0]) == (MODEL, z, 0.9, 0.5)
    link, message = a.predict(app_url, api_name="/explore_share_link")
    assert link.startswith(app_url.rstrip("/")) and "model=tiny-mnist" in link and "&z=" in link
    assert "seed=" not in link and len(link) < len(app_url) + 120
    # another page opens the link on the same picture (z travels as float16: within a grey level or two)
    image_b, message = b.predict(link, api_name="/explore_open_link")
    assert message == ""
    assert np.abs(pixels(image_b) - pixels(image)).max() <= 2
    assert not np.array_equal(pixels(b.predict(seed=3, model=MODEL, api_name="/generate")[0]), pixels(image))
    # a link with a z cut short or holding NaN: a message, and the default view
    code = link.split("&z=")[1].split("&")[0]
    nan = base64.urlsafe_b64encode(b"\x00\x7e" * 16).decode().rstrip("=")
    for bad, words in ((link.replace(code, code[:-8]), "holds 13 numbers"), (link.replace(code, nan), "not a finite")):
        _, message = b.predict(bad, api_name="/explore_open_link")
        assert "The link could not be used" in message and words in message, message
        assert ex.current_view(demo.ganscope, SimpleNamespace(session_hash=b.session_hash))["z"] is None
    # a bookmark whose z does not fit the model shown
    mark.write_text(json.dumps({"model": "elsewhere", "seed": 1, "z": [0.1] * 100}))
    _, message = a.predict(handle_file(str(mark)), api_name="/explore_load_bookmark")
    assert "made on 'elsewhere', which is not here" in message and "100 numbers" in message


def test_a_dropped_pth_is_that_pages_model_only(clients, demo, example_pair):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    a, b = clients
    g_path, d_path, _ = example_pair
    model, image, note, message = a.predict([handle_file(str(g_path)), handle_file(str(d_path))],
                                            api_name="/explore_own_model")
    name = "yours: netG_mine"
    assert message == "" and name in note and "netD_mine.pth" in note
    assert model["value"] == name and name in [c[1] for c in model["choices"]]
    assert pixels(image).shape == (320, 320)                    # 64 px x 5
    listed = [c[1] for c in a.predict(api_name="/explore_models")["choices"]]
    assert name in listed and MODEL in listed
    assert name not in [c[1] for c in b.predict(api_name="/explore_models")["choices"]]
    assert name not in demo.ganscope.catalog.names()
    _, _, score, _ = a.predict(seed=2, model=name, api_name="/generate")
    assert "D's probability" in score                            # its netD came along
    with pytest.raises(AppError, match="not on this page"):
        b.predict(seed=2, model=name, api_name="/generate")


def test_bad_pth_files_are_one_message_and_leave_nothing(clients, demo, tmp_path):
    from gradio_client import handle_file

    a, _ = clients
    target = tmp_path / "pwned"
    evil = tmp_path / "netG_evil.pth"
    torch.save({"main.0.weight": WritesAFile(target)}, evil)
    empty = tmp_path / "netG_empty.pth"
    empty.write_bytes(b"")
    other = tmp_path / "netG_linear.pth"
    torch.save(nn.Linear(4, 2).state_dict(), other)
    folder = demo.ganscope.scratch("explore-own")
    kept = set(folder.iterdir())
    for path, words in ((evil, "could run code: refused"), (empty, "is empty"),
                        (other, "not the PyTorch DCGAN example's")):
        model, image, note, message = a.predict([handle_file(str(path))], api_name="/explore_own_model")
        assert words in message and note == "", message
        assert image == model == {"__type__": "update"}         # nothing else changed (gr.skip())
    assert not target.exists()
    assert set(folder.iterdir()) == kept                        # no converted file
    uploads = Path(os.environ["GRADIO_TEMP_DIR"])
    assert not [p for p in uploads.rglob("netG_*.pth") if p.name in {evil.name, empty.name, other.name}]


# ------------------------------------------------------------------------------------------------ in a browser
def test_dropping_a_pth_on_the_page_shows_your_model(page, app_url, example_pair):
    """On a page opened by a link to a latent that is not a seed (a note says so; a seed typed goes back to seeds),
    drop the example's netG and netD: the picture is the 64x64 model's, listed as yours."""
    import re

    from playwright.sync_api import expect

    from gan.latent import encode_z
    from tests.test_app_browser import open_app

    img = open_app(page, f"{app_url}?model={MODEL}&z={encode_z(torch.tensor(a_z(4)))}&psi=1")
    note = page.locator("#z-note")
    expect(note).to_contain_text("Not a seed", timeout=30_000)
    before = img.get_attribute("src")
    page.locator("#seed input").fill("8")
    expect(img).not_to_have_attribute("src", before, timeout=15_000)
    expect(note).to_be_hidden()
    g_path, d_path, _ = example_pair
    before = img.get_attribute("src")
    page.locator("#own-accordion").click()
    page.locator("#own-model input[type=file]").set_input_files([str(g_path), str(d_path)])
    expect(page.locator("#explore-model input")).to_have_value(re.compile(r"^yours: netG_mine ·"), timeout=30_000)
    expect(img).not_to_have_attribute("src", before, timeout=30_000)
    expect(page.locator("#own-note")).to_contain_text("Only this page lists it")
    expect(page.locator("#model-info")).to_contain_text("your file")
    expect(page.locator("#explore-message")).to_have_text("")
    expect(page.locator("#seed input")).to_have_value("8")        # at the page's seed
    assert img.evaluate("e => e.naturalWidth") == 320            # the 64x64 model's picture, 5x
    Path("/tmp/shots").mkdir(exist_ok=True)
    page.screenshot(path="/tmp/shots/explore_pth.png", full_page=True)
