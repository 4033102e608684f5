"""Traps (JOS's kern/trap.c): every entry from ring 3, and the one trap tail.

Every trap comes from ring 3 (the kernel itself never runs guest code) and is
handled inline in the CPU's hook: ``syscall_trap`` (the fast path of
``int $0x30``), ``trap`` (faults, breakpoints, other exceptions) and
``timer_trap`` (a time slice ran out; outside the hook, from the run loop).
Each ends in ``trap_return``: store the result in eax, reschedule if asked,
flush a stale TLB, resume.

As in JOS, only ``int $3`` and ``int $0x30`` may be raised by an ``int``
instruction from user mode; any other ``int $n`` is a general protection
fault with error code ``n*8 + 2`` (the IDT gate's DPL is 0).
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..abi import (
    FEC_PR, FEC_U, FEC_WR, PGSIZE, PTE_COW, PTE_U, PTE_W, UTOP, UXSTACKTOP, Trap, UTrapframe,
    offset_of,
)
from ..machine import foreign
from . import monitor
from .env import destroy_foreign, env_destroy
from .fpu import fpu_trap
from .sched import sched_yield
from .syscall import dispatch
from .trapframe import format_trapframe, print_trapframe, record_trap
from .vm import copyin, copyout, user_mem_assert, user_mem_check, user_page_pa

if TYPE_CHECKING:
    from .cpu import Cpu
    from .kernel import Kernel

UTF_SIZE = ctypes.sizeof(UTrapframe)
# struct UTrapframe packed in one go: fault va, err, the PushRegs, eip, eflags, esp
_UTF = struct.Struct("<13I")
assert _UTF.size == UTF_SIZE and [offset_of(UTrapframe, f) for f in (
    "utf_regs.reg_edi", "utf_regs.reg_oesp", "utf_regs.reg_eax", "utf_eip", "utf_esp")] == [
    8, 20, 36, 40, 48]
_CR2 = 12  # cr2's place in a read_trap_state
T_PGFLT = Trap.T_PGFLT
_USER_INT_OK = (Trap.T_BRKPT, Trap.T_SYSCALL)  # T_SYSCALL never gets here: syscall_trap
_TRAP_KIND = {Trap.T_PGFLT: "traps.page_fault", Trap.T_BRKPT: "traps.breakpoint",
              Trap.T_DEVICE: "traps.fpu"}


# --- entries -----------------------------------------------------------------------
def syscall_trap(k: Kernel, cpu: Cpu) -> None:
    """`int $0x30` (the hook knows it needs no error code): one system call."""
    events = k.events
    try:
        events.bump("traps.syscall")
        if events.watched:
            upcall_returns(k, cpu)
        trap_return(k, cpu, dispatch(k, cpu.machine.read_syscall_args()))
    except Exception as exc:  # a Python exception in the kernel is a kernel bug
        k.panic(f"kernel bug in a system call: {type(exc).__name__}: {exc}", exc)


def trap(k: Kernel, cpu: Cpu, trapno: int, err: int, is_int: bool) -> None:
    """Any other trap from ring 3 (the machine sends `int $0x30` to syscall_trap)."""
    try:
        if is_int and trapno not in _USER_INT_OK:
            trapno, err = Trap.T_GPFLT, (trapno << 3) | 2
        elif trapno == Trap.T_ILLOP and _is_rdpmc(k, cpu):
            trapno = Trap.T_GPFLT  # Unicorn gives #UD; CR4.PCE is 0 at CPL 3: #GP(0)
        k.events.bump(_TRAP_KIND.get(trapno, "traps.exception"))
        if k.events.watched:
            upcall_returns(k, cpu)
        state = cpu.machine.read_trap_state()
        if foreign(state):
            cpu.save_frame(cpu.env)
            destroy_foreign(k, cpu, cpu.env, True, trapno, err)
        else:
            trap_dispatch(k, cpu, trapno, err, state)
        trap_return(k, cpu, None)
    except Exception as exc:  # a Python exception in the kernel is a kernel bug
        k.panic(f"kernel bug in trap {trapno}: {type(exc).__name__}: {exc}", exc)


def timer_trap(k: Kernel, cpu: Cpu) -> None:
    """The CPU's time slice ran out (the run loop, outside any hook)."""
    k.events.bump("traps.timer")
    if k.events.watched and cpu.env is not None:
        upcall_returns(k, cpu)
    cpu.resched = True
    trap_return(k, cpu, None, in_hook=False)


_RDPMC = b"\x0f\x33"


def _is_rdpmc(k: Kernel, cpu: Cpu) -> bool:
    """The instruction at the env's eip is rdpmc (read only on an #UD)."""
    pgdir, eip = k.envtab.pgdir(cpu.env), cpu.machine.eip()
    if user_mem_check(k.pmap, pgdir, eip, len(_RDPMC), PTE_U) is not None:
        return False
    return copyin(k.pmap, pgdir, eip, len(_RDPMC)) == _RDPMC
def counting(cpu: Cpu, entry: Callable[..., None]) -> Callable[..., None]:
    """entry (one of cpu's trap entries) that also counts cpu's kernel entries,
    for the big kernel lock's contention (the run loop; several CPUs only, so
    that one CPU's system-call path stays as it is)."""
    counts = cpu.counts

    def counted(*args: object) -> None:
        counts["kernel_entries"] += 1
        entry(*args)
    return counted


def trap_dispatch(k: Kernel, cpu: Cpu, trapno: int, err: int, state: list[int]) -> None:
    """A fault or breakpoint of the env running on cpu (state: the CPU's
    read_trap_state)."""
    idx = cpu.env
    if trapno == T_PGFLT:
        page_fault_handler(k, cpu, idx, err, state)
    elif trapno == Trap.T_BRKPT:
        monitor.breakpoint(k, idx, err)
    elif trapno == Trap.T_DEVICE:
        fpu_trap(k, cpu)
    else:
        record_trap(k, idx, trapno, err)
        print_trapframe(k, idx)
        env_destroy(k, idx)


# --- the tail ------------------------------------------------------------------------
def trap_return(k: Kernel, cpu: Cpu, eax: int | None, in_hook: bool = True) -> None:
    """The end of every trap: the result (if any) into the env's eax, another
    env if the trap asked for it (cpu.resched), a TLB flush if a live mapping
    changed; then the CPU resumes user code."""
    if eax is not None and cpu.env is not None:
        cpu.machine.set_eax(eax)
    if cpu.resched and k.stop_reason is None:
        sched_yield(k, cpu, in_hook)
    if cpu.tlb_stale:
        cpu.flush_tlb_if_stale()


# --- page faults -------------------------------------------------------------------
def upcall_returns(k: Kernel, cpu: Cpu) -> None:
    """For subscribers: the env on cpu traps; if upcalls of it were delivered
    and its esp has left the exception stack, they have returned to the
    faulting code (the kernel sees no earlier moment): one upcall_return each,
    innermost first."""
    pending = k.upcalls_open.get(cpu.env)
    if pending and not UXSTACKTOP - PGSIZE <= cpu.machine.read_frame()[9] < UXSTACKTOP:
        del k.upcalls_open[cpu.env]
        for va in reversed(pending):
            k.events.emit("upcall_return", va)



_COW_WRITE = FEC_PR | FEC_WR | FEC_U


def _kernel_cow(k: Kernel, idx: int, fault_va: int, err: int) -> bool:
    """--cow-faults kernel: resolve a user write to a present PTE_COW page in
    the kernel (copy, or reuse a frame no one else maps), as a monolithic
    kernel does.  True if resolved; anything else goes to the env's upcall."""
    if err & _COW_WRITE != _COW_WRITE or fault_va >= UTOP:
        return False
    pgdir = k.envtab.pgdir(idx)
    if not k.pmap.pte(pgdir, fault_va) & PTE_COW:
        return False
    if k.pmap.page_cow_break(pgdir, fault_va) < 0:
        return False  # out of memory: let the env's own handler decide
    k.events.count("cow_faults_in_kernel", 1, fault_va)
    return True


def page_fault_handler(k: Kernel, cpu: Cpu, idx: int, err: int, state: list[int]) -> None:
    """Reflect a user page fault to the env's upcall, or destroy the env
    (state: the CPU's read_trap_state)."""
    e = k.envs[idx]
    fault_va = state[_CR2]
    k.events.count("page_faults", 1, fault_va, err)
    pgdir = k.envtab.pgdir(idx)
    if err & FEC_WR and k.pmap.unshare_for_write(pgdir, fault_va) \
            and k.pmap.pte(pgdir, fault_va) & PTE_W:
        return  # the table was on-demand fork's, and the page is the writer's alone
    if k.config.cow_faults == "kernel" and _kernel_cow(k, idx, fault_va, err):
        return
    upcall = e.env_pgfault_upcall
    if not upcall:
        record_trap(k, idx, Trap.T_PGFLT, err)
        k.cprintf(f"[{e.env_id:08x}] user fault va {fault_va:08x} ip {e.env_tf.tf_eip:08x}\n")
        k.cprintf(format_trapframe(k, idx, fault_va))
        env_destroy(k, idx)
        return
    edi, esi, ebp, ebx, edx, ecx, eax, eip, eflags, esp = state[:10]
    if UXSTACKTOP - PGSIZE <= esp < UXSTACKTOP:
        utf_va = esp - 4 - UTF_SIZE  # nested: leave one empty word for the return eip
    else:
        utf_va = UXSTACKTOP - UTF_SIZE
    # JOS's checks of the exception stack and the upcall, and the copy; the
    # common case (both in one mapped page each) with one PTE read apiece
    pmap = k.pmap
    utf_pa = user_page_pa(pmap, pgdir, utf_va, UTF_SIZE, PTE_W)
    if utf_pa is None and not user_mem_assert(k, idx, utf_va, UTF_SIZE, PTE_W):
        return
    if user_page_pa(pmap, pgdir, upcall, 1, 0) is None \
            and not user_mem_assert(k, idx, upcall, 1, 0):
        return
    utf = _UTF.pack(fault_va, err, edi, esi, ebp, 0, ebx, edx, ecx, eax, eip, eflags, esp)
    if utf_pa is not None:
        pmap.mem.write(utf_pa, utf)
    else:
        copyout(pmap, pgdir, utf_va, utf)
    k.events.count("upcalls", 1, fault_va, utf_va)
    if k.events.watched:
        k.upcalls_open.setdefault(idx, []).append(fault_va)
    cpu.machine.resume_at(upcall, utf_va)
