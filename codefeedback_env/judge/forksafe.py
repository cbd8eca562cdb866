"""Fork safety: objects holding threads, locks or worker processes start over in a forked child.

A child made by `os.fork()` (multiprocessing's default "fork" context, as in Gymnasium's async vector
environment) keeps only the thread that forked. A copied thread pool believes its threads are still there
and never runs a task; a copied lock may be held by a thread that no longer exists; copied connections lead
to the parent's workers, which the child must neither use nor stop. Objects register here and, right after
a fork, each one's `_after_fork_in_child()` drops what it inherited and recreates it lazily on next use.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from typing import Protocol

logger = logging.getLogger(__name__)


class ForkAware(Protocol):
    def _after_fork_in_child(self) -> None:
        """Forget the parent's threads, locks, connections and processes (never touch the parent's workers)."""
        ...


_live: weakref.WeakSet[ForkAware] = weakref.WeakSet()
_lock = threading.Lock()


def register(obj: ForkAware) -> None:
    """Call `obj._after_fork_in_child()` in every child forked while `obj` is alive (and not unregistered)."""
    with _lock:
        _live.add(obj)


def unregister(obj: ForkAware) -> None:
    """Stop resetting `obj` after forks (e.g. once it is closed: a child must not revive it)."""
    with _lock:
        _live.discard(obj)


def _before_fork() -> None:
    _lock.acquire()


def _after_fork_in_parent() -> None:
    _lock.release()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for obj in list(_live):
        try:
            obj._after_fork_in_child()
        except Exception:  # one broken object must not stop the others from resetting
            logger.exception("resetting %r after fork failed", obj)


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
