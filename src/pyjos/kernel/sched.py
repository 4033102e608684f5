"""Round-robin scheduling (JOS's kern/sched.c), deterministic.

The next env of a CPU is the first RUNNABLE one after the CPU's current env in
envs[] order, wrapping around; an env RUNNING on another CPU is never picked,
and the current env runs again only when no other env is runnable.
``EnvTable.runnable`` is a sorted index of the envs that may run (RUNNABLE,
and the RUNNING ones), kept by ``EnvTable.set_status``, so picking is
O(log n + CPUs) however many envs are blocked.  A CPU with nothing to run
halts (its run loop wakes it when an env becomes runnable); when no CPU has
anything left, the machine stops ("idle").
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from ..abi import FL_VM, EnvStatus
from .env import destroy_foreign, env_run

if TYPE_CHECKING:
    from .cpu import Cpu
    from .kernel import Kernel

_RUNNABLE = EnvStatus.ENV_RUNNABLE
_RUNNING = EnvStatus.ENV_RUNNING


def sched_pick(k: Kernel) -> int | None:
    """Index of the env k.cpu runs next, or None when nothing can run."""
    runnable = k.envtab.runnable
    n = len(runnable)
    if not n:
        return None
    envs = k.envs
    cur = k.cpu.env
    pos = bisect_right(runnable, cur if cur is not None else -1)
    for i in range(pos, pos + n):
        idx = runnable[i % n]
        if envs[idx].env_status == _RUNNABLE:
            return idx
    if cur is not None and envs[cur].env_status == _RUNNING:
        return cur  # nothing else: the current env goes on
    return None


def sched_yield(k: Kernel, cpu: Cpu, in_hook: bool) -> None:
    """Save the current env (if it still exists) and run the next one on cpu,
    or halt cpu when nothing can run (JOS's sched_yield and sched_halt)."""
    cpu.resched = False
    cur = cpu.env
    if cur is not None:
        cpu.save_frame(cur)
        if cpu.saved_eflags(cur) & FL_VM:  # see destroy_foreign
            destroy_foreign(k, cpu, cur, in_hook)
            cpu.resched, cur = False, None
    nxt = sched_pick(k)
    if nxt is None:
        sched_halt(k, cpu)
        return
    if nxt != cur:
        env_run(k, cpu, nxt, in_hook)
    else:
        k.envs[cur].env_runs += 1


def sched_halt(k: Kernel, cpu: Cpu) -> None:
    """cpu has nothing to run: it halts until an env becomes runnable; if no
    CPU runs anything, the machine stops."""
    cpu.env = None
    if all(other.env is None for other in k.cpus):
        k.halt("idle")
    else:
        cpu.machine.stop()
