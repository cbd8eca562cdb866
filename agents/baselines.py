"""Baseline agents: the reference solution (upper bound, judge check), replayed responses, random programs.

All three are cheap and deterministic given their seed, so they also serve as test doubles for runners.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from codefeedback_env.problems import Problem

logger = logging.getLogger(__name__)

__all__ = ["RandomAgent", "ReferenceAgent", "ReplayAgent", "fenced", "read_replay_file"]


def fenced(code: str) -> str:
    """A response holding `code` in a ```python fence (what the environment extracts)."""
    return f"```python\n{code.rstrip()}\n```"


def _problem_id(info: Mapping[str, Any], index: int) -> str:
    problem_id = info.get("problem_id") if isinstance(info, Mapping) else None
    if not isinstance(problem_id, str):
        raise ValueError(f"infos[{index}] has no 'problem_id' (str); pass the info dicts the environment returned")
    return problem_id


class ReferenceAgent:
    """Answers every turn with the problem's first known-correct solution, looked up by `info["problem_id"]`.

    An upper bound for any agent and a check of the judge: it should solve every problem at turn 1.
    Problems without a solution get `missing_response` (default: a response without code).
    """

    def __init__(self, problems: Iterable[Problem], *, missing_response: str = "I do not know.") -> None:
        self.solutions: dict[str, str] = {p.id: p.solutions[0] for p in problems if p.solutions}
        self.missing_response = missing_response

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """One fenced reference solution per observation."""
        responses = []
        for index, info in enumerate(infos):
            code = self.solutions.get(_problem_id(info, index))
            responses.append(fenced(code) if code is not None else self.missing_response)
        return responses


class RandomAgent:
    """Answers with the solution of a different problem, drawn uniformly with a seeded generator.

    A floor for any agent: valid code that solves the wrong task (and the source of "unrelated programs").
    """

    def __init__(self, problems: Iterable[Problem], *, seed: int = 0) -> None:
        self.pool: list[tuple[str, str]] = [(p.id, s) for p in problems for s in p.solutions]
        if len({problem_id for problem_id, _ in self.pool}) < 2:
            raise ValueError("RandomAgent needs solutions of at least two different problems")
        self.seed = seed
        self._rng = random.Random(seed)

    def reset(self) -> None:
        """Restart the seeded draw sequence."""
        self._rng = random.Random(self.seed)

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """One fenced program of another problem per observation."""
        responses = []
        for index, info in enumerate(infos):
            problem_id = _problem_id(info, index)
            while True:
                other_id, code = self.pool[self._rng.randrange(len(self.pool))]
                if other_id != problem_id:
                    break
            responses.append(fenced(code))
        return responses


ReplayKey = tuple[str, int, int]
"""(problem_id, rollout, turn) with rollout counted from 0 and turn from 1."""


def read_replay_file(path: str | Path) -> dict[ReplayKey, str]:
    """Read recorded responses from a JSONL file.

    Each line is either a response record
    `{"problem_id": str, "rollout": int (from 0), "turn": int (from 1), "response": str}`
    or an episode record written by the evaluation runner (`episodes.jsonl`, with a `"turns"` list),
    whose responses are expanded into response records. Later lines override earlier ones.
    """
    records: dict[ReplayKey, str] = {}
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if "turns" in row:
                    for turn in row["turns"]:
                        records[(str(row["problem_id"]), int(row["rollout"]), int(turn["turn"]))] = str(
                            turn["response"]
                        )
                else:
                    records[(str(row["problem_id"]), int(row.get("rollout", 0)), int(row["turn"]))] = str(
                        row["response"]
                    )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise ValueError(
                    f"{path}, line {number}: expected {{'problem_id', 'rollout', 'turn', 'response'}} "
                    f"or an episode record; {type(error).__name__}: {error}"
                ) from error
    return records


class ReplayAgent:
    """Replays recorded responses, so the outputs of any external system can be scored.

    The response for an observation is looked up by `(info["problem_id"], info["rollout"], info["turn"] + 1)`:
    `info["turn"]` is the number of turns already taken, and the evaluation runner adds `info["rollout"]`
    (0 when absent); under `IndependentSampling`, `info["true_turn"]` is used. A missing record raises
    `KeyError`, or returns `missing_response` when one is given.
    """

    def __init__(self, records: Mapping[ReplayKey, str] | str | Path, *, missing_response: str | None = None) -> None:
        self.records: dict[ReplayKey, str] = (
            read_replay_file(records) if isinstance(records, (str, Path)) else dict(records)
        )
        self.missing_response = missing_response

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """The recorded response of each (problem, rollout, turn)."""
        responses = []
        for index, info in enumerate(infos):
            turn = info.get("true_turn", info.get("turn", 0))  # true_turn: set by IndependentSampling
            key = (_problem_id(info, index), int(info.get("rollout", 0)), int(turn) + 1)
            response = self.records.get(key)
            if response is None:
                if self.missing_response is None:
                    raise KeyError(f"no recorded response for (problem_id, rollout, turn) = {key}")
                logger.debug("no recorded response for %s", key)
                response = self.missing_response
            responses.append(response)
        return responses
