"""What of an observation and an info dict may cross the wire: a fixed allow-list, so hidden tests never do.

The environment already keeps hidden tests out of observations and info; the server does not rely on it.
Only the fields below are sent, each rebuilt from plain values (the hidden-test outcome as counts). A key
an environment adds (e.g. a subclass's debugging field) is dropped and logged, never forwarded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

OBSERVATION_KEYS = ("problem", "feedback", "turn")
INFO_KEYS = (
    "problem_id",
    "turn",
    "messages",
    "code",
    "valid_response",
    "public_passed",
    "public_results",
    "hidden",
    "random_feedback",
    "judge_error",
)
HIDDEN_COUNT_KEYS = ("passed", "failed", "skipped", "total")


def wire_observation(observation: Mapping[str, Any]) -> dict[str, Any]:
    """The observation as sent: its text fields and turn number, nothing else."""
    return {
        "problem": str(observation["problem"]),
        "feedback": str(observation["feedback"]),
        "turn": int(observation["turn"]),
    }


def wire_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """The info dict as sent: the allow-listed keys, rebuilt from plain values; other keys are dropped."""
    dropped = sorted(str(key) for key in info if key not in INFO_KEYS)
    if dropped:
        logger.warning("not sending info keys outside the wire allow-list: %s", ", ".join(dropped))
    out: dict[str, Any] = {}
    for key in INFO_KEYS:
        if key not in info:
            continue
        value = info[key]
        if key == "messages":
            value = [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
        elif key == "public_results":
            value = [{"index": int(r["index"]), "verdict": str(r["verdict"]), "time": float(r["time"])} for r in value]
        elif key == "hidden":
            value = {k: int(value[k]) for k in HIDDEN_COUNT_KEYS} | {"all_passed": bool(value["all_passed"])}
        elif key == "random_feedback":
            problem_id, index = value["problem_id"], value["solution_index"]
            value = {
                "source": str(value["source"]),
                "problem_id": None if problem_id is None else str(problem_id),
                "solution_index": None if index is None else int(index),
            }
        elif key == "turn":
            value = int(value)
        elif key in ("valid_response", "public_passed"):
            value = bool(value)
        elif value is not None:  # problem_id, code, judge_error
            value = str(value)
        out[key] = value
    return out
