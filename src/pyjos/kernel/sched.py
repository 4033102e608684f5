"""Round-robin scheduling (JOS's kern/sched.c), deterministic.

The next env is the first RUNNABLE one after the current env in envs[]
order, wrapping around; the current env runs again only when no other env is
runnable.  ``EnvTable.runnable`` is a sorted index of the envs that may run
(RUNNABLE, and the RUNNING one), kept by ``EnvTable.set_status``, so picking
is O(log n) however many envs are blocked.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kernel import Kernel


def sched_pick(k: Kernel) -> int | None:
    """Index of the env to run next, or None when nothing can run."""
    runnable = k.envtab.runnable
    if not runnable:
        return None
    cur = k.envtab.curenv
    pos = bisect_right(runnable, cur if cur is not None else -1)
    return runnable[pos % len(runnable)]
