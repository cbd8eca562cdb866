"""A third-party agent in twenty lines: any object with `act(observations, infos) -> list[str]` plugs in.

Run: python examples/third_party_agent.py   (evaluates it on three demo problems, one rollout each)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class EchoExampleAgent:
    """Prints the first example output found in the statement; fixes nothing, reads feedback anyway."""

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        responses = []
        for obs, info in zip(observations, infos, strict=False):
            prompt = info["messages"][-1]["content"]  # the user message to answer (feedback after turn 1)
            lines = obs["problem"].split("Output\n\n")
            guess = lines[-1].strip().splitlines()[0] if len(lines) > 1 else ""
            responses.append(f"Turn {info['turn'] + 1} ({len(prompt)} chars read).\n```python\nprint({guess!r})\n```")
        return responses


def main() -> None:
    from codefeedback_env.evaluation import EvalConfig, format_summary, run_evaluation
    from codefeedback_env.problems import load_problems

    problems = load_problems("demo")[:3]
    run = run_evaluation(EchoExampleAgent(), problems, "runs/third_party_example", EvalConfig(rollouts=1))
    print(format_summary(run.summary, "EchoExampleAgent on 3 demo problems"))


if __name__ == "__main__":
    main()
