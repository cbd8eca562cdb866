"""Memory each training process spends on the problems: loaded by every rank vs one memory-mapped store per node.

    python benchmarks/rank_memory.py [--dataset ../shared/data/codecontests_train_sample.jsonl] [--scale 10]
                                     [--nproc 2]

Runs the example training scripts' problem loading on `--nproc` CPU processes (torchrun, gloo) twice in the
same run: "per-rank", the loading before the store (every rank `load_problems` the dataset and keeps the
list), and "store" (`ProblemArguments.problems`: the node's main process converts the dataset into an Arrow
file once, every rank memory-maps it). Each rank then reads every problem once, as an epoch of training does,
and reports how much its memory grew from just before the loading (torch, accelerate, datasets and pyarrow
already imported): `Anonymous` (its own heap, not shareable) and `Private_Clean + Private_Dirty` from
/proc/self/smaps_rollup, and RSS (which counts the store's file pages, shared through the page cache). Also
printed: a digest of the problems each rank read, which must be the same in both modes on every rank.
`--scale K` repeats the dataset K times (ids made unique) to show how the two grow with the dataset.
The last line is a JSON summary.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "codecontests_train_sample.jsonl"
MODES = ("per-rank", "store")
FIELDS = ("Rss", "Anonymous", "Private_Clean", "Private_Dirty", "Shared_Clean")


def memory() -> dict[str, int]:
    """This process's memory (kB) by kind, from /proc/self/smaps_rollup."""
    values = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        values[name] = int(rest.split()[0])
    return {name: values[name] for name in FIELDS}


def worker(mode: str, dataset: str, out: Path) -> None:
    """One rank: load the problems as `mode` says, read each once, write its memory growth and digest."""
    import datasets  # noqa: F401  (imported by the training scripts before the problems are loaded)
    import pyarrow  # noqa: F401
    import torch  # noqa: F401
    from accelerate import PartialState

    from agents.rlef.evaluate import ProblemArguments, split_problems
    from codefeedback_env.evaluation.identity import problem_sha256
    from codefeedback_env.problems import load_problems

    state = PartialState(cpu=True)  # gloo across the CPU processes (the scripts: --use_cpu true)
    script = ProblemArguments(dataset=dataset, problem_cache=str(out / "problem_cache"))
    gc.collect()
    before = memory()
    if mode == "per-rank":  # what ProblemArguments.problems did before the store
        training, evaluation = split_problems(load_problems(dataset), None, None, None, script.eval_split)
    else:
        training, evaluation = script.problems(out / "run", state)
    digest = hashlib.sha256()
    for problems in (training, evaluation):
        for problem in problems:
            digest.update(problem_sha256(problem).encode())
    gc.collect()
    after = memory()
    growth = {name: after[name] - before[name] for name in FIELDS}
    result = {
        "rank": state.process_index,
        "mode": mode,
        "problems": len(training) + len(evaluation),
        "digest": digest.hexdigest(),
        "growth_kb": growth,
        "private_kb": growth["Private_Clean"] + growth["Private_Dirty"],
    }
    (out / f"{mode}-rank{state.process_index}.json").write_text(json.dumps(result))
    state.wait_for_everyone()


def scaled_copy(dataset: Path, scale: int, folder: Path) -> Path:
    """`dataset` (JSONL) repeated `scale` times, each copy's problem names suffixed so ids stay unique."""
    if scale == 1:
        return dataset
    rows = [json.loads(line) for line in dataset.read_text(encoding="utf-8").splitlines() if line.strip()]
    path = folder / f"scaled-x{scale}.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for copy in range(scale):
            for row in rows:
                handle.write(json.dumps({**row, "name": f"{row['name']} #{copy}"}) + "\n")
    return path


def launch(mode: str, dataset: Path, nproc: int, out: Path) -> list[dict]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", port]
    command += [__file__, "worker", "--mode", mode, "--dataset", str(dataset), "--out", str(out)]
    subprocess.run(command, env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return [json.loads((out / f"{mode}-rank{rank}.json").read_text()) for rank in range(nproc)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", default="run", choices=("run", "worker"))
    parser.add_argument("--dataset", default=str(SAMPLE))
    parser.add_argument("--scale", type=int, default=10, help="repeat the dataset this many times (JSONL only)")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.command == "worker":
        worker(args.mode, args.dataset, Path(args.out))
        return
    with tempfile.TemporaryDirectory(prefix="rank-memory-") as folder:
        dataset = scaled_copy(Path(args.dataset), args.scale, Path(folder))
        results = {mode: launch(mode, dataset, args.nproc, Path(folder)) for mode in MODES}
    digests = {r["digest"] for rows in results.values() for r in rows}
    if len(digests) != 1:
        raise SystemExit(f"the ranks read different problems: {sorted(digests)}")
    print(f"{results['store'][0]['problems']} problems, {args.nproc} processes, dataset {args.dataset} x{args.scale}")
    print(f"{'mode':<9} {'rank':>4} {'anonymous MB':>13} {'private MB':>11} {'RSS MB':>8}")
    for mode, rows in results.items():
        for r in rows:
            grew = r["growth_kb"]
            print(f"{mode:<9} {r['rank']:>4} {grew['Anonymous'] / 1024:>13.1f} {r['private_kb'] / 1024:>11.1f} "
                  f"{grew['Rss'] / 1024:>8.1f}")  # fmt: skip
    mean = {mode: statistics.mean(r["growth_kb"]["Anonymous"] for r in rows) for mode, rows in results.items()}
    others = {mode: statistics.mean(r["growth_kb"]["Anonymous"] for r in rows[1:]) for mode, rows in results.items()}
    ratio = mean["store"] / mean["per-rank"] if mean["per-rank"] else float("nan")
    other_ratio = others["store"] / others["per-rank"] if others["per-rank"] else float("nan")
    print(f"anonymous growth per rank, store / per-rank: {ratio:.3f} (all ranks), {other_ratio:.3f} (ranks 1..)")
    print(f"same problems on every rank in both modes: digest {digests.pop()[:16]}")
    summary = {"scale": args.scale, "nproc": args.nproc, "ratio": ratio, "other_ranks_ratio": other_ratio}
    print(json.dumps({**summary, "results": results}))


if __name__ == "__main__":
    main()
