"""Trap dispatch (JOS's kern/trap.c), user memory checks, the fault upcall.

Every trap comes from ring 3 (the kernel itself never runs guest code).  As
in JOS, only ``int $3`` and ``int $0x30`` may be raised by an ``int``
instruction from user mode; any other ``int $n`` is a general protection
fault with error code ``n*8 + 2`` (the IDT gate's DPL is 0).
"""

from __future__ import annotations

import ctypes
import struct
from typing import TYPE_CHECKING

from ..abi import (
    FEC_PR, FEC_U, FEC_WR, PGSIZE, PTE_COW, PTE_P, PTE_U, PTE_W, ROUNDDOWN, ROUNDUP, ULIM,
    UTOP, UXSTACKTOP, Trap, UTrapframe, trapname,
)
from . import monitor, syscall

if TYPE_CHECKING:
    from .kernel import Kernel

UTF_SIZE = ctypes.sizeof(UTrapframe)
_USER_INT_OK = (Trap.T_BRKPT, Trap.T_SYSCALL)
_TRAP_KIND = {Trap.T_SYSCALL: "traps.syscall", Trap.T_PGFLT: "traps.page_fault",
              Trap.T_BRKPT: "traps.breakpoint"}


def trap_dispatch(k: Kernel, trapno: int, err: int, is_int: bool) -> None:
    """Handle one trap of the running env."""
    if is_int and trapno not in _USER_INT_OK:
        trapno, err = Trap.T_GPFLT, (trapno << 3) | 2
    k.stats.bump(_TRAP_KIND.get(trapno, "traps.exception"))
    if trapno == Trap.T_SYSCALL:
        syscall.syscall_trap(k)
    elif trapno == Trap.T_PGFLT:
        page_fault_handler(k, err)
    elif trapno == Trap.T_BRKPT:
        monitor.breakpoint(k, trapno, err)
    else:
        idx = k.envtab.curenv
        record_trap(k, idx, trapno, err)
        print_trapframe(k, idx)
        env_destroy(k, idx)


def record_trap(k: Kernel, idx: int, trapno: int, err: int) -> None:
    """Save the CPU state into env_tf with the trap number and error code."""
    k.save_frame(idx)
    tf = k.envs[idx].env_tf
    tf.tf_trapno = trapno
    tf.tf_err = err
    tf.tf_cs, tf.tf_ss = k.machine.segments()[2:]


def env_destroy(k: Kernel, idx: int) -> None:
    """Free env idx; if it was running, pick another env."""
    was_current = idx == k.envtab.curenv
    k.fork_episodes.pop(idx, None)
    k.envtab.env_free(idx)
    k.programs.pop(idx, None)
    if was_current:
        k.resched = True


# --- printing --------------------------------------------------------------------
def format_trapframe(k: Kernel, idx: int, cr2: int | None = None) -> str:
    """JOS's print_trapframe of envs[idx].env_tf."""
    tf = k.envs[idx].env_tf
    r = tf.tf_regs
    lines = [f"TRAP frame at 0x{k.envtab.kva(idx):08x}"]
    for name, val in (("edi ", r.reg_edi), ("esi ", r.reg_esi), ("ebp ", r.reg_ebp),
                      ("oesp", r.reg_oesp), ("ebx ", r.reg_ebx), ("edx ", r.reg_edx),
                      ("ecx ", r.reg_ecx), ("eax ", r.reg_eax)):
        lines.append(f"  {name} 0x{val:08x}")
    lines.append(f"  es   0x----{tf.tf_es:04x}")
    lines.append(f"  ds   0x----{tf.tf_ds:04x}")
    lines.append(f"  trap 0x{tf.tf_trapno:08x} {trapname(tf.tf_trapno)}")
    if tf.tf_trapno == Trap.T_PGFLT:
        lines.append(f"  cr2  0x{(cr2 if cr2 is not None else k.machine.cr2()):08x}")
        err = tf.tf_err
        lines.append(f"  err  0x{err:08x} [{'user' if err & FEC_U else 'kernel'}, "
                     f"{'write' if err & FEC_WR else 'read'}, "
                     f"{'protection' if err & FEC_PR else 'not-present'}]")
    else:
        lines.append(f"  err  0x{tf.tf_err:08x}")
    lines.append(f"  eip  0x{tf.tf_eip:08x}")
    lines.append(f"  cs   0x----{tf.tf_cs:04x}")
    lines.append(f"  flag 0x{tf.tf_eflags:08x}")
    lines.append(f"  esp  0x{tf.tf_esp:08x}")
    lines.append(f"  ss   0x----{tf.tf_ss:04x}")
    return "\n".join(lines) + "\n"


def print_trapframe(k: Kernel, idx: int) -> None:
    k.cprintf(format_trapframe(k, idx))


# --- user memory -----------------------------------------------------------------
def user_mem_check(k: Kernel, idx: int, va: int, length: int, perm: int) -> int | None:
    """None if env idx may access [va, va+length) with perm|PTE_P; else the first bad va."""
    perm |= PTE_P
    pgdir = k.envtab.pgdir(idx)
    end = va + length
    for page in range(ROUNDDOWN(va, PGSIZE), ROUNDUP(end, PGSIZE), PGSIZE):
        if page >= ULIM or (k.pmap.pte(pgdir, page) & perm) != perm:
            return max(page, va)
    if end > ULIM:
        return max(ULIM, va)
    return None


def user_mem_assert(k: Kernel, idx: int, va: int, length: int, perm: int) -> bool:
    """Like user_mem_check, but destroys the env (JOS's message) on failure."""
    bad = user_mem_check(k, idx, va, length, perm | PTE_U)
    if bad is None:
        return True
    k.cprintf(f"[{k.envs[idx].env_id:08x}] user_mem_check assertion failure for va {bad:08x}\n")
    env_destroy(k, idx)
    return False


def read_user(k: Kernel, idx: int, va: int, length: int) -> bytes:
    """Bytes of env idx's memory (the range must have passed user_mem_check)."""
    pgdir = k.envtab.pgdir(idx)
    out = bytearray()
    while length > 0:
        n = min(PGSIZE - va % PGSIZE, length)
        pa = (k.pmap.pte(pgdir, va) & ~0xFFF) + va % PGSIZE
        out += k.pmap.mem.read(pa, n)
        va += n
        length -= n
    return bytes(out)


def write_user(k: Kernel, idx: int, va: int, data: bytes) -> None:
    """Store bytes into env idx's memory.

    The range must have passed user_mem_check with PTE_W, so no byte lands in
    a frame shared copy-on-write (COW pages are never PTE_W).
    """
    pgdir = k.envtab.pgdir(idx)
    off = 0
    while off < len(data):
        n = min(PGSIZE - (va + off) % PGSIZE, len(data) - off)
        pte = k.pmap.pte(pgdir, va + off)
        assert pte & PTE_W, "write_user into a page that is not writable"
        k.pmap.mem.write((pte & ~0xFFF) + (va + off) % PGSIZE, data[off:off + n])
        off += n


# --- page faults -------------------------------------------------------------------
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
    k.stats.bump("cow_faults_in_kernel")
    return True


def page_fault_handler(k: Kernel, err: int) -> None:
    """Reflect a user page fault to the env's upcall, or destroy the env."""
    idx = k.envtab.curenv
    e = k.envs[idx]
    fault_va = k.machine.cr2()
    k.stats.bump("page_faults")
    if k.config.cow_faults == "kernel" and _kernel_cow(k, idx, fault_va, err):
        return
    upcall = e.env_pgfault_upcall
    if not upcall:
        record_trap(k, idx, Trap.T_PGFLT, err)
        k.cprintf(f"[{e.env_id:08x}] user fault va {fault_va:08x} ip {e.env_tf.tf_eip:08x}\n")
        k.cprintf(format_trapframe(k, idx, fault_va))
        env_destroy(k, idx)
        return
    edi, esi, ebp, ebx, edx, ecx, eax, eip, eflags, esp = k.machine.read_frame()
    if UXSTACKTOP - PGSIZE <= esp < UXSTACKTOP:
        utf_va = esp - 4 - UTF_SIZE  # nested: leave one empty word for the return eip
    else:
        utf_va = UXSTACKTOP - UTF_SIZE
    if not user_mem_assert(k, idx, utf_va, UTF_SIZE, PTE_W):
        return
    if not user_mem_assert(k, idx, upcall, 1, 0):
        return
    utf = struct.pack("<13I", fault_va, err, edi, esi, ebp, 0, ebx, edx, ecx, eax,
                      eip, eflags, esp)
    write_user(k, idx, utf_va, utf)
    k.stats.bump("upcalls")
    k.machine.write_frame((edi, esi, ebp, ebx, edx, ecx, eax, upcall, eflags, utf_va))
