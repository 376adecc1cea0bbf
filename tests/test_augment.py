"""DiffAugment (gan.augment): what D sees is a shifted, partly erased copy of the image, the same transform for
real and fake, and G's gradient still flows through it."""
import pytest
import torch

from gan.augment import cutout, diff_augment, parse_policy, translate
from gan.config import TrainConfig
from gan.data import load_dataset
from gan.errors import GanInputError
from gan.trainer import Trainer


@pytest.fixture(scope="module")
def digits():
    return load_dataset("mnist", split="test").batch(torch.arange(32))


def test_translation_moves_whole_images_by_at_most_an_eighth_and_fills_with_background(digits):
    out = translate(digits, torch.Generator().manual_seed(0))
    assert out.shape == digits.shape
    shifts = set()
    for src, dst in zip(digits, out):
        found = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                 if torch.equal(torch.roll(torch.nn.functional.pad(src, (4, 4, 4, 4), value=-1), (dy, dx), (1, 2))
                                [:, 4:32, 4:32], dst)]
        assert found, "each output is its input shifted by whole pixels, with -1 (black) filled in"
        shifts.add(found[0])
    assert len(shifts) > 5                     # each image gets its own shift


def test_cutout_erases_one_square_of_half_the_side(digits):
    out = cutout(torch.ones_like(digits), torch.Generator().manual_seed(1))
    erased = (out == 0).flatten(1).sum(1)
    assert erased.max() <= 14 * 14 and erased.float().mean() > 60     # a half-side square, clipped at the border
    assert ((out == 0) | (out == 1)).all()


def test_gradient_flows_through_the_augmentation(digits):
    x = digits.clone().requires_grad_(True)
    diff_augment(x, ("translation", "cutout"), torch.Generator().manual_seed(2)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_policy_names_are_checked():
    assert parse_policy(" translation, cutout,translation") == ("translation", "cutout")
    assert parse_policy("") == () and parse_policy(None) == ()
    with pytest.raises(GanInputError, match="choose from"):
        parse_policy("color")


def test_an_augmented_run_trains_and_records_its_policy():
    t = Trainer(TrainConfig(dataset="mnist", augment="cutout,translation", g_width=8, d_width=8, batch_size=16,
                            z_dim=16))
    before = [p.detach().clone() for p in t.D.parameters()]
    for _ in range(3):
        t.step()
    assert t.flush()["loss_d"] > 0
    assert t.cfg.augment == "cutout,translation"
    assert any(not torch.equal(a, b) for a, b in zip(before, t.D.parameters()))
