"""The GPU check: one command for a machine with one CUDA GPU that runs the whole CUDA path and says what it found,
as one JSON object on the last line of stdout (about 8 minutes at most).

    python benchmarks/gpu_check.py                       # on the GPU machine
    python benchmarks/gpu_check.py --out results/        # also writes gpu_check.json and each part's log there
    python benchmarks/gpu_check.py --only tests latency  # some parts (environment, tests, throughput, latency)
    python benchmarks/gpu_check.py --cuda-graphs         # also compile(mode="reduce-overhead"), if time is left
    python benchmarks/gpu_check.py --dry-run             # the plumbing on the CPU, in well under a minute

Parts, each in a process of its own with a time budget of its own, so that a crash, a hang or a failure in one is
recorded under its name and the others still run:
  environment  python, torch, its CUDA and cuDNN, NCCL, triton, the GPU (name, memory, capability, bf16), nvidia-smi
  tests        pytest -m cuda -n 0 tests/test_cuda.py (bf16 + channels_last per loss, --compile vs eager, a resume
               against the uninterrupted run, NCCL DDP, the app's /generate on the GPU), read from its junit XML:
               counts, and each failure's name and message; what each test printed (its measured differences) too
  throughput   benchmarks/train_throughput.py --device cuda --json --batch-size 64 256, its JSON embedded, with the
               goal at batch 64: speedup >= 5 over the recipe and efficiency >= 0.95 of the compute limit
  latency      the Explore tab's handler (explore_tab._view, the path benchmarks/ui_latency.py times on the CPU)
               with the catalog on the GPU: p50 / p95 ms over N calls, and the CPU's in the same run beside it
  cuda_graphs  (--cuda-graphs only) the bare training step eager, under torch.compile and under
               torch.compile(mode="reduce-overhead") (CUDA graphs), in whatever time the other parts left

--dry-run runs what needs no GPU: every part on the CPU, the tests collected (not run) and counted, the throughput
benchmark for one tiny round, a few latency calls; the same JSON shape with "dry_run": true.

Exit code 0 when every part that was asked for ran and the tests all passed; 1 otherwise. The performance goals are
reported ("goals") but do not change the exit code: a slow GPU is a finding, not a broken CUDA path.
Nothing is downloaded: the data are the bundled digits and the shipped weights.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("environment", "tests", "throughput", "latency")
TOTAL_S = 480  # the whole check, on the GPU machine
# Seconds per part on the GPU machine (they add up to less than TOTAL_S; cuda_graphs gets what is left of it) and
# in a dry run. The tests' budget is mostly torch.compile's: inductor compiles G and D, forward and backward.
BUDGET_S = {"environment": 30, "tests": 210, "throughput": 180, "latency": 45}
DRY_BUDGET_S = {"environment": 30, "tests": 60, "throughput": 60, "latency": 45}
CUDA_GRAPHS_MIN_S = 60
GOALS = {"speedup": 5.0, "efficiency": 0.95, "batch_size": 64, "handler_p50_ms": 10.0}
LATENCY_MODEL = ROOT / "weights" / "mnist-dcgan.safetensors"
TEXT_LIMIT = 1500  # characters of a traceback, a log tail or a test's printed output kept in the JSON


def tail(text: str | None, limit: int = TEXT_LIMIT) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def last_json(stdout: str) -> dict | None:
    """The last line of stdout that is a JSON object (every benchmark here ends with one)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def run(cmd: list[str], timeout: float, env: dict | None = None, log: Path | None = None) -> dict:
    """cmd in a session of its own, killed with everything it started (DataLoader workers, a DDP process) when it
    runs past `timeout`. Returns rc (None on timeout), stdout, stderr and wall_s."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=max(1.0, timeout))
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        rc = None
    if log is not None:
        log.write_text(f"$ {' '.join(cmd)}\n--- stdout\n{out}\n--- stderr\n{err}\n")
    return {"rc": rc, "stdout": out, "stderr": err, "wall_s": round(time.perf_counter() - t0, 1)}


def self_part(name: str, *args: str) -> list[str]:
    """This script, running one in-process part (the ones that import torch) in a process of its own."""
    return [sys.executable, str(Path(__file__).resolve()), "--part", name, *args]


def base_env() -> dict:
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""), "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1"}


# -------------------------------------------------------------------------------------------------- parts
def part_environment(dry: bool, budget: float, logs: Path | None) -> dict:
    done = run(self_part("environment"), budget, base_env(), logs and logs / "environment.log")
    found = last_json(done["stdout"]) if done["rc"] == 0 else None
    if found is None:
        return failed(done, ["--part", "environment"])
    status = "ok" if dry or found.get("cuda_available") else "failed"
    return {"status": status, "wall_s": done["wall_s"], **found,
            **({} if status == "ok" else {"error": "no CUDA GPU visible to torch"})}


def part_tests(dry: bool, budget: float, logs: Path | None) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-n", "0", "tests/test_cuda.py", "-p", "no:cacheprovider"]
    env = {**base_env(), "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}  # deterministic cuBLAS for the resume test
    if dry:
        done = run(cmd + ["--collect-only", "-q"], budget, env, logs and logs / "tests.log")
        names = [line.strip() for line in done["stdout"].splitlines() if "::" in line]
        if done["rc"] != 0 or not names:
            return failed(done, cmd + ["--collect-only", "-q"], "no cuda tests collected" if done["rc"] == 0 else None)
        return {"status": "ok", "wall_s": done["wall_s"], "command": " ".join(cmd[2:]) + " --collect-only",
                "pytest_rc": done["rc"], "collected": len(names), "passed": None, "failed": None, "errors": None,
                "skipped": None, "failures": [], "names": names, "printed": {}}
    with tempfile.TemporaryDirectory(prefix="ganscope-gpu-check-") as tmp:
        junit = Path(logs or tmp) / "tests-junit.xml"
        full = cmd + ["-q", "-rA", f"--junitxml={junit}", "-o", "junit_logging=system-out"]
        done = run(full, budget, env, logs and logs / "tests.log")
        if not junit.is_file():
            return failed(done, full, "pytest wrote no junit report")
        report = read_junit(junit)
    status = "ok" if report["collected"] and report["passed"] == report["collected"] else "failed"
    if done["rc"] is None:
        status = "timeout"
    out = {"status": status, "wall_s": done["wall_s"], "budget_s": budget, "command": " ".join(full[2:]),
           "pytest_rc": done["rc"], **report}
    if status != "ok" and not report["failures"]:
        out["output_tail"] = tail(done["stdout"] + done["stderr"])
    return out


def read_junit(path: Path) -> dict:
    """Counts, failures (name, message, the end of the traceback) and each test's printed output from a junit
    XML file. A test that was skipped counts against the run: these tests must run, not skip."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    cases = [c for s in suites for c in s.iter("testcase")]
    passed, failures, skipped, names, printed = 0, [], 0, [], {}
    errors = failed = 0
    for case in cases:
        module = (case.get("classname") or "").replace(".", "/")
        name = f"{module}.py::{case.get('name')}" if module else case.get("name")
        names.append(name)
        out = case.findtext("system-out")
        if out and out.strip():
            printed[name] = tail(out, 600)
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            errors += bad.tag == "error"
            failed += bad.tag == "failure"
            message = tail(bad.get("message"), 400)
            detail = "" if (bad.text or "").strip() in (bad.get("message") or "") else tail(bad.text, TEXT_LIMIT)
            failures.append({"name": name, "kind": bad.tag, "message": message, "detail": detail})
        elif case.find("skipped") is not None:
            skipped += 1
            failures.append({"name": name, "kind": "skipped", "message": tail(case.find("skipped").get("message"),
                                                                                400), "detail": ""})
        else:
            passed += 1
    return {"collected": len(cases), "passed": passed, "failed": failed, "errors": errors, "skipped": skipped,
            "failures": failures, "names": names, "printed": printed}


def part_throughput(dry: bool, budget: float, logs: Path | None) -> dict:
    cmd = [sys.executable, "benchmarks/train_throughput.py", "--json"]
    # A dry run: one round of one step of the 28x28 config at batch 8, on one CPU thread (the plumbing, not a figure).
    cmd += (["--device", "cpu", "--batch-size", "8", "--configs", "mnist28", "--rounds", "1", "--steps", "1",
             "--warmup", "0", "--threads", "1"] if dry else ["--device", "cuda", "--batch-size", "64", "256"])
    done = run(cmd, budget, base_env(), logs and logs / "throughput.log")
    result = last_json(done["stdout"]) if done["rc"] == 0 else None
    if result is None:
        out = failed(done, cmd)
        out["rounds_done"] = [line for line in done["stdout"].splitlines() if line.startswith("# ")][-12:]
        return out
    goals = [{"name": c.get("name"), "speedup": c.get("speedup"), "efficiency": c.get("efficiency"),
              "speedup_met": (c.get("speedup") or 0) >= GOALS["speedup"],
              "efficiency_met": (c.get("efficiency") or 0) >= GOALS["efficiency"]}
             for c in result.get("configs", []) if str(c.get("name", "")).endswith(f"-b{GOALS['batch_size']}")]
    met = None if dry or not goals else all(g["speedup_met"] and g["efficiency_met"] for g in goals)
    return {"status": "ok", "wall_s": done["wall_s"], "budget_s": budget, "command": " ".join(cmd[1:]),
            "result": result, "goal": f"at batch {GOALS['batch_size']}: speedup >= {GOALS['speedup']} (ours / "
                                      f"recipe), efficiency >= {GOALS['efficiency']} (ours / compute)",
            "goal_per_config": goals, "goal_met": met,
            **({"note": "a dry run: tiny CPU settings; the goal applies to the CUDA run"} if dry else {})}


def part_latency(dry: bool, budget: float, logs: Path | None) -> dict:
    args = ["--device", "cpu", "--calls", "5"] if dry else ["--device", "cuda", "--calls", "200", "--baseline", "cpu"]
    done = run(self_part("latency", *args), budget, base_env(), logs and logs / "latency.log")
    found = last_json(done["stdout"]) if done["rc"] == 0 else None
    if found is None:
        return failed(done, ["--part", "latency", *args])
    live = found["live_ms"]["p50"]
    return {"status": "ok", "wall_s": done["wall_s"], "budget_s": budget, **found,
            "goal": f"live handler p50 < {GOALS['handler_p50_ms']} ms",
            "goal_met": None if dry else live < GOALS["handler_p50_ms"]}


def part_cuda_graphs(dry: bool, budget: float, logs: Path | None) -> dict:
    if dry:
        return {"status": "skipped", "why": "CUDA graphs need a GPU; --dry-run does not run this part"}
    if budget < CUDA_GRAPHS_MIN_S:
        return {"status": "skipped", "why": f"only {budget:.0f} s of the {TOTAL_S} s budget left (needs "
                                            f"{CUDA_GRAPHS_MIN_S})"}
    args = ["--device", "cuda", "--steps", "200"]
    done = run(self_part("cuda_graphs", *args), budget, base_env(), logs and logs / "cuda_graphs.log")
    found = last_json(done["stdout"]) if done["rc"] == 0 else None
    if found is None:
        return failed(done, ["--part", "cuda_graphs", *args])
    return {"status": "ok", "wall_s": done["wall_s"], "budget_s": round(budget), **found}


def failed(done: dict, cmd: list[str], why: str | None = None) -> dict:
    timed_out = done["rc"] is None
    return {"status": "timeout" if timed_out else "error", "wall_s": done["wall_s"],
            "command": " ".join(cmd[1:] if cmd and cmd[0] == sys.executable else cmd),
            "error": why or ("ran past its time budget and was stopped" if timed_out else
                             f"exited with code {done['rc']}" if done["rc"] else "printed no JSON result"),
            "output_tail": tail(done["stdout"] + "\n" + done["stderr"])}


# ------------------------------------------------------------------------------------ in-process parts
def measure_environment() -> dict:
    import importlib.metadata

    import torch

    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "cuda_build": torch.version.cuda,
            "cuda_available": torch.cuda.is_available(), "gpus": 0, "gpu": None}
    for package in ("triton", "gradio"):
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = None
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info(0)
        info.update(gpus=torch.cuda.device_count(), cudnn=torch.backends.cudnn.version(),
                    nccl=".".join(map(str, torch.cuda.nccl.version())), gpu={
                        "name": p.name, "memory_gib": round(p.total_memory / 2 ** 30, 1),
                        "free_gib": round(free / 2 ** 30, 1), "capability": f"{p.major}.{p.minor}",
                        "multiprocessors": p.multi_processor_count, "bf16": torch.cuda.is_bf16_supported()})
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            info["nvidia_smi"] = subprocess.run(
                [smi, "--query-gpu=name,driver_version,memory.total,memory.used,utilization.gpu,clocks.max.sm",
                 "--format=csv,noheader"], capture_output=True, text=True, timeout=15).stdout.strip()
        except (OSError, subprocess.SubprocessError) as e:
            info["nvidia_smi"] = f"failed: {e}"
    return info


def percentiles(ms: list[float]) -> dict:
    v = sorted(ms)
    at = lambda q: v[min(len(v) - 1, int(round(q * (len(v) - 1))))]  # noqa: E731 (as ui_latency.pct)
    return {"p50": round(statistics.median(v), 2), "p95": round(at(0.95), 2), "min": round(v[0], 2)}


def handler_latency(device: str, calls: int, warmup: int = 10) -> dict:
    """The Explore tab's handler path with the catalog on `device`: benchmarks/ui_latency.py's handler_times (a
    live slider move, the PNG encoding Gradio then does, a release with the neighbours strip)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ui_latency import handler_times

    t = handler_times(LATENCY_MODEL, calls, device=device, warmup=warmup)
    return {"device": t["device"], "model": LATENCY_MODEL.name, "calls": calls, "live_ms": percentiles(t["live"]),
            "png_ms": percentiles(t["png"]), "release_ms": percentiles(t["release"])}


def measure_latency(device: str, calls: int, baseline: str | None) -> dict:
    import torch

    out = handler_latency(device, calls)
    out["threads"] = torch.get_num_threads()
    out["baseline"] = None
    if baseline:
        base = handler_latency(baseline, calls)
        out["baseline"] = {**base, "ratio_p50": round(out["live_ms"]["p50"] / base["live_ms"]["p50"], 3)}
    return out


def measure_cuda_graphs(device: str, steps: int) -> dict:
    """The bare training step (Trainer.d_step + g_step on one batch already on the device, as train_throughput.py's
    compute way) at the throughput benchmark's 28x28 config, batch 64: eager, torch.compile's default mode, and
    mode="reduce-overhead" (CUDA graphs, which remove the per-kernel launch cost that dominates these small nets).
    Each mode's first steps (compilation, graph capture) are timed apart from the steady state."""
    import torch

    from gan.config import TrainConfig
    from gan.trainer import Trainer

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    cfg = TrainConfig(dataset="mnist", arch="dcgan", loss="bce", batch_size=64, g_width=64, d_width=64, z_dim=100,
                      device=device)
    out = {"config": "mnist28-dcgan-b64", "steps": steps, "img_s": {}, "first_steps_s": {}, "errors": {}}
    for mode in ("eager", "default", "reduce-overhead"):
        try:
            t = Trainer(cfg)
            x, y = t._real_batch()
            z = t._noise(t.cfg.batch_size)
            t._real_batch, t._noise = (lambda: (x, y)), (lambda n: z)
            out["numerics"] = ("bf16 autocast" if t.amp else "float32") + (", channels_last" if t.channels_last else "")
            if mode != "eager":
                t.g_step_fn, t.d_step_fn = torch.compile(t.G, mode=mode), torch.compile(t.D, mode=mode)

            def step():
                if mode == "reduce-overhead":
                    torch.compiler.cudagraph_mark_step_begin()
                t.d_step()
                t.g_step()

            sync()
            t0 = time.perf_counter()
            for _ in range(5):
                step()
            sync()
            t1 = time.perf_counter()
            for _ in range(steps):
                step()
            sync()
            t2 = time.perf_counter()
            out["first_steps_s"][mode] = round(t1 - t0, 1)
            out["img_s"][mode] = round(steps * cfg.batch_size / (t2 - t1), 1)
        except Exception as e:  # one mode failing (CUDA graphs and a training step) is a finding, not the end
            out["errors"][mode] = tail(f"{type(e).__name__}: {e}", 600)
    eager = out["img_s"].get("eager")
    out["speedup_vs_eager"] = {m: round(v / eager, 3) for m, v in out["img_s"].items() if eager}
    return out


# --------------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dry-run", action="store_true", help="the plumbing on the CPU: no GPU needed, well under 60 s")
    p.add_argument("--only", nargs="+", choices=PARTS, help="run these parts only (default: all)")
    p.add_argument("--cuda-graphs", action="store_true",
                   help="also time torch.compile(mode='reduce-overhead') against eager, in the time left")
    p.add_argument("--out", type=Path, help="a folder for gpu_check.json, the tests' junit XML and each part's log")
    p.add_argument("--part", choices=("environment", "latency", "cuda_graphs"), help=argparse.SUPPRESS)
    p.add_argument("--device", default="cuda", help=argparse.SUPPRESS)
    p.add_argument("--calls", type=int, default=200, help=argparse.SUPPRESS)
    p.add_argument("--baseline", help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=200, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.part:  # one in-process part, in its own process (see self_part)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        result = {"environment": measure_environment,
                  "latency": lambda: measure_latency(args.device, args.calls, args.baseline),
                  "cuda_graphs": lambda: measure_cuda_graphs(args.device, args.steps)}[args.part]()
        print(json.dumps(result))
        return 0

    start = time.perf_counter()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    budgets = DRY_BUDGET_S if args.dry_run else BUDGET_S
    wanted = args.only or list(PARTS)
    fns = {"environment": part_environment, "tests": part_tests, "throughput": part_throughput,
           "latency": part_latency}
    report = {"dry_run": args.dry_run}
    for name in PARTS:
        if name not in wanted:
            report[name] = {"status": "skipped", "why": "not in --only"}
            continue
        print(f"# {name}: up to {budgets[name]} s ...", flush=True)
        try:
            report[name] = fns[name](args.dry_run, budgets[name], args.out)
        except Exception as e:  # a bug here must not cost the other parts
            report[name] = {"status": "error", "error": tail(f"{type(e).__name__}: {e}", 600)}
        report[name].setdefault("budget_s", budgets[name])
        print(f"# {name}: {report[name]['status']} ({report[name].get('wall_s', '?')} s)", flush=True)
    if args.cuda_graphs:
        left = TOTAL_S - (time.perf_counter() - start)
        print(f"# cuda_graphs: up to {max(0, left):.0f} s ...", flush=True)
        report["cuda_graphs"] = part_cuda_graphs(args.dry_run, min(left, 150), args.out)
    else:
        report["cuda_graphs"] = {"status": "skipped", "why": "not asked for (--cuda-graphs)"}
    asked = [n for n in PARTS if n in wanted] + (["cuda_graphs"] if args.cuda_graphs and not args.dry_run else [])
    ran_ok = all(report[n]["status"] == "ok" for n in asked)
    report["goals"] = {"throughput": report["throughput"].get("goal_met"),
                       "latency": report["latency"].get("goal_met")}
    report["ok"] = ran_ok
    report["wall_s"] = round(time.perf_counter() - start, 1)
    report["budget_s"] = TOTAL_S
    if args.out:
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))
    return 0 if ran_ok else 1


if __name__ == "__main__":
    sys.exit(main())
