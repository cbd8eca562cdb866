"""What the evaluation progress bar says while the agent generates and the judge runs programs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["RunProgress", "format_duration", "format_rate"]


def format_duration(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a number of seconds."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rate(per_second: float) -> str:
    """A rate with two significant digits below 10 (a slow CPU's 0.4 tok/s must not print as 0)."""
    if per_second >= 10:
        return f"{per_second:.0f}"
    return f"{per_second:.2g}" if per_second >= 0.01 else f"{per_second:.1g}"


class RunProgress:
    """Writes the generation and judging status of a run into a tqdm bar's postfix.

    The agent reports each generated batch through :meth:`batch` (its ``progress_callback``): responses
    done in this turn, tokens per second, and ETAs for the turn and for the run. The run's ETA assumes
    the remaining responses (at most ``remaining_responses``) take as long as the answered ones did,
    judging included.

    Args:
        bar: the tqdm bar (anything with ``set_postfix_str(text, refresh=...)``).
        clock: seconds, monotonic; replaceable in tests.
    """

    def __init__(self, bar: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.bar = bar
        self.clock = clock
        self.started = clock()
        self.answered = 0
        """Responses answered in earlier turns."""
        self.remaining_responses = 0
        """Upper bound on the responses the run still needs after the current turn's."""
        self._turn_started = self.started
        self._turn_tokens = 0
        self._turn_total = 0
        self.updates = 0
        """Postfix updates written (one per batch, per judged step and per turn start)."""

    def turn(self, responses: int, remaining_after: int) -> None:
        """A turn of ``responses`` generations starts; ``remaining_after`` more may follow in the run."""
        self._turn_started = self.clock()
        self._turn_tokens = 0
        self._turn_total = responses
        self.remaining_responses = remaining_after
        self._show(f"generating {responses} responses ({self.answered} answered)")

    def batch(self, done: int, total: int, tokens: int) -> None:
        """The agent finished a batch, or reports a batch still generating: ``done`` of ``total`` responses of
        this turn are finished, ``tokens`` more were generated."""
        now = self.clock()
        self._turn_tokens += tokens
        turn_elapsed = max(now - self._turn_started, 1e-9)
        rate = f", {format_rate(self._turn_tokens / turn_elapsed)} tok/s" if self._turn_tokens else ""
        answered = self.answered + done
        if not answered:  # nothing finished yet: no ETA to give
            self._show(
                f"generating {done}/{total}{rate}, {self._turn_tokens} tokens in {format_duration(turn_elapsed)}"
            )
            return
        per_response = (now - self.started) / answered
        run_eta = per_response * (total - done + self.remaining_responses)
        turn_eta = f"turn ETA {format_duration(turn_elapsed / done * (total - done))}, " if done else ""
        self._show(f"generating {done}/{total}{rate}, {turn_eta}run ETA <= {format_duration(run_eta)}")

    def answered_turn(self, responses: int) -> None:
        """The agent answered the whole turn (also for agents that report no batches)."""
        self.answered += responses

    def judging(self, done: int, total: int) -> None:
        """``done`` of ``total`` programs of this turn are judged."""
        self._show(f"judging {done}/{total} programs ({self.answered} responses answered)")

    def _show(self, text: str) -> None:
        self.updates += 1
        self.bar.set_postfix_str(text, refresh=True)
