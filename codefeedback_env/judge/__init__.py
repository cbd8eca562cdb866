"""Run untrusted programs on tests and decide verdicts in the parent process."""

from codefeedback_env.judge.backend import BackendFailure, ExecutionBackend, Limits, ProgramBackend, RunOutcome
from codefeedback_env.judge.cache import CacheStats, VerdictCache
from codefeedback_env.judge.compare import outputs_match
from codefeedback_env.judge.judge import Judge, make_backend, syntax_error
from codefeedback_env.judge.results import JudgeResult, TestResult, Verdict

__all__ = [
    "BackendFailure",
    "CacheStats",
    "ExecutionBackend",
    "Judge",
    "JudgeResult",
    "Limits",
    "ProgramBackend",
    "RunOutcome",
    "TestResult",
    "Verdict",
    "VerdictCache",
    "make_backend",
    "outputs_match",
    "syntax_error",
]
