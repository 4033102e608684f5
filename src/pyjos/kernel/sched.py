"""Round-robin scheduling (JOS's kern/sched.c), deterministic.

The next env is the first RUNNABLE one after the CPU's current env in envs[]
order, wrapping around; the current env runs again only when no other env is
runnable.  ``EnvTable.runnable`` is a sorted index of the envs that may run
(RUNNABLE, and the RUNNING one), kept by ``EnvTable.set_status``, so picking
is O(log n) however many envs are blocked.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from ..abi import FL_VM
from .env import destroy_foreign, env_run

if TYPE_CHECKING:
    from .cpu import Cpu
    from .kernel import Kernel


def sched_pick(k: Kernel) -> int | None:
    """Index of the env k.cpu runs next, or None when nothing can run."""
    runnable = k.envtab.runnable
    if not runnable:
        return None
    cur = k.cpu.env
    pos = bisect_right(runnable, cur if cur is not None else -1)
    return runnable[pos % len(runnable)]


def sched_yield(k: Kernel, cpu: Cpu, in_hook: bool) -> None:
    """Save the current env (if it still exists) and run the next one on cpu,
    or stop the machine when nothing can run (JOS's sched_yield and
    sched_halt)."""
    cpu.resched = False
    cur = cpu.env
    if cur is not None:
        cpu.save_frame(cur)
        if k.envs[cur].env_tf.tf_eflags & FL_VM:  # see destroy_foreign
            destroy_foreign(k, cpu, cur, in_hook)
            cpu.resched, cur = False, None
    nxt = sched_pick(k)
    if nxt is None:
        cpu.env = None
        k.halt("idle")
        return
    if nxt != cur:
        env_run(k, cpu, nxt, in_hook)
    else:
        k.envs[cur].env_runs += 1
