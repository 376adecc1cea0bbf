"""The memorisation check (gan.memorisation) and latent arithmetic (gan.latent.latent_arithmetic, gan.arithmetic):
a training image is its own nearest neighbour at distance 0, the shipped DCGAN's samples are not copies, a model
whose training images are not here says so instead of failing, and A − A + C is exactly C."""
from __future__ import annotations

import dataclasses
import shutil
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from gan import memorisation as mem
from gan.arithmetic import CELL, Term, arithmetic_row, parse_term
from gan.errors import GanInputError
from gan.latent import latent_arithmetic
from gan.pipeline import load_generator, to_uint8
from gan.viz import upscale

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@pytest.fixture(scope="module")
def dcgan():
    return load_generator(WEIGHTS / "mnist-dcgan.safetensors")


@pytest.fixture(scope="module")
def cond():
    return load_generator(WEIGHTS / "mnist-cond.safetensors")


@pytest.fixture(scope="module")
def mnist_set(dcgan):
    """The bundled 10,000 digits as the check searches them (built once: a few seconds)."""
    assert mem.prepare(dcgan) == ""
    return mem.training_set("mnist", 28)


# ------------------------------------------------------------------------------------------ memorisation
def test_a_training_image_is_its_own_nearest_neighbour_and_reads_as_a_copy(dcgan, mnist_set):
    assert len(mnist_set) == 10_000 and mnist_set.typical_pixels > 0 and mnist_set.typical_features > 0
    x = mnist_set.as_float(torch.tensor([123]))[0]
    m = mem.nearest_training_images(dcgan, x)
    assert m.available and m.dataset == "mnist" and m.n_train == 10_000
    assert m.pixels.indices[0] == 123 and m.pixels.distances[0] == 0.0 and m.pixels.ratio == 0.0
    assert torch.equal(m.pixels.images[0], x)
    assert m.features.indices[0] == 123 and m.features.distances[0] < 1e-3 * m.features.typical
    assert m.is_copy and "close to a copy" in m.verdict and "#123" in m.verdict
    assert m.pixels.distances == sorted(m.pixels.distances) and len(m.pixels.indices) == 5


def test_the_shipped_dcgans_samples_are_not_copies_and_a_check_is_fast(dcgan, mnist_set):
    images = dcgan.decode(dcgan.latents(list(range(6))))
    results = [mem.nearest_training_images(dcgan, im) for im in images]
    ratios = [r.pixels.ratio for r in results]
    assert sum(r > 2 * mem.COPY_RATIO for r in ratios) >= 5, ratios
    for r in results:
        assert r.available and "the typical distance between two real digits" in r.verdict
        assert r.pixels.images.shape == (5, 1, 28, 28) and r.features.images.shape == (5, 1, 28, 28)
        assert r.pixels.distances == sorted(r.pixels.distances)
        assert r.features.distances == sorted(r.features.distances)
    # the nearest image by pixels really is that far (checked against a direct computation on every digit)
    all_x = mnist_set.as_float(torch.arange(len(mnist_set))).reshape(len(mnist_set), -1)
    direct = (all_x - images[0].reshape(1, -1)).norm(dim=1)
    assert results[0].pixels.indices[0] == int(direct.argmin())
    assert results[0].pixels.distances[0] == pytest.approx(float(direct.min()), rel=1e-5)
    assert statistics.median(r.seconds for r in results) < 1.0   # measured ~0.02 s on 10,000 digits
    figure = mem.memorisation_figure(results[0], cell=56)
    assert figure.dtype == np.uint8 and figure.shape[1] == 6 * (56 + 4) + 4 and figure.shape[2] == 3


def test_the_verdict_follows_the_measured_thresholds():
    def reading(ratio: float) -> mem.Memorisation:
        nb = mem.Neighbours("pixels", [7], [ratio * 9.0], torch.zeros(1, 1, 28, 28), 9.0)
        return mem.Memorisation(True, dataset="fashion-mnist", pixels=nb)

    assert "0.10x" in mem.verdict(reading(0.1)) and "close to a copy" in mem.verdict(reading(0.1))
    near = mem.verdict(reading(0.4))
    assert "0.40x" in near and "not a copy" in near and "9 in 10" in near and "Fashion-MNIST" in near
    assert mem.verdict(reading(1.3)).endswith("1.30x the typical distance between two real Fashion-MNIST images "
                                              "(in pixels): not a copy of any training image.")


def test_training_images_that_are_not_here_give_a_reason_not_an_error(dcgan, tmp_path):
    image = torch.zeros(1, 28, 28)
    imported = dataclasses.replace(dcgan, info={"converted_from": "pytorch-dcgan"})
    cases = {
        "does not say which images": imported,
        "no longer on this server": {"dataset": f"folder:{tmp_path / 'gone'}"},
        "uploaded zip": {"dataset": f"zip:{tmp_path / 'gone.zip'}"},
        "not a dataset GANscope knows": {"dataset": "imagenet"},
        "for images": load_generator(WEIGHTS / "grid25-gan.safetensors"),
    }
    for words, who in cases.items():
        m = mem.nearest_training_images(who, image)
        assert not m.available and words in m.reason and m.message == m.reason
        assert m.pixels is None and mem.memorisation_figure(m) is None
    assert "for images" in mem.prepare({"dataset": "ring8"})


def test_a_folder_dataset_is_compared_in_pixels_only_until_it_is_gone(tmp_path):
    from PIL import Image

    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), "L").save(folder / f"{i:02d}.png")
    info = {"dataset": f"folder:{folder}"}
    with ThreadPoolExecutor(2) as pool:   # two first checks at once build the set once
        first, second = pool.map(lambda _: mem.training_set(info["dataset"], 14), range(2))
    assert first is second and first.images.shape == (12, 1, 14, 14)
    x = torch.from_numpy(np.array(Image.open(folder / "05.png"))).float().div(127.5).sub(1)[None]
    m = mem.nearest_training_images(info, x, k=3)
    assert m.available and m.features is None and m.n_train == 12
    assert m.pixels.distances[0] == 0.0 and len(m.pixels.indices) == 3 and m.is_copy
    assert "between two real training images (in pixels)" in m.verdict
    assert mem.memorisation_figure(m).shape[0] > 28
    shutil.rmtree(folder)
    gone = mem.nearest_training_images(info, x)
    assert not gone.available and "no longer on this server" in gone.reason


def test_bad_input_to_the_check(dcgan):
    good = torch.zeros(1, 28, 28)
    for k in (0, 33, "5", 2.5, True):
        with pytest.raises(GanInputError, match="k must be a whole number"):
            mem.nearest_training_images(dcgan, good, k=k)
    for image, words in ((torch.zeros(28, 28), "one square image"), (np.zeros((1, 28, 28)), "must be a tensor"),
                         (torch.full((1, 28, 28), float("nan")), "not finite"),
                         (torch.zeros(1, 32, 32), "draws 1x28x28")):
        with pytest.raises(GanInputError, match=words):
            mem.nearest_training_images(dcgan, image)


# ------------------------------------------------------------------------------------------- arithmetic
def test_latent_arithmetic_is_exact_on_means():
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn(n, 100, generator=g) for n in (3, 1, 4))
    assert torch.equal(latent_arithmetic(a, a, c), c.mean(0, keepdim=True))
    assert torch.equal(latent_arithmetic(a, b, c), (a.mean(0, keepdim=True) - b) + c.mean(0, keepdim=True))
    assert latent_arithmetic(a[0], b[0], c[0]).shape == (1, 100)   # one latent given as (z_dim,)
    with pytest.raises(GanInputError, match="term B is empty"):
        latent_arithmetic(a, torch.zeros(0, 100), c)
    with pytest.raises(GanInputError, match=r"differ in length \(A 100, B 100, C 64\)"):
        latent_arithmetic(a, b, torch.zeros(1, 64))
    with pytest.raises(GanInputError, match="term C holds a value that is not a finite"):
        latent_arithmetic(a, b, torch.full((1, 100), float("inf")))
    with pytest.raises(GanInputError, match="term A must be a tensor"):
        latent_arithmetic([0.0] * 100, b, c)


def test_the_arithmetic_row_of_seeds_and_its_picture(dcgan):
    term = parse_term(dcgan, " 3, 7 ,12 ")
    assert torch.equal(term.z, dcgan.latents([3, 7, 12])) and term.label is None and term.name == "mean 3,7,12"
    assert torch.equal(parse_term(dcgan, "10-12").z, dcgan.latents([10, 11, 12]))
    row = arithmetic_row(dcgan, "3, 7, 12", "5", "9")
    mean = dcgan.latents([3, 7, 12]).mean(0, keepdim=True)
    assert torch.equal(row.z, (mean - dcgan.latents([5])) + dcgan.latents([9]))
    assert row.images.shape == (4, 1, 28, 28) and row.labels == [None] * 4 and row.label is None
    same = arithmetic_row(dcgan, "4", "4", "9")
    assert torch.equal(same.z, dcgan.latents([9]))
    assert torch.allclose(same.images[3], same.images[2], atol=1e-5)   # A − A + C draws C
    tiles = to_uint8(row.images)
    assert row.image.dtype == np.uint8 and row.image.shape[2] == 3
    assert row.image.shape[0] > CELL and row.image.shape[1] > 4 * CELL
    pad = 6
    assert np.array_equal(row.image[pad:pad + CELL, pad:pad + CELL, 0], upscale(tiles[0], CELL))  # A, 28 -> 112 px
    gaps = row.image[pad:pad + CELL, pad + CELL:pad + CELL + CELL // 3]
    assert (gaps < 128).any() and (gaps > 128).any()   # the minus sign, dark on white, between A and B
    raw = Term(dcgan.latents([9]), name="bookmark")     # a latent that is not a seed
    assert torch.equal(arithmetic_row(dcgan, "4", "4", raw).z, dcgan.latents([9]))


def test_a_conditional_row_draws_each_term_with_its_class_and_the_result_with_cs(cond):
    row = arithmetic_row(cond, "3:1, 7", "5", "9:7", label=2)
    assert row.labels == [1, 2, 7, 7] and row.label == 7
    assert arithmetic_row(cond, "3", "5", "9").labels == [0, 0, 0, 0]   # no class anywhere: class 0
    with pytest.raises(GanInputError, match="term A names classes 1, 2: a term has one class"):
        parse_term(cond, "3:1, 7:2")
    with pytest.raises(GanInputError, match="term B: class must be a whole number from 0 to 9"):
        parse_term(cond, "3:12", "B")
    with pytest.raises(GanInputError, match="term C: class must be a whole number from 0 to 9"):
        arithmetic_row(cond, "1", "2", Term(cond.latents([3]), label=10))
    assert arithmetic_row(cond, "1", "2", Term(cond.latents([3]), label="4")).label == 4


def test_bad_arithmetic_input(dcgan):
    cases = {"": "term A is empty", " , ": "term A is empty", "x": "term A: a seed must be a whole number",
             "-3": "term A: a seed must", "3:4": "names class '4', but this model is not class-conditional",
             "0-100": "at most 64 seeds", "9-3": "runs backwards", "1.5": "term A: a seed must"}
    for text, words in cases.items():
        with pytest.raises(GanInputError, match=words):
            parse_term(dcgan, text)
    with pytest.raises(GanInputError, match="term B's latent has 64 numbers, but this model's z has 100"):
        arithmetic_row(dcgan, "1", Term(torch.zeros(1, 64)), "2")
    with pytest.raises(GanInputError, match="truncation must be"):
        arithmetic_row(dcgan, "1", "2", "3", truncation=0)
    with pytest.raises(GanInputError, match="for image models; this is a 2-D model"):
        arithmetic_row(load_generator(WEIGHTS / "grid25-gan.safetensors"), "1", "2", "3")
