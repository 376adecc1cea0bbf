"""Device choice. Nothing here touches CUDA at import time: `torch.cuda.is_available()` is only called on demand."""
from __future__ import annotations

import torch

from gan.config import AMP_MODES
from gan.errors import FieldError, GanInputError

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


# ------------------------------------------------------------------------------------------------ bf16
# CPU feature flags that mean bf16 matrix arithmetic in hardware: Intel AMX, AVX-512 BF16 (Cooper Lake, Sapphire
# Rapids and later, AMD Zen 4 and later), and on 64-bit ARM the BF16 extension (Linux lists it as "bf16").
# torch.backends.cpu.get_cpu_capability() says "AVX512" on an AMX machine too, so it cannot tell.
BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16", "bf16"})


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (/proc/cpuinfo "flags" on x86, "Features" on ARM); empty where
    there is no such file (macOS, Windows), so those machines train in float32 under --amp auto."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


def cpu_has_native_bf16(flags: frozenset[str] | None = None) -> bool:
    return bool((cpu_flags() if flags is None else flags) & BF16_CPU_FLAGS)


def check_amp(mode) -> str:
    """--amp as one of auto, on, off. A bool (a TrainConfig built by older code) reads as auto or off."""
    if isinstance(mode, bool):
        return "auto" if mode else "off"
    if mode not in AMP_MODES:
        raise FieldError("amp", "must be auto, on or off", mode)
    return mode


def use_bf16(mode: str, device: torch.device, kind: str = "image") -> bool:
    """Whether a run trains under bf16 autocast. `auto`: on CUDA (with bf16 support), and for image models on a CPU
    with native bf16, where a 28x28 DCGAN step runs about 1.5x faster (benchmarks/train_throughput.py); float32
    elsewhere: MPS, CPUs without bf16 (emulated bf16 is slower than float32), and 2-D point models, whose tiny
    layers gain nothing from it and whose lessons then behave alike on every machine. `on` forces it where torch
    has a bf16 autocast (CUDA, CPU); `off` never."""
    mode = check_amp(mode)
    if mode == "off" or device.type not in ("cuda", "cpu"):
        if mode == "on" and device.type not in ("cuda", "cpu"):
            raise FieldError("amp", f"can only be on for CUDA or the CPU ({device.type} trains in float32)", mode)
        return False
    if mode == "on":
        return True
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return kind == "image" and cpu_has_native_bf16()
