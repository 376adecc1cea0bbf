"""benchmarks/gpu_check.py on this CPU machine: its dry run goes end to end and prints the report's shape with the
cuda tests found, and the GPU run's reading of pytest (a cuda test asked for here fails loudly, and the junit
report of it comes back as a failure with its message)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-check")
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report, out


def test_the_dry_run_reports_every_part_and_finds_the_cuda_tests(dry_run):
    from tests.test_cuda import CASES

    report, out = dry_run
    assert report["dry_run"] is True and report["ok"] is True
    assert json.loads((out / "gpu_check.json").read_text()) == report
    for part in ("environment", "tests", "throughput", "latency"):
        assert report[part]["status"] == "ok", (part, report[part])
        assert report[part]["wall_s"] <= report[part]["budget_s"]
    assert report["cuda_graphs"]["status"] == "skipped"
    assert report["environment"]["torch"] == torch.__version__
    assert report["environment"]["cuda_available"] is torch.cuda.is_available()
    tests = report["tests"]
    # one bf16 step per case, compile twice, resume, NCCL DDP, the app: all collected under the cuda marker
    assert tests["collected"] == len(CASES) + 5 == len(tests["names"])
    assert all(n.startswith("tests/test_cuda.py::test_") for n in tests["names"])
    assert any("nccl" in n for n in tests["names"]) and any("compile" in n for n in tests["names"])
    configs = report["throughput"]["result"]["configs"]
    assert configs and all(c["recipe_img_s"] > 0 and c["ours_img_s"] > 0 and "efficiency" in c for c in configs)
    assert report["throughput"]["goal_met"] is None          # the goal is the GPU's, not a dry run's
    latency = report["latency"]
    assert latency["device"] == "cpu" and latency["calls"] == 5
    assert 0 < latency["live_ms"]["min"] <= latency["live_ms"]["p50"] <= latency["live_ms"]["p95"]
    assert report["goals"] == {"throughput": None, "latency": None}


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the cuda tests run for real (gpu_check.py)")
def test_a_cuda_test_asked_for_without_a_gpu_fails_and_the_report_says_why(tmp_path):
    junit = tmp_path / "junit.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "cuda", "-n", "0", "tests/test_cuda.py", "-k",
                           "generates_on_cuda", "-p", "no:cacheprovider", "-q", f"--junitxml={junit}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout[-2000:]          # red, not skipped into green
    r = gpu_check().read_junit(junit)
    assert (r["collected"], r["passed"], r["errors"], r["skipped"]) == (1, 0, 1, 0)
    assert r["failures"][0]["name"] == "tests/test_cuda.py::test_the_app_generates_on_cuda"
    assert "needs a CUDA GPU" in r["failures"][0]["message"]


def test_junit_reading_counts_skips_against_the_run(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text("""<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_cuda" name="test_ok"><system-out>max |diff| = 0.0</system-out></testcase>
<testcase classname="tests.test_cuda" name="test_bad[bce]"><failure message="assert 1 == 2">long
traceback</failure></testcase>
<testcase classname="tests.test_cuda" name="test_skip"><skipped message="no triton" /></testcase>
<testcase classname="tests.test_cuda" name="test_err"><error message="boom">boom</error></testcase>
</testsuite></testsuites>""")
    r = gpu_check().read_junit(path)
    assert (r["collected"], r["passed"], r["failed"], r["errors"], r["skipped"]) == (4, 1, 1, 1, 1)
    assert [f["kind"] for f in r["failures"]] == ["failure", "skipped", "error"]
    assert r["failures"][0] == {"name": "tests/test_cuda.py::test_bad[bce]", "kind": "failure",
                                "message": "assert 1 == 2", "detail": "long\ntraceback"}
    assert r["failures"][2]["detail"] == ""                   # nothing said twice
    assert r["printed"] == {"tests/test_cuda.py::test_ok": "max |diff| = 0.0"}
