"""The emulator's floor: the cheapest trap round trip a Python kernel can have
on this Unicorn.

A ring-3 loop of ``int $0x30`` (with paging on, as pyjos runs) into a raw
ctypes ``UC_HOOK_INTR`` callback that reads and writes eax, and nothing else:
no kernel, no counters, no timer hook.  Two variants beside it: ``empty``,
a callback that touches no register, and ``in_place``, one that reads and
writes eax in Unicorn's register file in place (regfile.py), the cheapest
register access found.  pyjos's trap-bound figures are stated as ratios to
the floor measured in the same process (``pyjos bench floor``), so they mean
the same on any machine.
"""

from __future__ import annotations

import ctypes
import time

from unicorn import unicorn_const as ucc, x86_const as x86
from unicorn.unicorn_py3.unicorn import uclib

from ..abi import KERNBASE, PGSIZE
from .machine import _INT, _VP, BOOT_PAGE, Machine, MachineError, PhysMem, _raw

CODE_VA, SP_VA = 0x00800000, 0x00801FF0  # code page, then the stack page
_INT_STOP = 0x31
_INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
# The floor's register access is the plain ctypes call (which releases the
# GIL), as the floor was first defined, whatever the kernel's own calls do.
_uc_reg_read = _raw("uc_reg_read", _VP, _INT, _VP, release_gil=True)
_uc_reg_write = _raw("uc_reg_write", _VP, _INT, _VP, release_gil=True)


# mov (%esp), %ecx; jecxz 2f; 1: int $0x30; dec %ecx; jnz 1b; 2: int $0x31
# (the count is data on the stack: rewriting code would need a retranslation)
_LOOP = b"\x8b\x0c\x24" + b"\xe3\x05" + b"\xcd\x30" + b"\x49" + b"\x75\xfb" + bytes((0xCD, _INT_STOP))


# Physical addresses of ring3_machine's user page table (CODE_VA and up) and stack page
PT_PA, STACK_PA = 2 * PGSIZE, 4 * PGSIZE
TOUCHES = ("api", "in_place", "empty")  # how the floor's callback reaches eax


def ring3_machine(code: bytes) -> Machine:
    """A machine with no hook attached, over a throwaway address space: code
    (user read-only) at CODE_VA, one user-writable stack page below SP_VA
    (at physical STACK_PA), the user page table at PT_PA; run it with
    ``enter_user(CODE_VA, SP_VA, ...)``."""
    mem = PhysMem(4 * 1024 * 1024)
    machine = Machine(mem)
    for handle, _cb in machine._hooks:  # the caller's callback alone
        uclib.uc_hook_del(machine._handle, ctypes.c_size_t(handle))
    pd, pt, code_pa, stack, pt_kern = (p * PGSIZE for p in range(1, 6))
    assert (pt, stack) == (PT_PA, STACK_PA)
    mem.write32(pd + (KERNBASE >> 22) * 4, pt_kern | 0x3)
    mem.write32(pt_kern, BOOT_PAGE | 0x3)  # the GDT and the ring-3 entry stub
    mem.write32(pd + (CODE_VA >> 22) * 4, pt | 0x7)
    mem.write32(pt + 0 * 4, code_pa | 0x5)  # code, user read-only
    mem.write32(pt + 1 * 4, stack | 0x7)  # stack page, user writable
    machine.enable_paging(pd)
    mem.write(code_pa, code)
    return machine


class _Floor:
    """One machine in ring 3 running the floor loop, with only the floor's
    callback attached; touch is one of TOUCHES."""

    def __init__(self, touch: str) -> None:
        self.machine = machine = ring3_machine(_LOOP)
        self._count_pa = STACK_PA + (SP_VA & 0xFFF)
        uch = machine._uch
        one = ctypes.c_uint32()
        addr = ctypes.addressof(one)
        stop = uclib.uc_emu_stop
        regs = machine.regs
        if touch == "in_place" and regs is None:
            raise MachineError("this Unicorn build's register file cannot be reached in place")

        def api(_uc: int, intno: int, _user: int) -> None:
            if intno == _INT_STOP:
                stop(machine._handle)
            else:
                _uc_reg_read(uch, x86.UC_X86_REG_EAX, addr)
                one.value += 1
                _uc_reg_write(uch, x86.UC_X86_REG_EAX, addr)

        def in_place(_uc: int, intno: int, _user: int) -> None:
            if intno == _INT_STOP:
                stop(machine._handle)
            else:
                regs[0] = (regs[0] + 1) & 0xFFFFFFFF

        def empty(_uc: int, intno: int, _user: int) -> None:
            if intno == _INT_STOP:
                stop(machine._handle)

        hook = {"api": api, "in_place": in_place, "empty": empty}[touch]
        self._hook = machine._raw_hook(ucc.UC_HOOK_INTR, _INTR_CB(hook))

    def run(self, n: int) -> float:
        """Wall seconds of n round trips (and the loop's own instructions)."""
        self.machine.mem.write32(self._count_pa, n)
        start = time.perf_counter()
        self.machine.enter_user(CODE_VA, SP_VA, 0x2, self._unexpected)
        return time.perf_counter() - start

    def _unexpected(self, trapno: int, _err: int, _is_int: bool) -> None:
        raise MachineError(f"the floor loop trapped unexpectedly ({trapno})")


def floor_us(iterations: int = 200_000, repeat: int = 5, touch: str = "api") -> float:
    """Microseconds per `int $0x30` round trip at the floor (touch: how the
    callback reaches eax, one of TOUCHES): (t(n) - t(0)) / n, the minimum over
    repeat measurements."""
    best = float("inf")
    for _ in range(repeat):  # a fresh machine per run: each run ends in uc_emu_stop
        base = _Floor(touch).run(0)
        full = _Floor(touch).run(iterations)
        best = min(best, (full - base) / iterations * 1e6)
    return best
