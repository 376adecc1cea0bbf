"""Projection (gan.project): a picture in, the closest latent out. The shipped MNIST generators stand in for a
user's model; pictures are made here (drawn strokes, RGBA sketches, generated digits) so nothing is downloaded.
The benchmark (benchmarks/projection.py) measures the figures on real digits; these tests check behaviour."""
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan.config import ModelConfig
from gan.errors import GanInputError
from gan.latent import decode_z, encode_z, read_z_file
from gan.pipeline import load_generator, to_uint8
from gan.project import Projection, prepare_target, project
from tests.conftest import in_process

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
DCGAN, COND, POINTS = WEIGHTS / "mnist-dcgan.safetensors", WEIGHTS / "mnist-cond.safetensors", \
    WEIGHTS / "grid25-gan.safetensors"
MNIST = ModelConfig(image_size=28, channels=1)


@pytest.fixture(scope="module")
def dcgan():
    return load_generator(DCGAN)


@pytest.fixture(scope="module")
def cond():
    return load_generator(COND)


@pytest.fixture(scope="module")
def digit_png(dcgan, tmp_path_factory) -> Path:
    """A digit the model drew itself (seed 3), as a user's PNG file."""
    path = tmp_path_factory.mktemp("pictures") / "digit.png"
    Image.fromarray(to_uint8(dcgan.decode(dcgan.latents([3])))[0]).save(path)
    return path


def stroke_picture(size=200, ink=0, paper=255, box=(60, 40, 110, 160)) -> np.ndarray:
    """A thick upright bar (a '1') drawn in `ink` on `paper`: uint8 (size, size)."""
    a = np.full((size, size), paper, np.uint8)
    left, top, right, bottom = box
    a[top:bottom, left:right] = ink
    return a


# ------------------------------------------------------------------------------------------- projection
def test_a_digit_the_model_drew_is_recovered(dcgan):
    target = to_uint8(dcgan.decode(dcgan.latents([3])))[0]
    r = project(dcgan, target, steps=50)
    shown, result = r.pictures()
    assert (shown == target).all()           # a 28 x 28 MNIST-polarity picture is taken as it is
    assert r.z.shape == (1, 100) and r.z.dtype == torch.float32 and r.class_label is None
    assert np.abs(shown / 255 - result / 255).mean() < 0.03
    assert len(r.losses) == 50 and r.loss <= min(r.losses) + 1e-6 and r.loss < r.losses[0] / 5
    assert r.z.norm().item() == pytest.approx(10.0, rel=1e-4)   # kept on the prior's sphere, radius sqrt(100)


def test_a_conditional_model_finds_the_class(cond):
    target = to_uint8(cond.decode(cond.latents([6]), 2))[0]     # (the CLI's test below finds a 7)
    r = project(cond, target, steps=30)
    assert r.class_label == 2
    assert torch.equal(r.image, cond.decode(r.z, r.class_label))


def test_progress_determinism_and_a_given_class(cond):
    target = to_uint8(cond.decode(cond.latents([9]), 4))[0]
    calls = []
    r = project(cond, target, steps=12, class_label=4, progress=lambda *a: calls.append(a), seed=7)
    assert [c[:2] for c in calls] == [(5, 12), (10, 12), (12, 12)]
    assert all(isinstance(c[2], float) for c in calls) and calls[-1][2] == pytest.approx(min(r.losses))
    again = project(cond, target, steps=12, class_label=4, seed=7)
    assert r.class_label == 4 and torch.equal(r.z, again.z) and r.loss == again.loss


def test_a_progress_callback_can_stop_it(dcgan):
    def cancel(step, total, loss):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        project(dcgan, stroke_picture(), steps=100, progress=cancel)


# ------------------------------------------------------------------------------------------ preparation
def test_polarity_rule_inverts_a_dark_drawing_for_mnist_and_keeps_a_light_one():
    dark_on_white = prepare_target(stroke_picture(ink=0, paper=255), MNIST, "mnist")
    light_on_black = prepare_target(stroke_picture(ink=255, paper=0), MNIST, "mnist")
    for t in (dark_on_white, light_on_black):
        x = t.tensor[0, 0]
        assert t.tensor.shape == (1, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
        assert x[0].max() == -1 and x[:, 0].max() == -1      # MNIST's black border
        assert x[14, 14] > 0.9                                 # the stroke, light
    assert dark_on_white.inverted and not light_on_black.inverted
    assert torch.allclose(dark_on_white.tensor, light_on_black.tensor, atol=1e-6)
    # a model whose data is not known here (a folder of images) is never inverted
    assert not prepare_target(stroke_picture(), MNIST, "folder:/photos").inverted
    assert not prepare_target(stroke_picture(), MNIST, None).inverted


def test_the_mnist_border_figure_matches_the_data():
    from gan.data import load_dataset
    from gan.project import TRAINING_LOOKS, border_brightness

    ds = load_dataset("mnist", split="train")
    x = ds.data[:500].float() / 255
    measured = torch.stack([border_brightness(im) for im in x]).mean()
    assert measured.item() == pytest.approx(TRAINING_LOOKS["mnist"].border, abs=0.002)


def test_an_rgba_sketch_with_a_transparent_background_is_framed_like_mnist():
    rgba = np.zeros((300, 400, 4), np.uint8)          # transparent everywhere (a sketchpad's fresh canvas)
    rgba[40:120, 20:60] = (20, 20, 20, 255)           # a small dark stroke near the top left corner
    t = prepare_target(rgba, MNIST, "mnist")
    x = (t.tensor[0, 0] + 1) / 2
    assert t.inverted and t.framed
    assert x[0].max() < 0.01 and x[-1].max() < 0.01   # transparent = white paper, inverted to black
    rows, cols = torch.nonzero(x > 0.5, as_tuple=True)
    assert 16 <= rows.max() - rows.min() + 1 <= 21    # the drawing's long side scaled to MNIST's 20 pixels
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    assert abs(float((x * ys).sum() / x.sum()) - 13.5) <= 1 and abs(float((x * xs).sum() / x.sum()) - 13.5) <= 1


def test_pictures_of_any_kind_and_size(dcgan, tmp_path):
    grey = stroke_picture()
    rgb = np.repeat(grey[..., None], 3, axis=2)
    Image.fromarray(rgb).save(tmp_path / "p.png")
    made = [prepare_target(p, MNIST, "mnist").tensor for p in
            (grey, rgb, grey.astype(np.float32) / 255, Image.fromarray(rgb).convert("P"), tmp_path / "p.png",
             str(tmp_path / "p.png"), (tmp_path / "p.png").read_bytes(), grey[:, 20:180])]
    for m in made:
        assert m.shape == (1, 1, 28, 28)
        assert torch.allclose(m, made[0], atol=0.02)
    colour = prepare_target(rgb, ModelConfig(image_size=32, channels=3), None).tensor
    assert colour.shape == (1, 3, 32, 32) and not prepare_target(rgb, MNIST, None).inverted
    wide = np.full((100, 200), 255, np.uint8)      # a data set without MNIST's framing: padded to a square
    wide[40:60, 90:110] = 0
    x = prepare_target(wide, MNIST, None).tensor[0, 0]
    assert (x[:6] > 0.999).all() and (x[-6:] > 0.999).all() and x[14, 14] < -0.9


# --------------------------------------------------------------------------------------- command line
def test_cli_writes_the_z_file_and_generate_draws_the_projection(dcgan, digit_png, tmp_path):
    z_file = tmp_path / "z.json"
    done = in_process("gan.project", DCGAN, digit_png, "--steps", 20, "--seed", 1, "--out", z_file)
    assert done.returncode == 0, done.stderr
    assert "loss" in done.stdout and " s " in done.stdout and done.stdout.count("\n") == 1
    saved = json.loads(z_file.read_text())
    assert set(saved) == {"z", "class", "loss", "steps"} and saved["class"] is None and saved["steps"] == 20
    r = project(dcgan, digit_png, steps=20, seed=1)
    assert saved["z"] == r.to_json()["z"] and saved["loss"] == pytest.approx(r.loss)
    z, label = read_z_file(z_file, dcgan.config)
    assert torch.equal(z, r.z) and label is None

    out = tmp_path / "x.png"
    drawn = in_process("gan.generate", DCGAN, "--z", z_file, "--out", out)
    assert drawn.returncode == 0, drawn.stderr
    grid = np.asarray(Image.open(out))
    assert (grid == r.pictures()[1]).all()


def test_cli_on_a_conditional_model_keeps_the_class(cond, tmp_path):
    pic = tmp_path / "seven.png"
    Image.fromarray(to_uint8(cond.decode(cond.latents([5]), 7))[0]).save(pic)
    z_file, out = tmp_path / "z.json", tmp_path / "x.png"
    assert in_process("gan.project", COND, pic, "--steps", 30, "--out", z_file).returncode == 0
    assert json.loads(z_file.read_text())["class"] == 7
    assert in_process("gan.generate", COND, "--z", z_file, "--out", out).returncode == 0


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height (a decompression bomb's first bytes), with no pixels after it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_bad_input_for_the_projection_cli(tmp_path, digit_png):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"these bytes are no picture")
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 20_000, 20_000)
    big = tmp_path / "big.png"                 # above PIL's warning limit, below its error limit
    _png_header_only(big, 10_000, 10_000)
    dot = tmp_path / "dot.png"
    Image.new("L", (1, 1), 255).save(dot)
    out = tmp_path / "z.json"
    cases = [((DCGAN, junk), "is not an image"),
             ((DCGAN, bomb), "too large to project (400,000,000 pixels): at most 89,478,485 pixels"),
             ((DCGAN, big), "too large to project (100,000,000 pixels)"),
             ((DCGAN, dot), "1 x 1 pixels: it needs at least 8"),
             ((DCGAN, tmp_path / "missing.png"), "no such image file"),
             ((POINTS, digit_png), "2-D points model"),
             ((DCGAN, digit_png, "--steps", 0), "--steps must be a whole number from 1 to 5,000, got 0"),
             ((DCGAN, digit_png, "--steps", 5001), "--steps must be a whole number from 1 to 5,000"),
             ((COND, digit_png, "--class", 10), "--class must be a whole number from 0 to 9, got 10"),
             ((DCGAN, digit_png, "--class", 3), "--class is only for a conditional model")]
    for args, message in cases:
        done = in_process("gan.project", *args, "--out", out)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not out.exists()


def test_bad_z_files_for_generate(tmp_path):
    def z_file(name, content) -> Path:
        p = tmp_path / name
        p.write_text(content if isinstance(content, str) else json.dumps(content))
        return p

    good = [0.1] * 100
    out = tmp_path / "x.png"
    cases = [((DCGAN, "--z", z_file("short.json", {"z": [0.1] * 99, "class": None})),
              "holds 99 numbers, but this model's z has 100"),
             ((DCGAN, "--z", z_file("nan.json", '{"z": [NaN' + ", 0.1" * 99 + "]}")), "not a finite number"),
             ((DCGAN, "--z", z_file("big.json", {"z": [1e39] + good[1:]})), "not a finite number"),
             ((DCGAN, "--z", z_file("list.json", good)), "expected a JSON object"),
             ((DCGAN, "--z", z_file("text.json", "not json")), "is not valid JSON"),
             ((DCGAN, "--z", z_file("words.json", {"z": ["a"] * 100})), "z must be a list of 100 numbers"),
             ((DCGAN, "--z", z_file("cls.json", {"z": good, "class": 3})), "this model is unconditional"),
             ((COND, "--z", z_file("cls10.json", {"z": good, "class": 10})), "class must be a whole number from 0 to 9"),
             ((COND, "--z", z_file("open.json", {"z": good, "class": None})), "names no class: add --class"),
             ((COND, "--z", z_file("c3.json", {"z": good, "class": 3}), "--class", 4), "is for class 3"),
             ((DCGAN, "--z", z_file("ok.json", {"z": good}), "--seeds", "1-3"), "leave out --seeds"),
             ((DCGAN, "--z", tmp_path / "ok.json", "--interpolate", "1,2"), "leave out --seeds and --interpolate"),
             ((DCGAN, "--z", tmp_path / "nowhere.json"), "no such z file")]
    for args, message in cases:
        done = in_process("gan.generate", *args, "--out", out)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    assert not out.exists()
    assert in_process("gan.generate", COND, "--z", tmp_path / "open.json", "--class", 4, "--out", out).returncode == 0


def test_bad_pictures_in_the_library(dcgan):
    for picture, message in [(np.zeros((28, 28, 2), np.uint8), "shape (H, W), (H, W, 3) or (H, W, 4)"),
                             (np.full((28, 28), 2.0), "float image array must hold finite values from 0 to 1"),
                             (np.full((28, 28), np.nan), "finite values"),
                             (np.full((28, 28), 300), "values from 0 to 255"),
                             (torch.zeros(1, 28, 28), "not Tensor"),
                             (b"\x89PNG broken", "is not an image")]:
        with pytest.raises(GanInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
            project(dcgan, picture, steps=1)


# ------------------------------------------------------------------------------------------ share codes
def test_share_code_round_trip_draws_the_same_image(dcgan):
    z = dcgan.latents([0, 1, 2, 3])
    for row in z:
        code = encode_z(row)
        assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert len(code) == 267                                 # 200 bytes, base64url without padding
        back = decode_z(code, 100)
        assert back.shape == (1, 100) and back.dtype == torch.float32
        assert torch.allclose(back, row[None], rtol=1e-3, atol=1e-4)   # float16's precision
        a, b = to_uint8(dcgan.decode(row[None])), to_uint8(dcgan.decode(back))
        assert np.abs(a.astype(int) - b).max() <= 1


def test_share_code_validation():
    code = encode_z(torch.ones(1, 100))
    for text, message in [(code, "holds 100 numbers, but this model's z has 64"),
                          ("@@@@", "base64url"), ("", "a latent code is a text"), (None, "a latent code is a text"),
                          (code[:-1], "cut short"), (encode_z(torch.ones(99)), "holds 99 numbers")]:
        with pytest.raises(GanInputError, match=message):
            decode_z(text, 64 if text == code else 100)
    import base64
    nan = base64.urlsafe_b64encode(np.full(100, np.nan, "<f2").tobytes()).decode().rstrip("=")
    with pytest.raises(GanInputError, match="not a finite number"):
        decode_z(nan, 100)
    with pytest.raises(GanInputError, match="too large for a share code"):
        encode_z(torch.full((100,), 1e6))
    assert isinstance(Projection(torch.zeros(1, 2), None, 0.0, 1).to_json()["z"][0], float)
