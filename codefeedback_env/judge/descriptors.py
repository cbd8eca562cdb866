"""Waiting for descriptors, whatever their numbers.

`select.select` refuses descriptors numbered 1024 or more (`FD_SETSIZE`), which a judge inside a trainer (open
datasets and sockets, a raised descriptor limit) reaches: every wait of the judge's process goes through `ready`,
which uses `poll` where the platform has it. Standard library only.
"""

from __future__ import annotations

import select
from collections.abc import Sequence


def ready(fds: Sequence[int], timeout: float, *, write: bool = False) -> list[int]:
    """The descriptors of `fds` ready to read (or to `write`), waiting up to `timeout` seconds; a descriptor
    whose other end closed or failed counts as ready, as with `select`."""
    if not hasattr(select, "poll"):
        readable, writable, _ = select.select([] if write else fds, fds if write else [], [], max(0.0, timeout))
        return writable if write else readable
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLOUT if write else select.POLLIN)
    return [fd for fd, _ in poller.poll(max(0.0, timeout) * 1000)]
