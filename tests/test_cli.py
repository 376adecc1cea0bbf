"""The command line as a user drives it: real files, bad input, and real processes where the process is the
behaviour (kill -9, Ctrl-C, and one `python -m` run of each entry point); the rest calls each module's main in
this process, through gan.cli.run_main as `python -m` does, without the interpreter start (torch's import)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import in_process

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--g-width", "8", "--d-width", "8", "--batch-size", "16", "--z-dim", "16"]


def cli(*args, cwd=None, timeout=300):
    """`python -m ARGS` in a new process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", *map(str, args)], cwd=cwd or ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def popen(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", *map(str, args)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def refused(r, words, one_line=True):
    """A user's mistake: exit code 2 and, last on stderr, one `error: ...` line naming it; no traceback, nothing on
    stdout. With one_line, that line is all of stderr (a warning before it, such as a skipped file, is allowed
    otherwise)."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.args, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == "", (r.args, r.stderr, r.stdout)
    assert lines and lines[-1].startswith("error: ") and words in lines[-1], (r.args, r.stderr)
    assert len(lines) == 1 or not one_line, (r.args, r.stderr)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A whole run of `python -m gan.train` in its own process (the entry point as a user starts it)."""
    out = tmp_path_factory.mktemp("run")
    r = cli("gan.train", "--steps", "6", "--sample-every", "3", "--checkpoint-every", "3", "--log-every", "2",
            "--out", out, *TINY)
    assert r.returncode == 0, r.stderr
    return out


def test_train_writes_the_run_folder(trained):
    assert sorted(p.name for p in (trained / "samples").iterdir()) == ["real.png", "step_000003.png", "step_000006.png"]
    grid = Image.open(trained / "samples" / "step_000006.png")
    assert grid.size == (8 * 30 + 2, 8 * 30 + 2)  # 64 fixed-noise samples, 8 x 8 with 2-pixel padding
    steps = [e["step"] for e in map(json.loads, (trained / "metrics.jsonl").read_text().splitlines())]
    assert steps == [2, 3, 4, 6]  # every --log-every steps, at each checkpoint, and the last
    assert (trained / "generator.safetensors").is_file() and (trained / "checkpoint.pt").is_file()
    assert not [p for p in trained.rglob("*") if ".tmp" in p.name]  # no temporary files left behind


def test_generate_grid_gif_mp4(trained, tmp_path):
    model = trained / "generator.safetensors"
    # `python -m gan.generate` in its own process once; the other outputs through the same main, in this one
    r = cli("gan.generate", model, "--seeds", "0-15", "--out", tmp_path / "g.png")
    assert r.returncode == 0, r.stderr
    assert "wrote 16 images" in r.stdout
    assert Image.open(tmp_path / "g.png").size == (4 * 30 + 2, 4 * 30 + 2)
    r = in_process("gan.generate", model, "--interpolate", "3,7,12", "--frames", "10", "--mode", "slerp",
                   "--out", tmp_path / "walk.gif")
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / "walk.gif").n_frames == 10
    r = in_process("gan.generate", model, "--interpolate", "3,7", "--frames", "8", "--loop", "--out",
                   tmp_path / "w.mp4")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "w.mp4").read_bytes()[4:8] == b"ftyp"
    # the grid written in this process is the one the separate process wrote (to a rounding: the two may run on
    # different numbers of threads, which sum in another order)
    assert in_process("gan.generate", model, "--seeds", "0-15", "--out", tmp_path / "h.png").returncode == 0
    g, h = (np.asarray(Image.open(tmp_path / name), dtype=np.int16) for name in ("g.png", "h.png"))
    assert g.shape == h.shape and np.abs(g - h).max() <= 1


def test_same_seed_same_image_from_the_command_line(trained, tmp_path):
    model = trained / "generator.safetensors"
    for name, global_seed in (("a.png", 1), ("b.png", 2)):  # as two processes would: torch's global RNG differs
        with torch.random.fork_rng():
            torch.manual_seed(global_seed)
            assert in_process("gan.generate", model, "--seeds", "5", "--out", tmp_path / name).returncode == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png")))
    # the run folder (what --out named) stands for its model
    assert in_process("gan.generate", trained, "--seeds", "5", "--out", tmp_path / "c.png").returncode == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "c.png")))


def test_a_run_folder_without_a_model_yet_says_where_it_will_be(tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    r = in_process("gan.generate", tmp_path / "run", "--out", tmp_path / "x.png")
    refused(r, "without a generator.safetensors")


def test_dry_run_writes_nothing(tmp_path):
    r = in_process("gan.train", "--dry-run", "--loss", "wgan-gp", *TINY, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "dry run ok" in r.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, words", [
    (["--arch", "dcgan"], "--arch must be mlp for 2-D point data"), (["--conditional"], "--conditional must be off"),
    (["--augment", "cutout"], "--augment must be off for 2-D point data")])
def test_point_data_with_image_settings_is_refused_not_changed(args, words, tmp_path):
    refused(in_process("gan.train", "--dataset", "ring8", "--steps", "1", "--out", tmp_path / "run", *args), words)
    assert not (tmp_path / "run").exists()


def test_a_dry_run_says_which_architecture_it_picked(tmp_path):
    r = in_process("gan.train", "--dry-run", "--dataset", "ring8", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "no --arch given: mlp, the family for 2-D point data" in r.stdout


def test_every_train_config_field_is_an_option_with_help():
    """The options are made from TrainConfig's fields: a new field is an option at once, with its help."""
    import dataclasses

    from gan.config import TrainConfig
    from gan.train import build_parser

    p = build_parser()
    options = {a.dest: a for a in p._actions}
    for f in dataclasses.fields(TrainConfig):
        assert f.name in options and options[f.name].help, f.name
    assert options["conditional"].option_strings == ["--conditional"]
    assert [a.option_strings for a in p._actions if a.dest == "amp"] == [["--amp"], ["--no-amp"]]
    args = p.parse_args(["--lr-g", "1e-4", "--depth", "2", "--no-amp", "--optimizer", "rmsprop"])
    assert (args.lr_g, args.depth, args.amp, args.optimizer, args.steps, args.seed) == (1e-4, 2, "off", "rmsprop",
                                                                                       None, 0)
    assert p.parse_args([]).amp == "auto" and p.parse_args(["--amp", "on"]).amp == "on"
    for bad in (["--optimizer", "sgd"], ["--amp", "yes"]):
        with pytest.raises(SystemExit):
            p.parse_args(bad)


def test_points_model_generates_csv(tmp_path):
    r = in_process("gan.train", "--dataset", "ring8", "--steps", "3", "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr
    r = in_process("gan.generate", tmp_path / "run" / "generator.safetensors", "--seeds", "0-9",
                   "--out", tmp_path / "p.csv")
    assert r.returncode == 0, r.stderr
    assert np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1).shape == (10, 2)


def _bad_files(tmp_path, trained):
    pickle_file = tmp_path / "pickle.safetensors"
    import pickle
    pickle_file.write_bytes(pickle.dumps({"a": 1}))
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes((trained / "generator.safetensors").read_bytes()[:5000])
    return pickle_file, truncated


def test_bad_model_files_get_one_line(tmp_path, trained):
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    pickle_file, truncated = _bad_files(tmp_path, trained)
    src = trained / "generator.safetensors"
    with safe_open(str(src), "pt") as f:
        meta = f.metadata()
    tensors = load_file(src)
    wrong_shape = tmp_path / "wrong.safetensors"
    cfg = json.loads(meta["model_config"])
    save_file(tensors, str(wrong_shape), metadata={**meta, "model_config": json.dumps({**cfg, "g_width": 16})})
    unknown_arch = tmp_path / "arch.safetensors"
    save_file(tensors, str(unknown_arch), metadata={**meta, "model_config": json.dumps({**cfg, "arch": "stylegan9"})})
    huge = tmp_path / "huge.safetensors"
    save_file(tensors, str(huge), metadata={**meta, "model_config": json.dumps({**cfg, "g_width": 10 ** 7})})
    for path, words in ((pickle_file, "not a readable safetensors"), (truncated, "not a readable safetensors"),
                        (wrong_shape, "do not fit"), (unknown_arch, "unknown architecture"), (huge, "g_width"),
                        (tmp_path / "missing.safetensors", "no such model file")):
        refused(in_process("gan.generate", path, "--out", tmp_path / "x.png"), words)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args,words", [
    (["--dataset", "nope"], "unknown dataset"), (["--arch", "nope"], "unknown architecture"),
    (["--loss", "nope"], "unknown loss"), (["--batch-size", "0"], "--batch-size"), (["--lr-g", "-0.1"], "--lr-g"),
    (["--image-size", "50"], "pixels"), (["--dataset", "folder:/nonexistent"], "not a folder"),
])
def test_bad_training_input_gets_one_line_and_exit_2(args, words, tmp_path):
    refused(in_process("gan.train", "--steps", "1", "--out", tmp_path / "run", *args), words, one_line=False)
    assert not (tmp_path / "run").exists()


def test_bad_folders_and_csvs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.png").write_bytes(b"not an image at all")
    text_csv = tmp_path / "t.csv"
    text_csv.write_text("x,y\n1,2\nhello,world\n")
    nan_csv = tmp_path / "n.csv"
    nan_csv.write_text("1,2\nnan,3\n")
    one_col = tmp_path / "o.csv"
    one_col.write_text("1\n2\n")
    for ds, words in ((f"folder:{empty}", "no images"), (f"folder:{junk}", "could be read"),
                      (f"csv:{text_csv}", "line 3"), (f"csv:{nan_csv}", "NaN"), (f"csv:{one_col}", "2 columns")):
        refused(in_process("gan.train", "--steps", "1", "--dataset", ds, "--out", tmp_path / "run"), words,
                one_line=False)
        assert not (tmp_path / "run").exists()


def _wait_for(predicate, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_kill_9_then_resume_loses_nothing_beyond_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    args = ["gan.train", "--steps", "60", "--checkpoint-every", "5", "--log-every", "1", "--sample-every", "1000",
            "--out", out, *TINY]
    p = popen(*args)
    assert _wait_for(lambda: (out / "metrics.jsonl").is_file() and
                     len((out / "metrics.jsonl").read_text().splitlines()) >= 12)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert p.returncode == -signal.SIGKILL  # killed mid-run, not finished
    # `--resume` alone: the run's own settings, its own total of 60 steps included (not the default --steps)
    r = in_process("gan.train", "--out", out, "--resume")
    assert r.returncode == 0, r.stderr
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 61))
    assert json.loads((out / "config.json").read_text())["train"]["steps"] == 60
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_resume_with_a_damaged_config_says_so_and_keeps_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    assert in_process("gan.train", "--steps", "2", "--out", out, *TINY).returncode == 0
    before = (out / "checkpoint.pt").read_bytes()
    (out / "config.json").write_text("{not json")
    r = in_process("gan.train", "--out", out, "--resume")
    refused(r, "config.json does not hold a run's settings", one_line=False)
    assert (out / "checkpoint.pt").read_bytes() == before


def test_ctrl_c_checkpoints_the_current_step(tmp_path):
    out = tmp_path / "run"
    p = popen("gan.train", "--steps", "100000", "--checkpoint-every", "100000", "--log-every", "1", "--out", out,
              *TINY)
    assert _wait_for(lambda: (out / "metrics.jsonl").is_file() and
                     len((out / "metrics.jsonl").read_text().splitlines()) >= 3)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    step = torch.load(out / "checkpoint.pt", weights_only=True)["step"]
    last_logged = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["step"]
    assert step == last_logged >= 3


def test_resume_with_live_flags_changes_the_run_from_the_checkpoint_on(tmp_path):
    out = tmp_path / "run"
    first = in_process("gan.train", "--steps", "4", "--log-every", "1", "--out", out, *TINY)
    assert first.returncode == 0, first.stderr
    # Not repeating --dataset or sizes: on --resume the run's own settings hold, except the live ones given here.
    r = in_process("gan.train", "--steps", "6", "--out", out, "--resume", "--augment", "translation", "--lr-d", "1e-4")
    assert r.returncode == 0, r.stderr
    assert "changed from step 4 on: lr_d = 0.0001, augment = 'translation'" in r.stderr
    saved = json.loads((out / "config.json").read_text())["train"]
    assert (saved["augment"], saved["lr_d"], saved["g_width"]) == ("translation", 1e-4, 8)
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"step": 4, "event": "change", "lr_d": 1e-4, "augment": "translation"} in log
    assert [e["step"] for e in log if "loss_d" in e] == list(range(1, 7))
    bad = in_process("gan.train", "--steps", "8", "--out", out, "--resume", "--augment", "mirror")
    refused(bad, "unknown augmentation 'mirror'", one_line=False)
