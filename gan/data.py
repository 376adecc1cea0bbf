"""Datasets, in a registry. Every dataset is decoded once into one tensor held on the training device (uint8
images or standardised float points), and batches are drawn by indexing it: no per-sample transforms, no
DataLoader, nothing between the step and its data.

Names: mnist (10,000 real digits bundled in gan/assets), emoji (1,906 colour Noto emoji, bundled at 32x32 and
64x64), mnist-full, fashion-mnist, cifar10 (torchvision's), folder:PATH, zip:PATH, 2-D points ring8 / grid25
(as in PacGAN), spiral, moons, and csv:PATH.
"""
from __future__ import annotations

import gzip
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from gan.errors import GanInputError
from gan.uploads import WHITE, background_rgb, read_image_folder, read_image_zip, read_points_csv

ASSETS = Path(__file__).resolve().parent / "assets"
MNIST_10K = ASSETS / "mnist_10k.npz"
EMOJI_FILES = {32: ASSETS / "emoji_noto_32.npz", 64: ASSETS / "emoji_noto_64.npz"}   # the same images, by size
EMOJI_DROPPED = "Component"                             # its category that load_emoji leaves out
SKIN_TONES = {"1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"}   # the Fitzpatrick modifiers, as file names spell them
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def default_data_root() -> Path:
    return Path(os.environ.get("GANSCOPE_DATA", Path.home() / ".cache" / "ganscope" / "data"))


@dataclass
class Dataset:
    """One tensor of samples on the device, with labels and what the metrics need to know about it."""

    name: str
    kind: str                              # "image" or "points"
    data: torch.Tensor                     # uint8 (N, C, H, W), or float32 (N, 2) standardised
    labels: torch.Tensor | None = None     # int64 (N,)
    class_names: list[str] = field(default_factory=list)
    point_mean: tuple = (0.0, 0.0)         # points only: data = standardised * std + mean
    point_std: tuple = (1.0, 1.0)
    modes: np.ndarray | None = None        # points only: mixture centres, for modes covered / high quality
    mode_std: float | None = None

    def __len__(self) -> int:
        return self.data.shape[0]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        return self.data.shape[-1] if self.kind == "image" else 0

    @property
    def channels(self) -> int:
        return self.data.shape[1] if self.kind == "image" else 0

    def to(self, device: torch.device) -> "Dataset":
        self.data = self.data.to(device)
        if self.labels is not None:
            self.labels = self.labels.to(device)
        return self

    def batch(self, index: torch.Tensor) -> torch.Tensor:
        """Samples as the networks see them: images in [-1, 1], points standardised."""
        x = self.data[index]
        return x.float().div_(127.5).sub_(1.0) if self.kind == "image" else x

    def points_in_data_units(self) -> np.ndarray:
        return self.data.cpu().numpy() * np.array(self.point_std) + np.array(self.point_mean)


# ------------------------------------------------------------------------------------------ image data
def _images(name: str, images: np.ndarray | torch.Tensor, labels, classes: list[str]) -> Dataset:
    x = torch.as_tensor(np.asarray(images), dtype=torch.uint8)
    if x.dim() == 3:
        x = x.unsqueeze(1)  # (N, 1, H, W)
    elif x.shape[-1] in (1, 3):
        x = x.permute(0, 3, 1, 2)  # NHWC -> NCHW
    y = None if labels is None else torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    return Dataset(name, "image", x.contiguous(), y, classes)


def _split(n: int, split: str, test_fraction: float = 0.2) -> np.ndarray:
    """A fixed train/test split (the same on every machine) for data that comes as one set."""
    order = np.random.default_rng(0).permutation(n)
    n_test = int(n * test_fraction)
    return {"all": np.arange(n), "train": np.sort(order[n_test:]), "test": np.sort(order[:n_test])}[split]


def load_mnist_bundled(split: str = "all", **_) -> Dataset:
    with np.load(MNIST_10K) as f:
        images, labels = f["images"], f["labels"]
    keep = _split(len(images), split)
    return _images("mnist", images[keep], labels[keep], MNIST_CLASSES)


def is_skin_tone_variant(file_name: str) -> bool:
    """Whether an emoji file ("1f44b-1f3fb.png") is a skin-tone variant: one of its code points is a modifier."""
    return not SKIN_TONES.isdisjoint(file_name.rsplit(".", 1)[0].split("-"))


def load_emoji(split: str = "all", image_size: int | None = None, **_) -> Dataset:
    """Google's Noto colour emoji, RGB on white, labelled by category (gan/assets/emoji_noto_{32,64}.npz, from the
    npm package emoji-datasource-google 16.0.0; see the README for the credit). The files hold 3,786 images in 10
    categories; two decisions leave 1,906 in 9:
    - "Component" is dropped: its 5 images are the skin-tone modifiers, plain colour swatches rather than emoji.
    - In "People & Body" only the base (default yellow) image of each shape is kept; its 1,875 skin-tone variants
      (a modifier 1f3fb..1f3ff in the file name) are dropped. With them that one category would be 60% of the
      data, nearly all of it the same shapes in five tones, and an unconditional model would spend its capacity
      on one category.
    Per class (the file's categories in order, less Component): Activities 85, Animals & Nature 159, Flags 270,
    Food & Drink 131, Objects 264, People & Body 386, Smileys & Emotion 169, Symbols 224, Travel & Places 218.
    14 of them repeat another's artwork exactly (flags shared by territories, such as flag-um and us; family emoji
    drawn alike); they stay, being distinct emoji.
    The native size is 32 (image_size None or 32: the 32x32 file; 64: the 64x64 one, of which the 32 is PIL's box
    filter); any other size starts from the 64 file and load_dataset resizes it. The split is MNIST's (_split),
    drawn over the 1,906 kept images: 1,525 train, 381 test."""
    with np.load(EMOJI_FILES[32 if not image_size or image_size == 32 else 64]) as f:
        images, labels, categories, names = f["images"], f["labels"], [str(c) for c in f["categories"]], f["names"]
    classes = [c for c in categories if c != EMOJI_DROPPED]
    people = categories.index("People & Body")
    variant = np.array([is_skin_tone_variant(n.split("|")[-1]) for n in names])
    kept = np.flatnonzero((labels != categories.index(EMOJI_DROPPED)) & ~((labels == people) & variant))
    kept = kept[_split(len(kept), split)]
    new_label = np.array([classes.index(c) if c in classes else -1 for c in categories])  # file's index -> ours
    return _images("emoji", images[kept], new_label[labels[kept]], classes)


def _torchvision(cls_name: str, split: str, data_root: str | None, download: bool = True):
    import torchvision.datasets as tvd

    root = Path(data_root) if data_root else default_data_root()
    try:
        ds = getattr(tvd, cls_name)(str(root), train=(split != "test"), download=download)
    except Exception as e:  # network down, bad root, corrupt file: all the user's to fix
        raise GanInputError(f"could not load {cls_name} from {root} ({e.__class__.__name__}: {e}); "
                            "use --data-root to point at a copy, or connect to the internet to download it") from None
    return ds


def load_mnist_full(split: str = "all", data_root: str | None = None, **_) -> Dataset:
    ds = _torchvision("MNIST", split, data_root)
    return _images("mnist-full", ds.data, ds.targets, MNIST_CLASSES)


def _stage_debian_fashion_mnist(root: Path) -> None:
    """Debian's dataset-fashion-mnist ships the original IDX files, recompressed; torchvision accepts them once
    they are gunzipped into <root>/FashionMNIST/raw (it then finds them and does not download)."""
    raw = root / "FashionMNIST" / "raw"
    if not DEBIAN_FASHION_MNIST.is_dir() or (raw / "t10k-labels-idx1-ubyte").exists():
        return
    raw.mkdir(parents=True, exist_ok=True)
    for gz in sorted(DEBIAN_FASHION_MNIST.glob("*-ubyte.gz")):
        target = raw / gz.name[:-3]
        tmp = target.with_suffix(".partial")
        with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, target)


def load_fashion_mnist(split: str = "all", data_root: str | None = None, **_) -> Dataset:
    root = Path(data_root) if data_root else default_data_root()
    _stage_debian_fashion_mnist(root)
    ds = _torchvision("FashionMNIST", split, str(root))
    return _images("fashion-mnist", ds.data, ds.targets, FASHION_CLASSES)


def load_cifar10(split: str = "all", data_root: str | None = None, **_) -> Dataset:
    ds = _torchvision("CIFAR10", split, data_root)
    return _images("cifar10", ds.data, ds.targets, CIFAR_CLASSES)


def images_to_dataset(name: str, images: list, image_size: int | None) -> Dataset:
    """PIL images of any sizes and modes -> one uint8 tensor: resized (short side), centre-cropped, and grayscale
    only if every image is."""
    import torchvision.transforms.functional as TF

    size = image_size or 64
    gray = all(im.mode == "L" for im in images)
    tensors = []
    for im in images:
        t = TF.pil_to_tensor(im if gray else im.convert("RGB"))
        tensors.append(TF.center_crop(TF.resize(t, size, antialias=True), [size, size]))
    return Dataset(name, "image", torch.stack(tensors).contiguous(), None, [])


def load_folder(path: str, image_size: int | None = None, background: tuple = WHITE, **_) -> Dataset:
    """Every readable image under PATH (gan.uploads skips corrupt files and decompression bombs, saying so), as
    gan.uploads.decode_image sees it: upright, first frame, transparency over `background` (r, g, b), 8-bit."""
    return images_to_dataset(f"folder:{path}", read_image_folder(path, background), image_size)


def load_zip(path: str, image_size: int | None = None, background: tuple = WHITE, **_) -> Dataset:
    """The images of a zip (an upload), read in memory with every safety check of gan.uploads (and decoded as a
    folder's are)."""
    return images_to_dataset(f"zip:{path}", read_image_zip(path, background), image_size)


# -------------------------------------------------------------------------------------------- 2-D data
def _points(name: str, points: np.ndarray, labels=None, modes=None, mode_std=None) -> Dataset:
    points = np.asarray(points, dtype=np.float64)
    mean, std = points.mean(axis=0), points.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    data = torch.as_tensor((points - mean) / std, dtype=torch.float32)
    y = None if labels is None else torch.as_tensor(labels, dtype=torch.int64)
    return Dataset(name, "points", data, y, [], tuple(float(v) for v in mean), tuple(float(v) for v in std),
                   None if modes is None else np.asarray(modes, dtype=np.float64), mode_std)


def _mixture(name: str, modes: np.ndarray, std: float, n: int = 50_000) -> Dataset:
    rng = np.random.default_rng(0)
    which = rng.integers(0, len(modes), n)
    return _points(name, modes[which] + rng.normal(0, std, (n, 2)), which, modes, std)


def load_ring8(**_) -> Dataset:
    angles = 2 * math.pi * np.arange(8) / 8
    return _mixture("ring8", np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.01)


def load_grid25(**_) -> Dataset:
    axis = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return _mixture("grid25", np.array([(x, y) for x in axis for y in axis]), 0.05)


def load_spiral(n: int = 50_000, **_) -> Dataset:
    rng = np.random.default_rng(0)
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * math.pi
    pts = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * math.pi) + rng.normal(0, 0.02, (n, 2))
    return _points("spiral", pts)


def load_moons(n: int = 50_000, **_) -> Dataset:
    rng = np.random.default_rng(0)
    which = rng.integers(0, 2, n)
    t = rng.uniform(0, math.pi, n)
    x = np.where(which == 0, np.cos(t), 1 - np.cos(t))
    y = np.where(which == 0, np.sin(t), 0.5 - np.sin(t))
    return _points("moons", np.stack([x, y], axis=1) + rng.normal(0, 0.05, (n, 2)), which)


def load_csv(path: str, **_) -> Dataset:
    return _points(f"csv:{path}", read_points_csv(path))


# -------------------------------------------------------------------------------------------- registry
DATASETS: dict[str, Callable[..., Dataset]] = {
    "mnist": load_mnist_bundled,
    "emoji": load_emoji,
    "mnist-full": load_mnist_full,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "ring8": load_ring8,
    "grid25": load_grid25,
    "spiral": load_spiral,
    "moons": load_moons,
}
PREFIXED = {"folder": load_folder, "zip": load_zip, "csv": load_csv}
POINT_DATASETS = {"ring8", "grid25", "spiral", "moons"}


def is_points_dataset(name: str) -> bool:
    return name in POINT_DATASETS or name.startswith("csv:")


def load_dataset(name: str, split: str = "all", image_size: int | None = None, data_root: str | None = None,
                 device: torch.device | str = "cpu", background: str = "white") -> Dataset:
    """Decode a dataset once, resize it if asked, and put it on the device. `background`: the colour a user's
    images (folder:, zip:) have their transparent pixels laid over (TrainConfig.background); checked whatever the
    dataset, so a mistyped colour is refused even where it would change nothing."""
    rgb = background_rgb(background)
    prefix, _, arg = name.partition(":")
    if name in DATASETS:
        ds = DATASETS[name](split=split, data_root=data_root, image_size=image_size)  # a loader may use the size
    elif arg and prefix in PREFIXED:
        ds = PREFIXED[prefix](arg, image_size=image_size, background=rgb)
    else:
        names = list(DATASETS) + [f"{p}:PATH" for p in PREFIXED]
        raise GanInputError(f"unknown dataset {name!r}; choose one of: {', '.join(names)}")
    if ds.kind == "image" and image_size and image_size != ds.image_size:
        x = F.interpolate(ds.data.float(), size=(image_size, image_size), mode="bilinear", antialias=True,
                          align_corners=False)
        ds.data = x.round_().clamp_(0, 255).to(torch.uint8)
    return ds.to(torch.device(device))
