"""Configuration dataclasses: what a model is (ModelConfig) and how it is trained (TrainConfig).

A ModelConfig travels inside every generator file, so it must be plain JSON and validated on the way in:
a file is user input, and a config claiming a 100,000-wide network must be refused before any allocation.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from gan.errors import FieldError, GanInputError

IMAGE_SIZES = (28, 32, 64)


@dataclass
class ModelConfig:
    """Everything needed to rebuild a generator (and its discriminator) from scratch."""

    arch: str = "dcgan"                 # a key of gan.models.ARCHITECTURES
    kind: str = "image"                 # "image" or "points" (2-D data)
    image_size: int = 28
    channels: int = 1
    z_dim: int = 100
    z_dist: str = "normal"              # "normal" or "uniform" (the 2-D playground offers both)
    n_classes: int = 0                  # > 0 with conditional=True
    conditional: bool = False
    spectral_norm: bool = False         # on D only, as in SNGAN / BigGAN
    g_width: int = 64                   # ngf for conv nets, hidden units for MLPs
    d_width: int = 64
    depth: int = 3                      # hidden layers of MLPs (ignored by conv nets)
    point_mean: tuple = (0.0, 0.0)      # 2-D data: G's output is scaled back to the data's own units
    point_std: tuple = (1.0, 1.0)

    def validate(self) -> "ModelConfig":
        from gan.models import ARCHITECTURES  # late: models imports config

        if self.arch not in ARCHITECTURES:
            raise GanInputError(f"unknown architecture {self.arch!r}; choose one of: {', '.join(ARCHITECTURES)}")
        if self.kind not in ("image", "points"):
            raise GanInputError(f"model kind must be 'image' or 'points', not {self.kind!r}")
        if self.z_dist not in ("normal", "uniform"):
            raise GanInputError(f"z_dist must be 'normal' or 'uniform', not {self.z_dist!r}")
        _check_int("z_dim", self.z_dim, 1, 1024)
        _check_int("g_width", self.g_width, 1, 2048)
        _check_int("d_width", self.d_width, 1, 2048)
        _check_int("depth", self.depth, 1, 16)
        _check_int("n_classes", self.n_classes, 0, 1000)
        if self.conditional and self.n_classes < 2:
            raise GanInputError("a conditional model needs a dataset with at least 2 classes")
        if self.kind == "image":
            _check_int("channels", self.channels, 1, 3)
            if self.channels == 2:
                raise GanInputError("images have 1 (grayscale) or 3 (RGB) channels")
            ARCHITECTURES[self.arch].check_image_size(self.image_size)
        else:
            if self.arch != "mlp":
                raise GanInputError(f"2-D point data needs the 'mlp' architecture, not {self.arch!r}")
            if len(self.point_mean) != 2 or len(self.point_std) != 2:
                raise GanInputError("point_mean and point_std must each hold 2 numbers")
            if not all(math.isfinite(v) for v in (*self.point_mean, *self.point_std)):
                raise GanInputError("point_mean and point_std must be finite")
        return self

    @property
    def out_dim(self) -> int:
        return 2 if self.kind == "points" else self.channels * self.image_size ** 2

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        try:
            raw = json.loads(text)
        except (TypeError, ValueError) as e:
            raise GanInputError(f"the model config is not valid JSON ({e})") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict) -> "ModelConfig":
        if not isinstance(raw, dict):
            raise GanInputError("the model config must be a JSON object")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise GanInputError(f"the model config has unknown keys: {', '.join(unknown)}")
        values = {}
        for name, value in raw.items():
            default = known[name].default
            if isinstance(default, tuple):
                value = tuple(value) if isinstance(value, (list, tuple)) else value
            elif type(default) in (int, float, bool, str) and not isinstance(value, type(default)):
                # JSON gives ints for floats sometimes; anything else is a bad file.
                if not (isinstance(default, float) and isinstance(value, int)):
                    raise GanInputError(f"model config key {name!r} should be {type(default).__name__}")
            values[name] = value
        return cls(**values).validate()


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise GanInputError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")


# One limit per training number, as (low, high, whole number?, low itself allowed?), checked by check_number only:
# gan.trainer.resolve_config checks every run with it (command line, Train tab, run manager), and a form checks
# its fields with it before they become a TrainConfig.
LIMITS = {
    "steps": (1, 10_000_000, True, True), "batch_size": (1, 65_536, True, True),
    "lr_g": (0, 1, False, False), "lr_d": (0, 1, False, False),
    "beta1": (0, 0.9999, False, True), "beta2": (0, 0.99999, False, True),
    "n_critic": (1, 100, True, True), "gp_lambda": (0, 1000, False, True), "clip": (0, 10, False, False),
    "ema": (0, 0.99999, False, True), "seed": (0, 2 ** 63 - 1, True, True),
    "sample_every": (1, 10_000_000, True, True), "checkpoint_every": (1, 10_000_000, True, True),
    "log_every": (1, 10_000_000, True, True), "n_samples": (1, 1024, True, True),
}


def limit_rule(name: str) -> str:
    """A number's limits in words, e.g. "must be a whole number from 1 to 65,536"."""
    lo, hi, whole, lo_ok = LIMITS[name]
    if whole:
        return f"must be a whole number from {lo:,} to {hi:,}"
    return f"must be a number from {lo:g} to {hi:g}" if lo_ok else f"must be a number above {lo:g}, at most {hi:g}"


def check_number(name: str, value) -> int | float:
    """`value` as the setting `name` takes it (an int for whole-number settings), or a FieldError that says the
    limits. Text, None, NaN, infinity and fractions in whole-number settings are refused, never rounded."""
    lo, hi, whole, lo_ok = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(name, limit_rule(name), value)
    if not math.isfinite(value) or value < lo or value > hi or (not lo_ok and value == lo) or \
            (whole and not float(value).is_integer()):
        raise FieldError(name, limit_rule(name), value)
    return int(value) if whole else value


@dataclass
class TrainConfig:
    """How one run trains. Loss-specific fields left as None take the loss's preset (gan.losses.LOSSES)."""

    dataset: str = "mnist"
    arch: str | None = None             # None: dcgan for images, mlp for 2-D points
    loss: str = "bce"
    steps: int = 3000
    batch_size: int | None = None
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    optimizer: str | None = None        # "adam" or "rmsprop"
    n_critic: int | None = None
    gp_lambda: float | None = None      # wgan-gp
    clip: float | None = None           # wgan weight clipping
    ema: float = 0.999                  # 0 disables the EMA (G is sampled directly)
    seed: int = 0
    image_size: int | None = None       # None: the dataset's own size
    z_dim: int | None = None
    g_width: int | None = None
    d_width: int | None = None
    depth: int | None = None
    z_dist: str = "normal"
    conditional: bool = False
    spectral_norm: bool = False
    augment: str = ""                   # DiffAugment policy for D's inputs, e.g. "translation,cutout" (gan.augment)
    sample_every: int = 250
    checkpoint_every: int = 500
    log_every: int = 10
    n_samples: int = 64                 # fixed-noise grid size
    device: str = "auto"
    amp: bool = True                    # bf16 autocast on CUDA (never on CPU)
    channels_last: bool = True          # on CUDA only
    compile: bool = False
    data_root: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


# Known-good starting points for the Train tab (and anyone scripting runs). Each names the choices; numbers not
# given come from the loss's preset (gan.losses.LOSSES), exactly as on the command line.
TRAIN_PRESETS: dict[str, dict] = {
    "DCGAN on MNIST": dict(dataset="mnist", arch="dcgan", loss="bce", steps=3000),
    "WGAN-GP on Fashion-MNIST": dict(dataset="fashion-mnist", arch="dcgan", loss="wgan-gp", steps=3000),
    "WGAN-GP on MNIST": dict(dataset="mnist", arch="dcgan", loss="wgan-gp", steps=3000),
    "Conditional, hinge + spectral norm": dict(dataset="mnist", arch="dcgan", loss="hinge", conditional=True,
                                               spectral_norm=True, steps=3000),
    "2-D: WGAN-GP on grid25": dict(dataset="grid25", arch="mlp", loss="wgan-gp", steps=3000),
    "2-D: plain GAN on ring8": dict(dataset="ring8", arch="mlp", loss="bce", steps=3000),
}
