"""The run manager behind the Train tab: real training threads, real folders, controls that never lose a run."""
import time

import pytest
import torch

from gan.config import TrainConfig
from gan.errors import GanInputError
from gan.run_manager import RunManager
from gan.rundir import list_snapshots, read_metrics

TINY = dict(g_width=8, d_width=8, batch_size=16, z_dim=16, log_every=5, checkpoint_every=20)


def until(predicate, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def assert_parked(run, step):
    """The paused run's thread goes round its idle loop (twice, so once entirely after this call) and the step
    is still `step`: a run that kept training, or took more steps than asked for, fails here."""
    rounds = run.idle_rounds
    until(lambda: run.idle_rounds >= rounds + 2, timeout=30)
    assert run.view().state == "paused" and run.view().step == step


@pytest.fixture
def manager(tmp_path):
    m = RunManager(tmp_path / "runs", quality_every=0)   # no monitor: these runs are not about it
    yield m
    m.stop_all()


def test_start_pause_step_resume_stop(manager):
    run = manager.start(TrainConfig(steps=100_000, **TINY))
    until(lambda: run.view().step >= 10)
    run.pause()
    until(lambda: run.view().state == "paused")
    paused_at = run.view().step
    assert_parked(run, paused_at)  # stays put
    run.single_step()
    until(lambda: run.view().step == paused_at + 1)
    assert_parked(run, paused_at + 1)  # exactly one
    run.single_step()
    assert run.view().step == paused_at + 2  # and one more
    assert_parked(run, paused_at + 2)
    paused_at += 2
    with pytest.raises(GanInputError, match="already active"):
        manager.start(TrainConfig(steps=10, **TINY))
    run.resume()
    until(lambda: run.view().step > paused_at + 5)
    with pytest.raises(GanInputError, match="pause it first"):
        run.single_step()
    run.stop()
    status = run.view().to_status()
    assert status["state"] == "stopped" and {"loss_d", "loss_g", "d_real", "d_fake"} <= set(status["losses"])
    with pytest.raises(GanInputError, match="already stopped"):
        run.stop()
    steps = [e["step"] for e in read_metrics(run.folder) if "loss_d" in e]
    assert steps == sorted(set(steps)) and steps[-1] == status["step"]


def test_a_finished_run_writes_its_model_and_a_restarted_manager_lists_and_resumes_runs(manager, tmp_path):
    run = manager.start(TrainConfig(steps=12, **TINY))
    until(lambda: run.view().state == "finished")
    assert (run.folder / "generator.safetensors").is_file()
    again = RunManager(tmp_path / "runs")
    assert again.get(run.id).state == "finished" and again.get(run.id).step == 12
    # a finished run resumed with more steps trains on from its checkpoint
    again.get(run.id).cfg.steps = 30
    again.resume(run.id)
    until(lambda: again.get(run.id).view().state == "finished")
    assert again.get(run.id).view().step == 30
    assert [e["step"] for e in read_metrics(run.folder) if "loss_d" in e][-1] == 30
    again.stop_all()


def test_live_changes_are_logged_and_a_fork_continues_from_a_checkpoint(manager):
    run = manager.start(TrainConfig(steps=100_000, **TINY))
    until(lambda: run.view().step >= 25)
    assert run.set_hyperparameters(lr_d=1e-3) == {"lr_d": 1e-3}
    until(lambda: run.view().step >= 45)
    run.stop()
    events = [e for e in read_metrics(run.folder) if e.get("event") == "change"]
    assert events and events[0]["lr_d"] == 1e-3
    assert run.view().changes[0]["lr_d"] == 1e-3
    first = list_snapshots(run.folder)[0][0]
    fork = manager.fork(run.id, first, {"lr_g": 5e-4})
    until(lambda: fork.view().step > first)
    assert fork.cfg.lr_g == 5e-4 and fork.id != run.id
    assert [e["step"] for e in read_metrics(fork.folder) if "loss_d" in e][0] == 5  # history carried over
    fork.stop()
    with pytest.raises(GanInputError, match="no checkpoint at step"):
        manager.fork(run.id, 7)


def test_bad_settings_and_unknown_runs_get_messages(manager):
    with pytest.raises(GanInputError, match="batch-size"):
        manager.start(TrainConfig(batch_size=0))
    with pytest.raises(GanInputError, match="no run yet"):
        manager.get()
    with pytest.raises(GanInputError, match="unknown run id"):
        manager.get("nope")
    assert manager.runs == {}


def test_nan_fails_the_run_with_a_message_and_keeps_the_checkpoint(manager, monkeypatch):
    run = manager.start(TrainConfig(steps=100_000, **{**TINY, "log_every": 1}))
    until(lambda: run.view().step >= 21)
    good = list_snapshots(run.folder)[-1][0]
    run.call(lambda s: setattr(s.trainer.cfg, "lr_d", float("inf")) or
             [g.update(lr=float("inf")) for g in s.trainer.opt_d.param_groups])
    until(lambda: run.view().state == "failed")
    assert "NaN" in run.view().message
    import torch
    state = torch.load(run.folder / "checkpoint.pt", weights_only=True)
    assert good <= state["step"] <= run.view().step
    assert all(torch.isfinite(v).all() for v in state["G"].values() if v.is_floating_point())
    assert all(torch.isfinite(v).all() for v in state["D"].values() if v.is_floating_point())


def test_live_pipeline_follows_training(manager):
    run = manager.start(TrainConfig(steps=100_000, **TINY))
    until(lambda: run.live is not None and run.grid is not None)
    first = run.live(seeds=[1], output_type="np")
    version = run.grid_version  # the refresh after next copies weights that are newer than `first`'s
    until(lambda: run.view().step > 60, timeout=120)
    until(lambda: run.grid_version >= version + 2)
    assert (run.live(seeds=[1], output_type="np") != first).any()
    assert run.live.name == f"live: {run.id}"
    run.pause()
    assert_parked(run, run.view().step)  # the pause's refresh is done: the live model is the run as it is now
    info, t = run.live.info, run.session.trainer
    assert info["steps"] == run.view().step and info["wall_time_s"] > 0 and info["device"] == str(t.device)
    assert run.live.discriminator is not None and run.live.discriminator is not t.D  # a copy, kept up to date
    live_d = run.live.discriminator.state_dict()
    assert all(torch.equal(live_d[k], v) for k, v in t.D.state_dict().items())


def test_the_catalog_lists_a_live_run_as_it_is_and_only_while_it_is_active(manager):
    from gan.catalog import Catalog

    catalog = Catalog(None, manager.runs_dir)
    run = manager.start(TrainConfig(steps=100_000, **TINY))
    name = f"live: {run.id}"
    catalog.add_live(name, run.live, alive=lambda: run.active)
    until(lambda: run.view().step >= 10)
    run.pause()
    assert_parked(run, run.view().step)
    step = run.view().step
    cfg, device = run.cfg, run.session.trainer.device
    label = f"{name} · {cfg.dataset} · {cfg.arch} · {cfg.loss} · {step} steps · {device}"
    assert dict(catalog.choices())[label] == name
    assert catalog.entry(name).info["steps"] == step and catalog.get(name).discriminator is not None
    run.stop()
    assert name not in catalog.names() and name not in dict(catalog.choices()).values()
    with pytest.raises(GanInputError, match="no longer live: its training run has ended"):
        catalog.get(name)
    run.resume()  # listed again once the train tab registers it again
    catalog.add_live(name, run.live, alive=lambda: run.active)
    assert name in catalog.names()
    run.stop()


def test_the_controls_offered_are_those_that_act(manager):
    """RunManager.actions says which buttons the Train tab enables; every control it does not offer refuses
    with a message, so the page never offers one that only says no."""
    controls = {"pause": lambda r: r.pause(), "resume": lambda r: manager.resume(r.id),
                "single_step": lambda r: r.single_step(), "stop": lambda r: r.stop(), "save": lambda r: r.save_model()}

    def offered(run, *names):
        acts = manager.actions(run.id if run else None)
        assert {k for k, v in acts.items() if v} == set(names)
        for name in set(controls) - set(names):
            if run is not None:
                with pytest.raises(GanInputError):
                    controls[name](run)

    offered(None, "start")
    run = manager.start(TrainConfig(steps=100_000, **TINY))
    offered(run, "pause", "stop", "save")
    with pytest.raises(GanInputError, match="already active"):
        manager.start(TrainConfig(steps=10, **TINY))
    run.pause()
    offered(run, "resume", "single_step", "stop", "save")
    run.stop()
    offered(run, "start", "resume")
    other = manager.start(TrainConfig(steps=100_000, **TINY))  # takes the one slot: the stopped run must wait
    offered(run)
    other.stop()


def test_images_per_second_count_training_time_only():
    from gan.run_manager import RATE_MIN_STEPS, RateWindow

    w = RateWindow(seconds=10.0)
    for _ in range(RATE_MIN_STEPS - 1):
        w.add(0.1, 16)
    assert w.rate() is None  # too few steps to say
    w.add(0.1, 16)
    assert w.rate() == pytest.approx(160)
    for _ in range(500):  # a long window of faster steps pushes the old ones out
        w.add(0.05, 16)
    assert w.rate() == pytest.approx(320) and w.time <= 10.0 + 0.05


def test_a_failing_disk_pauses_the_run_and_loses_nothing(manager, monkeypatch):
    import errno
    import tempfile

    run = manager.start(TrainConfig(steps=100_000, **TINY))
    until(lambda: run.view().step >= 5)
    real_mkstemp = tempfile.mkstemp

    def disk_full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", disk_full)
    until(lambda: run.view().state == "paused", timeout=120)
    assert "No space left" in run.view().message and "nothing lost" in run.view().message
    stuck = run.view().step
    monkeypatch.setattr(tempfile, "mkstemp", real_mkstemp)
    run.resume()  # retries the write first, then trains on from where it was in memory
    until(lambda: run.view().step > stuck + 3)
    run.stop()
    import torch
    assert torch.load(run.folder / "checkpoint.pt", weights_only=True)["step"] == run.view().step


def _interrupted_run(runs_dir, steps_done=12, total=60):
    """A run folder as a server that went away mid-run leaves it: log lines and a checkpoint, no ending."""
    from gan.rundir import TrainingSession

    session = TrainingSession(TrainConfig(**TINY, dataset="mnist", steps=total), runs_dir / "mnist-dcgan-bce-cut")
    for _ in range(steps_done):
        session.advance()
    session.checkpoint_now()
    return session.out


def test_a_run_the_server_left_behind_is_picked_and_says_it_can_resume(tmp_path):
    folder = _interrupted_run(tmp_path)
    manager = RunManager(tmp_path)
    run = manager.get(None)  # picked for the visitor, who would otherwise see "no run yet"
    assert run.id == folder.name and run.interrupted and run.state == "stopped"
    assert "interrupted at step 12 of 60" in run.view().message and "press Resume" in run.view().message
    assert manager.actions()["resume"]
    manager.resume(run.id)
    until(lambda: run.view().step > 14)
    assert not run.interrupted and run.session.resumed_from == 12
    run.stop()
    # Stopped by a user: after a restart it is listed, but neither picked nor called interrupted.
    again = RunManager(tmp_path)
    assert again.current is None and not again.get(run.id).interrupted
    assert "interrupted" not in again.get(run.id).view().message


def test_the_monitor_keeps_its_history_across_a_restart(tmp_path):
    """A manager runs the mode-collapse monitor (gan.metrics.quality_monitor) on its own, as the app's does."""
    from gan.metrics import QUALITY_EVERY

    assert RunManager(tmp_path).quality_every == QUALITY_EVERY > 0   # on by default
    manager = RunManager(tmp_path, quality_every=5)
    run = manager.start(TrainConfig(**TINY, dataset="mnist", steps=15))
    until(lambda: run.view().state == "finished", timeout=120)
    history = run.view().quality_history
    assert [q["step"] for q in history] == [5, 10, 15]
    assert all(0 <= q["classes_covered"] <= 10 and q["fd"] > 0 and q["fd_floor"] > 0 for q in history)
    assert run.view().quality == history[-1]
    reread = RunManager(tmp_path).get(run.id).view()  # a restarted server shows the same monitor
    assert reread.quality_history == history and reread.quality == history[-1]
