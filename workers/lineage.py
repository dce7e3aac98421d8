"""Children forked by a worker (RQ's scheduler) end when the worker ends, however it ends.

RQ runs its scheduler in a forked process and stops it on a warm shutdown, but a worker
killed outright (SIGKILL, the OOM killer) leaves the scheduler running as an orphan that no
process manager knows about. On Linux the kernel can send a child a signal when its parent
dies; the scheduler treats SIGTERM as a request to stop.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
_parent_pid = 0


def end_children_with_this_process() -> None:
    """From now on, every child this process forks gets SIGTERM when this process dies."""
    if sys.platform == "linux":
        os.register_at_fork(before=_remember_parent, after_in_child=_ask_for_sigterm)


def _remember_parent() -> None:
    global _parent_pid  # noqa: PLW0603 - set in the parent, read in the child after fork
    _parent_pid = os.getpid()


def _ask_for_sigterm() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return  # not allowed here (a sandbox): the child behaves as RQ made it
    if os.getppid() != _parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
