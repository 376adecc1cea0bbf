"""Many viewers at once: the real app in its own process, 20 gradio_client sessions calling `generate` with varying
seeds and sliders, a few more watching `training_status`, while one run trains.

    python benchmarks/load.py                      # 180 s, 20 sessions, 3 watchers, weights/ (or tiny models)
    python benchmarks/load.py --seconds 60 --json  # shorter; the last line of stdout is one JSON object

The server is `python app.py` on a free port of 127.0.0.1, with a private runs folder and Gradio cache in a temporary
folder (deleted at the end). Its models come from --weights (default weights/ when it holds a generator; otherwise
this script trains two tiny ones first, a few seconds). The run trains the "DCGAN on MNIST" preset
(--train-batch images per step) on the server's CPU/GPU for the whole measurement, then is stopped.

Reported:
  requests, errors      generate calls answered / failed (goal: 0 errors); the same for training_status
  p50/p95/max latency   of generate, seconds, as a session sees it (request to answer, through the queue)
  rss start/end/max     the server process's resident memory (MB, from /proc) after warm-up with the run started,
                        at the end, and the highest sampled (goal: end within 10% of start)
Sessions do not download the image files (download_files=False): the server still renders and caches each one.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def has_generator(folder: Path) -> bool:
    from gan.catalog import Catalog

    return folder.is_dir() and bool(Catalog(folder, None).names())


def tiny_weights(folder: Path) -> Path:
    """Two tiny generators (an MNIST DCGAN and a conditional one), a few real steps each."""
    from gan.config import TrainConfig
    from gan.trainer import Trainer

    folder.mkdir(parents=True, exist_ok=True)
    tiny = dict(g_width=8, d_width=8, batch_size=16, z_dim=16, log_every=1, sample_every=1000,
                checkpoint_every=1000, device="cpu", dataset="mnist")
    for name, extra in (("tiny-mnist", dict(loss="bce")), ("tiny-mnist-cond", dict(loss="hinge", conditional=True))):
        t = Trainer(TrainConfig(**tiny, **extra))
        for _ in range(3):
            t.step()
        t.save_model(folder / f"{name}.safetensors")
    return folder


def start_server(weights: Path, work: Path, port: int, device: str) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_TEMP_DIR": str(work / "gradio"), "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONPATH": str(ROOT)}
    log = open(work / "server.log", "w")
    return subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--weights", str(weights), "--runs",
                             str(work / "runs"), "--port", str(port), "--device", device], cwd=work, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


def wait_for_server(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server did not answer at {url} within {timeout:.0f} s")


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def ok(self, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what[:200])


def viewer(url: str, models: list[str], stop: threading.Event, tally: Tally, rng: random.Random) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    while not stop.is_set():
        kw = dict(seed=rng.randrange(2 ** 32), model=rng.choice(models), truncation=round(rng.uniform(0.3, 1.0), 2),
                  **{f"direction_{i}": round(rng.uniform(-3, 3), 2) for i in range(1, 7) if rng.random() < 0.5})
        t0 = time.perf_counter()
        try:
            image, _, _, message = client.predict(**kw, api_name="/generate")
            if not image or message:
                raise RuntimeError(f"no image: {message!r}")
            tally.ok(time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001 - every failure is counted, whatever it is
            tally.fail(f"{type(e).__name__}: {e}")


def watcher(url: str, stop: threading.Event, tally: Tally) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            status = client.predict(api_name="/training_status")
            if status.get("state") != "running":
                raise RuntimeError(f"run is {status.get('state')}: {status.get('message')}")
            tally.ok(time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001
            tally.fail(f"{type(e).__name__}: {e}")
        stop.wait(0.5)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=180, help="measurement time (default: %(default)s)")
    p.add_argument("--clients", type=int, default=20, help="sessions calling generate (default: %(default)s)")
    p.add_argument("--watchers", type=int, default=3, help="sessions polling training_status (default: %(default)s)")
    p.add_argument("--weights", default=None, help="models folder (default: weights/ if it holds a generator, "
                                                   "else tiny models trained here)")
    p.add_argument("--device", default="cpu", help="the server's device (default: %(default)s)")
    p.add_argument("--train-batch", type=int, default=32, help="batch size of the training run (default: %(default)s)")
    p.add_argument("--no-train", action="store_true", help="no training run during the measurement")
    p.add_argument("--json", action="store_true", help="(the JSON line is always printed last)")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.clients < 1 or args.watchers < 0:
        p.error("--seconds must be > 0, --clients >= 1, --watchers >= 0")

    work = Path(tempfile.mkdtemp(prefix="ganscope-load-"))
    weights = Path(args.weights) if args.weights else ROOT / "weights"
    if not has_generator(weights):
        if args.weights:
            raise SystemExit(f"no generator in {weights}/")
        weights = tiny_weights(work / "weights")
    from gan.catalog import Catalog

    models = [n for n in Catalog(weights, None).names()]
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start_server(weights, work, port, args.device)
    result: dict = {}
    try:
        from gradio_client import Client

        wait_for_server(url, proc)
        control = Client(url, verbose=False, download_files=False)
        for m in models:                                      # warm-up: models loaded, directions computed
            control.predict(seed=0, model=m, api_name="/generate")
        rss_idle = rss_mb(proc.pid)
        run_id = None
        if not args.no_train:
            status, _ = control.predict(api_name="/start_training", batch_size=args.train_batch, steps=10_000_000,
                                        device=args.device)
            run_id = status["run_id"]
            time.sleep(3)                                      # the run's data and first steps
        rss_start = rss_mb(proc.pid)
        print(f"server pid {proc.pid} at {url}; models {', '.join(models)}; run {run_id}; "
              f"{args.clients} sessions + {args.watchers} watchers for {args.seconds:.0f} s", file=sys.stderr)

        stop = threading.Event()
        gen, stat = Tally(), Tally()
        threads = [threading.Thread(target=viewer, args=(url, models, stop, gen, random.Random(i)), daemon=True)
                   for i in range(args.clients)]
        if run_id:
            threads += [threading.Thread(target=watcher, args=(url, stop, stat), daemon=True)
                        for _ in range(args.watchers)]
        t0 = time.time()
        for t in threads:
            t.start()
        rss_max = rss_start or 0.0
        while time.time() - t0 < args.seconds:
            time.sleep(1.0)
            rss_max = max(rss_max, rss_mb(proc.pid) or 0.0)
            if proc.poll() is not None:
                break
        stop.set()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.time() - t0
        rss_end = rss_mb(proc.pid)
        alive = proc.poll() is None
        final = control.predict(run_id, api_name="/stop_training") if run_id and alive else None

        lat = gen.latencies
        result = {
            "seconds": round(elapsed, 1), "clients": args.clients, "watchers": args.watchers if run_id else 0,
            "models": models, "device": args.device, "train_batch": None if args.no_train else args.train_batch,
            "generate_requests": len(lat), "generate_errors": len(gen.errors),
            "generate_per_s": round(len(lat) / elapsed, 2),
            "p50_s": round(pct(lat, 0.5), 3) if lat else None, "p95_s": round(pct(lat, 0.95), 3) if lat else None,
            "max_s": round(max(lat), 3) if lat else None,
            "mean_s": round(statistics.fmean(lat), 3) if lat else None,
            "status_requests": len(stat.latencies), "status_errors": len(stat.errors),
            "status_p50_s": round(pct(stat.latencies, 0.5), 3) if stat.latencies else None,
            "training_steps": final["step"] if final else None,
            "rss_idle_mb": _r(rss_idle), "rss_start_mb": _r(rss_start), "rss_end_mb": _r(rss_end),
            "rss_max_mb": _r(rss_max),
            "rss_growth_pct": round(100 * (rss_end - rss_start) / rss_start, 1) if rss_start and rss_end else None,
            "server_alive": alive, "first_errors": (gen.errors + stat.errors)[:5],
        }
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)

    rows = [("generate requests", result["generate_requests"]), ("generate errors", result["generate_errors"]),
            ("generate / s", result["generate_per_s"]), ("generate p50 (s)", result["p50_s"]),
            ("generate p95 (s)", result["p95_s"]), ("generate max (s)", result["max_s"]),
            ("status requests", result["status_requests"]), ("status errors", result["status_errors"]),
            ("training steps done", result["training_steps"]), ("server RSS idle (MB)", result["rss_idle_mb"]),
            ("server RSS start (MB)", result["rss_start_mb"]), ("server RSS end (MB)", result["rss_end_mb"]),
            ("server RSS max (MB)", result["rss_max_mb"]), ("RSS growth start->end (%)", result["rss_growth_pct"])]
    print(f"\nload: {result['clients']} sessions + {result['watchers']} watchers, {result['seconds']} s, "
          f"device {result['device']}")
    for name, value in rows:
        print(f"  {name:<28} {value}")
    if result["first_errors"]:
        print("  first errors:", *result["first_errors"], sep="\n    ")
    print(json.dumps(result))
    return 0 if result["generate_errors"] == 0 and result["status_errors"] == 0 and result["server_alive"] else 1


def _r(x: float | None) -> float | None:
    return round(x, 1) if x is not None else None


if __name__ == "__main__":
    sys.exit(main())
