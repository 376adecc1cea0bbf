"""Device choice. Nothing here touches CUDA at import time: `torch.cuda.is_available()` is only called on demand."""
from __future__ import annotations

import torch

from gan.errors import GanInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str | None = "auto") -> torch.device:
    """auto picks CUDA, then MPS, then CPU; an explicit device that is not there is an input error."""
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    base = name.split(":")[0]
    if base not in DEVICE_CHOICES:
        raise GanInputError(f"unknown device {name!r}; choose one of: {', '.join(DEVICE_CHOICES)}")
    if base == "cuda" and not torch.cuda.is_available():
        raise GanInputError("--device cuda was asked for but no CUDA GPU is available here")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GanInputError("--device mps was asked for but MPS is not available here")
    return torch.device(name)
