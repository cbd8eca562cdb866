"""The evaluation progress display: per-batch updates from the agent, ETAs from a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.baselines import ReferenceAgent
from codefeedback_env.evaluation import EvalConfig, run_evaluation
from codefeedback_env.evaluation.progress import RunProgress, format_duration, format_rate


class FakeBar:
    def __init__(self) -> None:
        self.postfixes: list[str] = []

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfixes.append(text)


def started_turn(start: float, rows: int, remaining_after: int) -> tuple[list[float], FakeBar, RunProgress]:
    """A progress display on a fake clock (`now[0]`, at `start`), its first turn of `rows` responses begun."""
    now = [start]
    bar = FakeBar()
    progress = RunProgress(bar, clock=lambda: now[0])
    progress.turn(rows, remaining_after=remaining_after)
    return now, bar, progress


def test_batches_show_responses_tokens_per_second_and_etas() -> None:
    now, bar, progress = started_turn(100.0, 4, remaining_after=8)
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


def test_a_slow_generation_rate_does_not_print_as_zero() -> None:
    now, bar, progress = started_turn(0.0, 8, remaining_after=0)
    now[0] += 148.0
    progress.batch(8, 8, 60)  # 0.41 tok/s: a loaded CPU without native bfloat16
    assert bar.postfixes[-1].startswith("generating 8/8, 0.41 tok/s,")
    assert [format_rate(r) for r in (0.004, 0.96, 2.83, 12.4, 263.2)] == ["0.004", "0.96", "2.8", "12", "263"]


def test_a_local_models_tokens_reach_the_bar_in_both_modes(demo, judge, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("torch")
    from agents.llm.sampling import SamplingConfig
    from agents.llm.transformers_agent import TransformersAgent
    from codefeedback_env.evaluation import runner
    from tests.agents.conftest import build_tiny_chat_model

    bars: list[FakeBar] = []

    def recording(bar, *args, **kwargs):  # type: ignore[no-untyped-def]
        bars.append(FakeBar())
        return RunProgress(bars[-1], *args, **kwargs)

    monkeypatch.setattr(runner, "RunProgress", recording)
    model = build_tiny_chat_model(tmp_path / "model")
    agent = TransformersAgent(str(model), SamplingConfig(temperature=1.0, max_new_tokens=6, seed=1), batch_size=2)
    agent.progress_interval = float("inf")  # one report per batch, none while a batch runs
    for independent in (False, True):
        config = EvalConfig(rollouts=2, max_turns=1, independent=independent)
        run_evaluation(agent, demo[:2], tmp_path / str(independent), config, judge=judge)
    rates = [[text for text in bar.postfixes if "tok/s" in text] for bar in bars]
    assert len(rates) == 2 and all(len(shown) == 2 for shown in rates)  # two batches of 2 in each mode
    assert all(" 0 tok/s" not in text for shown in rates for text in shown)
