"""A user's own images (folder:PATH, zip:PATH, uploads) come out as a person sees them: upright, first frame,
transparency over the background colour, 16-bit scaled rather than clipped, palettes through their palette. Each
kind is written with PIL into a temporary folder (or zip) and read back through gan.data.load_dataset."""
import io
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gan import uploads
from gan.config import TrainConfig
from gan.data import load_dataset
from gan.errors import FieldError
from tests.conftest import in_process

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 255, 255)


def encoded(im: Image.Image, fmt: str, **save) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **save)
    return buf.getvalue()


def write(where, files: dict, as_zip: bool = False) -> str:
    """The files {name: bytes} as a folder or a zip under `where` (made if missing); the dataset name that reads
    them."""
    where.mkdir(parents=True, exist_ok=True)
    if as_zip:
        path = where / "images.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name in sorted(files):
                zf.writestr(name, files[name])
        return f"zip:{path}"
    folder = where / "images"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return f"folder:{folder}"


def loaded(where, files: dict, size: int = 8, as_zip: bool = False, **kw) -> np.ndarray:
    """The dataset's uint8 images as (N, H, W, C)."""
    ds = load_dataset(write(where, files, as_zip), image_size=size, **kw)
    return ds.data.permute(0, 2, 3, 1).numpy()


def half_transparent_rgba() -> Image.Image:
    """Left half fully transparent (black underneath, which a loader that drops alpha shows), right half green,
    and one black pixel at half opacity."""
    a = np.zeros((8, 8, 4), np.uint8)
    a[:, 4:] = (*GREEN, 255)
    a[0, 4] = (0, 0, 0, 128)
    return Image.fromarray(a, "RGBA")


def quadrant_image(w: int = 16, h: int = 16) -> Image.Image:
    """Blue, with the top-left quadrant red: each rotation or flip moves the red corner somewhere else."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:] = BLUE
    a[: h // 2, : w // 2] = RED
    return Image.fromarray(a)


def is_red(pixels: np.ndarray) -> bool:
    r, g, b = (pixels[..., i].astype(int).mean() for i in range(3))
    return r > 200 and g < 60 and b < 60


def test_an_exif_rotated_jpeg_comes_out_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6                                   # Orientation: show the stored pixels turned 90° clockwise
    stored = quadrant_image().transpose(Image.Transpose.ROTATE_90)          # as a phone stores it: sideways
    jpeg = encoded(stored, "JPEG", quality=95, exif=exif)
    raw = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    assert is_red(raw[10:, :6]) and not is_red(raw[:6, :6])   # the file really holds it sideways
    x = loaded(tmp_path, {"photo.jpg": jpeg}, size=16)[0]
    assert is_red(x[:6, :6]) and not is_red(x[10:, :6]) and not is_red(x[:6, 10:])
    # a portrait photo stored as landscape comes back as a portrait
    tall = encoded(quadrant_image(8, 16).transpose(Image.Transpose.ROTATE_90), "JPEG", quality=95, exif=exif)
    assert uploads.decode_image(io.BytesIO(tall)).size == (8, 16)


@pytest.mark.parametrize("as_zip", [False, True], ids=["folder", "zip"])
def test_transparent_pixels_are_laid_over_white_or_the_chosen_background(tmp_path, as_zip):
    files = {"a.png": encoded(half_transparent_rgba(), "PNG")}
    white = loaded(tmp_path / "w", files, as_zip=as_zip)
    assert (white[0, 1:, :4] == WHITE).all() and (white[0, :, 5:] == GREEN).all()
    assert abs(int(white[0, 0, 4, 0]) - 127) <= 1                      # half-opaque black over white: mid grey
    red = loaded(tmp_path / "r", files, as_zip=as_zip, background="#ff0000")
    assert (red[0, :, :4] == RED).all() and (red[0, :, 5:] == GREEN).all()
    assert (loaded(tmp_path / "n", files, as_zip=as_zip, background="navy")[0, :, :4] == (0, 0, 128)).all()


def test_grey_with_alpha_stays_grey_unless_the_background_is_a_colour(tmp_path):
    a = np.zeros((8, 8, 2), np.uint8)
    a[:, 4:] = (90, 255)
    files = {"la.png": encoded(Image.fromarray(a, "LA"), "PNG")}
    grey = loaded(tmp_path / "w", files)
    assert grey.shape[-1] == 1 and (grey[0, :, :4] == 255).all() and (grey[0, :, 4:] == 90).all()
    coloured = loaded(tmp_path / "c", files, background="#ff0000")
    assert coloured.shape[-1] == 3 and (coloured[0, :, :4] == RED).all() and (coloured[0, :, 4:] == 90).all()


def test_16_bit_grayscale_is_scaled_to_8_bit_not_clipped(tmp_path):
    a = np.full((8, 8), 65535, np.uint16)
    a[:, 4:] = 32768
    png16 = Image.fromarray(a)
    assert png16.mode == "I;16"
    x = loaded(tmp_path, {"deep.png": encoded(png16, "PNG")})
    assert x.shape[-1] == 1 and (x[0, :, :4] == 255).all() and (x[0, :, 4:] == 128).all()
    # mode I (32-bit: a 16-bit PNG in older PIL, integer TIFFs) is read on the same 16-bit scale
    b = np.full((8, 8), 65535, np.int32)
    b[:, 4:] = 1000
    tiff = encoded(Image.fromarray(b), "TIFF")
    assert Image.open(io.BytesIO(tiff)).mode == "I"
    y = loaded(tmp_path / "i", {"int.tif": tiff})
    assert (y[0, :, :4] == 255).all() and (y[0, :, 4:] == 4).all()


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_a_palette_image_goes_through_its_palette_and_its_transparent_index(tmp_path, fmt):
    p = Image.new("P", (8, 8), 0)
    p.putpalette([*RED, *BLUE] + [0] * 762)
    p.paste(1, (4, 0, 8, 8))
    with_hole = loaded(tmp_path / "t", {f"p.{fmt.lower()}": encoded(p, fmt, transparency=0)})
    assert (with_hole[0, :, :4] == WHITE).all() and (with_hole[0, :, 4:] == BLUE).all()
    opaque = loaded(tmp_path / "o", {f"p.{fmt.lower()}": encoded(p, fmt)})
    assert (opaque[0, :, :4] == RED).all() and (opaque[0, :, 4:] == BLUE).all()


def test_grayscale_keeps_its_values_and_one_channel(tmp_path):
    a = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    x = loaded(tmp_path, {"g.png": encoded(Image.fromarray(a), "PNG")})
    assert x.shape == (1, 8, 8, 1) and np.array_equal(x[0, ..., 0], a)


def test_webp_with_and_without_transparency(tmp_path):
    files = {"a.webp": encoded(half_transparent_rgba(), "WEBP", lossless=True),
             "b.webp": encoded(quadrant_image(8, 8), "WEBP", lossless=True)}
    x = loaded(tmp_path, files)
    assert (x[0, 1:, :4] == WHITE).all() and (x[0, :, 5:] == GREEN).all()
    assert (x[1, :4, :4] == RED).all() and (x[1, 4:, :] == BLUE).all()


def test_an_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in (RED, BLUE, GREEN)]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    assert Image.open(io.BytesIO(gif)).n_frames == 3
    x = loaded(tmp_path, {"anim.gif": gif})
    assert len(x) == 1 and (x[0] == RED).all()


def test_a_zip_reads_like_the_folder(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 3
    files = {"1.png": encoded(half_transparent_rgba(), "PNG"), "2.jpg": encoded(quadrant_image(), "JPEG", exif=exif),
             "3.png": encoded(Image.fromarray(np.full((8, 8), 40000, np.uint16)), "PNG"),
             "4.gif": encoded(Image.new("L", (8, 8), 77), "GIF")}
    folder = loaded(tmp_path / "f", files, size=16, background="teal")
    zipped = loaded(tmp_path / "z", files, size=16, as_zip=True, background="teal")
    assert folder.shape == (4, 16, 16, 3) and np.array_equal(folder, zipped)


def test_the_trainer_lays_transparency_over_its_configs_background(tmp_path):
    from gan.trainer import Trainer

    clear = Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA")
    name = write(tmp_path, {"a.png": encoded(clear, "PNG"), "b.png": encoded(quadrant_image(8, 8), "PNG")})
    cfg = TrainConfig(dataset=name, background="#336699", image_size=32, batch_size=2, g_width=4, d_width=4,
                      z_dim=4, device="cpu")
    data = Trainer(cfg).data.data
    assert data.shape == (2, 3, 32, 32)
    assert (data[0].permute(1, 2, 0) == torch.tensor([0x33, 0x66, 0x99], dtype=torch.uint8)).all()


@pytest.mark.parametrize("value,words", [("blurple", "must be a colour"), ("", "must be a colour"),
                                         ("#12345", "must be a colour"), (None, "must be a colour"),
                                         ("#ff000080", "opaque")])
def test_a_bad_background_is_refused_by_name(value, words):
    with pytest.raises(FieldError, match=words) as e:
        load_dataset("ring8", background=value)
    assert e.value.field == "background" and str(e.value).startswith("--background ")
    assert repr(value) in str(e.value)


def test_background_takes_what_pil_reads_as_a_colour():
    assert uploads.background_rgb("White") == WHITE
    assert uploads.background_rgb("#0f0") == (0, 255, 0)
    assert uploads.background_rgb("rgb(1, 2, 3)") == (1, 2, 3)
    assert uploads.background_rgb("#102030ff") == (16, 32, 48)


def test_a_bad_background_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    name = write(tmp_path, {"a.png": encoded(quadrant_image(8, 8), "PNG")})
    r = in_process("gan.train", "--steps", "1", "--dataset", name, "--background", "blurple",
                   "--out", tmp_path / "run")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stdout == "", r.stderr
    assert lines[-1] == "error: --background must be a colour: a name such as white or black, or #rrggbb, " \
                        "got 'blurple'", r.stderr
    assert not (tmp_path / "run").exists()
