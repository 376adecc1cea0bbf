"""Safe, atomic files.

A model file is `.safetensors` (no pickle: loading it cannot run code) whose metadata holds the JSON ModelConfig
and a format version, so the file alone rebuilds the network. Training state for resume (optimizers, step, RNG)
uses torch.save inside a run folder and is only ever read with weights_only=True.
Every write goes to a temporary file in the same folder and is then renamed over the target: a crash at any
moment leaves either the old file or the new one, never half of one.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from gan.config import ModelConfig
from gan.errors import GanInputError
from gan.run_files import MODEL_FILE

FORMAT = "ganscope"
FORMAT_VERSION = "1"
MAX_MODEL_FILE_BYTES = 512 * 2 ** 20


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, so writers that infer the format still work);
    on success it is fsynced and renamed onto `path`, on failure removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete temporary files that a killed writer left behind (kill -9 mid-write); returns how many."""
    removed = 0
    for p in Path(folder).rglob(".*.tmp*"):
        if p.is_file():
            with contextlib.suppress(OSError):
                p.unlink()
                removed += 1
    return removed


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _contiguous_state(module: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v.detach().to("cpu").contiguous() for k, v in module.state_dict().items()}


def save_model_file(path: str | os.PathLike, config: ModelConfig, generator: nn.Module,
                    discriminator: nn.Module | None = None, info: dict | None = None) -> None:
    """Write G (and optionally D, for its score in the Explore tab) with config and provenance in the metadata."""
    from safetensors.torch import save_file

    tensors = _contiguous_state(generator, "generator.")
    if discriminator is not None:
        tensors.update(_contiguous_state(discriminator, "discriminator."))
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_config": config.to_json(),
                "info": json.dumps(info or {}, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def read_model_file(path: str | os.PathLike) -> tuple[ModelConfig, dict, dict[str, torch.Tensor]]:
    """(config, info, tensors) of a model file, or a GanInputError that says what is wrong with it. A config key
    that a file written before it lacks takes its default (e.g. pack 1 and mbstd off: D as it was then), so every
    older file rebuilds the network it was saved from."""
    p = Path(path)
    if p.is_dir():  # a run folder stands for its model
        if not (p / MODEL_FILE).is_file():
            raise GanInputError(f"{str(path)!r} is a folder without a {MODEL_FILE}: a run writes it when it "
                                "finishes (or on 'Save as model'); its checkpoints/ hold the earlier steps")
        p = p / MODEL_FILE
    if not p.is_file():
        raise GanInputError(f"no such model file: {str(path)!r}")
    if p.stat().st_size > MAX_MODEL_FILE_BYTES:
        raise GanInputError(f"{p.name} is larger than {MAX_MODEL_FILE_BYTES // 2 ** 20} MB: not a GANscope model")

    def check(meta: dict) -> None:
        if meta.get("format") != FORMAT or "model_config" not in meta:
            raise GanInputError(f"{p.name} is a safetensors file but not a GANscope model (no model config)")
        if meta.get("format_version") != FORMAT_VERSION:
            raise GanInputError(f"{p.name} has format version {meta.get('format_version')!r}; "
                                f"this GANscope reads version {FORMAT_VERSION}")

    meta, tensors = read_tensors(p, "safetensors file", check)
    return ModelConfig.from_json(meta["model_config"]), read_info(meta), tensors


def read_info(meta: dict) -> dict:
    """A file's provenance (the "info" JSON object of its metadata); {} when it is missing or damaged, as the
    weights still load without it."""
    try:
        info = json.loads(meta.get("info", "{}"))
    except (TypeError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def read_tensors(p: Path, what: str, check: Callable[[dict], None]) -> tuple[dict, dict[str, torch.Tensor]]:
    """(metadata, tensors on the CPU) of a safetensors file (a model or a classifier); `check(metadata)` refuses a
    file of the wrong kind before any tensor is read. Whatever safetensors raises for a damaged file becomes a
    GanInputError "<name> is not a readable <what>"."""
    from safetensors import safe_open

    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            check(meta)
            return meta, {k: f.get_tensor(k) for k in f.keys()}
    except GanInputError:
        raise
    except Exception as e:  # safetensors raises several types for a file that is not safetensors
        raise GanInputError(f"{p.name} is not a readable {what} ({e.__class__.__name__})") from None


def load_into(module: nn.Module, tensors: dict[str, torch.Tensor], prefix: str, name: str) -> None:
    """Load the tensors under `prefix` strictly; a shape or key mismatch is the file's fault, so say so."""
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise GanInputError(f"{name}: the weights do not fit the config in its metadata ({detail[:200]})") from None


def save_training_state(path: str | os.PathLike, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_training_state(path: str | os.PathLike) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise GanInputError(f"the checkpoint {str(path)!r} cannot be read ({e.__class__.__name__}); "
                            "delete it to start the run afresh") from None


def write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Atomically write `path` with any function that writes to a given path (PIL, imageio, ...)."""
    with atomic_path(path) as tmp:
        writer(tmp)
