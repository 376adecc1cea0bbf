"""The quality metrics on cases whose answer is known: real vs real, a collapsed generator, identical sets, points
placed exactly on modes; and `python -m gan.evaluate --json` as a user runs it."""
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg

from gan import metrics
from gan.config import ModelConfig
from gan.data import load_dataset
from gan.errors import GanInputError
from tests.conftest import in_process

ROOT = Path(__file__).resolve().parents[1]


def test_frechet_distance_matches_the_textbook_formula():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 8, generator=g, dtype=torch.float64)
    b = torch.randn(300, 8, generator=g, dtype=torch.float64) @ torch.randn(8, 8, generator=g, dtype=torch.float64)
    b = b + 0.5
    mu_a, mu_b = a.mean(0).numpy(), b.mean(0).numpy()
    s_a, s_b = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    ref = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * linalg.sqrtm(s_a @ s_b).real)
    assert metrics.frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_identical_sets_have_precision_and_recall_one_and_disjoint_sets_zero():
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(1))
    assert metrics.precision_recall(x, x.clone()) == (1.0, 1.0)
    assert metrics.precision_recall(x, x + 100.0) == (0.0, 0.0)
    # fake samples all on one real point: perfectly precise, no recall beyond a few neighbours
    p, r = metrics.precision_recall(x, x[:1].repeat(300, 1))
    assert p == 1.0 and r < 0.05


def test_points_exactly_on_20_of_25_modes():
    ds = load_dataset("grid25")
    points = np.repeat(ds.modes[:20], 50, axis=0)
    out = metrics.point_metrics(points, "grid25")
    assert out["modes_covered"] == 20 and out["high_quality"] == 1.0
    assert out["reverse_kl"] == pytest.approx(np.log(25 / 20), abs=1e-4)
    # moved 4 sigma off their modes: still nearest to them, no longer high quality
    off = metrics.point_metrics(points + 4 * ds.mode_std, "grid25")
    assert off["modes_covered"] == 0 and off["high_quality"] == 0.0
    collapsed = metrics.point_metrics(np.repeat(ds.modes[:1], 100, axis=0), "grid25")
    assert collapsed["modes_covered"] == 1 and collapsed["reverse_kl"] == pytest.approx(np.log(25), abs=1e-4)


def test_class_figures_on_known_probabilities():
    prior = torch.full((10,), 0.1)
    onehot = torch.eye(10).repeat(50, 1)  # every class, fully confident
    out = metrics.class_figures(onehot, prior)
    assert out["classes_covered"] == 10 and out["class_kl"] == 0.0
    assert out["classifier_score"] == pytest.approx(10.0) and out["confidence"] == 1.0
    one = metrics.class_figures(torch.eye(10)[[3] * 100], prior)
    assert one["classes_covered"] == 1 and one["class_kl"] == pytest.approx(np.log(10), abs=1e-4)
    assert one["classifier_score"] == pytest.approx(1.0)


@dataclass
class ReplayPipe:
    """A stand-in "generator" that replays given images, for evaluate()."""
    images: torch.Tensor
    info: dict
    config: ModelConfig = field(default_factory=lambda: ModelConfig(z_dim=4))
    is_points: bool = False

    def decode(self, z, labels=None):
        start = getattr(self, "_at", 0)
        self._at = start + z.shape[0]
        return self.images[start:start + z.shape[0]]


@pytest.fixture(scope="module")
def mnist():
    return load_dataset("mnist", split="train")


def test_real_vs_real_is_at_the_floor_and_covers_every_class(mnist):
    pick = torch.randperm(len(mnist), generator=torch.Generator().manual_seed(1))[:2000]
    out = metrics.evaluate(ReplayPipe(mnist.batch(pick), {"dataset": "mnist"}), n=2000)
    assert out["dataset"] == "mnist" and out["n"] == 2000
    assert out["fd"] < 2 * out["fd_floor"], out
    assert out["classes_covered"] == 10 and out["class_kl"] < 0.02
    assert out["classifier_score"] > 9.0 and out["confidence"] > 0.9
    assert out["precision"] > 0.6 and out["recall"] > 0.6
    # real digits are as varied as real digits (a different 64 of them), within a tenth
    assert out["pairwise_rms"] == pytest.approx(out["pairwise_rms_real"], rel=0.1) and out["pairwise_rms"] > 0.2


def test_pairwise_rms_is_zero_for_copies_and_one_for_black_against_white():
    x = torch.rand(1, 3, 8, 8) * 2 - 1
    assert metrics.pairwise_rms(x.repeat(5, 1, 1, 1)) == pytest.approx(0, abs=1e-6)
    assert metrics.pairwise_rms(torch.stack([-torch.ones(1, 8, 8), torch.ones(1, 8, 8)])) == pytest.approx(1.0)
    with pytest.raises(GanInputError, match="at least 2"):
        metrics.pairwise_rms(x)


def test_a_generator_of_only_ones_covers_one_class(mnist):
    ones = mnist.batch(torch.nonzero(mnist.labels == 1).flatten()[:600])
    out = metrics.evaluate(ReplayPipe(ones, {"dataset": "mnist"}), n=600)
    assert out["classes_covered"] == 1 and out["class_histogram"][1] > 0.95
    assert out["class_kl"] > 1.5  # log(1 / 0.11)
    assert out["fd"] > 10 * out["fd_floor"]
    assert out["recall"] < 0.5  # real "1"s only: 11% of the test digits
    assert out["pairwise_rms"] < 0.8 * out["pairwise_rms_real"]     # ones are alike
    blank = metrics.image_metrics(torch.ones(300, 1, 28, 28), "mnist")  # pixels that are all "one"
    assert blank["classes_covered"] == 1 and blank["class_kl"] > 1.5


def test_bad_input_is_refused():
    with pytest.raises(GanInputError):
        metrics.image_metrics(torch.zeros(10, 3, 28, 28), "mnist")
    with pytest.raises(GanInputError):
        metrics.reference("cifar10")
    with pytest.raises(GanInputError):
        metrics.point_metrics(np.zeros((5, 2)), "spiral")


def _cli(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "gan.evaluate", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_evaluate_cli_prints_one_json_object():
    r = _cli("weights/mnist-dcgan.safetensors", "--n", "500", "--json")  # `python -m gan.evaluate` in its own process
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)  # the whole of stdout is one object
    assert out["dataset"] == "mnist"  # from the file's metadata
    for key in ("fd", "fd_floor", "class_histogram", "classes_covered", "class_kl", "classifier_score",
                "confidence", "precision", "recall"):
        assert key in out
    r = in_process("gan.evaluate", "weights/grid25-hinge.safetensors", "--json", cwd=ROOT)  # the same main, here
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["n"] == 2500 and {"modes_covered", "high_quality", "reverse_kl"} <= set(out)
    assert out["modes_covered"] >= 24 and out["high_quality"] >= 0.9  # the shipped covering model's goal


def test_evaluate_cli_bad_input(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a model")
    r = in_process("gan.evaluate", bad, "--json")
    assert r.returncode == 2 and r.stdout == "" and "error:" in r.stderr
    r = in_process("gan.evaluate", "weights/mnist-dcgan.safetensors", "--dataset", "cifar10", "--json", cwd=ROOT)
    assert r.returncode == 2 and "classifier" in r.stderr


EARLY = {"step": 500, "classes_covered": 1, "class_histogram": [0.99] + [0.001] * 9, "fd": 548.4, "fd_floor": 0.73}
COLLAPSED = {"step": 1500, "classes_covered": 3, "class_histogram": [0.5, 0.3, 0.2] + [0.0] * 7, "fd": 21.0,
             "fd_floor": 0.73}
HEALTHY = {"step": 3000, "classes_covered": 10, "class_histogram": [0.1] * 10, "fd": 4.1, "fd_floor": 0.73}


def test_the_monitor_says_when_it_is_too_early_to_judge_and_when_it_is_collapse():
    from gan.metrics import monitor_verdict

    early = monitor_verdict(EARLY)
    assert early.startswith("Step 500: too early to judge") and "does not mean mode collapse" in early
    assert "This is mode collapse" in monitor_verdict(COLLAPSED) and "only 3 of 10" in monitor_verdict(COLLAPSED)
    healthy = monitor_verdict(HEALTHY)
    assert "10 of 10 classes covered" in healthy and "collapse" not in healthy and "early" not in healthy
    points = dict(step=200, modes_covered=2, n_modes=8, mode_histogram=[5, 3, 0, 0, 0, 0, 0, 0])
    assert "too early" in monitor_verdict({**points, "high_quality": 0.05})
    assert "collapsed onto a few modes" in monitor_verdict({**points, "high_quality": 0.9})
    assert "8 of 8 modes" in monitor_verdict({**points, "modes_covered": 8, "high_quality": 0.9})


def test_the_monitor_figure_is_a_history_with_labelled_axes():
    from gan.viz import coverage_figure

    fig = coverage_figure([EARLY, COLLAPSED, HEALTHY])
    covered, fd, latest = fig.axes[:3]
    assert list(covered.lines[0].get_xdata()) == [500, 1500, 3000]
    assert list(covered.lines[0].get_ydata()) == [1, 3, 10]
    assert fd.get_yscale() == "log" and list(fd.lines[0].get_ydata()) == [548.4, 21.0, 4.1]
    assert any(list(line.get_ydata()) == [0.73, 0.73] for line in fd.lines)  # the floor real images score
    assert len(latest.patches) == 10 and "3,000" in latest.get_title()
    for ax in (covered, fd, latest):
        assert ax.get_xlabel() and ax.get_ylabel()
