"""A fast, hardened judge backend: pre-started workers that fork one locked-down child per test.

Use it with `Judge(backend=WorkerPoolBackend())`; see `backend.py` for the lifecycle and
`isolation.py` for the layers and what each needs from the machine.
"""

from codefeedback_env.judge.pool.backend import PoolOptions, WorkerError, WorkerLost, WorkerPoolBackend

__all__ = ["PoolOptions", "WorkerError", "WorkerLost", "WorkerPoolBackend"]
