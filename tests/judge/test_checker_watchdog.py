"""The checker's deadline: raised inside the block, repeated if swallowed, never after leaving it."""

from __future__ import annotations

import os
import time

import pytest

from codefeedback_env.judge.checker_watchdog import CheckerDeadline, CheckerTimeout


def spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_a_loop_is_interrupted_at_the_deadline_and_nothing_arrives_later():
    started = time.monotonic()
    with pytest.raises(CheckerTimeout), CheckerDeadline(started + 0.1):
        while True:
            pass
    assert time.monotonic() - started < 5.0
    spin(0.3)  # a pending exception would surface here


def test_swallowed_timeouts_are_raised_again_until_the_block_is_left():
    caught = 0
    deadline = CheckerDeadline(time.monotonic() + 0.05)
    with pytest.raises(CheckerTimeout), deadline:
        while True:
            try:
                while True:
                    pass
            except CheckerTimeout:
                caught += 1
                if caught == 3:
                    raise
    assert deadline.fired and caught == 3
    spin(0.3)


def test_a_block_that_ends_in_time_is_untouched():
    deadline = CheckerDeadline(time.monotonic() + 0.2)
    with deadline:
        spin(0.01)
    assert not deadline.fired
    spin(0.4)  # past the deadline: the disarmed timer raises nothing


def test_a_forked_child_gets_its_own_watchdog():
    with CheckerDeadline(time.monotonic() + 30):  # armed in the parent while it forks
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                with CheckerDeadline(time.monotonic() + 0.05):
                    while True:
                        pass
            except CheckerTimeout:
                status = 0
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_time_in_a_paused_block_is_not_counted():
    """The checker's calls to the program are paused: waiting for an answer never spends the checker's time."""
    started = time.monotonic()
    deadline = CheckerDeadline(started + 0.2)
    with pytest.raises(CheckerTimeout), deadline:
        with deadline.paused():
            time.sleep(0.5)  # past the deadline, paused: nothing fires
        assert not deadline.fired
        while True:  # the 0.2 s left when the pause began run out now
            pass
    assert deadline.fired and time.monotonic() - started >= 0.65
    spin(0.3)


def test_a_deadline_resumed_after_a_long_pause_still_fires():
    """The watchdog found every block paused and slept with nothing due: the resume must wake it."""
    deadline = CheckerDeadline(time.monotonic() + 0.1)
    started = time.monotonic()
    with pytest.raises(CheckerTimeout), deadline:
        with deadline.paused():
            time.sleep(0.3)  # past the old due: the watchdog wakes, finds the block paused, sleeps indefinitely
        while time.monotonic() - started < 5.0:
            pass
    assert deadline.fired and time.monotonic() - started < 2.0
    spin(0.3)
