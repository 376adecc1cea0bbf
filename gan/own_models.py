"""Visitors' own models: the PyTorch DCGAN example's netG_epoch_N.pth (and its netD) dropped on a page, converted
by gan.convert into a GANscope model file that only that page can open. No Gradio here.

    own = OwnModels(lambda: Path("scratch"), device="cpu")
    entry = own.add(page, ["netG_epoch_24.pth", "netD_epoch_24.pth"])   # -> "yours: netG_epoch_24"
    models = PageCatalog(catalog, own, page)          # what this page can open: its own models, then the catalog
    models.get("yours: netG_epoch_24")                # its GeneratorPipeline (an error on any other page)

Why a store beside the catalog, not in it: the catalog is the server's list, the same for everyone; a dropped file
is one visitor's, and no other page may list it or open it by typing its name. A page is Gradio's session hash (as
for Explore's views): a reload starts a new page, which has to drop the file again.

Bounded, with the least recently used model going first and its file removed: PER_PAGE models per page (a third
replaces the page's oldest), MAX_MODELS on the server and MAX_BYTES of converted files. Each model holds its
weights in memory and in its converted file on disk, both about the .pth's size (the example's default 64x64 netG,
nz 100 and ngf 64, is 3.6 M parameters, 14 MB; its netD 11 MB), so at the defaults this store keeps at most
MAX_BYTES (1 GiB) on disk and about as much in memory. A .pth over UPLOAD_MAX_BYTES is refused before it is read.
"""
from __future__ import annotations

import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gan.catalog import ModelEntry
from gan.errors import GanInputError

PREFIX = "yours: "                 # every own model's name starts so (the catalog's are "<file>", "run: ", "live: ")
PER_PAGE = 2
MAX_MODELS = 25
MAX_BYTES = 2 ** 30                # converted files on disk, all pages together
UPLOAD_MAX_BYTES = 200 * 2 ** 20   # one dropped .pth (the app's upload cap, gan.ui.app.MAX_FILE_SIZE, is the same)
SOURCE = "pytorch-dcgan"           # the layout a dropped file is read as (gan.convert.CONVERTERS)


class OwnEntry(ModelEntry):
    """A dropped model's catalog entry (source "yours"): its picker label says it is the visitor's file."""

    @property
    def label(self) -> str:
        c, i = self.config, self.info
        size = c.get("image_size", "?")
        return " · ".join([self.name, "your .pth", f"{i.get('arch') or c.get('arch', '?')} {size}x{size}",
                           str(i.get("loss", "?"))])


@dataclass
class _Own:
    entry: OwnEntry
    pipe: object
    page: str
    nbytes: int
    added: int = 0                     # the order pages' pickers list them in
    directions: object = None          # Directions, or the NoDirections it raised (cached too: computed once)
    extras: dict = field(default_factory=dict)


def own_name(generator_file: str | Path) -> str:
    """"yours: <the generator file's stem>", in letters, digits, - _ . (at most 48 of them)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(generator_file).stem).strip("._") or "model"
    return PREFIX + stem[:48]


def check_upload(paths) -> list[Path]:
    """One or two dropped files (a generator, optionally its discriminator), each a non-empty file of at most
    UPLOAD_MAX_BYTES, checked by size before anything reads them."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in (paths or []) if p]
    if not paths:
        raise GanInputError("drop the generator's .pth (netG_epoch_N.pth), and optionally its netD_epoch_N.pth")
    if len(paths) > 2:
        raise GanInputError(f"drop at most 2 files (the generator's .pth and its discriminator's), not {len(paths)}")
    for p in paths:
        if not p.is_file():
            raise GanInputError(f"{p.name} did not arrive: drop it again")
        size = p.stat().st_size
        if size > UPLOAD_MAX_BYTES:
            raise GanInputError(f"{p.name} is {size / 2 ** 20:.0f} MB, over the {UPLOAD_MAX_BYTES // 2 ** 20} MB a "
                                "dropped model may have: refused unread")
    return paths


def _generator_first(paths: list[Path]) -> list[Path]:
    """Two files in the likely order (generator, discriminator): a name that says D ("netD...") goes second."""
    if len(paths) == 2 and re.search(r"netd|disc", paths[0].name, re.I) and not re.search(r"netd|disc",
                                                                                           paths[1].name, re.I):
        return [paths[1], paths[0]]
    return paths


class OwnModels:
    """Every page's own models (at most PER_PAGE a page, MAX_MODELS and MAX_BYTES on the server), by page and name.
    Thread-safe; converting and loading happen outside the lock. One per server (the app's ctx.shared)."""

    def __init__(self, folder: Callable[[], Path], device: str = "cpu", per_page: int = PER_PAGE,
                 max_models: int = MAX_MODELS, max_bytes: int = MAX_BYTES):
        self._folder, self.device = folder, device
        self.per_page, self.max_models, self.max_bytes = per_page, max_models, max_bytes
        self._models: OrderedDict[tuple[str, str], _Own] = OrderedDict()   # least recently used first
        self._lock = threading.Lock()
        self._added = 0

    def add(self, page: str, paths) -> OwnEntry:
        """Convert the dropped file(s) (gan.convert, read with weights_only=True) and load the result as this
        page's model named after the generator file (replacing the page's model of that name, if any). Two files
        are taken as generator and discriminator, in whichever order fits. GanInputError, with nothing kept or
        left on disk, for a file that is too large, empty, not the example's network, or a pickle of objects."""
        from gan.convert import convert
        from gan.pipeline import load_generator

        paths = _generator_first(check_upload(paths))
        folder = Path(self._folder())
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / f"own-{uuid.uuid4().hex}.safetensors"
        try:
            try:
                convert(SOURCE, paths[0], out, paths[1] if len(paths) > 1 else None)
            except GanInputError as first:
                if len(paths) < 2:
                    raise
                try:  # the two files came in the other order
                    convert(SOURCE, paths[1], out, paths[0])
                except GanInputError:
                    raise first from None
                paths = [paths[1], paths[0]]
            pipe = load_generator(out, device=self.device)
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        name = own_name(paths[0])
        pipe.name = name
        info = dict(pipe.info)
        entry = OwnEntry(name, "yours", out, _config_dict(pipe.config), info, out.stat().st_mtime_ns)
        with self._lock:
            old = self._models.pop((page, name), None)
            self._added += 1
            self._models[(page, name)] = _Own(entry, pipe, page, out.stat().st_size, self._added)
            gone = [old] if old is not None else []
            gone += self._evict(page)
        for g in gone:
            Path(g.entry.path).unlink(missing_ok=True)
        return entry

    def _evict(self, page: str) -> list[_Own]:
        """(Caller holds the lock.) Drop this page's oldest past per_page, then the server's least recently used
        past max_models or max_bytes (never the model just added, the last one)."""
        gone = []
        mine = [k for k in self._models if k[0] == page]
        for key in mine[: max(0, len(mine) - self.per_page)]:
            gone.append(self._models.pop(key))
        while len(self._models) > 1 and (len(self._models) > self.max_models or
                                         sum(m.nbytes for m in self._models.values()) > self.max_bytes):
            gone.append(self._models.popitem(last=False)[1])
        return gone

    def _find(self, page: str, name: str) -> _Own | None:
        with self._lock:
            own = self._models.get((page, name))
            if own is not None:
                self._models.move_to_end((page, name))
            return own

    def entry(self, page: str, name: str) -> OwnEntry | None:
        """This page's model `name`, or None when the page has no such model."""
        own = self._find(page, name)
        return own.entry if own is not None else None

    def get(self, page: str, name: str):
        own = self._find(page, name)
        if own is None:
            raise not_here(name)
        return own.pipe

    def directions(self, page: str, name: str, k: int | None = None):
        """GANSpace directions of this page's model, computed once (a NoDirections is remembered and raised again)."""
        from gan.directions import DEFAULT_K, NoDirections, compute_directions

        own = self._find(page, name)
        if own is None:
            raise not_here(name)
        if own.directions is None or (not isinstance(own.directions, NoDirections) and own.directions.k <
                                      (k or DEFAULT_K)):
            try:
                own.directions = compute_directions(own.pipe, k=k or DEFAULT_K)
            except NoDirections as e:
                own.directions = e
        if isinstance(own.directions, NoDirections):
            raise own.directions
        return own.directions

    def cached(self, page: str, name: str, key: str, make):
        """A small per-model cache, as Catalog.cached."""
        own = self._find(page, name)
        if own is None:
            raise not_here(name)
        if key not in own.extras:
            own.extras[key] = make(own.pipe)
        return own.extras[key]

    def choices(self, page: str) -> list[tuple[str, str]]:
        """(label, name) of this page's models, oldest first."""
        with self._lock:
            mine = sorted((m for (p, _), m in self._models.items() if p == page), key=lambda m: m.added)
        return [(m.entry.label, m.entry.name) for m in mine]

    def pages(self) -> set[str]:
        with self._lock:
            return {p for p, _ in self._models}

    def close(self) -> None:
        """Forget every model and remove their files (the server is closing)."""
        with self._lock:
            gone, self._models = list(self._models.values()), OrderedDict()
        for g in gone:
            Path(g.entry.path).unlink(missing_ok=True)


def _config_dict(config) -> dict:
    import json

    return json.loads(config.to_json())


def not_here(name: str) -> GanInputError:
    return GanInputError(f"{name!r} is not on this page: a dropped .pth is only the model of the page it was "
                         "dropped on (a reload forgets it, and the server keeps a few at a time); drop it here to "
                         "see it")


class PageCatalog:
    """What one page can open: its own models first, then the server's catalog (the same names and calls as
    gan.catalog.Catalog: entry, get, directions, cached, choices, names, default_name, refresh). `own` None: no
    page has dropped a model yet."""

    def __init__(self, catalog, own: OwnModels | None, page: str):
        self.catalog, self.own, self.page = catalog, own, page

    def _mine(self, name) -> bool:
        return self.own is not None and isinstance(name, str) and self.own.entry(self.page, name) is not None

    def entry(self, name):
        if self._mine(name):
            return self.own.entry(self.page, name)
        if isinstance(name, str) and name.startswith(PREFIX) and name not in self.catalog.entries:
            raise not_here(name)
        return self.catalog.entry(name)

    def get(self, name):
        return self.own.get(self.page, name) if self._mine(name) else self.catalog.get(self.entry(name).name)

    def directions(self, name, k: int | None = None):
        return self.own.directions(self.page, name, k) if self._mine(name) else self.catalog.directions(name, k)

    def cached(self, name, key, make):
        return self.own.cached(self.page, name, key, make) if self._mine(name) else \
            self.catalog.cached(name, key, make)

    def choices(self) -> list[tuple[str, str]]:
        return self.catalog.choices() + (self.own.choices(self.page) if self.own is not None else [])

    def names(self) -> list[str]:
        return [name for _, name in self.choices()]

    def default_name(self):
        return self.catalog.default_name()

    def refresh(self):
        return self.catalog.refresh()
