"""Model families and losses: shapes for every combination, and each loss on a case computed by hand; and the
gan modules' import graph has no cycles."""
import ast
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gan.config import ModelConfig
from gan.errors import GanInputError
from gan.losses import LOSSES, gradient_penalty
from gan.models import ARCHITECTURES, build_discriminator, build_generator


def tiny(**kw) -> ModelConfig:
    base = dict(arch="dcgan", z_dim=8, g_width=8, d_width=8)
    base.update(kw)
    return ModelConfig(**base).validate()


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("conditional,sn", [(False, False), (True, True), (True, False), (False, True)])
def test_image_models_make_the_promised_shapes(arch, size, channels, conditional, sn):
    cfg = tiny(arch=arch, image_size=size, channels=channels, conditional=conditional, n_classes=10 if conditional
               else 0, spectral_norm=sn)
    G, D = build_generator(cfg), build_discriminator(cfg)
    z = torch.randn(4, cfg.z_dim)
    y = torch.tensor([0, 3, 5, 9]) if conditional else None
    x = G(z, y)
    assert x.shape == (4, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output, the data's range
    scores = D(x, y)
    assert scores.shape == (4,)
    assert torch.isfinite(scores).all()


def test_dcgan_64_is_the_pytorch_example_generator():
    """ngf=64 at 64x64: 512 channels at 4x4, as in the PyTorch DCGAN example (3.58M parameters in G)."""
    cfg = ModelConfig(arch="dcgan", image_size=64, channels=3, z_dim=100).validate()
    G, D = build_generator(cfg), build_discriminator(cfg)
    assert sum(p.numel() for p in G.parameters()) == 3_576_704
    assert G.net[0].out_channels == 512
    assert D.body[0].out_channels == 64


def test_points_model_outputs_in_data_units():
    cfg = ModelConfig(arch="mlp", kind="points", z_dim=2, g_width=16, d_width=16, depth=2,
                      point_mean=(10.0, -5.0), point_std=(2.0, 3.0)).validate()
    G = build_generator(cfg)
    out = G(torch.zeros(5, 2))
    assert out.shape == (5, 2)
    data_units = G.to_data_units(out)
    assert torch.allclose(data_units, out * torch.tensor([2.0, 3.0]) + torch.tensor([10.0, -5.0]))


def test_spectral_norm_bounds_every_layer_of_d():
    cfg = tiny(spectral_norm=True, conditional=False)
    D = build_discriminator(cfg).train()
    for _ in range(30):  # power iterations converge while D runs in training mode
        D(torch.randn(8, 1, 28, 28))
    for m in D.modules():
        if isinstance(m, torch.nn.Conv2d):
            w = m.weight.detach().flatten(1)
            assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("bad", [dict(arch="resnet"), dict(image_size=48), dict(z_dim=0), dict(g_width=10 ** 6),
                                 dict(conditional=True, n_classes=0), dict(channels=2)])
def test_bad_model_configs_are_refused_with_a_message(bad):
    with pytest.raises(GanInputError):
        tiny(**bad)


def test_registry_names():
    assert {"mlp", "dcgan"} <= set(ARCHITECTURES)
    assert set(LOSSES) == {"bce", "minimax", "lsgan", "hinge", "wgan", "wgan-gp"}


# ----------------------------------------------------------------------------------------------- losses
R = torch.tensor([2.0, -1.0])   # D's scores on real samples
Fk = torch.tensor([0.5, -3.0])  # and on fake ones


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_bce_matches_the_formula():
    expected_d = -sum(math.log(sig(r)) for r in R.tolist()) / 2 - sum(math.log(1 - sig(f)) for f in Fk.tolist()) / 2
    assert LOSSES["bce"].d_loss(R, Fk).item() == pytest.approx(expected_d, rel=1e-6)
    assert LOSSES["bce"].g_loss(Fk).item() == pytest.approx(-sum(math.log(sig(f)) for f in Fk.tolist()) / 2, rel=1e-6)
    assert LOSSES["bce"].d_loss(R, Fk).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(torch.cat([R, Fk]), torch.tensor([1.0, 1, 0, 0])).item() * 2, rel=1e-6)


def test_minimax_g_is_log_one_minus_d():
    expected = sum(math.log(1 - sig(f)) for f in Fk.tolist()) / 2
    assert LOSSES["minimax"].g_loss(Fk).item() == pytest.approx(expected, rel=1e-6)


def test_lsgan_hinge_wgan_by_hand():
    assert LOSSES["lsgan"].d_loss(R, Fk).item() == pytest.approx(0.5 * (1 + 4) / 2 + 0.5 * (0.25 + 9) / 2)
    assert LOSSES["lsgan"].g_loss(Fk).item() == pytest.approx(0.5 * (0.25 + 16) / 2)
    # hinge: relu(1 - r) = [0, 2], relu(1 + f) = [1.5, 0]
    assert LOSSES["hinge"].d_loss(R, Fk).item() == pytest.approx(1.0 + 0.75)
    assert LOSSES["hinge"].g_loss(Fk).item() == pytest.approx(1.25)
    for name in ("wgan", "wgan-gp"):
        assert LOSSES[name].d_loss(R, Fk).item() == pytest.approx(-1.25 - 0.5)
        assert LOSSES[name].g_loss(Fk).item() == pytest.approx(1.25)


def test_gradient_penalty_of_a_linear_critic():
    """D(x) = <w, x> has gradient w everywhere, so the penalty is (||w|| - 1)^2 wherever it is evaluated."""
    w = torch.tensor([3.0, 4.0, 0.0, 0.0]).view(1, 1, 2, 2)  # ||w|| = 5
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)
    unit = lambda x: (x * w / 5).flatten(1).sum(1)  # noqa: E731
    assert gradient_penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_reaches_the_critic_weights():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    gp = gradient_penalty(lambda x: x @ w, torch.randn(5, 2), torch.randn(5, 2))
    gp.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    assert torch.allclose(w.grad, 2 * 4 * torch.tensor([3.0, 4.0]) / 5)


# ------------------------------------------------------------------------------------------ module layering
GAN_DIR = Path(__file__).resolve().parents[1] / "gan"


def gan_imports(path: Path) -> set[str]:
    """The gan modules a file imports, at the top or late inside a function (a late import still ties the two
    modules together: it only hides the cycle until the function runs)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gan":
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from gan import progan` names a module
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "gan")
    return found


def import_cycles(modules: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle of the import graph, each once, by depth-first search from each module."""
    cycles, seen = [], set()

    def walk(name: str, path: list[str]) -> None:
        for nxt in sorted(modules.get(name, ())):
            if nxt == path[0]:
                key = frozenset(path)
                if key not in seen:
                    seen.add(key)
                    cycles.append(path + [nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle from its smallest name only
                walk(nxt, path + [nxt])

    for start in sorted(modules):
        walk(start, [start])
    return cycles


def test_gan_modules_import_each_other_without_cycles():
    files = {".".join(("gan", *p.relative_to(GAN_DIR).with_suffix("").parts)): p for p in GAN_DIR.rglob("*.py")}
    # Edges to modules only: a package (gan, gan.ui) runs on any import of its modules, so it is no choice.
    modules = {name.removesuffix(".__init__"): {m for m in gan_imports(path) if m in files}
               for name, path in files.items()}
    assert {"gan.data", "gan.uploads", "gan.models", "gan.progan", "gan.config"} <= set(modules)
    assert "gan.layers" in modules["gan.progan"] and "gan.models" not in modules["gan.progan"]
    assert import_cycles(modules) == []
    # the checker itself finds a cycle when there is one, through a late import too
    assert import_cycles({"gan.a": {"gan.b"}, "gan.b": {"gan.c"}, "gan.c": {"gan.a"}}) == [
        ["gan.a", "gan.b", "gan.c", "gan.a"]]
