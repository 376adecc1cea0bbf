"""gan.export: each family's shipped generator written as ONNX and run by onnxruntime gives what the torch pipeline
gives, at batch sizes other than the one traced; a conditional graph reads its class input; bad input is refused
with one line and leaves nothing behind."""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from gan.export import export_onnx  # noqa: E402
from gan.pipeline import load_generator  # noqa: E402
from gan.run_files import MODEL_FILE  # noqa: E402
from tests.conftest import in_process  # noqa: E402

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
TOLERANCE = 1e-4
BATCHES = (1, 7)  # the export traces a batch of 2: neither size is the traced one


def session(path: Path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_both(pipe, sess, n: int, seed: int, classes=None) -> tuple[np.ndarray, np.ndarray]:
    """(onnxruntime's output, the pipeline's decode) for the same n latents (and classes)."""
    z = torch.randn(n, pipe.config.z_dim, generator=torch.Generator().manual_seed(seed))
    feeds = {"z": z.numpy()}
    if pipe.config.conditional:
        classes = torch.as_tensor(classes if classes is not None else [(seed + i) % 10 for i in range(n)])
        feeds["class"] = classes.numpy().astype(np.int64)
    return sess.run(None, feeds)[0], pipe.decode(z, None if classes is None else classes.tolist()).numpy()


def check_graph(path: Path, pipe) -> None:
    """A valid model whose inputs and output are as documented, with a symbolic batch dimension."""
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*model.graph.input, *model.graph.output]}
    cfg = pipe.config
    want = {"z": ["N", cfg.z_dim]}
    if cfg.conditional:
        want["class"] = ["N"]
    want.update({"points": ["N", 2]} if pipe.is_points else
                {"images": ["N", cfg.channels, cfg.image_size, cfg.image_size]})
    assert dims == want
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["ganscope.model_config"] == cfg.to_json()


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """name -> (pipeline, exported path, folder it was written to): each shipped file exported once, when first
    asked for (an export takes a second or two)."""
    cache = {}

    def get(name: str):
        if name not in cache:
            folder = tmp_path_factory.mktemp(name)
            pipe = load_generator(WEIGHTS / f"{name}.safetensors")
            cache[name] = pipe, export_onnx(pipe, folder / f"{name}.onnx"), folder
        return cache[name]
    return get


@pytest.mark.parametrize("name", ["mnist-dcgan", "mnist-cond", "mnist-progan"])
def test_shipped_image_generators_match_torch_at_any_batch(name, shipped):
    pipe, out, folder = shipped(name)
    assert sorted(p.name for p in folder.iterdir()) == [f"{name}.onnx"]  # one file: no .data, no temporary
    check_graph(out, pipe)
    sess = session(out)
    for n in BATCHES:
        got, ref = run_both(pipe, sess, n, seed=n)
        assert got.shape == ref.shape == (n, 1, 28, 28)
        assert np.abs(got - ref).max() < TOLERANCE
        assert got.min() >= -1 and got.max() <= 1


def test_a_conditional_graph_reads_its_class_input(shipped):
    """The class is a real input (not folded into a constant at export): one z drawn as different digits, and a
    batch of mixed classes matches torch sample by sample."""
    pipe, out, _ = shipped("mnist-cond")
    sess = session(out)
    z = torch.randn(1, pipe.config.z_dim, generator=torch.Generator().manual_seed(3)).numpy()
    images = {c: sess.run(None, {"z": z, "class": np.array([c], dtype=np.int64)})[0] for c in (1, 7)}
    assert np.abs(images[1] - images[7]).mean() > 0.05
    got, ref = run_both(pipe, sess, 5, seed=11, classes=[9, 0, 4, 4, 2])
    assert np.abs(got - ref).max() < TOLERANCE


def test_a_2d_model_from_a_run_folder_through_the_cli_gives_points_in_data_units(tmp_path):
    """`python -m gan.export RUN_FOLDER`: the run's generator.safetensors, its points un-standardised in the graph
    (the raw net's output differs, so a graph without point_mean / point_std would fail here)."""
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(WEIGHTS / "grid25-hinge.safetensors", run / MODEL_FILE)
    out = tmp_path / "out" / "grid.onnx"
    r = in_process("gan.export", run, "--format", "onnx", "--out", out)
    assert r.returncode == 0 and r.stdout.strip() == f"wrote {out}", r.stderr
    assert r.stderr == ""  # the exporter's own chatter is held back
    pipe = load_generator(run)
    check_graph(out, pipe)
    sess = session(out)
    for n in BATCHES:
        got, ref = run_both(pipe, sess, n, seed=n)
        assert got.shape == (n, 2)
        assert np.abs(got - ref).max() < TOLERANCE * max(1.0, float(np.abs(ref).max()))
    z = torch.randn(64, pipe.config.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        raw = pipe.generator(z).numpy()
    assert np.abs(raw - pipe.decode(z).numpy()).max() > 0.1


@pytest.mark.parametrize("args,words", [
    (["missing.safetensors"], "no such model file"),
    (["garbage.safetensors"], "not a readable safetensors"),
    (["model.safetensors", "--format", "tflite"], "unknown export format 'tflite'"),
    (["model.safetensors", "--out", "g.pt"], "written to a .onnx file"),
    (["model.safetensors", "--out", "g"], "has no suffix"),
    (["model.safetensors", "--opset", "9"], "--opset"),
])
def test_bad_input_gets_one_line_exit_2_and_writes_nothing(args, words, tmp_path):
    (tmp_path / "garbage.safetensors").write_bytes(b"not a model\n" * 20)
    shutil.copy(WEIGHTS / "grid25-hinge.safetensors", tmp_path / "model.safetensors")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = args if "--out" in args else [*args, "--out", "g.onnx"]
    r = in_process("gan.export", *argv, cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
