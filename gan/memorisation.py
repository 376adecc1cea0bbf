"""Did the generator copy a training image? The nearest training images to a generated one, in pixels and in the
quality classifier's feature space, each distance read against the typical distance between two real training
images in the same space.

    pipe = load_generator("weights/mnist-dcgan.safetensors")
    m = nearest_training_images(pipe, pipe.decode(pipe.latents([7]))[0])
    m.verdict        # "Its nearest training image is 0.91x the typical distance between two real digits: ..."
    m.pixels.images  # (5, 1, 28, 28) in [-1, 1], nearest first; m.pixels.distances, .indices, .ratios
    memorisation_figure(m)   # the image and its neighbours, captioned, as one uint8 picture

The scale: every real training image's distance to its nearest *other* training image (leave-one-out, on a fixed
sample of TYPICAL_QUERIES of them), and its median is "the typical distance". A generated image at ratio 1 is as
far from the training set as a new real image would be; a copy sits at 0. Measured on the shipped models and on
real data (see COPY_RATIO), which is where the thresholds come from.

The training images are the model's dataset as its file names it (info["dataset"], as gan.trainer loads it: every
image of the split it trains on, at the model's resolution). When they are not on this server (a file that names
no dataset, an uploaded folder that is gone, a dataset that would need a download), the answer says so
(`available=False` and the reason) instead of raising: the page shows the reason. Datasets without a quality
classifier (a folder, CIFAR-10) are compared in pixels only.

The training sets are cached per dataset and resolution for the whole server (they are the same for every
visitor, like gan.metrics' references, whose classifier this module reuses), under a lock, at most MAX_CACHED at
once. After the first call a check costs one classifier pass and two matrix-vector products.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gan.errors import GanInputError

K_DEFAULT = 5
K_LIMIT = 32
TYPICAL_QUERIES = 500      # training images whose nearest other training image sets the typical distance
MAX_CACHED = 4             # training sets held at once (a user's folder can be large)
CHUNK = 8192               # training images converted to float per matrix product (bounded memory)
# The verdict, on the pixel ratio (nearest training image / the typical distance). Measured (README, "Memorisation
# check"): a real digit of the bundled 10,000 against the other 9,999 has ratio 0.23 at the least, 0.33 at its 1st
# percentile, 0.44 at its 5th, 1.02 at the median; 4 in 10,000 fall under 0.25, 7.6% under 0.5. Real Fashion-MNIST
# test images (1,000) against the 60,000 training images: 0.23 / 0.46 / 0.59 / 0.99, 0.1% under 0.3. The shipped
# models' samples (500 each, seed 1): never under 0.31; at the median 1.15 (mnist-dcgan), 1.13 (mnist-progan), 0.99
# (mnist-cond), 1.62 (fashion-mnist-wgan-gp). A training image itself is at 0.
COPY_RATIO = 0.25          # below: close to a copy (about 1 new real image in 2,500 comes this close)
NEAR_RATIO = 0.5           # below: closer than 9 in 10 new real images come to their nearest training image
NOUNS = {"mnist": "digits", "mnist-full": "digits", "fashion-mnist": "Fashion-MNIST images",
         "cifar10": "CIFAR-10 photos"}


@dataclass
class Neighbours:
    """The k nearest training images in one space, nearest first."""

    space: str                      # "pixels" (L2 on [-1, 1]) or "features" (the classifier's penultimate layer)
    indices: list[int]              # positions in the training set (as gan.data.load_dataset orders it)
    distances: list[float]
    images: torch.Tensor            # (k, C, H, W) in [-1, 1]
    typical: float                  # median distance from a real training image to its nearest other one

    @property
    def ratios(self) -> list[float]:
        return [d / self.typical if self.typical > 0 else float("inf") for d in self.distances]

    @property
    def ratio(self) -> float:
        """The nearest training image's distance over the typical one: 0 is a copy, about 1 a new image."""
        return self.ratios[0]


@dataclass
class Memorisation:
    """The answer of nearest_training_images: the neighbours in each space and a verdict, or why there are none."""

    available: bool
    reason: str = ""                # why not, when not available: one sentence the page shows as it is
    dataset: str = ""
    n_train: int = 0
    pixels: Neighbours | None = None
    features: Neighbours | None = None   # None for datasets without a quality classifier
    verdict: str = ""
    query: torch.Tensor | None = None    # the image checked, (C, H, W) in [-1, 1]
    seconds: float = 0.0

    @property
    def is_copy(self) -> bool:
        return self.available and self.pixels is not None and self.pixels.ratio < COPY_RATIO

    @property
    def message(self) -> str:
        """What to show: the verdict, or the reason there is none."""
        return self.verdict if self.available else self.reason


@dataclass
class TrainingSet:
    """One model's training images as the check searches them (server-wide, visitor-independent)."""

    name: str
    images: torch.Tensor            # uint8 (N, C, H, W) on the CPU
    sq_norms: torch.Tensor          # (N,) float32 squared L2 norms of the images in [-1, 1]
    typical_pixels: float
    features: torch.Tensor | None = None     # (N, F) classifier features
    feature_sq_norms: torch.Tensor | None = None
    typical_features: float = 0.0
    classifier: object | None = None         # gan.classifier.Classifier (shared with gan.metrics)
    classifier_size: int = 0
    source: Path | None = None               # a folder or zip the images came from (checked before each use)
    build_seconds: float = 0.0

    def __len__(self) -> int:
        return self.images.shape[0]

    def as_float(self, index) -> torch.Tensor:
        return self.images[index].float().div_(127.5).sub_(1.0)


_CACHE: OrderedDict[tuple, TrainingSet] = OrderedDict()
_LOCK = threading.Lock()
_BUILD_LOCKS: dict[tuple, threading.Lock] = {}
_ON_DISK: set[str] = set()     # torchvision datasets found here once (checking again decodes them again)


# ---------------------------------------------------------------------------------------------- distances
def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1)


def pixel_sq_distances(train: torch.Tensor, query: torch.Tensor, train_sq: torch.Tensor | None = None,
                       chunk: int = CHUNK) -> torch.Tensor:
    """(Q, N) squared L2 distances between float queries (Q, D) in [-1, 1] and uint8 training images (N, ...),
    ||x||² + ||q||² - 2 x·q, converting CHUNK training images to float at a time (a float copy of a large set would
    take 4x its memory). Approximate to float32 rounding: callers re-rank their candidates exactly."""
    flat = _flat(train)
    q = query.float()
    q_sq = (q * q).sum(1, keepdim=True)
    out = torch.empty(q.shape[0], flat.shape[0])
    for i in range(0, flat.shape[0], chunk):
        x = flat[i:i + chunk].float().div_(127.5).sub_(1.0)
        x_sq = (x * x).sum(1) if train_sq is None else train_sq[i:i + chunk]
        out[:, i:i + chunk] = q_sq + x_sq[None] - 2 * (q @ x.T)
    return out.clamp_min_(0)


def feature_sq_distances(feats: torch.Tensor, query: torch.Tensor, feats_sq: torch.Tensor) -> torch.Tensor:
    q_sq = (query * query).sum(1, keepdim=True)
    return (q_sq + feats_sq[None] - 2 * (query @ feats.T)).clamp_min_(0)


def _typical(sq_distances, n_queries: int, rows: torch.Tensor, block: int = 100) -> float:
    """Median leave-one-out nearest-neighbour distance: `sq_distances(i, j)` gives the squared distances (j - i, N)
    of training images rows[i:j] to every training image; each query's distance to itself is left out. In blocks
    of queries, so the (queries, N) matrix of a large set is never held at once."""
    nearest = []
    for i in range(0, n_queries, block):
        sq = sq_distances(i, min(i + block, n_queries))
        sq[torch.arange(sq.shape[0]), rows[i:i + block]] = float("inf")
        nearest.append(sq.min(1).values)
    return float(torch.cat(nearest).sqrt().median())


def _nearest(sq_row: torch.Tensor, k: int, exact) -> tuple[list[int], list[float]]:
    """The k nearest by approximate squared distance, re-ranked by `exact(indices) -> distances` on a few spare
    candidates, so an identical image comes out at exactly 0 and float rounding cannot swap the order."""
    m = min(sq_row.shape[0], k + 16)
    cand = torch.topk(sq_row, m, largest=False).indices
    d = exact(cand)
    order = torch.argsort(d, stable=True)[:k]
    return [int(i) for i in cand[order]], [float(v) for v in d[order]]


# ------------------------------------------------------------------------------------------ training sets
def _unavailable(reason: str, dataset: str = "", t0: float | None = None) -> Memorisation:
    return Memorisation(False, reason, dataset, seconds=0.0 if t0 is None else round(time.perf_counter() - t0, 4))


def dataset_problem(dataset: str | None) -> str:
    """Why this dataset's images cannot be compared with here ("" when they can), without loading anything: no
    dataset named, 2-D points, an unknown name, a folder or zip that is gone, or data that would need a download."""
    from gan import data

    if not dataset:
        return ("This model's file does not say which images it was trained on (an imported model?), so there "
                "is no training set to compare with here.")
    if data.is_points_dataset(dataset):
        return "The memorisation check is for images: this model draws 2-D points."
    prefix, _, arg = dataset.partition(":")
    if arg and prefix in ("folder", "zip"):
        what = "a folder" if prefix == "folder" else "an uploaded zip"
        if not Path(arg).exists():
            return (f"This model was trained on {what} ({arg}) that is no longer on this server, so its training "
                    "images cannot be compared with.")
        return ""
    if dataset not in data.DATASETS:
        return (f"This model's training data ({dataset!r}) is not a dataset GANscope knows, so it cannot be "
                "compared with.")
    if dataset in ("mnist-full", "cifar10", "fashion-mnist") and dataset not in _ON_DISK:
        if _downloaded(dataset):
            _ON_DISK.add(dataset)
            return ""
        return (f"The {dataset} training images are not on this server (they would need a download), so they "
                "cannot be compared with.")
    return ""


def _downloaded(dataset: str) -> bool:
    """Whether torchvision finds the dataset's training files without downloading (Debian's Fashion-MNIST counts)."""
    from gan import data

    if dataset == "fashion-mnist" and data.DEBIAN_FASHION_MNIST.is_dir():
        return True
    import torchvision.datasets as tvd

    cls = {"mnist-full": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[dataset]
    try:
        cls(str(data.default_data_root()), train=True, download=False)
    except Exception:  # missing or corrupt files: torchvision says RuntimeError; either way not here
        return False
    return True


def training_set(dataset: str, image_size: int) -> TrainingSet:
    """The dataset's training images at this resolution with what the check needs (norms, classifier features, the
    typical distances), built on first use and then served from memory. Thread-safe: two checks of one dataset
    build it once, and a long build (Fashion-MNIST's 60,000) holds up only the checks waiting for that dataset, as
    gan.catalog loads models. GanInputError when the data cannot be loaded (dataset_problem gives the reasons that
    need no loading)."""
    key = (dataset, int(image_size))
    with _LOCK:
        found = _cached(key)
        if found is not None:
            return found
        build_lock = _BUILD_LOCKS.setdefault(key, threading.Lock())
    with build_lock:
        with _LOCK:
            found = _cached(key)
        if found is not None:
            return found
        built = _build(dataset, int(image_size))
        with _LOCK:
            _CACHE[key] = built
            while len(_CACHE) > MAX_CACHED:
                _CACHE.popitem(last=False)
        return built


def _cached(key: tuple) -> TrainingSet | None:
    """The cached set for key (the caller holds _LOCK), dropped when the folder or zip it was read from is gone."""
    found = _CACHE.get(key)
    if found is not None and found.source is not None and not found.source.exists():
        del _CACHE[key]
        return None
    if found is not None:
        _CACHE.move_to_end(key)
    return found


def _build(dataset: str, image_size: int) -> TrainingSet:
    from gan import metrics
    from gan.data import load_dataset

    t0 = time.perf_counter()
    ds = load_dataset(dataset, split="all", image_size=image_size)  # what gan.trainer trains on
    if ds.kind != "image" or len(ds) < 2:
        raise GanInputError(f"{dataset} holds fewer than 2 images: nothing to compare with")
    images = ds.data.cpu().contiguous()
    flat = _flat(images)
    sq = torch.cat([(x * x).sum(1) for x in (flat[i:i + CHUNK].float().div_(127.5).sub_(1.0)
                                             for i in range(0, len(flat), CHUNK))])
    rows = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:TYPICAL_QUERIES]
    queries = flat[rows].float().div_(127.5).sub_(1.0)
    typical_pixels = _typical(lambda i, j: pixel_sq_distances(images, queries[i:j], sq), len(rows), rows)
    prefix, _, arg = dataset.partition(":")
    out = TrainingSet(dataset, images, sq, typical_pixels,
                      source=Path(arg) if arg and prefix in ("folder", "zip") else None)
    if dataset in metrics.CLASSIFIER_FOR:
        ref = metrics.reference(dataset)  # the metrics' classifier, loaded once for the server
        if ref.channels == images.shape[1]:
            real = ds.batch(torch.arange(len(ds))).cpu()
            feats, _ = ref.classifier.embed(metrics.fit_to_classifier(real, ref.image_size))
            out.features, out.feature_sq_norms = feats, (feats * feats).sum(1)
            out.typical_features = _typical(
                lambda i, j: feature_sq_distances(feats, feats[rows[i:j]], out.feature_sq_norms), len(rows), rows)
            out.classifier, out.classifier_size = ref.classifier, ref.image_size
    out.build_seconds = round(time.perf_counter() - t0, 3)
    return out


def clear_cache() -> None:
    """Forget every cached training set (tests; a server that wants its memory back)."""
    with _LOCK:
        _CACHE.clear()


# ---------------------------------------------------------------------------------------------- the check
def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= int(k) <= K_LIMIT:
        raise GanInputError(f"k must be a whole number from 1 to {K_LIMIT}, got {k!r}")
    return int(k)


def _check_image(image) -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        raise GanInputError("the image to check must be a tensor (C, H, W) in [-1, 1], as GeneratorPipeline.decode "
                            "gives")
    x = image.detach().float().cpu()
    if x.dim() == 4 and x.shape[0] == 1:
        x = x[0]
    if x.dim() != 3 or x.shape[0] not in (1, 3) or x.shape[1] != x.shape[2] or x.shape[1] < 4:
        raise GanInputError(f"the image to check must be one square image (C, H, W) with 1 or 3 channels, got "
                            f"shape {tuple(image.shape)}")
    if not torch.isfinite(x).all():
        raise GanInputError("the image to check holds values that are not finite numbers")
    return x.clamp(-1, 1)


def _resolve(pipe_or_info) -> tuple[str, str]:
    """(the training dataset's name, why it cannot be compared with here or "") for a pipeline or an info dict."""
    info = pipe_or_info if isinstance(pipe_or_info, dict) else (getattr(pipe_or_info, "info", None) or {})
    dataset = info.get("dataset") if isinstance(info, dict) else None
    dataset = str(dataset) if dataset else ""
    config = getattr(pipe_or_info, "config", None)
    if config is not None and getattr(config, "kind", "image") == "points":
        return dataset, "The memorisation check is for images: this model draws 2-D points."
    return dataset, dataset_problem(dataset)


def prepare(pipe_or_info) -> str:
    """Build the cached training set of a model ahead of its first check (the first costs a load and a classifier
    pass over every training image: seconds for MNIST, a minute for Fashion-MNIST's 60,000 on a busy 2-core CPU),
    e.g. in a background thread when a page opens the model. Returns why the check is not available, or ""."""
    dataset, problem = _resolve(pipe_or_info)
    if problem:
        return problem
    config = getattr(pipe_or_info, "config", None)
    if config is None:
        return ""  # an info dict: the resolution is the checked image's, known at the first check
    try:
        training_set(dataset, config.image_size)
    except GanInputError as e:
        return f"The training images ({dataset}) cannot be loaded here: {e}"
    return ""


def nearest_training_images(pipe_or_info, image: torch.Tensor, k: int = K_DEFAULT) -> Memorisation:
    """The k training images nearest to `image` (C, H, W) in [-1, 1], in pixels and (where the dataset has a quality
    classifier) in its feature space, each with its distance and its ratio to the typical distance between two real
    training images, and a verdict in one sentence. `pipe_or_info`: the GeneratorPipeline that drew it, or its info
    dict (whose "dataset" names the training images). When the training images are not available here, the result
    has available=False and the reason; bad arguments (k, an image of the wrong shape) raise GanInputError."""
    t0 = time.perf_counter()
    k = _check_k(k)
    dataset, problem = _resolve(pipe_or_info)
    if problem:
        return _unavailable(problem, dataset, t0)
    x = _check_image(image)
    config = getattr(pipe_or_info, "config", None)
    if config is not None and (x.shape[0] != config.channels or x.shape[-1] != config.image_size):
        raise GanInputError(f"the image is {x.shape[0]}x{x.shape[-1]}x{x.shape[-1]} but this model draws "
                            f"{config.channels}x{config.image_size}x{config.image_size} images")
    try:
        train = training_set(dataset, x.shape[-1])
    except GanInputError as e:
        return _unavailable(f"The training images ({dataset}) cannot be loaded here: {e}", dataset, t0)
    if train.images.shape[1] != x.shape[0]:
        return _unavailable(f"The training images ({dataset}) have {train.images.shape[1]} channel(s) and this "
                            f"image {x.shape[0]}: they cannot be compared.", dataset, t0)
    k = min(k, len(train))
    q = x.reshape(1, -1)
    sq = pixel_sq_distances(train.images, q, train.sq_norms)[0]

    def exact_pixels(idx: torch.Tensor) -> torch.Tensor:
        return (_flat(train.as_float(idx)).double() - q.double()).norm(dim=1)

    idx, dist = _nearest(sq, k, exact_pixels)
    pixels = Neighbours("pixels", idx, dist, train.as_float(torch.tensor(idx)), train.typical_pixels)
    features = None
    if train.features is not None:
        from gan.metrics import fit_to_classifier

        f, _ = train.classifier.embed(fit_to_classifier(x[None], train.classifier_size))
        fsq = feature_sq_distances(train.features, f, train.feature_sq_norms)[0]

        def exact_features(idx: torch.Tensor) -> torch.Tensor:
            return (train.features[idx].double() - f.double()).norm(dim=1)

        fidx, fdist = _nearest(fsq, k, exact_features)
        features = Neighbours("features", fidx, fdist, train.as_float(torch.tensor(fidx)), train.typical_features)
    out = Memorisation(True, "", dataset, len(train), pixels, features, query=x)
    out.verdict = verdict(out)
    out.seconds = round(time.perf_counter() - t0, 4)
    return out


def verdict(m: Memorisation) -> str:
    """One sentence a student can read: the pixel ratio against COPY_RATIO / NEAR_RATIO, with the feature ratio."""
    if not m.available or m.pixels is None:
        return m.reason
    noun = NOUNS.get(m.dataset, "training images")
    r = m.pixels.ratio
    head = (f"Its nearest training image is {_x(r)} the typical distance between two real {noun} "
            f"(in pixels{'' if m.features is None else f'; {_x(m.features.ratio)} in the classifier features'})")
    if r < COPY_RATIO:
        return f"{head}: close to a copy of training image #{m.pixels.indices[0]}."
    if r < NEAR_RATIO:
        return (f"{head}: nearer to training image #{m.pixels.indices[0]} than 9 in 10 real {noun} are to their "
                "nearest other one; compare the pair, though it is not a copy.")
    return f"{head}: not a copy of any training image."


def _x(ratio: float) -> str:
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.0f}x"


# ---------------------------------------------------------------------------------------------- the picture
def memorisation_figure(m: Memorisation, cell: int = 84) -> np.ndarray | None:
    """The checked image, then its nearest training images in pixels (first row) and in features (second row,
    when there is one), each captioned with its ratio to the typical distance: a uint8 RGB picture, or None when
    the check was not available."""
    if not m.available or m.pixels is None or m.query is None:
        return None
    from gan.pipeline import to_uint8
    from gan.render import strip_array

    rows = []
    for nb in (m.pixels, m.features):
        if nb is None:
            continue
        tiles = to_uint8(torch.cat([m.query[None], nb.images]))
        captions = ["in pixels" if nb.space == "pixels" else "features"] + [_x(r) for r in nb.ratios]
        rows.append(strip_array(tiles, 0, cell=cell, captions=captions))
    return np.concatenate(rows, axis=0)
