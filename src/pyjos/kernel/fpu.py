"""x87/MMX and SSE registers per env, switched lazily (xv6 has none; Linux's
old lazy scheme).

Each CPU's FPU holds the state of one env at most, ``Cpu.fpu_env``.  When a
CPU runs another env, CR0.TS is set (``Machine.set_fpu_trap``), so that env's
first x87, MMX or SSE instruction raises #NM: only then is the owner's state
saved (into ``EnvTable.fpu``) and the new env's loaded (a fresh ``fninit``
state the first time).  Envs that never touch the FPU, which is nearly all
of them, cost one comparison per switch; the ~40 register reads and writes
of a switch are paid only by envs that use it, once per slice they share the
CPU.  ARCHITECTURE.md has the measurement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..machine import INITIAL_EXTENDED

if TYPE_CHECKING:
    from .cpu import Cpu
    from .kernel import Kernel


def fpu_trap(k: Kernel, cpu: Cpu) -> None:
    """#NM: give cpu's FPU to the env running there, saving its owner's state
    (on this CPU or another one), then retry the instruction."""
    idx, saved = cpu.env, k.envtab.fpu
    for other in k.cpus:
        if other.fpu_env == idx and other is not cpu:
            saved[idx] = other.machine.save_extended()
            other.fpu_env = None
    if cpu.fpu_env is not None:
        saved[cpu.fpu_env] = cpu.machine.save_extended()
    cpu.machine.load_extended(saved.get(idx, INITIAL_EXTENDED))
    cpu.fpu_env = idx
    cpu.machine.set_fpu_trap(False)


def fpu_state(k: Kernel, idx: int) -> tuple[int, ...] | None:
    """Env idx's FPU state wherever it is (None: it never used the FPU)."""
    for cpu in k.cpus:
        if cpu.fpu_env == idx:
            return cpu.machine.save_extended()
    return k.envtab.fpu.get(idx)


def fpu_clone(k: Kernel, parent: int, child: int) -> None:
    """The child of a fork starts with its parent's FPU state."""
    state = fpu_state(k, parent)
    if state is not None:
        k.envtab.fpu[child] = state


def fpu_forget(k: Kernel, idx: int) -> None:
    """Env idx is being freed: no CPU holds its state any more."""
    for cpu in k.cpus:
        if cpu.fpu_env == idx:
            cpu.fpu_env = None
    k.envtab.fpu.pop(idx, None)
