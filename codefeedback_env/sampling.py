"""How an LLM agent samples: the settings `codefeedback eval` passes to every LLM backend (re-exported by
`agents.llm.sampling`, where the backends' shared sampling helpers live)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SamplingConfig"]


@dataclass(frozen=True)
class SamplingConfig:
    """How an LLM agent samples one response per prompt."""

    temperature: float = 1.0
    """Softmax temperature; 0 means greedy decoding."""
    top_p: float = 1.0
    """Nucleus sampling mass in (0, 1]; 1 keeps the whole distribution. Top-k is never applied."""
    max_new_tokens: int = 512
    """Upper bound on the number of generated tokens per response."""
    seed: int | None = None
    """Seed of the agent's sampling stream; None leaves sampling unseeded (not reproducible)."""
    stop_at_program_end: bool = False
    """End each response just after its first complete ```python block (the only part the environment
    runs) instead of at the end-of-sequence token or ``max_new_tokens``. Saves the tokens of the prose
    that follows a program; off keeps the paper's full responses."""

    def __post_init__(self) -> None:
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, (int, float)):
            raise TypeError(f"temperature must be a number, got {self.temperature!r}")
        if not self.temperature >= 0.0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature!r}; use 0 for greedy decoding")
        if isinstance(self.top_p, bool) or not isinstance(self.top_p, (int, float)):
            raise TypeError(f"top_p must be a number, got {self.top_p!r}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}; use 1.0 to disable nucleus sampling")
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int):
            raise TypeError(f"max_new_tokens must be an int, got {self.max_new_tokens!r}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}; the paper's setting is 512")
        if not isinstance(self.stop_at_program_end, bool):
            raise TypeError(f"stop_at_program_end must be a bool, got {self.stop_at_program_end!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0):
            raise ValueError(
                f"seed must be None or a non-negative int, got {self.seed!r}; use None for unseeded sampling"
            )

    @property
    def greedy(self) -> bool:
        """Whether decoding is greedy (temperature 0). Derived from ``temperature``."""
        return self.temperature == 0.0
