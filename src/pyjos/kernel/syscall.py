"""System calls (JOS's kern/syscall.c): an explicit table of typed handlers.

``int $0x30`` with the number in eax and arguments in edx, ecx, ebx, edi,
esi; the result goes back in eax.  ``SYSCALLS`` maps each number to its
handler; the dispatcher reads each handler's arity once, at import.  An
unknown number returns -E_INVAL.  Handlers return an int and never raise for
anything a user can do: every error is a negative E_* code, as documented on
each handler.
"""

from __future__ import annotations

import inspect
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..abi import (
    BATCH_CONTINUE, BATCH_MAX, E_FAULT, NENV, PTE_COW, E_INVAL, E_IPC_NOT_RECV, E_NO_MEM, KERNBASE, PGSHIFT, PGSIZE, PTE_P, PTE_SYSCALL,
    PTE_U, PTE_W, UTOP, EnvStatus, Sys,
)
from . import trap

if TYPE_CHECKING:
    from .kernel import Kernel


# --- lab 3 -------------------------------------------------------------------------
def sys_cputs(k: Kernel, s: int, length: int) -> int:
    """Print length bytes at s (up to a NUL).  Destroys the env if s is not
    readable user memory."""
    idx = k.envtab.curenv
    if not trap.user_mem_assert(k, idx, s, length, PTE_U):
        return 0
    data = trap.read_user(k, idx, s, length)
    k.cprintf(data.split(b"\0", 1)[0].decode("latin-1"))
    return 0


def sys_cgetc(k: Kernel) -> int:
    """A character from the console, or 0 if none is waiting (never blocks)."""
    return k.cgetc()


def sys_getenvid(k: Kernel) -> int:
    """The current env's id."""
    return k.envtab.cur_id()


def sys_env_destroy(k: Kernel, envid: int) -> int:
    """Destroy envid (self or a child).  -E_BAD_ENV if it is neither."""
    r, idx = k.envtab.envid2env(envid, True)
    if r < 0:
        return r
    cur = k.envtab.cur_id()
    if idx == k.envtab.curenv:
        k.cprintf(f"[{cur:08x}] exiting gracefully\n")
    else:
        k.cprintf(f"[{cur:08x}] destroying {k.envs[idx].env_id:08x}\n")
    trap.env_destroy(k, idx)
    return 0


def sys_yield(k: Kernel) -> int:
    """Give up the CPU to the next runnable env."""
    k.resched = True
    return 0


# --- lab 4: envs and memory ------------------------------------------------------------
def sys_exofork(k: Kernel) -> int:
    """A new NOT_RUNNABLE child with the caller's registers (eax = 0) and an
    empty address space; returns its id.  -E_NO_FREE_ENV, -E_NO_MEM."""
    r, child = k.envtab.env_alloc(k.envtab.cur_id())
    if r < 0:
        return r
    env_clone_registers(k, k.envtab.curenv, child)
    k.envtab.set_status(child, EnvStatus.ENV_NOT_RUNNABLE)
    fork_begin(k, child)
    return k.envs[child].env_id


def env_clone_registers(k: Kernel, parent: int, child: int) -> None:
    """Give child the running parent's registers with eax = 0 (its return
    value from the fork) and the parent's program (for backtraces)."""
    k.save_frame(parent)
    c = k.envs[child]
    c.env_tf = k.envs[parent].env_tf
    c.env_tf.tf_regs.reg_eax = 0
    k.programs[child] = k.programs.get(parent)


def sys_env_set_status(k: Kernel, envid: int, status: int) -> int:
    """Set envid's status to RUNNABLE or NOT_RUNNABLE.  -E_BAD_ENV, -E_INVAL."""
    if status not in (EnvStatus.ENV_RUNNABLE, EnvStatus.ENV_NOT_RUNNABLE):
        return -E_INVAL
    r, idx = k.envtab.envid2env(envid, True)
    if r < 0:
        return r
    if idx == k.envtab.curenv:
        if status == EnvStatus.ENV_NOT_RUNNABLE:
            k.envtab.set_status(idx, EnvStatus(status))
            k.resched = True
        return 0  # a running env is already runnable
    k.envtab.set_status(idx, EnvStatus(status))
    if status == EnvStatus.ENV_RUNNABLE:
        fork_end(k, idx)
    return 0


def sys_env_set_pgfault_upcall(k: Kernel, envid: int, func: int) -> int:
    """Set envid's page-fault upcall entry point.  -E_BAD_ENV."""
    r, idx = k.envtab.envid2env(envid, True)
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
    r, idx = k.envtab.envid2env(envid, True)
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
    envtab = k.envtab
    r, src = envtab.envid2env(srcenvid, True)
    if r < 0:
        return r
    r, dst = envtab.envid2env(dstenvid, True)
    if r < 0:
        return r
    if _bad_va(srcva) or _bad_va(dstva) or _bad_perm(perm):
        return -E_INVAL
    envs = envtab.envs
    pte = k.pmap.pte(envs[src].env_pgdir - KERNBASE, srcva)
    if not pte & PTE_P or (perm & PTE_W and not pte & PTE_W):
        return -E_INVAL
    return k.pmap.page_insert(envs[dst].env_pgdir - KERNBASE, pte >> PGSHIFT, dstva, perm)


def sys_page_unmap(k: Kernel, envid: int, va: int) -> int:
    """Unmap va in envid (no error if nothing is mapped).  -E_BAD_ENV, -E_INVAL."""
    r, idx = k.envtab.envid2env(envid, True)
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
    r, dst = k.envtab.envid2env(envid, False)
    if r < 0:
        return r
    d = k.envs[dst]
    if not d.env_ipc_recving:
        return -E_IPC_NOT_RECV
    sent_perm = 0
    if srcva < UTOP:
        if srcva % PGSIZE or _bad_perm(perm):
            return -E_INVAL
        found = k.pmap.page_lookup(k.envtab.pgdir(k.envtab.curenv), srcva)
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
    d.env_ipc_from = k.envtab.cur_id()
    d.env_ipc_value = value
    d.env_ipc_perm = sent_perm
    # The receiver's eax is already 0: its frame was saved with sys_ipc_recv's 0.
    k.envtab.set_status(dst, EnvStatus.ENV_RUNNABLE)
    return 0


def sys_ipc_recv(k: Kernel, dstva: int) -> int:
    """Block until a message arrives; a page is accepted at dstva if dstva <
    UTOP.  Returns 0 when woken.  -E_INVAL if dstva < UTOP is unaligned."""
    if dstva < UTOP and dstva % PGSIZE:
        return -E_INVAL
    idx = k.envtab.curenv
    e = k.envs[idx]
    e.env_ipc_recving = 1
    e.env_ipc_dstva = dstva
    k.envtab.set_status(idx, EnvStatus.ENV_NOT_RUNNABLE)
    k.resched = True
    return 0


# --- pyjos: batches --------------------------------------------------------------------
_BATCH_CALL = struct.Struct("<6Ii")  # struct BatchCall: num, args[5], result
_RESULT_OFF = 24
# Calls that return twice, block or nest: refused inside a batch (inc/batch.h).
_NOT_IN_BATCH = frozenset({Sys.SYS_exofork, Sys.SYS_fork, Sys.SYS_ipc_recv, Sys.SYS_batch})


def sys_batch(k: Kernel, calls: int, ncalls: int, flags: int) -> int:
    """Run ncalls struct BatchCall at calls in order (see inc/batch.h) and
    then store their results; return how many ran.  -E_INVAL for a bad count,
    flags or alignment; -E_FAULT for an unreadable array or a result slot that
    is neither writable nor copy-on-write (before or after the calls);
    -E_NO_MEM if a result's copy-on-write page cannot be copied."""
    ncalls = ncalls - (1 << 32) if ncalls & 0x80000000 else ncalls
    if ncalls < 0 or ncalls > BATCH_MAX or flags & ~BATCH_CONTINUE or calls % 4:
        return -E_INVAL
    if ncalls == 0:
        return 0
    caller = k.envtab.curenv
    size = ncalls * _BATCH_CALL.size
    if trap.user_mem_check(k, caller, calls, size, PTE_U) is not None:
        return -E_FAULT
    pgdir = k.envtab.pgdir(caller)
    for page in range(calls & ~0xFFF, calls + size, PGSIZE):
        if not k.pmap.pte(pgdir, page) & (PTE_W | PTE_COW):
            return -E_FAULT
    data = trap.read_user(k, caller, calls, size)
    results: list[int] = []
    for i in range(ncalls):
        num, *args, _result = _BATCH_CALL.unpack_from(data, i * _BATCH_CALL.size)
        ret = _batched_call(k, num, args)
        if k.envtab.curenv != caller:  # the caller destroyed itself: nothing to store
            return 0
        results.append(ret)
        if ret < 0 and not flags & BATCH_CONTINUE:
            break
    # The results are stored once every call has run: a page the batch made
    # copy-on-write is copied first, so a child never sees them.
    for i, ret in enumerate(results):
        r = _store_result(k, caller, calls + i * _BATCH_CALL.size + _RESULT_OFF, ret)
        if r < 0:
            return r
    return len(results)


def _batched_call(k: Kernel, num: int, args: list[int]) -> int:
    """One call of a batch, with the checks and counting it has alone."""
    entry = _DISPATCH.get(num)
    if entry is None or num in _NOT_IN_BATCH:
        k.stats.bump("syscalls.unknown" if entry is None else entry[2])
        return -E_INVAL
    fn, nargs, key = entry
    k.stats.bump(key)
    ret = fn(k, *args[:nargs])
    return ret - (1 << 32) if ret >= 1 << 31 else ret


def _store_result(k: Kernel, idx: int, va: int, value: int) -> int:
    """Store a 32-bit result at va, copying a copy-on-write page first."""
    pgdir = k.envtab.pgdir(idx)
    pte = k.pmap.pte(pgdir, va)
    if not pte & PTE_W:
        r = k.pmap.page_cow_break(pgdir, va)
        if r < 0:
            return r
        pte = k.pmap.pte(pgdir, va)
    k.pmap.mem.write32((pte & ~0xFFF) + (va & 0xFFF), value)
    return 0


FORK_HOW_COPY, FORK_HOW_ODF = 0, 1  # sys_fork's argument (inc/lib.h)


def sys_fork(k: Kernel, how: int) -> int:
    """Atomic in-kernel copy-on-write fork: how 0 copies the page tables
    (kfork.py), 1 shares them (on-demand fork, odf.py).  The child's id, or
    -E_NO_FREE_ENV, -E_NO_MEM; -E_INVAL for another how."""
    from .kfork import kernel_fork
    from .odf import odf_fork

    if how not in (FORK_HOW_COPY, FORK_HOW_ODF):
        return -E_INVAL
    start = time.perf_counter()
    envid = (odf_fork if how == FORK_HOW_ODF else kernel_fork)(k)
    if envid > 0:
        fork_begin(k, envid & (NENV - 1), start)
        fork_end(k, envid & (NENV - 1))
    return envid


# --- fork episodes -----------------------------------------------------------------------
# A fork, whatever the strategy, runs from the parent's sys_exofork (or
# sys_fork) to the parent making that child RUNNABLE.  The kernel counts the
# traps the parent makes in between (system calls and faults; not timer
# interrupts, which the fork does not cause) and its system calls:
# fork.calls, fork.traps, fork.syscalls (the trap that begins the fork
# included).  Kernel.fork_log keeps (traps, syscalls, wall seconds) of each
# fork in order (the time is not a count: it differs from run to run).
def _counts(k: Kernel) -> tuple[int, int]:
    mine = k.stats.per_env.get(k.stats.owner, {})
    traps = sum(v for key, v in mine.items() if key.startswith("traps.") and key != "traps.timer")
    calls = sum(v for key, v in mine.items() if key.startswith("syscalls."))
    return traps, calls


def fork_begin(k: Kernel, child: int, start: float | None = None) -> None:
    """The current env started making child at `start` (default: now); its
    current trap and call are part of the fork."""
    traps, calls = _counts(k)
    when = time.perf_counter() if start is None else start
    k.fork_episodes[child] = (k.envtab.cur_id(), traps - 1, calls - 1, when)


def fork_end(k: Kernel, child: int) -> None:
    """child became runnable: if its parent was making it, count the fork."""
    begun = k.fork_episodes.pop(child, None)
    if begun is None or begun[0] != k.envtab.cur_id():
        return
    seconds = time.perf_counter() - begun[3]
    traps, calls = _counts(k)
    k.fork_log.append((traps - begun[1], calls - begun[2], seconds))
    k.stats.bump("fork.calls")
    k.stats.bump("fork.traps", traps - begun[1])
    k.stats.bump("fork.syscalls", calls - begun[2])


Handler = Callable[..., int]

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

# number -> (handler, number of arguments, counter key)
_DISPATCH: dict[int, tuple[Handler, int, str]] = {
    int(num): (fn, len(inspect.signature(fn).parameters) - 1, f"syscalls.{num.name[4:]}")
    for num, fn in SYSCALLS.items()
}


def syscall_trap(k: Kernel) -> None:
    """Run the system call the current env asked for and store its result."""
    args = k.machine.read_syscall_args()
    entry = _DISPATCH.get(args[0])
    caller = k.envtab.curenv
    if entry is None:
        k.stats.bump("syscalls.unknown")
        ret = -E_INVAL
    else:
        fn, nargs, key = entry
        k.stats.bump(key)
        ret = fn(k, *args[1:nargs + 1]) if nargs else fn(k)
    if k.resched and k.stop_reason is None:
        k.schedule(ret if k.envtab.curenv == caller else None)
    elif k.envtab.curenv == caller:  # not destroyed by its own call
        k.machine.set_eax(ret)
