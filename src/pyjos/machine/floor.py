"""The emulator's floor: the cheapest trap round trip a Python kernel can have
on this Unicorn.

A ring-3 loop of ``int $0x30`` (with paging on, as pyjos runs) into a raw
ctypes ``UC_HOOK_INTR`` callback that reads and writes eax, and nothing else:
no kernel, no counters, no timer hook.  ``empty`` is the same with a callback
that touches no register.  pyjos's trap-bound figures are stated as ratios
to this floor measured in the same process (``pyjos bench floor``), so they
mean the same on any machine.
"""

from __future__ import annotations

import ctypes
import time

from unicorn import unicorn_const as ucc, x86_const as x86
from unicorn.unicorn_py3.unicorn import uclib

from ..abi import KERNBASE, PGSIZE
from .machine import BOOT_PAGE, Machine, MachineError, PhysMem, _uc_reg_read, _uc_reg_write

_CODE_VA, _SP_VA = 0x00800000, 0x00801FF0  # code page, then the stack page
_INT_STOP = 0x31
_INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)


# mov (%esp), %ecx; jecxz 2f; 1: int $0x30; dec %ecx; jnz 1b; 2: int $0x31
# (the count is data on the stack: rewriting code would need a retranslation)
_LOOP = b"\x8b\x0c\x24" + b"\xe3\x05" + b"\xcd\x30" + b"\x49" + b"\x75\xfb" + bytes((0xCD, _INT_STOP))


class _Floor:
    """One machine in ring 3 over a throwaway address space, with only the
    floor's callback attached."""

    def __init__(self, touch_eax: bool) -> None:
        mem = PhysMem(4 * 1024 * 1024)
        self.machine = machine = Machine(mem)
        for handle, _cb in machine._hooks:  # the floor is the callback alone
            uclib.uc_hook_del(machine._handle, ctypes.c_size_t(handle))
        pd, pt, code, stack, pt_kern = (p * PGSIZE for p in range(1, 6))
        mem.write32(pd + (KERNBASE >> 22) * 4, pt_kern | 0x3)
        mem.write32(pt_kern, BOOT_PAGE | 0x3)  # the GDT and the ring-3 entry stub
        mem.write32(pd + (_CODE_VA >> 22) * 4, pt | 0x7)
        mem.write32(pt + 0 * 4, code | 0x5)  # code, user read-only
        mem.write32(pt + 1 * 4, stack | 0x7)  # stack page, user writable
        machine.enable_paging(pd)
        mem.write(code, _LOOP)
        self._count_pa = stack + (_SP_VA & 0xFFF)
        uch = machine._uch
        one = ctypes.c_uint32()
        addr = ctypes.addressof(one)
        stop = uclib.uc_emu_stop

        def hook(_uc: int, intno: int, _user: int) -> None:
            if intno == _INT_STOP:
                stop(machine._handle)
            elif touch_eax:
                _uc_reg_read(uch, x86.UC_X86_REG_EAX, addr)
                one.value += 1
                _uc_reg_write(uch, x86.UC_X86_REG_EAX, addr)

        self._hook = machine._raw_hook(ucc.UC_HOOK_INTR, _INTR_CB(hook))

    def run(self, n: int) -> float:
        """Wall seconds of n round trips (and the loop's own instructions)."""
        self.machine.mem.write32(self._count_pa, n)
        start = time.perf_counter()
        self.machine.enter_user(_CODE_VA, _SP_VA, 0x2, self._unexpected)
        return time.perf_counter() - start

    def _unexpected(self, trapno: int, _err: int, _is_int: bool) -> None:
        raise MachineError(f"the floor loop trapped unexpectedly ({trapno})")


def floor_us(iterations: int = 200_000, repeat: int = 5, touch_eax: bool = True) -> float:
    """Microseconds per `int $0x30` round trip at the floor: (t(n) - t(0)) / n,
    the minimum over repeat measurements."""
    best = float("inf")
    for _ in range(repeat):  # a fresh machine per run: each run ends in uc_emu_stop
        base = _Floor(touch_eax).run(0)
        full = _Floor(touch_eax).run(iterations)
        best = min(best, (full - base) / iterations * 1e6)
    return best
