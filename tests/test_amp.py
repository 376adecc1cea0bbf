"""--amp auto|on|off: bf16 autocast where the hardware has it, float32 where precision matters, old runs still read."""
from __future__ import annotations

import json

import pytest
import torch

from gan import devices
from gan.config import TrainConfig
from gan.errors import FieldError
from gan.trainer import Trainer

XEON_AMX = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
OLD_XEON = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n"
ARM_BF16 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


def test_native_bf16_is_read_from_the_cpu_flags():
    assert devices.cpu_has_native_bf16(devices.cpu_flags(XEON_AMX))
    assert devices.cpu_has_native_bf16(devices.cpu_flags(ARM_BF16))
    assert not devices.cpu_has_native_bf16(devices.cpu_flags(OLD_XEON))
    assert devices.cpu_flags("") == frozenset()


@pytest.mark.parametrize("native", [True, False])
def test_auto_uses_bf16_for_image_models_on_a_cpu_that_has_it(monkeypatch, native):
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda flags=None: native)
    cpu = torch.device("cpu")
    assert devices.use_bf16("auto", cpu, "image") is native
    assert devices.use_bf16("auto", cpu, "points") is False   # the 2-D models stay float32 everywhere
    assert devices.use_bf16("on", cpu, "points") is True
    assert devices.use_bf16("off", cpu, "image") is False
    with pytest.raises(FieldError, match="--amp can only be on for CUDA or the CPU"):
        devices.use_bf16("on", torch.device("mps"))
    assert devices.use_bf16("auto", torch.device("mps")) is False


def test_amp_values_and_old_runs():
    assert devices.check_amp(True) == "auto" and devices.check_amp(False) == "off"
    with pytest.raises(FieldError, match="--amp must be auto, on or off, got 'yes'"):
        devices.check_amp("yes")
    # a config.json written before --amp took a value says "amp": true (or false after --no-amp)
    old = json.loads(json.dumps(TrainConfig().to_dict() | {"amp": True}))
    assert TrainConfig.from_dict(old).amp == "auto"
    assert TrainConfig.from_dict({**old, "amp": False}).amp == "off"


def test_a_bf16_step_keeps_losses_penalty_and_ema_in_float32():
    """Under autocast only G and D's layers run in bf16: the losses, the gradient penalty, the weights, the
    optimizer state and the EMA stay float32, and the step's figures are finite."""
    t = Trainer(TrainConfig(dataset="mnist", loss="wgan-gp", amp="on", batch_size=16, g_width=8, d_width=8,
                            z_dim=16, device="cpu", n_critic=1))
    assert t.amp
    seen = []
    hook = t.D.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    values = t.d_step()
    values.update(t.g_step())
    t.ema_step()
    hook.remove()
    assert torch.bfloat16 in seen     # D's forward passes ran under bf16 autocast...
    assert torch.float32 in seen      # ...except the gradient penalty's, which runs outside it
    for name, v in values.items():
        assert v.dtype == torch.float32 and torch.isfinite(v), name
    for p in [*t.G.parameters(), *t.D.parameters(), *t.G_ema.parameters()]:
        assert p.dtype == torch.float32
    assert all(s.dtype == torch.float32 for st in t.opt_d.state.values() for s in st.values() if s.dim())


def test_off_trains_in_float32():
    t = Trainer(TrainConfig(dataset="mnist", amp="off", batch_size=16, g_width=8, d_width=8, z_dim=16,
                            device="cpu"))
    seen = []
    t.D.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    t.d_step()
    assert not t.amp and set(seen) == {torch.float32}
