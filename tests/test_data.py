"""Datasets: real data decoded once onto the device, exactly the 2-D mixtures PacGAN defines, and bad folders."""
import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from gan.data import MNIST_10K, load_dataset, read_points_csv
from gan.errors import GanInputError


def test_bundled_mnist_is_the_shared_file_with_fixed_splits():
    assert hashlib.sha256(MNIST_10K.read_bytes()).hexdigest() == \
        "0217e13bd0668deb198aa7d305edbf0331eb89f8a6e7dd226e03d1aa3a9bd4ef"
    full, train, test = (load_dataset("mnist", split=s) for s in ("all", "train", "test"))
    assert full.data.shape == (10_000, 1, 28, 28) and full.data.dtype == torch.uint8
    assert len(train) == 8000 and len(test) == 2000
    assert torch.bincount(full.labels).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    # the splits are disjoint and cover everything
    as_bytes = lambda d: {bytes(x) for x in d.data.flatten(1).numpy()}  # noqa: E731
    assert not as_bytes(train) & as_bytes(test)
    batch = full.batch(torch.arange(4))
    assert batch.dtype == torch.float32 and batch.min() >= -1 and batch.max() <= 1


def test_fashion_mnist_loads_offline_from_debian(tmp_path):
    ds = load_dataset("fashion-mnist", data_root=str(tmp_path))
    assert ds.data.shape == (60_000, 1, 28, 28)
    assert ds.class_names[0] == "T-shirt/top" and torch.bincount(ds.labels).tolist() == [6000] * 10
    assert len(load_dataset("fashion-mnist", split="test", data_root=str(tmp_path))) == 10_000


def test_2d_mixtures_are_pacgans():
    ring = load_dataset("ring8")
    assert ring.modes.shape == (8, 2) and ring.mode_std == 0.01
    assert np.allclose(np.linalg.norm(ring.modes, axis=1), 1.0)
    grid = load_dataset("grid25")
    assert grid.mode_std == 0.05
    assert sorted({tuple(m) for m in grid.modes}) == [(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)]
    pts = grid.points_in_data_units()
    nearest = np.linalg.norm(pts[:, None] - grid.modes[None], axis=2).min(1)
    assert (nearest < 3 * 0.05).mean() > 0.98  # 3 sigma of a 2-D Gaussian holds 98.9%
    for name in ("spiral", "moons"):
        assert load_dataset(name).data.shape[1] == 2


def test_resizing_keeps_uint8():
    ds = load_dataset("mnist", image_size=64)
    assert ds.data.shape == (10_000, 1, 64, 64) and ds.data.dtype == torch.uint8


def test_folder_mixes_modes_and_skips_broken_files(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (50, 40, 3), dtype=np.uint8)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    Image.fromarray(rng.integers(0, 255, (30, 30), dtype=np.uint8)).convert("P").save(tmp_path / "pal.png")
    Image.fromarray(rng.integers(0, 255, (20, 60, 4), dtype=np.uint8), "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / "gray.png")
    (tmp_path / "fake.png").write_bytes(b"\x89PNG not really")
    good = tmp_path / "cut.png"
    Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(good)
    good.write_bytes(good.read_bytes()[:100])  # truncated
    ds = load_dataset(f"folder:{tmp_path}", image_size=32)
    assert ds.data.shape == (4, 3, 32, 32)


def test_decompression_bomb_is_skipped(tmp_path):
    Image.new("L", (15_000, 15_000)).save(tmp_path / "bomb.png")  # 225 MP of zeros: a few hundred KB on disk
    Image.new("L", (30, 30)).save(tmp_path / "ok.png")
    ds = load_dataset(f"folder:{tmp_path}", image_size=28)
    assert len(ds) == 1


def test_csv_with_and_without_header(tmp_path):
    a = tmp_path / "a.csv"
    a.write_text("x,y\n1,2\n3,4\n")
    b = tmp_path / "b.csv"
    b.write_text("1;2\n3;4\n\n5,6\n")
    assert read_points_csv(a).tolist() == [[1, 2], [3, 4]]
    assert read_points_csv(b).tolist() == [[1, 2], [3, 4], [5, 6]]
    c = tmp_path / "c.csv"
    c.write_text("1,inf\n2,3\n")
    with pytest.raises(GanInputError, match="infinite"):
        read_points_csv(c)
