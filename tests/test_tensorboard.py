"""Every run writes TensorBoard event files (gan.tensorboard_log) and samples/real.png; read back as a user's
`tensorboard --logdir runs` reads them (tensorboard's own EventAccumulator)."""
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan.config import TrainConfig
from gan.metrics import quality_monitor
from gan.rundir import TrainingSession, read_metrics
from gan.run_files import REAL_SAMPLES, SAMPLES_DIR, TENSORBOARD_DIR
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from tests.conftest import TINY_TRAIN, in_process

LOSS_TAGS = ["Loss/D", "Loss/G", "D/real", "D/fake", "Loss/GP", "Speed/images_per_s"]
RING = dict(dataset="ring8", loss="wgan-gp", n_critic=1, g_width=16, d_width=16, batch_size=64, log_every=5,
            sample_every=10, checkpoint_every=20, device="cpu")


def board(folder: Path) -> EventAccumulator:
    ea = EventAccumulator(str(folder / TENSORBOARD_DIR), size_guidance={"scalars": 0, "images": 0})
    ea.Reload()
    return ea


def steps(ea: EventAccumulator, tag: str) -> list[int]:
    return [e.step for e in ea.Scalars(tag)]


def wait_for_the_next_second(folder: Path) -> None:
    """Event files sort by their name: creation second, host, pid, then a counter that does not sort as a number
    (".10" before ".9"). A file made in a later second sorts after the earlier ones whatever the counter."""
    made = max(int(p.name.split(".")[3]) for p in (folder / TENSORBOARD_DIR).glob("events.out.tfevents.*"))
    deadline = time.monotonic() + 5
    while int(time.time()) <= made and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    """A 2-D wgan-gp run interrupted at step 25, past its checkpoint at 20 (its events up to 25 on disk, as the
    writer's periodic flush leaves them), then resumed to 40 and finished, with one monitor reading on the way."""
    out = tmp_path_factory.mktemp("tb") / "ring"
    first = TrainingSession(TrainConfig(steps=40, **RING), out)
    for _ in range(25):
        first.advance()
    first.board.flush()  # what the writer's thread flushes every FLUSH_SECS; then the process dies
    real_before = (out / SAMPLES_DIR / REAL_SAMPLES).stat().st_mtime_ns
    interrupted = board(out)
    wait_for_the_next_second(out)
    s = TrainingSession(TrainConfig(steps=40, **RING), out, resume=True)
    assert s.resumed_from == 20
    while s.step < 30:
        s.advance()
    s.log_event({"event": "quality", **quality_monitor(s.trainer)})
    while not s.done:
        s.advance()
    s.finish()
    return out, interrupted, real_before


def test_a_run_writes_every_curve_and_a_resume_continues_them_without_duplicate_steps(ring_run):
    out, interrupted, _ = ring_run
    assert steps(interrupted, "Loss/D") == [5, 10, 15, 20, 25]  # what the first session left
    ea = board(out)
    tags = ea.Tags()["scalars"]
    assert set(LOSS_TAGS) <= set(tags)
    for tag in LOSS_TAGS:  # the interrupted session's step 25 dropped, written once again by the resumed one
        assert steps(ea, tag) == [5, 10, 15, 20, 25, 30, 35, 40], tag
    logged = [e for e in read_metrics(out) if "loss_d" in e]
    assert [e.step for e in ea.Scalars("Loss/D")] == [e["step"] for e in logged]
    assert [e.value for e in ea.Scalars("Loss/D")] == pytest.approx([e["loss_d"] for e in logged], rel=1e-6)
    assert [e.value for e in ea.Scalars("Speed/images_per_s")] == pytest.approx(
        [e["img_per_s"] for e in logged], rel=1e-6)
    # the monitor's reading, as the run manager logs it
    reading = [e for e in read_metrics(out) if e.get("event") == "quality"][0]
    assert [(e.step, e.value) for e in ea.Scalars("Quality/modes_covered")] == [(30, reading["modes_covered"])]
    assert "Quality/FD" not in tags and "Quality/classes_covered" not in tags


def test_the_samples_are_the_fixed_noise_pngs_and_real_png_is_kept_on_resume(ring_run):
    out, _, real_before = ring_run
    images = board(out).Images("samples")
    assert [e.step for e in images] == [10, 20, 30, 40]
    assert images[-1].encoded_image_string == (out / SAMPLES_DIR / "step_000040.png").read_bytes()
    real = out / SAMPLES_DIR / REAL_SAMPLES
    assert real.stat().st_mtime_ns == real_before  # not written again by the resume
    assert Image.open(real).size == Image.open(out / SAMPLES_DIR / "step_000040.png").size  # the scatter's size


def test_the_hparams_dashboard_gets_the_settings_and_the_final_figures(ring_run):
    out, _, _ = ring_run
    content = board(out).PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["dataset"].string_value == "ring8" and hp["loss"].string_value == "wgan-gp"
    assert hp["batch_size"].number_value == 64 and hp["steps"].number_value == 40 and "gp_lambda" in hp
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    metrics = {m.name.tag for m in experiment.metric_infos}
    assert set(LOSS_TAGS) | {"Quality/modes_covered"} <= metrics


def test_an_image_run_logs_fd_and_classes_and_real_png_is_the_data_as_d_sees_it(tmp_path):
    out = tmp_path / "digits"
    s = TrainingSession(TrainConfig(dataset="mnist", steps=2, **{**TINY_TRAIN, "n_samples": 16}), out)
    real = np.asarray(Image.open(out / SAMPLES_DIR / REAL_SAMPLES))
    s.trainer.save_samples(tmp_path / "grid.png")
    assert real.shape == np.asarray(Image.open(tmp_path / "grid.png")).shape == (122, 122)  # 4 x 4 of 28 + 2
    data = s.trainer.data.data.cpu().numpy()  # uint8 (N, 1, 28, 28), as the pipeline hands it over before [-1, 1]
    spaced = np.linspace(0, len(data) - 1, 16).round().astype(int)   # evenly through the data, not its first 16
    for i in (0, 1, 5, 15):
        row, col = divmod(i, 4)
        tile = real[2 + 30 * row:30 + 30 * row, 2 + 30 * col:30 + 30 * col]
        np.testing.assert_array_equal(tile, data[spaced[i], 0])
    labels = s.trainer.data.labels.cpu().numpy()[spaced]
    assert len(set(labels.tolist())) == 10   # the bundled digits are stored by class: every class shows
    while not s.done:
        s.advance()
    s.log_event({"event": "quality", "fd": 123.5, "fd_floor": 0.7, "classes_covered": 4,
                 "class_histogram": [0.1] * 10})
    s.finish()
    ea = board(out)
    assert [(e.step, e.value) for e in ea.Scalars("Quality/FD")] == [(2, 123.5)]
    assert [(e.step, e.value) for e in ea.Scalars("Quality/classes_covered")] == [(2, 4)]
    assert "Loss/GP" not in ea.Tags()["scalars"]  # bce has no gradient penalty


def test_no_tensorboard_writes_no_folder(tmp_path):
    out = tmp_path / "quiet"
    args = ["--dataset", "ring8", "--steps", "6", "--log-every", "2", "--sample-every", "3", "--batch-size", "32",
            "--g-width", "8", "--d-width", "8", "--device", "cpu", "--out", out]
    done = in_process("gan.train", *args, "--no-tensorboard")
    assert done.returncode == 0, done.stderr
    assert (out / "generator.safetensors").is_file() and (out / SAMPLES_DIR / REAL_SAMPLES).is_file()
    assert not (out / TENSORBOARD_DIR).exists()
    assert json.loads((out / "config.json").read_text())["train"]["tensorboard"] is False


def test_a_failing_writer_warns_once_and_training_goes_on(tmp_path, monkeypatch, caplog):
    from gan.tensorboard_log import RunBoard

    def broken(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(RunBoard, "_open", broken)
    s = TrainingSession(TrainConfig(steps=12, **RING), tmp_path / "full")
    with caplog.at_level(logging.WARNING, logger="gan.tensorboard_log"):
        while not s.done:
            s.advance()
        s.finish()
    assert [e["step"] for e in read_metrics(tmp_path / "full")] == [5, 10, 12]
    assert (tmp_path / "full" / "generator.safetensors").is_file()
    warnings = [r for r in caplog.records if r.name == "gan.tensorboard_log"]
    assert len(warnings) == 1 and "No space left" in warnings[0].getMessage()


def test_importing_the_run_code_does_not_import_tensorboard():
    code = ("import sys, gan.rundir, gan.run_manager; "
            "print(sorted(m for m in sys.modules if 'tensorboard' in m and m != 'gan.tensorboard_log'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
