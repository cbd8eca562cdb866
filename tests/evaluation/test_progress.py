"""The evaluation progress display: per-batch updates from the agent, ETAs from a fake clock."""

from __future__ import annotations

from pathlib import Path

from agents.baselines import ReferenceAgent
from codefeedback_env.evaluation import EvalConfig, run_evaluation
from codefeedback_env.evaluation.progress import RunProgress, format_duration


class FakeBar:
    def __init__(self) -> None:
        self.postfixes: list[str] = []

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfixes.append(text)


def test_batches_show_responses_tokens_per_second_and_etas() -> None:
    now = [100.0]
    bar = FakeBar()
    progress = RunProgress(bar, clock=lambda: now[0])
    progress.turn(4, remaining_after=8)
    now[0] += 10.0
    progress.batch(2, 4, 50)  # 2 responses and 50 tokens in 10 s
    assert bar.postfixes[-1] == "generating 2/4, 5 tok/s, turn ETA 0:10, run ETA <= 0:50"  # 5 s x (2 + 8)
    now[0] += 10.0
    progress.batch(4, 4, 50)
    assert bar.postfixes[-1] == "generating 4/4, 5 tok/s, turn ETA 0:00, run ETA <= 0:40"
    progress.answered_turn(4)
    progress.judging(1, 4)
    assert bar.postfixes[-1] == "judging 1/4 programs (4 responses answered)"
    assert format_duration(3725) == "1:02:05"


class BatchReportingAgent(ReferenceAgent):
    """The reference agent, answering one response per batch and reporting each through the hook."""

    def __init__(self, problems: list) -> None:
        super().__init__(problems)
        self.progress_callback = None
        self.reports: list[tuple[int, int, int]] = []

    def act(self, observations, infos):  # type: ignore[no-untyped-def]
        responses = []
        for observation, info in zip(observations, infos, strict=True):
            responses.extend(super().act([observation], [info]))
            if self.progress_callback is not None:
                self.progress_callback(len(responses), len(observations), 7)
                self.reports.append((len(responses), len(observations), 7))
        return responses


def test_the_runner_hears_every_batch_and_unhooks_after(demo, judge, tmp_path: Path) -> None:
    agent = BatchReportingAgent(demo[:3])
    run = run_evaluation(agent, demo[:3], tmp_path / "on", EvalConfig(rollouts=2, max_turns=1), judge=judge)
    assert len(agent.reports) == 6  # one per response: 3 problems x 2 rollouts, one turn
    assert [done for done, _, _ in agent.reports] == list(range(1, 7))
    assert agent.progress_callback is None and run.new_episodes == 6
    quiet = BatchReportingAgent(demo[:3])
    run_evaluation(quiet, demo[:3], tmp_path / "off", EvalConfig(rollouts=1, max_turns=1, progress=False), judge=judge)
    assert quiet.reports == []  # --quiet: no hook, no bar
