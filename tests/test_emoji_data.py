"""The bundled Noto emoji: what load_emoji keeps (9 categories, no skin-tone variants), its two sizes, its fixed
split, and one conditional training step on it through the command line."""
import collections
import hashlib
import re

import numpy as np
import pytest
import torch
from PIL import Image

from gan.checkpoint import read_model_file
from gan.data import EMOJI_FILES, load_dataset
from tests.conftest import in_process
from tests.test_cli import TINY

CLASSES = ["Activities", "Animals & Nature", "Flags", "Food & Drink", "Objects", "People & Body",
           "Smileys & Emotion", "Symbols", "Travel & Places"]
PER_CLASS = [85, 159, 270, 131, 264, 386, 169, 224, 218]


@pytest.fixture(scope="module")
def emoji32():
    return {s: load_dataset("emoji", split=s) for s in ("all", "train", "test")}


def as_bytes(ds):
    return collections.Counter(bytes(x) for x in ds.data.flatten(1).numpy())


def test_emoji_classes_counts_and_fixed_split(emoji32):
    full, train, test = emoji32["all"], emoji32["train"], emoji32["test"]
    assert (full.kind, full.channels, full.image_size) == ("image", 3, 32)
    assert full.data.shape == (1906, 3, 32, 32) and full.data.dtype == torch.uint8
    assert full.class_names == CLASSES and "Component" not in full.class_names and full.n_classes == 9
    assert torch.bincount(full.labels).tolist() == PER_CLASS
    assert (len(train), len(test)) == (1525, 381)
    # train and test share no image and make up all (as multisets: a few emoji share their artwork, e.g. flags)
    assert as_bytes(train) + as_bytes(test) == as_bytes(full)
    # the same split on every machine (gan.data._split's fixed permutation)
    assert torch.bincount(test.labels).tolist() == [16, 32, 44, 28, 64, 84, 40, 38, 35]
    assert hashlib.sha256(test.data.numpy().tobytes()).hexdigest() == \
        "b15f3678704ca860f44358c36ec434780aff8dfbdffe5fddaa30c33fa822cc20"


def test_emoji_keeps_every_emoji_but_components_and_skin_tones(emoji32):
    """Rebuilt from the file by the names, independently of the loader: no "Component", no file with a skin-tone
    modifier (U+1F3FB..U+1F3FF), everything else in the file's order with its category."""
    with np.load(EMOJI_FILES[32]) as f:
        images, labels, categories, names = f["images"], f["labels"], list(f["categories"]), f["names"]
    variant = np.array([re.search(r"(^|-)1f3f[b-f](-|\.png$)", n.split("|")[1]) is not None for n in names])
    assert variant.sum() == 1880   # 1,875 people + the 5 swatches of "Component"
    keep = (labels != categories.index("Component")) & ~variant
    expected = torch.from_numpy(images[keep]).permute(0, 3, 1, 2)
    assert torch.equal(emoji32["all"].data, expected)
    assert [CLASSES[i] for i in emoji32["all"].labels] == [str(categories[i]) for i in labels[keep]]


def test_emoji_64_is_the_file_the_32_is_box_filtered_from(emoji32):
    big = load_dataset("emoji", image_size=64)
    assert big.data.shape == (1906, 3, 64, 64) and big.data.dtype == torch.uint8 and big.channels == 3
    assert torch.equal(big.labels, emoji32["all"].labels) and big.class_names == CLASSES
    small = emoji32["all"].data
    # A 2x2 box: the 32 file is within one grey level of the plain mean of 4 pixels (never below it: PIL's rounding)
    sums = big.data.view(-1, 3, 32, 2, 32, 2).sum((3, 5), dtype=torch.int32)
    gap = small.int() * 4 - sums   # 4 x (the 32 file - the mean)
    assert 0 <= gap.min() and gap.max() <= 4 and gap.float().mean() < 1
    # ... and is exactly PIL's box filter of the 64 file (checked on every 8th image, for time).
    pil = np.stack([np.asarray(Image.fromarray(im).resize((32, 32), Image.BOX))
                    for im in big.data[::8].permute(0, 2, 3, 1).numpy()])
    assert torch.equal(torch.from_numpy(pil).permute(0, 3, 1, 2), small[::8])


def test_emoji_trains_conditionally_from_the_command_line(tmp_path):
    r = in_process("gan.train", "--dataset", "emoji", "--conditional", "--steps", "1", "--no-tensorboard",
                   "--out", tmp_path / "run", *TINY)
    assert r.returncode == 0, r.stderr
    cfg, info, _ = read_model_file(tmp_path / "run" / "generator.safetensors")
    assert (cfg.image_size, cfg.channels, cfg.conditional, cfg.n_classes) == (32, 3, True, 9)
    assert info["dataset"] == "emoji" and info["class_names"] == CLASSES
