"""The README's third-party agent example plugs into the environment and the runner."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from agents.protocol import Agent
from codefeedback_env.envs.code_feedback_env import CodeFeedbackEnv
from codefeedback_env.evaluation import EvalConfig, run_evaluation

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "third_party_agent.py"


def load_example():
    spec = importlib.util.spec_from_file_location("third_party_agent", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_third_party_agent_with_the_env_and_the_runner(demo, judge, tmp_path: Path) -> None:
    agent = load_example().EchoExampleAgent()
    assert isinstance(agent, Agent)
    env = CodeFeedbackEnv(demo, judge=judge)
    obs, info = env.reset(options={"problem_id": "demo/hello-world"})
    _, reward, terminated, _, info = env.step(agent.act([obs], [info])[0])
    assert terminated and reward == 1.0 and info["hidden"]["all_passed"]

    run = run_evaluation(agent, demo[:3], tmp_path, EvalConfig(rollouts=1, progress=False), judge=judge)
    solved = {r["problem_id"]: r["solved"] for r in run.records}
    assert solved == {"demo/hello-world": True, "demo/seven-times-six": True, "demo/count-to-ten": False}
    assert run.records[2]["num_turns"] == 3  # it kept trying after feedback
