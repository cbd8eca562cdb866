"""What an evaluation will run, and roughly how long it takes, said before it starts."""

from __future__ import annotations

from math import ceil


def planned_batches(episodes: int, max_turns: int, batch_size: int, modes: int = 1) -> int:
    """Generation batches a run needs at most: every episode of every mode using all its turns."""
    return modes * max_turns * ceil(episodes / batch_size)


def describe_plan(
    *,
    agent: str,
    dataset: str,
    problems: int,
    rollouts: int,
    max_turns: int,
    modes: list[str],
    max_new_tokens: int | None,
) -> str:
    """One line: who answers what, how many episodes and responses at most."""
    episodes = problems * rollouts
    tokens = f" of up to {max_new_tokens} tokens" if max_new_tokens else ""
    return (
        f"will run {agent} on {dataset} ({problems} problems) x {rollouts} rollouts x up to {max_turns} turns, "
        f"{' then '.join(modes)}: {episodes * len(modes)} episodes, at most "
        f"{episodes * max_turns * len(modes)} responses{tokens}"
    )


def describe_estimate(responses: int, tokens: int, seconds: float, batches: int) -> str:
    """One line: the measured batch and the run's time if each of its `batches` takes as long."""
    rate = tokens / seconds if seconds > 0 else float("inf")
    total = batches * seconds
    when = f"{total / 60:.1f} min" if total >= 90 else f"{total:.0f} s"
    return (
        f"speed: a batch of {responses} turn-1 responses took {seconds:.1f} s ({tokens} tokens, {rate:.0f} tokens/s); "
        f"the run needs at most {batches} such batches: about {when} of generation at most (episodes that end early "
        "need fewer; judging and later turns' longer prompts add some)"
    )
