"""System calls (JOS's kern/syscall.c): an explicit table of typed handlers.

``int $0x30`` with the number in eax and arguments in edx, ecx, ebx, edi,
esi; the result goes back in eax.  ``TABLE`` maps each number to its entry
(handler, arity read once from its signature, counter, whether a batch may
contain it); ``dispatch`` is the one dispatcher, for single calls and for
each call of a batch.  An unknown number returns -E_INVAL.  Handlers return an
int and never raise for anything a user can do: every error is a negative E_*
code, as documented on each handler.  A handler that must give up the CPU
sets ``k.cpu.resched``; the trap tail (trap.py) does the rest.
"""

from __future__ import annotations

import ctypes
import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from ..abi import (
    BATCH_CONTINUE, BATCH_MAX, E_FAULT, E_INVAL, E_IPC_NOT_RECV, E_NO_MEM, NENV, PGSHIFT, PGSIZE,
    PTE_COW, PTE_P, PTE_SYSCALL, PTE_U, PTE_W, UTOP, BatchCall, EnvStatus, Sys,
)
from .env import env_clone_registers, env_destroy
from .kfork import kernel_fork
from .odf import odf_fork
from .vm import copyin, copyout, user_mem_assert, user_mem_check

if TYPE_CHECKING:
    from .kernel import Kernel


# --- lab 3 -------------------------------------------------------------------------
def sys_cputs(k: Kernel, s: int, length: int) -> int:
    """Print length bytes at s (up to a NUL).  Destroys the env if s is not
    readable user memory."""
    idx = k.cpu.env
    if not user_mem_assert(k, idx, s, length, PTE_U):
        return 0
    data = copyin(k.pmap, k.envtab.pgdir(idx), s, length)
    k.cprintf(data.split(b"\0", 1)[0].decode("latin-1"))
    return 0


def sys_cgetc(k: Kernel) -> int:
    """A character from the console, or 0 if none is waiting (never blocks)."""
    return k.cgetc()


def sys_getenvid(k: Kernel) -> int:
    """The current env's id (JOS: curenv->env_id; a system call always has
    an env running)."""
    return k.envs[k.cpu.env].env_id


def sys_env_destroy(k: Kernel, envid: int) -> int:
    """Destroy envid (self or a child).  -E_BAD_ENV if it is neither."""
    r, idx = k.envid2env(envid, True)
    if r < 0:
        return r
    cur = k.cur_id()
    if idx == k.cpu.env:
        k.cprintf(f"[{cur:08x}] exiting gracefully\n")
    else:
        k.cprintf(f"[{cur:08x}] destroying {k.envs[idx].env_id:08x}\n")
    env_destroy(k, idx)
    return 0


def sys_yield(k: Kernel) -> int:
    """Give up the CPU to the next runnable env.  With several CPUs, the CPU
    also ends its sub-slice (Cpu.pause): a yield is how JOS's envs wait for
    one another (ipc_send's loop), and what they wait for runs on the others."""
    cpu = k.cpu
    cpu.resched = True
    if len(k.cpus) > 1:
        cpu.pause()
    return 0


# --- lab 4: envs and memory ------------------------------------------------------------
def sys_exofork(k: Kernel) -> int:
    """A new NOT_RUNNABLE child with the caller's registers (eax = 0) and an
    empty address space; returns its id.  -E_NO_FREE_ENV, -E_NO_MEM."""
    parent_id = k.cur_id()
    r, child = k.envtab.env_alloc(parent_id, parent_id)
    if r < 0:
        return r
    env_clone_registers(k, k.cpu.env, child)
    k.envtab.set_status(child, EnvStatus.ENV_NOT_RUNNABLE)
    k.forks.begin(parent_id, child)
    return k.envs[child].env_id


def sys_env_set_status(k: Kernel, envid: int, status: int) -> int:
    """Set envid's status to RUNNABLE or NOT_RUNNABLE.  -E_BAD_ENV, -E_INVAL."""
    if status not in (EnvStatus.ENV_RUNNABLE, EnvStatus.ENV_NOT_RUNNABLE):
        return -E_INVAL
    r, idx = k.envid2env(envid, True)
    if r < 0:
        return r
    if idx == k.cpu.env:
        if status == EnvStatus.ENV_NOT_RUNNABLE:
            k.envtab.set_status(idx, EnvStatus(status))
            k.cpu.resched = True
        return 0  # a running env is already runnable
    k.envtab.set_status(idx, EnvStatus(status))
    if status == EnvStatus.ENV_RUNNABLE:
        k.forks.end(k.cur_id(), idx)
    return 0


def sys_env_set_pgfault_upcall(k: Kernel, envid: int, func: int) -> int:
    """Set envid's page-fault upcall entry point.  -E_BAD_ENV."""
    r, idx = k.envid2env(envid, True)
    if r < 0:
        return r
    k.envs[idx].env_pgfault_upcall = func
    return 0


def _bad_va(va: int) -> bool:
    return va >= UTOP or va % PGSIZE != 0


def _bad_perm(perm: int) -> bool:
    return (perm & (PTE_U | PTE_P)) != (PTE_U | PTE_P) or perm & ~PTE_SYSCALL != 0


def sys_page_alloc(k: Kernel, envid: int, va: int, perm: int) -> int:
    """Map a zeroed page at va in envid.  -E_BAD_ENV; -E_INVAL for an
    unaligned va, va >= UTOP or a bad perm; -E_NO_MEM."""
    r, idx = k.envid2env(envid, True)
    if r < 0:
        return r
    if _bad_va(va) or _bad_perm(perm):
        return -E_INVAL
    ppn = k.pmap.page_alloc()
    if ppn is None:
        return -E_NO_MEM
    if k.pmap.page_insert(k.envtab.pgdir(idx), ppn, va, perm) < 0:
        k.pmap.page_free(ppn)
        return -E_NO_MEM
    return 0


def sys_page_map(k: Kernel, srcenvid: int, srcva: int, dstenvid: int, dstva: int,
                 perm: int) -> int:
    """Map the page at srcva in srcenvid at dstva in dstenvid.  -E_BAD_ENV;
    -E_INVAL for bad vas or perm, an unmapped srcva, or write permission on a
    read-only source; -E_NO_MEM."""
    r, src = k.envid2env(srcenvid, True)
    if r < 0:
        return r
    r, dst = k.envid2env(dstenvid, True)
    if r < 0:
        return r
    if _bad_va(srcva) or _bad_va(dstva) or _bad_perm(perm):
        return -E_INVAL
    pgdir = k.envtab.pgdir
    pte = k.pmap.pte(pgdir(src), srcva)
    if not pte & PTE_P or (perm & PTE_W and not pte & PTE_W):
        return -E_INVAL
    return k.pmap.page_insert(pgdir(dst), pte >> PGSHIFT, dstva, perm)


def sys_page_unmap(k: Kernel, envid: int, va: int) -> int:
    """Unmap va in envid (no error if nothing is mapped).  -E_BAD_ENV, -E_INVAL."""
    r, idx = k.envid2env(envid, True)
    if r < 0:
        return r
    if _bad_va(va):
        return -E_INVAL
    k.pmap.page_remove(k.envtab.pgdir(idx), va)
    return 0


# --- lab 4: IPC ------------------------------------------------------------------------
def sys_ipc_try_send(k: Kernel, envid: int, value: int, srcva: int, perm: int) -> int:
    """Send value (and the page at srcva when srcva < UTOP and the receiver
    asked for one) to envid.  -E_BAD_ENV; -E_IPC_NOT_RECV if envid is not
    blocked in ipc_recv; -E_INVAL for a bad srcva or perm; -E_NO_MEM."""
    r, dst = k.envid2env(envid, False)
    if r < 0:
        return r
    d = k.envs[dst]
    if not d.env_ipc_recving:
        return -E_IPC_NOT_RECV
    sent_perm = 0
    if srcva < UTOP:
        if srcva % PGSIZE or _bad_perm(perm):
            return -E_INVAL
        found = k.pmap.page_lookup(k.envtab.pgdir(k.cpu.env), srcva)
        if found is None:
            return -E_INVAL
        ppn, pte_pa = found
        if perm & PTE_W and not k.pmap.mem.read32(pte_pa) & PTE_W:
            return -E_INVAL
        if d.env_ipc_dstva < UTOP:
            if k.pmap.page_insert(k.envtab.pgdir(dst), ppn, d.env_ipc_dstva, perm) < 0:
                return -E_NO_MEM
            sent_perm = perm
    d.env_ipc_recving = 0
    d.env_ipc_from = k.cur_id()
    d.env_ipc_value = value
    d.env_ipc_perm = sent_perm
    # The receiver's eax is already 0: its frame was saved with sys_ipc_recv's 0.
    # A receiver woken early (sys_env_set_status) may send to itself: it is
    # running, and stays RUNNING (a RUNNABLE running env loses its registers).
    if dst != k.cpu.env:
        k.envtab.set_status(dst, EnvStatus.ENV_RUNNABLE)
    return 0


def sys_ipc_recv(k: Kernel, dstva: int) -> int:
    """Block until a message arrives; a page is accepted at dstva if dstva <
    UTOP.  Returns 0 when woken.  -E_INVAL if dstva < UTOP is unaligned."""
    if dstva < UTOP and dstva % PGSIZE:
        return -E_INVAL
    idx = k.cpu.env
    e = k.envs[idx]
    e.env_ipc_recving = 1
    e.env_ipc_dstva = dstva
    k.envtab.set_status(idx, EnvStatus.ENV_NOT_RUNNABLE)
    k.cpu.resched = True
    return 0


# --- pyjos: batches --------------------------------------------------------------------
_CALL_SIZE = ctypes.sizeof(BatchCall)
_RESULT_OFF = BatchCall.bc_result.offset


def sys_batch(k: Kernel, calls: int, ncalls: int, flags: int) -> int:
    """Run ncalls struct BatchCall at calls in order (see inc/batch.h) and
    then store their results; return how many ran.  -E_INVAL for a bad count,
    flags or alignment; -E_FAULT for an array reaching UTOP, an unreadable
    array or a result slot that is neither writable nor copy-on-write (before
    or after the calls; effective permissions, directory and table entry);
    -E_NO_MEM if a result's copy-on-write page cannot be copied."""
    ncalls = ncalls - (1 << 32) if ncalls & 0x80000000 else ncalls
    if ncalls < 0 or ncalls > BATCH_MAX or flags & ~BATCH_CONTINUE or calls % 4:
        return -E_INVAL
    if ncalls == 0:
        return 0
    caller = k.cpu.env
    pmap, pgdir = k.pmap, k.envtab.pgdir(caller)
    size = ncalls * _CALL_SIZE
    if calls + size > UTOP:  # nothing at or above UTOP is written by a system call
        return -E_FAULT
    if user_mem_check(pmap, pgdir, calls, size, PTE_U) is not None:
        return -E_FAULT
    for page in range(calls & ~0xFFF, calls + size, PGSIZE):
        if not pmap.pte(pgdir, page) & (PTE_W | PTE_COW):
            if not (pmap.unshare_for_write(pgdir, page)  # on-demand fork's table
                    and pmap.pte(pgdir, page) & (PTE_W | PTE_COW)):
                return -E_FAULT
    descriptors = (BatchCall * ncalls).from_buffer_copy(copyin(pmap, pgdir, calls, size))
    results: list[int] = []
    for call in descriptors:
        ret = dispatch(k, [call.bc_num, *call.bc_args], batch=True)
        if k.cpu.env != caller:  # the caller destroyed itself: nothing to store
            return 0
        ret = ret - (1 << 32) if ret >= 1 << 31 else ret
        results.append(ret)
        if ret < 0 and not flags & BATCH_CONTINUE:
            break
    # The results are stored once every call has run: a page the batch made
    # copy-on-write is copied first (copyout), so a child never sees them.
    for i, ret in enumerate(results):
        r = copyout(pmap, pgdir, calls + i * _CALL_SIZE + _RESULT_OFF,
                    (ret & 0xFFFFFFFF).to_bytes(4, "little"))
        if r < 0:
            return r
    return len(results)


FORK_HOW_COPY, FORK_HOW_ODF = 0, 1  # sys_fork's argument (inc/lib.h)


def sys_fork(k: Kernel, how: int) -> int:
    """Atomic in-kernel copy-on-write fork: how 0 copies the page tables
    (kfork.py), 1 shares them (on-demand fork, odf.py).  The child's id, or
    -E_NO_FREE_ENV, -E_NO_MEM; -E_INVAL for another how."""
    if how not in (FORK_HOW_COPY, FORK_HOW_ODF):
        return -E_INVAL
    start = time.perf_counter()
    envid = (odf_fork if how == FORK_HOW_ODF else kernel_fork)(k)
    if envid > 0:
        parent_id = k.cur_id()
        k.forks.begin(parent_id, envid & (NENV - 1), start)
        k.forks.end(parent_id, envid & (NENV - 1))
    return envid


# --- the table and the dispatcher ------------------------------------------------------
Handler = Callable[..., int]


class Entry(NamedTuple):
    """A system call: its handler, how many arguments it takes, the counter
    it bumps, and whether a batch may contain it."""

    handler: Handler
    nargs: int
    counter: str
    batchable: bool


SYSCALLS: dict[Sys, Handler] = {
    Sys.SYS_cputs: sys_cputs,
    Sys.SYS_cgetc: sys_cgetc,
    Sys.SYS_getenvid: sys_getenvid,
    Sys.SYS_env_destroy: sys_env_destroy,
    Sys.SYS_page_alloc: sys_page_alloc,
    Sys.SYS_page_map: sys_page_map,
    Sys.SYS_page_unmap: sys_page_unmap,
    Sys.SYS_exofork: sys_exofork,
    Sys.SYS_env_set_status: sys_env_set_status,
    Sys.SYS_env_set_pgfault_upcall: sys_env_set_pgfault_upcall,
    Sys.SYS_yield: sys_yield,
    Sys.SYS_ipc_try_send: sys_ipc_try_send,
    Sys.SYS_ipc_recv: sys_ipc_recv,
    Sys.SYS_batch: sys_batch,
    Sys.SYS_fork: sys_fork,
}
# Calls that return twice, block or nest: refused inside a batch (inc/batch.h).
NOT_IN_BATCH = frozenset({Sys.SYS_exofork, Sys.SYS_fork, Sys.SYS_ipc_recv, Sys.SYS_batch})

TABLE: dict[int, Entry] = {
    int(num): Entry(fn, len(inspect.signature(fn).parameters) - 1, f"syscalls.{num.name[4:]}",
                    num not in NOT_IN_BATCH)
    for num, fn in SYSCALLS.items()
}


def dispatch(k: Kernel, regs: list[int], batch: bool = False) -> int:
    """Run the call regs = [number, arg1, ..., arg5] for the env running on
    k.cpu; its result.  In a batch, the calls of NOT_IN_BATCH are -E_INVAL
    (counted as calls all the same)."""
    entry = TABLE.get(regs[0])
    events = k.events
    if entry is None:
        events.count("syscalls.unknown", 1, regs)
        ret = -E_INVAL
    else:
        handler, nargs, counter, batchable = entry
        if events.watched:  # subscribers get the call's registers
            events.count(counter, 1, regs)
        else:
            events.bump(counter)
        if batch and not batchable:
            ret = -E_INVAL
        else:
            ret = handler(k, *regs[1:nargs + 1]) if nargs else handler(k)
    if events.watched:
        events.emit("syscall_return", regs[0], ret)
    return ret
