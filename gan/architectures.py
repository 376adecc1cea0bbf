"""The registry of model families: each family's name, the image sizes it makes, the widths it prefers and
where its networks are defined. Torch-free (the networks are imported when one is built), so the config can
check a family's name and image size, and a form can list the families, without loading torch.

    mlp     Goodfellow et al. 2014                 gan/models.py
    dcgan   Radford et al. 2016                    gan/models.py
    progan  Karras et al. 2018, grown 7->14->28    gan/progan.py
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from gan.errors import GanInputError

IMAGE_SIZES = (28, 32, 64)   # what the DCGAN plan (and the metric classifiers) handle


@dataclass(frozen=True)
class Architecture:
    module: str                          # the module that defines the networks
    generator: str                       # class names in it; each takes a ModelConfig
    discriminator: str
    image_sizes: tuple[int, ...] | None  # None: any size (within reason)
    defaults: dict                       # ModelConfig fields this family prefers

    def check_image_size(self, size) -> None:
        ok = isinstance(size, int) and not isinstance(size, bool) and (
            size in self.image_sizes if self.image_sizes else 4 <= size <= 64)
        if not ok:
            allowed = ", ".join(map(str, self.image_sizes)) if self.image_sizes else "4 to 64"
            raise GanInputError(f"this architecture makes images of {allowed} pixels, not {size!r}")

    def network(self, part: str):
        """The class of the family's "generator" or "discriminator" (imports its module, and so torch)."""
        return getattr(importlib.import_module(self.module), getattr(self, part))


ARCHITECTURES: dict[str, Architecture] = {
    "mlp": Architecture("gan.models", "MLPGenerator", "MLPDiscriminator", None,
                        {"g_width": 256, "d_width": 256, "depth": 3}),
    "dcgan": Architecture("gan.models", "DCGANGenerator", "DCGANDiscriminator", IMAGE_SIZES,
                          {"g_width": 64, "d_width": 64}),
    # Progressive growing: grows 7 -> 14 -> 28 or 8 -> 16 -> 32 on a step-driven schedule.
    "progan": Architecture("gan.progan", "ProGANGenerator", "ProGANDiscriminator", (28, 32),
                           {"g_width": 32, "d_width": 32}),
}


def check_architecture(name) -> Architecture:
    """The family called `name`, or a GanInputError that lists the families."""
    if not isinstance(name, str) or name not in ARCHITECTURES:
        raise GanInputError(f"unknown architecture {name!r}; choose one of: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]
