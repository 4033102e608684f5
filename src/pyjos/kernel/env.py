"""Environments (JOS's kern/env.c): envs[] in guest memory, ids, life cycle.

``envs[]`` is an array of ``abi.Env`` laid over guest physical memory and
mapped read-only to users at UENVS, so ``thisenv->env_id`` works natively in
the guest.  The free list is threaded through ``env_link`` (kernel virtual
addresses), with the freed env pushed at the front as JOS does, so env ids and
their reuse match JOS exactly.

While an env runs, its registers live in its CPU; ``env_tf`` is written when
it stops running (``Cpu.save_frame``) and read when it resumes.  Loading a
program into an env is load.py's.
"""

from __future__ import annotations

import ctypes
from bisect import bisect_left, insort
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..abi import (
    E_BAD_ENV, E_NO_FREE_ENV, E_NO_MEM, ENV_TYPE_USER, FL_IF, GD_UD, GD_UT,
    KERNBASE, NENV, PGSHIFT, PGSIZE, USTACKTOP, UTOP, Env, EnvStatus, Trap, offset_of,
)
from .fpu import fpu_clone, fpu_forget
from .pmap import Pmap
from .trapframe import print_trapframe

if TYPE_CHECKING:
    from .cpu import Cpu
    from .kernel import Kernel

ENVGENSHIFT = 12  # >= LOGNENV
_MAY_RUN = frozenset((EnvStatus.ENV_RUNNABLE, EnvStatus.ENV_RUNNING))
ENV_SIZE = ctypes.sizeof(Env)
# env_id, env_parent_id, env_type, env_status: adjacent words of struct Env,
# read as words of guest memory on the system-call path (a ctypes field read
# costs several times more)
_IDS_AT = offset_of(Env, "env_id")
assert offset_of(Env, "env_status") == _IDS_AT + 12 and ENV_SIZE % 4 == _IDS_AT % 4 == 0
_ENV_WORDS = ENV_SIZE // 4
# (module names: an enum member looked up on its class costs a dict lookup and a
# descriptor call, on the switch path)
_ENV_FREE, _RUNNABLE, _RUNNING = EnvStatus.ENV_FREE, EnvStatus.ENV_RUNNABLE, EnvStatus.ENV_RUNNING


@dataclass
class Program:
    """A loaded program: its name, ELF bytes and symbols (for backtraces)."""

    name: str
    elf: bytes
    symbols: list[tuple[int, int, str]] = field(default_factory=list)


class EnvTable:
    """envs[], the env free list, and the operations of kern/env.c."""

    def __init__(self, pmap: Pmap, emit: Callable[[str], None]) -> None:
        self.pmap = pmap
        self._words = pmap.words
        self._ids_at = (pmap.envs_pa + _IDS_AT) // 4  # envs[0].env_id in words
        self.emit = emit
        array = (Env * NENV).from_buffer(pmap.mem.buf, pmap.envs_pa)
        # One ctypes view per slot, made once: indexing the array would build a
        # new view on every access.  Views hold no data of their own.
        self.envs: list[Env] = [array[i] for i in range(NENV)]
        self.programs: dict[int, Program] = {}  # env index -> the program it runs
        self.runnable: list[int] = []  # sorted indexes of RUNNABLE and RUNNING envs (sched.py)
        self._free_head: int | None = None
        # Physical address of each env's page directory (env_pgdir holds its
        # JOS kernel virtual address, for guests; the kernel uses this).
        self._pgdir_pa = [0] * NENV
        self.fpu: dict[int, tuple[int, ...]] = {}  # saved x87/SSE state per env (fpu.py)
        # Each env's fs and gs (no Trapframe slot holds them; guests never see
        # them here): two 32-bit words per env, written by the frame save.
        self.fs_gs = (ctypes.c_uint32 * (2 * NENV))()
        for i in range(NENV - 1, -1, -1):
            self._push_free(i)

    # --- ids -----------------------------------------------------------------
    def kva(self, idx: int) -> int:
        """Kernel virtual address of envs[idx] (what JOS pointers hold)."""
        return KERNBASE + self.pmap.envs_pa + idx * ENV_SIZE

    def env_id(self, idx: int | None) -> int:
        """Id of env idx, 0 for None (the creator id JOS prints for the kernel)."""
        return self.envs[idx].env_id if idx is not None else 0

    def envid2env(self, envid: int, checkperm: bool, cur: int | None) -> tuple[int, int]:
        """(0, index) of the env named by envid, or (-E_BAD_ENV, -1).

        envid 0 is cur, the calling env.  With checkperm the env must be cur
        or its immediate child.
        """
        if envid == 0:
            return 0, cur
        idx = envid & (NENV - 1)
        words, ids = self._words, self._ids_at
        at = ids + idx * _ENV_WORDS  # env_id, then env_parent_id, env_type, env_status
        if words[at] != envid or words[at + 3] == _ENV_FREE:
            return -E_BAD_ENV, -1
        if checkperm and idx != cur:
            cur_id = words[ids + cur * _ENV_WORDS] if cur is not None else 0
            if words[at + 1] != cur_id:
                return -E_BAD_ENV, -1
        return 0, idx

    def fs_gs_address(self, idx: int) -> int:
        """Host address of env idx's fs and gs words (for its frame batches)."""
        return ctypes.addressof(self.fs_gs) + 8 * idx

    def pgdir(self, idx: int) -> int:
        """Physical address of env idx's page directory."""
        return self._pgdir_pa[idx]

    def set_status(self, idx: int, status: EnvStatus) -> None:
        """Change an env's status; the one place that does (keeps `runnable`,
        the envs that may run: RUNNABLE or RUNNING)."""
        e = self.envs[idx]
        was, now = e.env_status in _MAY_RUN, status in _MAY_RUN
        if was and not now:
            del self.runnable[bisect_left(self.runnable, idx)]
        elif now and not was:
            insort(self.runnable, idx)
        e.env_status = status

    # --- life cycle --------------------------------------------------------------
    def _push_free(self, idx: int) -> None:
        self.envs[idx].env_link = self.kva(self._free_head) if self._free_head is not None else 0
        self._free_head = idx

    def env_alloc(self, parent_id: int, by: int = 0) -> tuple[int, int]:
        """(0, index) of a new RUNNABLE env with an empty user address space.

        Errors: -E_NO_FREE_ENV when all NENV envs exist, -E_NO_MEM when no page
        is left for its page directory.  `by` is the id of the env asking (0:
        the kernel), for JOS's console line.
        """
        idx = self._free_head
        if idx is None:
            return -E_NO_FREE_ENV, -1
        pgdir = self.pmap.new_pgdir()
        if pgdir is None:
            return -E_NO_MEM, -1
        e = self.envs[idx]
        link = e.env_link
        self._free_head = (link - self.kva(0)) // ENV_SIZE if link else None
        generation = (e.env_id + (1 << ENVGENSHIFT)) & ~(NENV - 1) & 0x7FFFFFFF
        if generation <= 0:
            generation = 1 << ENVGENSHIFT
        ctypes.memset(ctypes.addressof(e), 0, ENV_SIZE)
        e.env_id = generation | idx
        e.env_parent_id = parent_id
        e.env_type = ENV_TYPE_USER
        e.env_pgdir = KERNBASE + pgdir  # new_pgdir keeps it below KERN_WINDOW
        self._pgdir_pa[idx] = pgdir
        tf = e.env_tf
        tf.tf_ds = tf.tf_es = tf.tf_ss = GD_UD | 3
        tf.tf_cs = GD_UT | 3
        tf.tf_esp = USTACKTOP
        tf.tf_eflags = FL_IF
        self.fs_gs[2 * idx] = self.fs_gs[2 * idx + 1] = GD_UD | 3
        self.set_status(idx, EnvStatus.ENV_RUNNABLE)
        self.emit(f"[{by:08x}] new env {e.env_id:08x}\n")
        return 0, idx

    def env_free(self, idx: int, by: int = 0) -> None:
        """Release env idx's memory and return it to the free list (`by`: the
        id of the env doing it, 0 for the kernel).  No CPU may be running it."""
        e = self.envs[idx]
        self.pmap.events.emit("env_free", idx, e.env_id)  # its memory still mapped
        self.emit(f"[{by:08x}] free env {e.env_id:08x}\n")
        pmap = self.pmap
        pgdir = self.pgdir(idx)
        pmap.unload_pgdir(pgdir)
        pmap.free_user_tables(pgdir)
        pmap.page_decref(pgdir >> PGSHIFT)
        e.env_pgdir = 0
        self._pgdir_pa[idx] = 0
        self.set_status(idx, EnvStatus.ENV_FREE)
        self.programs.pop(idx, None)
        self.fpu.pop(idx, None)
        self._push_free(idx)

    def live(self) -> list[int]:
        """Indexes of every env that is not free (exactly those with a page
        directory: cheaper to read than each env_status)."""
        return [i for i, pa in enumerate(self._pgdir_pa) if pa]

assert UTOP % PGSIZE == 0 and ENV_SIZE == 124


# --- the life cycle as the kernel drives it ---------------------------------------
def env_destroy(k: Kernel, idx: int) -> None:
    """Free env idx (JOS's env_destroy).  If a CPU was running it, that CPU
    picks another env at the end of this trap (or, if it is another CPU,
    before its next sub-slice: the kernel runs one CPU at a time, so the env
    is not running anywhere now and can be freed at once, without JOS's
    ENV_DYING)."""
    by = k.cur_id()
    k.forks.forget(idx)
    k.upcalls_open.pop(idx, None)
    fpu_forget(k, idx)
    for cpu in k.cpus:
        if cpu.env == idx:  # this CPU, or another one paused between its sub-slices
            cpu.env = None
            cpu.resched = True
            cpu.machine.context_lost()
    k.envtab.env_free(idx, by)


def destroy_foreign(k: Kernel, cpu: Cpu, idx: int, in_hook: bool,
                    trapno: int = Trap.T_GPFLT, err: int = 0) -> None:
    """Destroy env idx, running on cpu and saved into env_tf, which left plain
    ring 3 (virtual-8086 mode, which Unicorn lets a ring-3 iret enter; foreign
    cs/ss come only from there, as the GDT has one user code and one user
    data segment): a line and JOS's trap printout, then cpu's mode is reset
    for the next env (Machine.reset_user_mode)."""
    tf = k.envs[idx].env_tf
    tf.tf_cs, tf.tf_ss = cpu.machine.segments()[2:]
    tf.tf_trapno, tf.tf_err = trapno, err
    k.cprintf(f"[{k.envs[idx].env_id:08x}] user mode left: eflags {tf.tf_eflags:08x} "
              f"cs {tf.tf_cs:04x} ss {tf.tf_ss:04x}\n")
    print_trapframe(k, idx)
    env_destroy(k, idx)
    cpu.machine.reset_user_mode(in_hook)


def env_clone_registers(k: Kernel, parent: int, child: int) -> None:
    """Give child the running parent's registers with eax = 0 (its return
    value from the fork) and the parent's program (for backtraces)."""
    k.cpu.save_frame(parent)
    envs = k.envs
    envs[child].env_tf = envs[parent].env_tf
    envs[child].env_tf.tf_regs.reg_eax = 0
    fs_gs = k.envtab.fs_gs
    fs_gs[2 * child], fs_gs[2 * child + 1] = fs_gs[2 * parent], fs_gs[2 * parent + 1]
    fpu_clone(k, parent, child)
    program = k.envtab.programs.get(parent)
    if program is not None:
        k.envtab.programs[child] = program


def env_run(k: Kernel, cpu: Cpu, idx: int, in_hook: bool) -> None:
    """Make env idx the running env of cpu and load its state into the CPU
    (JOS's env_run).  in_hook: the CPU is inside a trap hook (see
    Machine.load_frame)."""
    envtab, envs = k.envtab, k.envs
    cur = cpu.env
    if cur != idx:
        if cur is not None and envs[cur].env_status == _RUNNING:
            envtab.set_status(cur, _RUNNABLE)
        cpu.env = idx
        k.events.count("env_switches", 1, cur, idx)
        cpu.charge_blocks()
    e = envs[idx]
    envtab.set_status(idx, _RUNNING)
    e.env_runs += 1
    e.env_cpunum = cpu.num
    k.stats.set_owner(e.env_id)
    cpu.switch_pgdir(envtab.pgdir(idx))
    cpu.load_frame(idx, in_hook)
    k.events.emit("env_run", idx)
