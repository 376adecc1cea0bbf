"""The model catalog: every generator the app can show, found by reading file headers, loaded once on demand.

    catalog = Catalog("weights", "runs", device="cpu")
    for entry in catalog.refresh(): print(entry.name, entry.label)
    pipe = catalog.get("mnist-dcgan")                   # GeneratorPipeline, cached
    basis = catalog.directions("mnist-dcgan")           # GANSpace directions, computed once
    catalog.add_live("live: mnist-0427", pipeline, alive=lambda: run.active)   # a training run's live EMA G
    catalog.remove_live("live: mnist-0427")

Three sources, one name space:
    shipped   weights/<name>.safetensors        -> "<name>"
    run       runs/<id>/generator.safetensors   -> "run: <id>"
    live      registered by the trainer         -> "live: <id>" (or any name the caller gives), listed while
                                                   its `alive()` says so, with the pipeline's current info

Listing reads only the safetensors header (a few KB, with safetensors' own parser, no torch import), so the first page is fast and a folder
full of foreign files costs nothing. Files that are not GANscope generators are skipped: classifiers quietly
(they are expected in weights/), anything else is reported in `problems` with the reason, and never crashes the
listing. No Gradio here.
"""
from __future__ import annotations

import json
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from gan.errors import GanInputError
from gan.run_files import MODEL_FILE

GENERATOR_FORMAT = "ganscope"
CLASSIFIER_FORMAT = "ganscope-classifier"
MAX_HEADER_BYTES = 16 * 2 ** 20
LIVE_DIRECTIONS_MAX_AGE_S = 30.0           # a live model's weights move: recompute its directions now and then


@dataclass
class ModelEntry:
    """One generator the app can show: where it comes from and what its file says about it."""

    name: str
    source: str                      # "shipped", "run" or "live"
    path: Path | None = None
    config: dict = field(default_factory=dict)    # the raw ModelConfig fields (validated when loaded)
    info: dict = field(default_factory=dict)      # provenance: dataset, loss, arch, steps, device, class_names...
    mtime_ns: int = 0

    @property
    def kind(self) -> str:
        return str(self.config.get("kind", "image"))

    @property
    def conditional(self) -> bool:
        return bool(self.config.get("conditional")) and int(self.config.get("n_classes", 0) or 0) > 1

    @property
    def z_dim(self) -> int:
        return int(self.config.get("z_dim", 0) or 0)

    @property
    def class_names(self) -> list[str]:
        n = int(self.config.get("n_classes", 0) or 0)
        names = self.info.get("class_names") or []
        if not isinstance(names, list) or len(names) != n:
            names = [str(i) for i in range(n)]
        return [str(x) for x in names]

    @property
    def label(self) -> str:
        """'mnist-dcgan · mnist · dcgan · bce · 3000 steps · cpu' (what the picker shows)."""
        i, c = self.info, self.config
        parts = [self.name, str(i.get("dataset", "?")), str(i.get("arch") or c.get("arch", "?")), str(i.get("loss", "?"))]
        if c.get("conditional"):
            parts[2] += "+cond"
        if i.get("steps") is not None:
            parts.append(f"{i['steps']} steps")
        if i.get("device"):
            parts.append(str(i["device"]))
        return " · ".join(parts)


def read_header(path: str | Path) -> tuple[dict, list[str]]:
    """(metadata, tensor names) of a safetensors file, read by safetensors from the header alone: no tensor is
    read and torch is not imported. Raises GanInputError with the reason when the file is not safetensors or its
    header is over MAX_HEADER_BYTES."""
    from safetensors import SafetensorError, safe_open

    p = Path(path)
    try:
        with open(p, "rb") as f:  # safetensors allows 100 MB of header; a catalog listing allows less
            head = f.read(8)
        if len(head) == 8 and struct.unpack("<Q", head)[0] > MAX_HEADER_BYTES:
            raise GanInputError(f"{p.name} is not a safetensors file (its header would be over "
                                f"{MAX_HEADER_BYTES // 2 ** 20} MB)")
        with safe_open(p, framework="numpy") as f:
            return f.metadata() or {}, list(f.keys())
    except OSError as e:
        raise GanInputError(f"{p.name} cannot be read ({e.strerror or e.__class__.__name__})") from None
    except SafetensorError as e:  # "Error while deserializing header: invalid header length" -> the reason
        reason = str(e).split(": ")[1 if ": " in str(e) else 0]
        raise GanInputError(f"{p.name} is not a safetensors file ({reason})") from None


def read_entry(path: str | Path, name: str, source: str) -> ModelEntry | None:
    """A catalog entry from a file's header; None for a GANscope classifier (not a generator, not an error);
    GanInputError for anything else that is not a GANscope generator."""
    p = Path(path)
    meta, tensors = read_header(p)
    fmt = meta.get("format")
    if fmt == CLASSIFIER_FORMAT:
        return None
    if fmt != GENERATOR_FORMAT or "model_config" not in meta:
        raise GanInputError(f"{p.name} is a safetensors file but not a GANscope generator (no model config)")
    try:
        config = json.loads(meta["model_config"])
    except (TypeError, ValueError):
        raise GanInputError(f"{p.name}: its model config is not valid JSON") from None
    if not isinstance(config, dict):
        raise GanInputError(f"{p.name}: its model config is not a JSON object")
    try:
        info = json.loads(meta.get("info", "{}"))
    except (TypeError, ValueError):
        info = {}
    if not any(k.startswith("generator.") for k in tensors):
        raise GanInputError(f"{p.name} holds no generator weights")
    return ModelEntry(name, source, p, config, info if isinstance(info, dict) else {}, p.stat().st_mtime_ns)


class Catalog:
    """Lists, loads and caches generators from a weights folder, a runs folder and live runs. Thread-safe."""

    def __init__(self, weights_dir: str | Path | None = "weights", runs_dir: str | Path | None = "runs",
                 device: str = "cpu"):
        self.weights_dir = Path(weights_dir) if weights_dir else None
        self.runs_dir = Path(runs_dir) if runs_dir else None
        self.device = device
        self.entries: dict[str, ModelEntry] = {}
        self.problems: list[str] = []          # one line per file that was skipped, with the reason
        self._live: dict[str, tuple[object, dict | None, object, dict]] = {}  # name -> (pipeline, fixed info
        #                                                       or None to follow pipeline.info, alive(), config)
        self._ended: set[str] = set()          # live names whose run has ended: a clear message, not "unknown"
        self._pipes: dict[str, tuple[tuple, object]] = {}      # name -> (file key, pipeline)
        self._dirs: dict[str, tuple[int, float, object]] = {}  # name -> (id(pipeline), time, Directions)
        self._extras: dict[tuple, object] = {}                 # small per-model caches (see cached())
        self._lock = threading.RLock()
        self._load_locks: dict[str, threading.Lock] = {}
        self._broken: dict[str, tuple[tuple, str]] = {}        # path -> (file key, why it failed to load)
        self.refresh()

    # ------------------------------------------------------------------------------------------ listing
    def refresh(self) -> list[ModelEntry]:
        """Rescan both folders (cheap: headers only). Returns the entries, shipped first, then runs, then live."""
        found: dict[str, ModelEntry] = {}
        problems: list[str] = []
        if self.weights_dir is not None and self.weights_dir.is_dir():
            for p in sorted(self.weights_dir.glob("*.safetensors")):
                if p.name.startswith("."):
                    continue  # an atomic write in progress
                self._scan_one(p, p.stem, "shipped", found, problems)
        if self.runs_dir is not None and self.runs_dir.is_dir():
            for folder in sorted(self.runs_dir.iterdir()):
                p = folder / MODEL_FILE
                if folder.is_dir() and p.is_file():
                    self._scan_one(p, f"run: {folder.name}", "run", found, problems)
        with self._lock:
            self.entries = found
            self._sync_live()
            self.problems = problems
            return list(found.values())

    def _scan_one(self, path: Path, name: str, source: str, found: dict, problems: list) -> None:
        broken = self._broken.get(str(path))
        if broken is not None:
            try:
                st = path.stat()
                same = broken[0] == (str(path), st.st_mtime_ns, st.st_size)
            except OSError:
                same = False
            if same:  # its header looked fine but it failed to load: not offered again until it changes
                problems.append(f"skipped {path}: {broken[1]}")
                return
        try:
            entry = read_entry(path, name, source)
        except GanInputError as e:
            problems.append(f"skipped {path}: {e}")
            return
        if entry is not None:
            found[name] = entry

    def names(self) -> list[str]:
        with self._lock:
            self._sync_live()
            return list(self.entries)

    def choices(self) -> list[tuple[str, str]]:
        """(label, name) pairs for a picker."""
        with self._lock:
            self._sync_live()
            return [(e.label, e.name) for e in self.entries.values()]

    def default_name(self) -> str | None:
        """The model a first visit shows: the first of gan.first_view.DEFAULT_MODELS that is listed (the colour
        emoji model, then the digits), else the first unconditional image model (a picture beats a point cloud as
        a first impression), else the first image model, else the first."""
        from gan.first_view import default_model

        with self._lock:
            self._sync_live()
            entries = list(self.entries.values())
            named = default_model(self.entries)
            if named is not None:
                return named
            for pick in (lambda e: e.kind == "image" and not e.conditional, lambda e: e.kind == "image",
                         lambda e: True):
                for e in entries:
                    if pick(e):
                        return e.name
            return None

    def entry(self, name: str | None) -> ModelEntry:
        with self._lock:
            self._sync_live()
            if name in self.entries:
                return self.entries[name]
        self.refresh()  # a run may have finished since the last scan
        with self._lock:
            if name in self.entries:
                return self.entries[name]
            if name in self._ended:
                raise GanInputError(f"{name!r} is no longer live: its training run has ended; choose one of: "
                                    f"{', '.join(self.entries)}")
            if not self.entries:
                raise GanInputError("no generators found: put a .safetensors generator in the weights folder "
                                    "or train one (python -m gan.train)")
            raise GanInputError(f"unknown model {name!r}; choose one of: {', '.join(self.entries)}")

    # --------------------------------------------------------------------------------------------- live
    def add_live(self, name: str, pipeline, info: dict | None = None, alive=None) -> ModelEntry:
        """Register a live pipeline (e.g. a training run's EMA generator, whose weights and `info` the trainer
        swaps under `pipeline.lock`). It is listed under `name` until remove_live(name), or until `alive()` (when
        given) returns False: a run that stopped, finished or failed is not live any more, and a finished one is
        listed as "run: <id>" from its file instead. With info=None the entry shows the pipeline's info as it is
        at each listing (the run's current step, wall time and device), not as it was when registered."""
        cfg = pipeline.config
        config = json.loads(cfg.to_json()) if hasattr(cfg, "to_json") else dict(cfg)
        with self._lock:
            self._live[name] = (pipeline, dict(info) if info is not None else None, alive, config)
            self._ended.discard(name)
            self.entries[name] = self._live_entry(name)
            self._dirs.pop(name, None)
            self._drop_extras(name)
            return self.entries[name]

    def remove_live(self, name: str) -> None:
        with self._lock:
            self._live.pop(name, None)
            self.entries.pop(name, None)
            self._dirs.pop(name, None)
            self._drop_extras(name)

    def _live_entry(self, name: str) -> ModelEntry:
        pipeline, info, _, config = self._live[name]
        return ModelEntry(name, "live", None, config, dict(info if info is not None else pipeline.info))

    def _sync_live(self) -> None:
        """Bring the live entries up to date (caller holds the lock): drop those whose run has ended, and show
        the others' current info. Cheap (no file, no torch), so every listing and look-up does it."""
        for name, (_, _, alive, _) in list(self._live.items()):
            if alive is not None and not alive():
                self.remove_live(name)
                self._ended.add(name)
            else:
                self.entries[name] = self._live_entry(name)

    def _drop_extras(self, name: str) -> None:
        for key in [k for k in self._extras if k[0] == name]:
            del self._extras[key]

    # ------------------------------------------------------------------------------------------ loading
    def get(self, name: str | None):
        """The GeneratorPipeline for `name`, loaded on first use and reloaded when its file changes."""
        entry = self.entry(name)
        with self._lock:
            if entry.source == "live":
                live = self._live.get(entry.name)
                if live is None:  # its run ended between the look-up and here
                    raise GanInputError(f"{entry.name!r} is no longer live: its training run has ended")
                return live[0]
            load_lock = self._load_locks.setdefault(entry.name, threading.Lock())
        key = self._file_key(entry)
        with load_lock:  # two viewers asking for the same model at once load it once
            with self._lock:
                cached = self._pipes.get(entry.name)
            if cached is not None and cached[0] == key:
                return cached[1]
            from gan.pipeline import load_generator

            try:
                pipe = load_generator(entry.path, device=self.device)
            except GanInputError as e:
                with self._lock:
                    self._broken[str(entry.path)] = (key, str(e))
                    self.entries.pop(entry.name, None)
                    self.problems.append(f"skipped {entry.path}: {e}")
                raise
            pipe.name = entry.name
            with self._lock:
                self._pipes[entry.name] = (key, pipe)
                self._dirs.pop(entry.name, None)
                self._drop_extras(entry.name)
            return pipe

    @staticmethod
    def _file_key(entry: ModelEntry) -> tuple:
        try:
            st = entry.path.stat()
            return (str(entry.path), st.st_mtime_ns, st.st_size)
        except OSError:
            raise GanInputError(f"the model file of {entry.name!r} is gone ({entry.path})") from None

    def directions(self, name: str | None, k: int | None = None):
        """GANSpace directions of a model (gan.directions.Directions), computed once and cached."""
        from gan.directions import DEFAULT_K, compute_directions

        entry = self.entry(name)
        pipe = self.get(entry.name)
        k = k or DEFAULT_K
        with self._lock:
            cached = self._dirs.get(entry.name)
        live = entry.source == "live"
        if cached is not None and cached[0] == id(pipe) and cached[2].k >= k and not (
                live and time.monotonic() - cached[1] > LIVE_DIRECTIONS_MAX_AGE_S):
            return cached[2]
        basis = compute_directions(pipe, k=k)
        with self._lock:
            self._dirs[entry.name] = (id(pipe), time.monotonic(), basis)
        return basis

    def cached(self, name: str, key: str, make):
        """A small per-model cache for derived data (real points for a 2-D plot, fixed latents...). Dropped when
        the model reloads."""
        pipe = self.get(name)
        full = (name, key, id(pipe))
        with self._lock:
            if full in self._extras:
                return self._extras[full]
        value = make(pipe)
        with self._lock:
            self._extras[full] = value
        return value

    def preload(self, name: str | None = None) -> None:
        """Load a model, its directions and its first view (gan.first_view) ahead of the first request (run in a
        background thread at start-up)."""
        from gan.first_view import first_view

        name = name or self.default_name()
        if name:
            try:
                self.directions(name)
                self.cached(name, "first_view", first_view)
            except GanInputError:
                pass
