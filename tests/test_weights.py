"""The shipped files in weights/: they load without pickle, rebuild from their own metadata, stay small, and give the
pixels recorded here for a fixed seed (a 3x3 slice, the way diffusers tests its pipelines). Retraining a file means
recording its new slice: python tests/test_weights.py prints them."""
import functools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gan.checkpoint import load_into, read_model_file  # noqa: E402
from gan.classifier import accuracy, load_classifier  # noqa: E402
from gan.data import load_dataset  # noqa: E402
from gan.models import build_discriminator, build_generator  # noqa: E402
from gan.pipeline import load_generator  # noqa: E402

WEIGHTS = ROOT / "weights"
SEED = 42
# name -> (dataset, class asked for or None, recorded output): a 3x3 slice of the image (rows 13-15, cols 8-10) in
# [-1, 1], or the first three 2-D points (data units) for seeds 42, 43, 44.
SHIPPED = {
    "fashion-mnist-wgan-gp.safetensors": ("fashion-mnist", None, [[0.7976, 0.6736, 0.6192], [0.5251, 0.3514, 0.4422], [0.5231, 0.4177, 0.4159]]),
    "grid25-gan.safetensors": ("grid25", None, [[-2.6975, -3.6104], [0.3631, 0.7182], [-2.4367, 1.8784]]),
    "grid25-hinge.safetensors": ("grid25", None, [[1.9993, -2.0437], [-3.9727, -0.0275], [-3.9885, -2.0214]]),
    "grid25-lsgan.safetensors": ("grid25", None, [[0.0314, 1.8134], [-2.1627, -1.981], [-3.9884, 0.0064]]),
    "mnist-cond.safetensors": ("mnist", 4, [[-1.0, -0.8542, 0.6087], [-0.9959, 0.4451, 0.0808], [-0.2839, 0.9023, -0.0437]]),
    "mnist-dcgan.safetensors": ("mnist", None, [[0.994, 0.2425, -0.9588], [0.9959, 0.9873, 0.7305], [0.0595, 0.9962, 1.0]]),
    "mnist-progan.safetensors": ("mnist", None, [[0.946, 0.5415, -0.9072], [0.8949, 0.5356, -0.7265], [0.3355, 0.8489, 0.7559]]),
    "ring8-gan.safetensors": ("ring8", None, [[0.6526, -0.767], [0.0037, 0.998], [0.6965, 0.6991]]),
    "ring8-lsgan.safetensors": ("ring8", None, [[0.705, 0.7099], [-1.0037, -0.0022], [-0.7071, 0.7087]]),
}
# the issues' goals: 98% on MNIST and 90% on Fashion-MNIST held-out images; emoji categories are by meaning, not
# by look (a flag, a symbol and an object can share a shape), and 71% is what its judge reached (weights/README.md)
CLASSIFIERS = {"mnist": 0.98, "fashion-mnist": 0.90, "emoji": 0.70}


def sample(pipe, label):
    if pipe.is_points:
        return pipe(seeds=[SEED, SEED + 1, SEED + 2])
    out = pipe.decode(pipe.latents([SEED]), None if label is None else [label])
    return out[0, 0, 13:16, 8:11].numpy()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_generator_loads_rebuilds_and_reproduces(name):
    dataset, label, expected = SHIPPED[name]
    path = WEIGHTS / name
    assert path.stat().st_size < 10 * 2 ** 20
    config, info, tensors = read_model_file(path)
    assert info["dataset"] == dataset and info["steps"] > 0 and "wall_time_s" in info
    # the file alone says what to build: rebuild G and D from the metadata and load strictly
    load_into(build_generator(config), tensors, "generator.", name)
    load_into(build_discriminator(config), tensors, "discriminator.", name)
    pipe = load_generator(path)
    assert pipe.config == config and pipe.discriminator is not None
    np.testing.assert_allclose(sample(pipe, label), np.array(expected), atol=1e-3)


@pytest.mark.parametrize("dataset", sorted(CLASSIFIERS))
def test_shipped_classifier_loads_and_meets_its_accuracy(dataset):
    model, info = load_classifier(WEIGHTS / f"classifier-{dataset}.safetensors")
    assert (WEIGHTS / f"classifier-{dataset}.safetensors").stat().st_size < 10 * 2 ** 20
    test = load_dataset(dataset, split="test")
    acc = accuracy(model, test.batch(torch.arange(len(test))), test.labels)
    assert acc >= CLASSIFIERS[dataset] and acc == pytest.approx(info["test_accuracy"], abs=2e-3)


@pytest.mark.parametrize("name,goal", [
    ("mnist-cond.safetensors", lambda f: f["label_accuracy"] >= 0.97 and f["classes_covered"] == 10),
    # the two of its four goals it meets (FD 7x the floor and classifier score 7.3 miss theirs: weights/README.md)
    ("mnist-dcgan.safetensors", lambda f: f["classes_covered"] == 10 and f["class_kl"] < 0.05),
    ("grid25-hinge.safetensors", lambda f: f["modes_covered"] >= 24 and f["high_quality"] >= 0.90),
    ("grid25-gan.safetensors", lambda f: f["modes_covered"] < 24),          # the collapse example: visibly fewer
])
def test_shipped_generator_meets_the_goal_it_is_shipped_for(name, goal):
    figures = _figures(name)
    assert goal(figures), figures


def test_the_shipped_progan_is_within_1_5x_of_the_dcgans_fd():
    """The Teach issue ships a ProGAN MNIST model only if its FD is within 1.5x of the DCGAN model's."""
    fd = {name: _figures(f"mnist-{name}.safetensors")["fd"] for name in ("progan", "dcgan")}
    assert fd["progan"] <= 1.5 * fd["dcgan"], fd


@functools.lru_cache(maxsize=None)
def _figures(name: str) -> dict:
    """gan.metrics.evaluate at the default n and seed, as in the README; each file is evaluated once per session
    (the evaluation is deterministic for a file, so two tests can share it)."""
    from gan.metrics import evaluate

    return evaluate(load_generator(WEIGHTS / name), with_floor=False)


def test_readme_lists_every_shipped_file():
    text = (WEIGHTS / "README.md").read_text()
    on_disk = {p.name for p in WEIGHTS.glob("*.safetensors")}
    ours = set(SHIPPED) | {f"classifier-{d}.safetensors" for d in CLASSIFIERS}
    assert ours <= on_disk
    for name in ours:
        assert f"## `{name}`" in text


if __name__ == "__main__":  # print the slices to record
    for p in sorted(WEIGHTS.glob("*.safetensors")):
        if p.name.startswith("classifier-"):
            continue
        pipe = load_generator(p)
        label = 4 if pipe.config.conditional else None  # a 4 crosses the slice; a 7 leaves it blank
        values = np.round(sample(pipe, label).astype(np.float64), 4).tolist()
        print(f'    "{p.name}": ("{pipe.info.get("dataset")}", {label}, {values}),')


def test_the_catalog_lists_from_headers_alone_and_says_what_is_wrong_with_each_damaged_file(tmp_path):
    """Listing reads headers with safetensors' own parser: a damaged or foreign file is skipped with its name and
    the reason, a classifier quietly, the good file is listed; and none of this imports torch."""
    import json
    import struct
    import subprocess

    good = (WEIGHTS / "mnist-dcgan.safetensors").read_bytes()
    (tmp_path / "good.safetensors").write_bytes(good)
    (tmp_path / "truncated.safetensors").write_bytes(good[:3000])
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "garbage.safetensors").write_bytes(b"not a model\n" * 10)
    (tmp_path / "vast.safetensors").write_bytes(struct.pack("<Q", 64 * 2 ** 20) + b"{}")

    def header_only(name, metadata):
        raw = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": metadata})
        (tmp_path / name).write_bytes(struct.pack("<Q", len(raw)) + raw.encode() + b"\0\0\0\0")

    header_only("foreign.safetensors", {"format": "pt"})
    header_only("classifier-x.safetensors", {"format": "ganscope-classifier", "format_version": "1"})
    header_only("no-weights.safetensors", {"format": "ganscope", "model_config": "{}"})
    script = ("import json, sys; from gan.catalog import Catalog; c = Catalog(sys.argv[1], None); c.refresh(); "
              "print(json.dumps([c.names(), c.problems, 'torch' in sys.modules]))")
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    names, problems, torch_loaded = json.loads(r.stdout)
    assert names == ["good"] and not torch_loaded
    reasons = {p.split(": ", 1)[0].rsplit("/", 1)[-1]: p.split(": ", 1)[1] for p in problems}
    assert sorted(reasons) == sorted(f"{n}.safetensors" for n in ("truncated", "empty", "garbage", "vast", "foreign",
                                                                  "no-weights")), problems
    for name in ("truncated", "empty", "garbage"):
        assert reasons[f"{name}.safetensors"].startswith(f"{name}.safetensors is not a safetensors file ("), problems
    assert "over 16 MB" in reasons["vast.safetensors"]
    assert "not a GANscope generator" in reasons["foreign.safetensors"]
    assert "no generator weights" in reasons["no-weights.safetensors"]
