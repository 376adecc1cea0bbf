"""The CUDA path, on a real GPU: bf16 autocast + channels_last for every loss, `--compile` against eager, a resume
that matches the uninterrupted run, DistributedDataParallel over NCCL, and the app answering /generate from the GPU.

Every test here is marked `cuda`. The default `pytest` run deselects them (pytest.ini: -m "not cuda"), so the CPU
suite never sees them; `benchmarks/gpu_check.py` runs them on a machine with one CUDA GPU:

    python -m pytest -m cuda -n 0 tests/test_cuda.py -p no:cacheprovider

Asked for on a machine without a GPU, each test errors with "needs a CUDA GPU" (a module fixture that fails, not a
skip), so a run in the wrong place is red, never silently green. Nothing touches CUDA at import, so collecting this
file (which the default run does before it deselects) is safe anywhere.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from gan.config import TrainConfig
from gan.losses import LOSSES
from gan.trainer import Trainer

pytestmark = pytest.mark.cuda

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(g_width=16, d_width=16, z_dim=32, batch_size=32, device="cuda")
# A training step per loss, plus the two model options that change the layers the step runs through.
CASES = {loss: dict(loss=loss) for loss in sorted(LOSSES)} | {
    "hinge-conditional-sn": dict(loss="hinge", conditional=True, spectral_norm=True),
    "progan-bce": dict(loss="bce", arch="progan", steps=8),
}


@pytest.fixture(scope="module", autouse=True)
def needs_cuda():
    """Fail (not skip) every test of this file where there is no GPU: `pytest -m cuda` on a CPU machine is a
    mistake to see, not a green run. cuBLAS reads CUBLAS_WORKSPACE_CONFIG when it starts, which is after this:
    it makes its matrix products deterministic for the resume test (gpu_check.py sets it too)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if not torch.cuda.is_available():
        pytest.fail("tests/test_cuda.py needs a CUDA GPU (torch.cuda.is_available() is False here); the default "
                    "`pytest` run deselects these tests, `-m cuda` is for a GPU machine "
                    "(python benchmarks/gpu_check.py)", pytrace=False)
    yield
    torch.cuda.synchronize()


def figures(trainer: Trainer) -> list[dict]:
    """The pending per-step figures as floats (one device read), before flush() clears them."""
    return [{k: float(v) for k, v in r.values.items()} for r in trainer.pending]


def close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol * (1 + abs(a))


# ------------------------------------------------------------------------------------- bf16 + channels_last
@pytest.mark.parametrize("case", list(CASES))
def test_a_bf16_channels_last_step_for_each_loss(case):
    """Two steps on the GPU under the CUDA defaults: the trainer chose bf16 autocast and channels_last, D's layers
    really ran in bf16 on channels_last input, the weights and optimizer state stayed float32, the losses are
    finite (flush raises TrainingDiverged otherwise) and the weights moved."""
    t = Trainer(TrainConfig(dataset="mnist", n_critic=1, **{**SMALL, **CASES[case]}))
    assert t.device.type == "cuda" and t.amp is True and t.channels_last is True, (t.device, t.amp, t.channels_last)
    convs = [p for m in (t.G, t.D) for p in m.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    # A 1-channel image is channels_last and contiguous at once, so look at D's convolutions of many channels (a
    # growing model runs only some of them at its first resolution).
    seen = []  # (input is channels_last, output dtype) of each such convolution D ran, in call order

    def hook(module, inputs, output):
        seen.append((inputs[0].is_contiguous(memory_format=torch.channels_last), output.dtype))

    handles = [m.register_forward_hook(hook) for m in t.D.modules() if isinstance(m, nn.Conv2d) and m.in_channels > 1]
    before = torch.cat([p.detach().flatten().clone() for p in t.G.parameters()])
    try:
        for _ in range(2):
            t.step()
    finally:
        for h in handles:
            h.remove()
    entry = t.flush()
    print(case, entry, f"D's convolutions saw (channels_last, dtype) {sorted(set(seen), key=str)}, {len(seen)} calls")
    assert all(np.isfinite(v) for v in entry.values())
    assert seen and seen[0] == (True, torch.bfloat16)   # the real batch: channels_last, through bf16 layers
    assert all(cl for cl, _ in seen)                     # the fakes and the penalty's mixes too
    for p in [*t.G.parameters(), *t.D.parameters(), *t.G_ema.parameters()]:
        assert p.dtype == torch.float32 and p.device.type == "cuda"
    assert all(s.dtype == torch.float32 for st in t.opt_d.state.values() for s in st.values() if s.dim())
    after = torch.cat([p.detach().flatten() for p in t.G.parameters()])
    assert float((after - before).abs().max()) > 0


# --------------------------------------------------------------------------------------------- --compile
# Compiled and eager run the same arithmetic with other kernels (inductor fuses element-wise work, which rounds
# differently in bf16): at one step's figures that is below 1%; three steps from the same weights and batches
# stay within a few percent. A compile that got the graph wrong is off by far more.
COMPILE_TOLERANCE = 0.05


def test_compile_trains_like_eager():
    """--compile on and off from the same seed: the compiled trainer really runs compiled modules, three steps give
    finite figures close to eager's, and the compiled G's output matches the eager G's on the same weights."""
    kw = dict(dataset="mnist", loss="bce", **SMALL)
    eager, compiled = Trainer(TrainConfig(**kw)), Trainer(TrainConfig(**kw, compile=True))
    assert hasattr(compiled.g_step_fn, "_orig_mod") and hasattr(compiled.d_step_fn, "_orig_mod")
    assert not hasattr(eager.d_step_fn, "_orig_mod")
    for t in (eager, compiled):
        for _ in range(3):
            t.step()
    a, b = figures(eager), figures(compiled)
    print("eager:", a, "\ncompiled:", b)
    for t in (eager, compiled):
        t.flush()  # TrainingDiverged on NaN/inf
    for step_a, step_b in zip(a, b):
        for k in step_a:
            assert close(step_a[k], step_b[k], COMPILE_TOLERANCE), (k, step_a[k], step_b[k])
    z = compiled.fixed_z[:32]
    with torch.no_grad(), compiled._autocast():  # the graph the D step compiled (train mode, no grad)
        x_compiled = compiled.g_step_fn(z, None).float()
        x_eager = compiled.G(z, None).float()
    diff = float((x_compiled - x_eager).abs().max())
    print(f"compiled vs eager G on the same weights: max |diff| = {diff:.2e} (images in [-1, 1])")
    assert diff < 0.05


def test_compile_trains_a_gradient_penalty_loss():
    """--compile with wgan-gp: the gradient penalty is a double backward (create_graph=True), which torch.compile's
    aot_autograd does not support ("torch.compile with aot_autograd does not currently support double backward"),
    so the trainer must run the penalty's D forward eagerly (the bare D), not through the compiled D."""
    t = Trainer(TrainConfig(dataset="mnist", loss="wgan-gp", n_critic=2, compile=True, **SMALL))
    for _ in range(2):
        t.step()
    entry = t.flush()
    assert "gp" in entry and all(np.isfinite(v) for v in entry.values()), entry


# ------------------------------------------------------------------------------------------------- resume
# On the CPU a resumed run is bit-identical to the uninterrupted one (tests/test_training.py). On CUDA that holds
# only with deterministic kernels: cuDNN's default convolution backward algorithms accumulate with atomics, in an
# order that changes from run to run. This test turns deterministic algorithms on (and CUBLAS_WORKSPACE_CONFIG), so
# the expected difference is 0; the tolerance, 5e-4 on figures of order 1, leaves room for a kernel that the
# deterministic switch does not cover, whose last-bit difference can flip a bf16 rounding (2^-8 relative on one
# activation) and move a batch-mean loss by ~1e-4. A resume that lost its random stream (other batches and noise)
# moves them by ~1e-2 (1.3e-2 measured on the CPU at batch 32): the control below checks that this tolerance
# would catch it, with a margin of 4.
RESUME_TOLERANCE = 5e-4


@pytest.fixture
def deterministic():
    saved = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True, warn_only=True)
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[:2]
    torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])


def test_a_resumed_run_matches_the_uninterrupted_one(tmp_path, deterministic):
    from gan.rundir import TrainingSession, read_metrics

    def cfg(**kw):
        return TrainConfig(dataset="mnist", loss="bce", steps=8, checkpoint_every=4, log_every=1, sample_every=1000,
                           tensorboard=False, **SMALL, **kw)

    def run_to(out, reseed=None):
        s = TrainingSession(cfg(), out, resume=True)
        if reseed is not None:
            s.trainer.rng.manual_seed(reseed)
        while not s.done:
            s.advance()
        s.finish()
        return s

    def interrupted(out, steps):
        s = TrainingSession(cfg(), out, resume=True)
        for _ in range(steps):
            s.advance()
        del s  # kill -9: nothing more is written; the checkpoint at step 4 is what is left

    def logged(out):
        return [{k: e[k] for k in ("step", "loss_d", "loss_g", "d_real", "d_fake")}
                for e in read_metrics(out) if "loss_d" in e]

    def gap(a, b):
        assert [e["step"] for e in a] == [e["step"] for e in b]
        return max(abs(x[k] - y[k]) for x, y in zip(a, b) for k in x if k != "step")

    run_to(tmp_path / "straight")
    interrupted(tmp_path / "broken", 6)
    assert run_to(tmp_path / "broken").resumed_from == 4
    interrupted(tmp_path / "control", 4)
    run_to(tmp_path / "control", reseed=12345)  # a resume that lost its random stream
    straight, broken, control = (logged(tmp_path / n) for n in ("straight", "broken", "control"))
    assert [e["step"] for e in broken] == list(range(1, 9))
    resumed_gap, control_gap = gap(straight, broken), gap(straight[4:], control[4:])
    print(f"resumed vs uninterrupted: max |diff| = {resumed_gap:.3e}; lost random stream: {control_gap:.3e}")
    assert resumed_gap <= RESUME_TOLERANCE
    assert control_gap > 4 * RESUME_TOLERANCE  # the tolerance is tight enough to see a broken resume

    import gan
    from gan.run_files import MODEL_FILE

    a, b = (gan.load_generator(tmp_path / n / MODEL_FILE, device="cuda")(seeds=[1, 2, 3], output_type="np")
            for n in ("straight", "broken"))
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # uint8 images: at most one level of rounding


# -------------------------------------------------------------------------------------------- NCCL DDP
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nccl_world_of_one(port: int, out: str) -> None:
    """One process of a world of one, NCCL backend, through gan.distributed: a trainer set up for DDP (SyncBatchNorm,
    the DDP/bare dispatch), the context's collectives, and open_session / advance with a resume whose state rank 0
    sends over NCCL. Writes report.json. gan.distributed.init_from_env treats WORLD_SIZE=1 as the plain
    single-process path (it returns None), so the group is joined here, as init_from_env would for one rank of N."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
    import torch.distributed as dist

    from gan import distributed as gd
    from gan.rundir import read_metrics

    device = torch.device("cuda", 0)
    torch.cuda.set_device(device)
    dist.init_process_group("nccl", rank=0, world_size=1, device_id=device)
    ctx = gd.DistContext(0, 1, 0, device, "nccl")
    report = {"backend": dist.get_backend()}

    def trained(setup: bool) -> tuple[list[dict], dict]:
        cfg = TrainConfig(dataset="mnist", loss="bce", **SMALL)
        t = Trainer(cfg)
        if setup:
            gd.setup_trainer(t, ctx)
        else:  # the random stream setup_trainer gives rank 0
            t.rng.manual_seed(gd.rank_seed(cfg.seed, 0, 0))
        info = {"sync_bn": any(isinstance(m, nn.SyncBatchNorm) for m in t.D.modules()),
                "d_step_fn": type(t.d_step_fn).__name__}
        for _ in range(3):
            gd.step(t, ctx) if setup else t.step()
        values = figures(t)
        t.flush()
        return values, info

    report["ddp"], report["ddp_info"] = trained(True)
    report["plain"], _ = trained(False)
    report["any"] = [ctx.any(True), ctx.any(False)]
    report["broadcast"] = ctx.broadcast({"x": 1})
    run = Path(out) / "run"
    common = dict(dataset="mnist", loss="bce", checkpoint_every=2, log_every=1, sample_every=1000, **SMALL)
    s = gd.open_session(TrainConfig(steps=4, **common), run, resume=False, ctx=ctx)
    while not s.done:
        gd.advance(s, ctx)
    s.finish()
    del s
    s = gd.open_session(TrainConfig(steps=6, **common), run, resume=True, ctx=ctx)
    report["resumed_from"] = s.resumed_from
    while not s.done:
        gd.advance(s, ctx)
    s.finish()
    del s
    report["logged_steps"] = [e["step"] for e in read_metrics(run) if "loss_d" in e]
    report["model_file"] = (run / "generator.safetensors").is_file()
    (Path(out) / "report.json").write_text(json.dumps(report))
    ctx.barrier()
    ctx.close()


def test_nccl_ddp_in_a_world_of_one(tmp_path):
    """DDP over NCCL in its own process (a hung collective then ends in a timeout, not a hung suite): SyncBatchNorm on
    CUDA, finite figures, step 1 equal to a plain trainer's on the same batches (one rank averages nothing), the
    context's all_reduce and broadcast, and a run folder that trains, checkpoints, resumes and finishes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys; from tests.test_cuda import nccl_world_of_one; nccl_world_of_one(int(sys.argv[1]), sys.argv[2])"
    done = subprocess.run([sys.executable, "-c", code, str(free_port()), str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    r = json.loads((tmp_path / "report.json").read_text())
    print(json.dumps(r, indent=1))
    assert r["backend"] == "nccl"
    assert r["ddp_info"] == {"sync_bn": True, "d_step_fn": "Dispatch"}
    assert all(np.isfinite(v) for step in r["ddp"] for v in step.values())
    for k, v in r["ddp"][0].items():  # the same weights and batches before any update
        assert close(v, r["plain"][0][k], 1e-3), (k, v, r["plain"][0][k])
    assert r["any"] == [True, False] and r["broadcast"] == {"x": 1}
    assert r["resumed_from"] == 4 and r["logged_steps"] == [1, 2, 3, 4, 5, 6] and r["model_file"]


# ------------------------------------------------------------------------------------------------ the app
SHIPPED = ("mnist-dcgan", "mnist-cond")


@pytest.fixture(scope="module")
def cuda_app(tmp_path_factory):
    """The Explore tab served from the GPU (build_demo(device="cuda")) on two shipped models."""
    os.environ.setdefault("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio")))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from gan.ui.app import build_demo, launch_kwargs

    folder = tmp_path_factory.mktemp("weights")
    for name in SHIPPED:
        shutil.copy(ROOT / "weights" / f"{name}.safetensors", folder / f"{name}.safetensors")
    demo = build_demo(folder, tmp_path_factory.mktemp("runs"), device="cuda", tabs=["gan.ui.explore_tab"])
    _, url, _ = demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                                    quiet=True, **launch_kwargs())
    yield demo, folder, url
    demo.close()
    demo.ganscope.close()


def test_the_app_generates_on_cuda(cuda_app):
    """/generate through gradio_client: the model sits on the GPU, the image is the one the CPU draws for the same
    seed, and a conditional model's class changes the image. Both infer in float32, but cuDNN's convolutions use
    TF32 by default on Ampere and later GPUs (torch.backends.cudnn.allow_tf32, a 10-bit mantissa): a few levels of
    255 at the worst pixel, well under one on average. Another seed or model is tens of levels off on average."""
    from gradio_client import Client
    from PIL import Image

    from gan.catalog import Catalog
    from gan.ui.app import AppContext
    from gan.ui.explore_tab import _view

    demo, folder, url = cuda_app
    client = Client(url, verbose=False)
    image, strip, score, message = client.predict(seed=3, model="mnist-dcgan", api_name="/generate")
    assert message == "" and "score" in score
    pipe = demo.ganscope.catalog.get("mnist-dcgan")
    assert pipe.device.type == "cuda" and next(pipe.generator.parameters()).is_cuda
    on_gpu = np.asarray(Image.open(image).convert("L")).astype(int)
    cpu_view = _view(AppContext(Catalog(folder, None, device="cpu")), "mnist-dcgan", 3, 1.0, None, [0] * 6,
                     neighbours=False)[1].image
    on_cpu = np.asarray(Image.fromarray(cpu_view).convert("L")).astype(int)
    assert on_gpu.shape == on_cpu.shape == (336, 336)
    diff = np.abs(on_gpu - on_cpu)
    print(f"GPU vs CPU image for seed 3: max |diff| = {diff.max()} levels, mean {diff.mean():.3f}")
    assert diff.max() <= 8 and diff.mean() < 0.5
    seven, two = (np.asarray(Image.open(client.predict(seed=1, model="mnist-cond", class_label=c,
                                                       api_name="/generate")[0]))
                  for c in (7, 2))
    assert not np.array_equal(seven, two)
