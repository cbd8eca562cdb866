"""Two CPU processes (torchrun, gloo): ranks judge their own rollouts, gradients sync, checkpoints load."""

from __future__ import annotations

import json

from tests.rlef.torchrun import run_two_processes


def test_two_process_cpu_training(tmp_path) -> None:
    proc = run_two_processes("ddp_worker.py", tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["params_equal_across_ranks"] and summary["params_changed"]
    assert all(n > 0 for n in summary["judged_per_rank"])
    assert summary["resume_matches"] and summary["resumed_step"] == 2
    assert summary["judged_on_resume"] == [0, 0]  # resumed, not retrained: no rank played a new episode
