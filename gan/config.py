"""Configuration dataclasses: what a model is (ModelConfig) and how it is trained (TrainConfig).

A ModelConfig travels inside every generator file, so it must be plain JSON and validated on the way in:
a file is user input, and a config claiming a 100,000-wide network must be refused before any allocation.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from gan.architectures import check_architecture
from gan.errors import FieldError, GanInputError

OPTIMIZERS = ("adam", "rmsprop")
Z_DISTS = ("normal", "uniform")      # of the noise z
AMP_MODES = ("auto", "on", "off")     # bf16 autocast; gan.devices.use_bf16 says what auto means where
# How a dcgan D turns its last feature map into the score: "features" (a conv to a feature vector, LeakyReLU, a
# linear score: GANscope's own, see gan.models.DCGANDiscriminator) or "conv" (the DCGAN paper's and the PyTorch
# example's single bias-free conv straight to the score; models converted by gan.convert use it).
D_HEADS = ("features", "conv")
# The cures for mode collapse that change D's shape (see gan.layers): packing (PacGAN) and the minibatch standard
# deviation. Why each refusal: a pack mixes classes while the projection D scores one class per input; progan's D
# has its minibatch-std channel built in, and a second one would be the same feature twice.
MAX_PACK = 16   # PacGAN uses 2 to 4; D's first layer grows with the pack, so this bounds what a file may claim
PACK_CONDITIONAL = ("must be 1 for a class-conditional model (a pack would mix classes, and the projection D "
                    "scores one class per input)")
MBSTD_PROGAN = ("must be off for progan: its D already has a minibatch standard-deviation channel "
                "(Karras et al. 2018)")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a generator (and its discriminator) from scratch."""

    arch: str = "dcgan"                 # a key of gan.architectures.ARCHITECTURES
    kind: str = "image"                 # "image" or "points" (2-D data)
    image_size: int = 28
    channels: int = 1
    z_dim: int = 100
    z_dist: str = "normal"              # "normal" or "uniform" (the 2-D playground offers both)
    n_classes: int = 0                  # > 0 with conditional=True
    conditional: bool = False
    spectral_norm: bool = False         # on D only, as in SNGAN / BigGAN
    pack: int = 1                       # D judges this many samples at once (PacGAN); 1: one sample, as before
    mbstd: bool = False                 # D's minibatch standard-deviation feature (mlp, dcgan; progan has its own)
    g_width: int = 64                   # ngf for conv nets, hidden units for MLPs
    d_width: int = 64
    d_head: str = "features"            # a dcgan D's last layers, one of D_HEADS
    depth: int = 3                      # hidden layers of MLPs (ignored by conv nets)
    point_mean: tuple = (0.0, 0.0)      # 2-D data: G's output is scaled back to the data's own units
    point_std: tuple = (1.0, 1.0)

    def validate(self) -> "ModelConfig":
        family = check_architecture(self.arch)
        if self.kind not in ("image", "points"):
            raise GanInputError(f"model kind must be 'image' or 'points', not {self.kind!r}")
        if self.z_dist not in Z_DISTS:
            raise GanInputError(f"z_dist must be {' or '.join(map(repr, Z_DISTS))}, not {self.z_dist!r}")
        _check_int("z_dim", self.z_dim, 1, 1024)
        _check_int("g_width", self.g_width, 1, 2048)
        _check_int("d_width", self.d_width, 1, 2048)
        _check_int("depth", self.depth, 1, 16)
        _check_int("n_classes", self.n_classes, 0, 1000)
        if self.conditional and self.n_classes < 2:
            raise GanInputError("a conditional model needs a dataset with at least 2 classes")
        _check_int("pack", self.pack, 1, MAX_PACK)
        if not isinstance(self.mbstd, bool):
            raise GanInputError(f"mbstd must be true or false, not {self.mbstd!r}")
        if self.pack > 1 and self.conditional:
            raise GanInputError(f"pack {PACK_CONDITIONAL}")
        if self.mbstd and self.arch == "progan":
            raise GanInputError(f"mbstd {MBSTD_PROGAN}")
        if self.d_head not in D_HEADS:
            raise GanInputError(f"d_head must be {' or '.join(map(repr, D_HEADS))}, not {self.d_head!r}")
        if self.d_head == "conv" and (self.arch != "dcgan" or self.conditional):
            raise GanInputError("d_head 'conv' (one convolution to the score) is for unconditional dcgan models")
        if self.kind == "image":
            _check_int("channels", self.channels, 1, 3)
            if self.channels == 2:
                raise GanInputError("images have 1 (grayscale) or 3 (RGB) channels")
            family.check_image_size(self.image_size)
        else:
            if self.arch != "mlp":
                raise GanInputError(f"2-D point data needs the 'mlp' architecture, not {self.arch!r}")
            pairs = (self.point_mean, self.point_std)
            if not all(isinstance(p, (tuple, list)) and len(p) == 2 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in p) for p in pairs):
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
    "pack": (1, MAX_PACK, True, True), "r1": (0, 1000, False, True),
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
    return int(value) if whole else float(value)   # a form sends 0, not 0.0: torch wants floats


def setting(default, help: str, group: str | None = None, **cli):
    """A TrainConfig field with what a front end needs to offer it: `help` (may name {default}, and the registries'
    lists {datasets}, {archs}, {losses}, filled in by the front end), the `group` it is shown in, and
    command-line details (`choices`, `metavar`, `unset=True`: left None on the command line when not given, so
    that --resume keeps the run's own value). gan.train builds one option per field from these."""
    return field(default=default, metadata={"help": help, "group": group, **cli})


@dataclass
class TrainConfig:
    """How one run trains. Loss-specific fields left as None take the loss's preset (gan.losses.LOSSES)."""

    dataset: str = setting("mnist", "one of: {datasets} (default: %(default)s)")
    arch: str | None = setting(None, "one of: {archs} (default: dcgan for images, mlp for 2-D points)")
    loss: str = setting("bce", "one of: {losses} (default: %(default)s)")
    steps: int = setting(3000, "total training steps (G updates) (default: {default}; with --resume, the run's "
                               "own total)", unset=True)
    batch_size: int | None = setting(None, "samples per step", "optimisation")
    lr_g: float | None = setting(None, "G's learning rate", "optimisation")
    lr_d: float | None = setting(None, "D's learning rate", "optimisation")
    beta1: float | None = setting(None, "Adam's beta1 (decay of the gradient's running mean)", "optimisation")
    beta2: float | None = setting(None, "Adam's beta2 (decay of the squared gradient's running mean)",
                                  "optimisation")
    optimizer: str | None = setting(None, "the optimizer of G and D", "optimisation", choices=OPTIMIZERS)
    n_critic: int | None = setting(None, "D updates per G update", "optimisation")
    gp_lambda: float | None = setting(None, "gradient penalty weight (wgan-gp)", "optimisation")
    clip: float | None = setting(None, "weight clipping bound (wgan)", "optimisation")
    ema: float | None = setting(None, "EMA decay of G's weights; 0 turns it off (default: 0.999 for images, 0.99 "
                                      "for 2-D points)", "optimisation")
    seed: int = setting(0, "seed of the weights, the batches and the noise (default: %(default)s)")
    image_size: int | None = setting(None, "resize images to this size (28, 32 or 64 for dcgan)", "model")
    background: str = setting("white", "colour that transparent pixels of your images (folder:, zip:) are laid "
                                       "over: a name or #rrggbb (default: %(default)s)", "model", metavar="COLOUR")
    z_dim: int | None = setting(None, "length of the noise vector z", "model")
    g_width: int | None = setting(None, "G's width: channels of a conv net, hidden units of an mlp", "model")
    d_width: int | None = setting(None, "D's width: channels of a conv net, hidden units of an mlp", "model")
    depth: int | None = setting(None, "hidden layers (mlp)", "model")
    z_dist: str = setting("normal", "distribution of z (default: %(default)s)", "model", choices=Z_DISTS)
    conditional: bool = setting(False, "class-conditional G and projection D", "model")
    spectral_norm: bool = setting(False, "spectral norm on every layer of D", "model")
    pack: int = setting(1, "PacGAN (Lin et al. 2018): D judges N samples at once, all real or all fake, so a G "
                           "that repeats itself is easier to catch; the batch must divide by N (default: {default}, "
                           "off)", "model", metavar="N")
    mbstd: bool = setting(False, "minibatch standard deviation (Karras et al. 2018): D sees one more feature, how "
                                 "much a group of samples varies, so it can tell a collapsed batch (mlp, dcgan; "
                                 "progan's D has one built in)", "model")
    r1: float = setting(0.0, "R1 penalty weight gamma (Mescheder et al. 2018): gamma/2 * E ||grad D(real)||^2 is "
                             "added to D's loss, with any loss; 0 turns it off (default: {default})", "optimisation",
                        metavar="GAMMA")
    augment: str = setting("", "DiffAugment for D on small datasets (gan.augment): translation, cutout or "
                               "translation,cutout; '' for none (default: none)", "optimisation",
                           metavar="POLICY", unset=True)
    sample_every: int = setting(250, "steps between sample grids (default: %(default)s)", "schedule")
    checkpoint_every: int = setting(500, "steps between checkpoints (default: %(default)s)", "schedule")
    log_every: int = setting(10, "steps between log lines (default: %(default)s)", "schedule")
    n_samples: int = setting(64, "images in the fixed-noise grid (default: %(default)s)", "schedule")
    tensorboard: bool = setting(True, "TensorBoard event files in <out>/tensorboard (tensorboard --logdir runs)",
                                "schedule")
    device: str = setting("auto", "where to train (auto: CUDA, then MPS, then CPU)")
    amp: str = setting("auto", "bf16 autocast: auto (on CUDA, and for image models on a CPU with native bf16: "
                               "AMX or AVX-512 BF16), on or off; --no-amp is --amp off (default: %(default)s)",
                       "speed", choices=AMP_MODES)
    channels_last: bool = setting(True, "channels-last memory format (CUDA only)", "speed")
    compile: bool = setting(False, "torch.compile G and D", "speed")
    data_root: str | None = setting(None, "where torchvision datasets are looked for and downloaded")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "TrainConfig":
        """A config from its JSON form; keys this version does not know (such as an older file's) are dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in raw.items() if k in known}
        if isinstance(kept.get("amp"), bool):  # before --amp auto|on|off: true meant "where it helps", i.e. auto
            kept["amp"] = "auto" if kept["amp"] else "off"
        return cls(**kept)


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
