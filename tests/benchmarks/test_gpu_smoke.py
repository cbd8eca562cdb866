"""benchmarks/gpu_smoke.sh, the GPU check, tested on CPU: its guards, its failure path and its CPU dry run.

The GPU part itself (vLLM colocate on CUDA) cannot run here; these tests cover what the script does around it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_smoke.sh"
HAS_GPU = Path("/dev/nvidia0").exists()


def run_script(
    *args: str, python: str = sys.executable, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={**os.environ, "PYTHON": python, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def fake_python(tmp_path: Path, body: str) -> str:
    """An executable standing in for $PYTHON: runs `body` (bash), else the real interpreter."""
    path = tmp_path / "python"
    path.write_text(f'#!/usr/bin/env bash\n{body}\nexec "{sys.executable}" "$@"\n')
    path.chmod(0o755)
    return str(path)


def test_script_parses() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True).returncode == 0


def test_unknown_argument_is_an_error() -> None:
    done = run_script("--bogus")
    assert done.returncode == 2
    assert "unknown argument '--bogus'" in done.stderr


@pytest.mark.skipif(HAS_GPU, reason="checks the no-GPU guard")
def test_without_a_gpu_it_stops_before_installing(tmp_path) -> None:
    called = tmp_path / "python-was-called"
    done = run_script(python=fake_python(tmp_path, f'touch "{called}"'))
    assert done.returncode == 2
    assert "no CUDA device found" in done.stderr and "--cpu-dry-run" in done.stderr
    assert not called.exists()  # nothing installed, nothing run
    assert done.stdout == ""


def test_a_failing_step_fails_the_script(tmp_path) -> None:
    python = fake_python(tmp_path, 'for a in "$@"; do [[ $a == train ]] && { echo "step broke" >&2; exit 3; }; done')
    done = run_script("--cpu-dry-run", python=python, GPU_SMOKE_DIR=str(tmp_path / "work"))
    assert done.returncode == 3
    assert "step broke" in done.stderr and "gpu_smoke.sh: FAILED (exit 3)" in done.stderr
    assert done.stdout == ""  # no summary line


def test_vllm_needs_cuda(tmp_path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_smoke.py"), "train", "--generation", "vllm"]
    cmd += ["--device", "cpu", "--model", str(tmp_path), "--out", str(tmp_path / "r.json")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 1
    assert "vLLM generation needs a CUDA device" in done.stderr


@pytest.mark.slow
def test_cpu_dry_run(tmp_path) -> None:
    done = run_script("--cpu-dry-run", timeout=1800, GPU_SMOKE_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert summary["model"] == "tiny-random (cpu dry run: vLLM not run)"
    run = summary["transformers"]
    assert run["device"] == "cpu" and run["eval_problems"] == 10 and run["dtype"] == "float32"
    assert len(run["step_times_s"]) == 2 and all(t > 0 for t in run["step_times_s"])
    assert len(run["losses"]) == 2 and all(math.isfinite(x) for x in run["losses"])
    assert len(run["solve_rate_by_turn"]) == 3 and 0 <= run["solve_rate_1at3"] <= 1
    assert "vllm_colocate" not in summary
    assert (tmp_path / "hf" / "eval" / "episodes.jsonl").exists()


def test_report_is_one_line_with_the_step_time_ratio(tmp_path) -> None:
    runs = {"vllm": ("vllm_colocate", [3.0, 1.0]), "hf": ("transformers", [2.0, 4.0])}
    for name, (generation, times) in runs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps({"generation": generation, "step_times_s": times}))
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_smoke.py"), "report", "--model", "m"]
    cmd += [str(tmp_path / "vllm.json"), str(tmp_path / "hf.json")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT, check=True)
    summary = json.loads(done.stdout)
    assert summary["model"] == "m" and summary["vllm_colocate"]["step_times_s"] == [3.0, 1.0]
    assert summary["vllm_over_transformers_step_time"] == 0.75  # medians (upper) 3.0 / 4.0
