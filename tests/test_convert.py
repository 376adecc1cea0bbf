"""gan.convert against the network it converts from: the PyTorch DCGAN example's G and D (pytorch/examples,
dcgan/main.py), written here from that example's layout as an nn.Sequential `main`, so their state dicts have its
keys (main.0.weight, ...). A converted file must rebuild from its metadata and compute what the original computes
(G's images within one grey level, D's score = the example's output before its sigmoid); every file that is not
such a checkpoint gets one line, and nothing is written, above all not by unpickling a hostile file."""
from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from gan.convert import CONVERTERS, convert
from gan.errors import GanInputError
from gan.losses import scores_are_probabilities
from gan.pipeline import load_generator, to_uint8
from tests.conftest import in_process

GREY_LEVEL = 2 / 255   # one grey level on the [-1, 1] scale


class ExampleNet(nn.Module):
    """The example's networks hold their layers in `main` and run them as they are (its forward only adds
    data_parallel over GPUs, and D's flattens the (B, 1, 1, 1) output)."""

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.main(x)
        return out.view(-1) if out.shape[1:] == (1, 1, 1) else out


def example_generator(nz: int, ngf: int, nc: int) -> nn.Module:
    """The example's _netG / Generator: 4x4 -> 64x64, bias-free transposed convolutions, BN + ReLU, Tanh."""
    layers = [nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True)]
    for mult in (8, 4, 2):
        layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
                   nn.BatchNorm2d(ngf * mult // 2), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return randomised(ExampleNet(*layers), torch.randn(8, nz, 1, 1))


def example_discriminator(ndf: int, nc: int) -> nn.Module:
    """The example's _netD / Discriminator: 64x64 -> 4x4, bias-free convolutions, BN + LeakyReLU(0.2), a 4x4
    convolution to one number, Sigmoid."""
    layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    for mult in (1, 2, 4):
        layers += [nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * mult * 2),
                   nn.LeakyReLU(0.2, inplace=True)]
    layers += [nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
    return randomised(ExampleNet(*layers), torch.rand(8, nc, 64, 64) * 2 - 1)


def randomised(net: nn.Module, batch: torch.Tensor) -> nn.Module:
    """The example's init (N(0, 0.02) convolutions, N(1, 0.02) BN scales, made wider here), BN running
    statistics measured on a batch and then moved off what it measured, so that eval mode, which uses them, is what
    the comparisons test, on activations of a trained network's scale (neither vanishing nor saturating tanh)."""
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
    for m in bns:
        nn.init.normal_(m.weight, 1.0, 0.2)
        nn.init.normal_(m.bias, 0.0, 0.2)
        m.momentum = None  # a cumulative average: the batch's own statistics
    with torch.no_grad():
        net.train()(batch)
    for m in bns:
        m.running_mean.add_(torch.randn_like(m.running_mean) * m.running_var.sqrt() * 0.2)
        m.running_var.mul_(torch.empty_like(m.running_var).uniform_(0.7, 1.4))
        m.num_batches_tracked.fill_(1234)
        m.momentum = 0.1
    return net.eval()


def saved(path, net: nn.Module, prefix: str = ""):
    torch.save({prefix + k: v for k, v in net.state_dict().items()}, path)
    return path


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """Example checkpoints: (netG path, netD path, G, D) by name."""
    folder, out = tmp_path_factory.mktemp("example"), {}
    torch.manual_seed(0)
    for name, (nz, ngf, ndf, nc) in {"rgb": (100, 64, 64, 3), "grey": (16, 8, 16, 1)}.items():
        G, D = example_generator(nz, ngf, nc), example_discriminator(ndf, nc)
        out[name] = (saved(folder / f"netG_{name}.pth", G), saved(folder / f"netD_{name}.pth", D), G, D)
    return out


def assert_same_images(pipe, G, nz: int, n: int = 6):
    z = torch.randn(n, nz, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        want = G(z.view(n, nz, 1, 1))
    got = pipe.decode(z)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= GREY_LEVEL
    assert abs(to_uint8(got).astype(int) - to_uint8(want).astype(int)).max() <= 1
    assert want.std() > 0.05   # the networks do make pictures, not a flat grey both sides would agree on


@pytest.mark.parametrize("name", ["rgb", "grey"])
def test_converted_pair_computes_what_the_example_computes(pairs, tmp_path, name):
    g_path, d_path, G, D = pairs[name]
    out = tmp_path / "my-dcgan.safetensors"
    convert("pytorch-dcgan", g_path, out, d_path)
    pipe = load_generator(out)
    c = pipe.config
    nz = G.main[0].in_channels
    assert (c.arch, c.image_size, c.channels, c.z_dim, c.g_width, c.d_width, c.d_head) == (
        "dcgan", 64, G.main[-2].out_channels, nz, G.main[-2].in_channels, D.main[0].out_channels, "conv")
    assert_same_images(pipe, G, nz)

    x = torch.rand(5, c.channels, 64, 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        logit = D.main[:-1](x).view(-1)   # before the sigmoid
        prob = D(x)
    score = torch.from_numpy(pipe.score(x))
    assert torch.allclose(score, logit, atol=1e-4, rtol=1e-4)
    assert torch.allclose(torch.sigmoid(score), prob, atol=1e-5)
    assert logit.std() > 0.01
    assert pipe.info["loss"] == "bce" and scores_are_probabilities(pipe.info["loss"])
    assert pipe.info["source_files"] == {"generator": g_path.name, "discriminator": d_path.name}


def test_dataparallel_prefix_and_generator_alone(pairs, tmp_path):
    """nn.DataParallel saves `module.main.0.weight`; without --netD the file has no D (and no score)."""
    _, _, G, _ = pairs["grey"]
    g_path = saved(tmp_path / "netG_dp.pth", G, prefix="module.")
    r = in_process("gan.convert", g_path, "--from", "pytorch-dcgan", "--out", tmp_path / "g.safetensors")
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "1 channel" in r.stdout
    pipe = load_generator(tmp_path / "g.safetensors")
    assert pipe.discriminator is None and pipe.score(torch.zeros(1, 1, 64, 64)) is None
    assert_same_images(pipe, G, 16)


def test_pre_0_4_checkpoint_without_num_batches_tracked(pairs, tmp_path):
    _, _, G, _ = pairs["grey"]
    state = {k: v for k, v in G.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pth")
    convert("pytorch-dcgan", tmp_path / "old.pth", tmp_path / "old.safetensors")
    assert_same_images(load_generator(tmp_path / "old.safetensors"), G, 16)


class WritesAFile:
    """Unpickling this opens (creates) a file: what a hostile .pth could do with any call instead."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return open, (self.target, "w")


def refused(tmp_path, args, words):
    """Exit 2, one `error:` line naming the problem, nothing on stdout, nothing written."""
    out = tmp_path / "out.safetensors"
    r = in_process("gan.convert", *args, "--out", out)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.stderr
    assert r.stdout == "" and not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []   # no temporary left either
    return lines[0]


@pytest.mark.parametrize("how, words", [("torch.save", "could run code: refused"),
                                        ("pickle protocol 2", "could run code: refused"),   # torch.save's protocol
                                        ("pickle protocol 4", "safe loader cannot read it: refused")])
def test_a_pickle_of_objects_is_refused_unread(tmp_path, how, words):
    target = tmp_path / "pwned"
    evil = tmp_path / "netG_epoch_24.pth"
    payload = {"main.0.weight": WritesAFile(target)}
    if how == "torch.save":
        torch.save(payload, evil)
    else:
        evil.write_bytes(pickle.dumps(payload, protocol=int(how[-1])))
    pickle.loads(evil.read_bytes() if how != "torch.save" else pickle.dumps(WritesAFile(target)))
    assert target.exists()   # the payload is real: a plain unpickle runs it
    target.unlink()
    refused(tmp_path, [evil, "--from", "pytorch-dcgan"], words)
    assert not target.exists()


def test_bad_checkpoints_get_one_line_each(pairs, tmp_path):
    g_path, d_path, G, D = pairs["grey"]
    src = tmp_path / "src"
    src.mkdir()
    (src / "empty.pth").write_bytes(b"")
    (src / "junk.pth").write_bytes(b"not a checkpoint at all " * 40)
    (src / "cut.pth").write_bytes(g_path.read_bytes()[:5000])                          # an interrupted download
    torch.save([torch.zeros(3)], src / "list.pth")
    torch.save({"net.0.weight": torch.zeros(16, 64, 4, 4)}, src / "ganscope.pth")       # another network's keys
    torch.save(nn.Linear(4, 2).state_dict(), src / "linear.pth")
    bad = G.state_dict()
    bad["main.3.weight"] = torch.zeros(64, 16, 4, 4)                                      # a shape that does not fit
    torch.save(bad, src / "reshaped.pth")
    torch.save({k: v for k, v in G.state_dict().items() if k != "main.4.running_var"}, src / "partial.pth")
    torch.save({**G.state_dict(), "main.13.weight": torch.zeros(3)}, src / "extra.pth")
    torch.save({k: v.half() if k == "main.0.weight" else v for k, v in G.state_dict().items()}, src / "ok_half.pth")
    nan = G.state_dict()
    nan["main.0.weight"] = nan["main.0.weight"].clone().fill_(float("nan"))
    torch.save(nan, src / "nan.pth")
    torch.save(example_generator(16, 8, 2).state_dict(), src / "two_channels.pth")
    torch.save(example_discriminator(16, 3).state_dict(), src / "netD_rgb.pth")
    torch.save({**D.state_dict(), "main.11.weight": torch.zeros(1, 64, 4, 4)}, src / "d_reshaped.pth")

    cases = [
        ([src / "missing.pth"], "no such checkpoint"),
        ([src / "empty.pth"], "empty (0 bytes)"),
        ([src / "junk.pth"], "junk.pth is not a checkpoint torch.save wrote"),
        ([src / "cut.pth"], "cut.pth is not a readable PyTorch checkpoint"),
        ([src / "list.pth"], "list.pth is not a state dict"),
        ([src / "ganscope.pth"], "has 'net.0.weight', not only main.<layer>.<tensor> keys"),
        ([src / "linear.pth"], "has 'weight'"),
        ([src / "reshaped.pth"], "main.3.weight has shape (64, 16, 4, 4), expected (64, 32, 4, 4)"),
        ([src / "partial.pth"], "no main.4.running_var"),
        ([src / "extra.pth"], "an unexpected main.13.weight"),
        ([src / "nan.pth"], "not finite"),
        ([src / "two_channels.pth"], "images have 1 (grayscale) or 3 (RGB) channels"),
        ([d_path], "is the PyTorch DCGAN example's discriminator, not its generator"),
        ([g_path, "--netD", g_path], "is the PyTorch DCGAN example's generator, not its discriminator"),
        ([g_path, "--netD", src / "netD_rgb.pth"], "judges 3-channel images but"),
        ([g_path, "--netD", src / "empty.pth"], "empty (0 bytes)"),
        ([g_path, "--netD", src / "d_reshaped.pth"], "main.11.weight has shape (1, 64, 4, 4), expected (1, 128, 4, 4)"),
    ]
    for args, words in cases:
        refused(tmp_path, [*args, "--from", "pytorch-dcgan"], words)
    with pytest.raises(GanInputError, match="a .safetensors file"):
        convert("pytorch-dcgan", g_path, tmp_path / "out.pth")
    with pytest.raises(GanInputError, match="unknown source layout"):
        convert("stylegan", g_path, tmp_path / "out.safetensors")
    # half-precision weights are still the example's numbers
    convert("pytorch-dcgan", src / "ok_half.pth", tmp_path / "half.safetensors")
    assert load_generator(tmp_path / "half.safetensors").config.z_dim == 16


def test_cli_lists_the_converters():
    r = in_process("gan.convert", "--help")
    assert r.returncode == 0 and all(name in r.stdout for name in CONVERTERS)


def test_d_head_is_validated_and_defaults_to_ganscopes_own():
    """Files written before d_head existed have none in their config: they rebuild GANscope's own D."""
    from gan.config import ModelConfig

    assert ModelConfig.from_dict({"arch": "dcgan"}).d_head == "features"
    for raw, words in [({"d_head": "linear"}, "d_head must be"),
                       ({"d_head": "conv", "arch": "mlp"}, "for unconditional dcgan"),
                       ({"d_head": "conv", "conditional": True, "n_classes": 10}, "for unconditional dcgan")]:
        with pytest.raises(GanInputError, match=words):
            ModelConfig.from_dict(raw)
