"""The `lock` prefix check: #UD for a `lock` an i386 refuses.

Unicorn 2.1.4 runs `lock mov %eax,%eax` (and most other locked instructions
that are not read-modify-write ones on memory) as if unprefixed, where an
i386 raises #UD.  No Unicorn hook sees a prefix.  host/lockcheck.c decodes
each block as Unicorn translates it (UC_HOOK_EDGE_GENERATED: called once per
new translation, before the block first runs; nothing per block executed)
and stops the CPU before a block with a bad `lock`.  The machine then puts a
code hook on that instruction (it confirms the instruction each time it is
reached: the hook sees every address space) and drops the translations, so
the instruction is reached with the hook in place and faults there.

This module is the ctypes side of host/lockcheck.c: its state structure,
the hooks' installation and the decoder for the tests.
"""

from __future__ import annotations

import ctypes

from unicorn import UcError, unicorn_const as ucc
from unicorn.unicorn_py3.unicorn import uclib

NHOOKED = 32  # NHOOKED in host/lockcheck.c


class LockState(ctypes.Structure):
    """struct pyjos_lockcheck of host/lockcheck.c."""

    _fields_ = [("vmem_read", ctypes.c_void_p), ("stop", ctypes.c_void_p),
                ("found", ctypes.c_uint32), ("found_eip", ctypes.c_uint32),
                ("nhooked", ctypes.c_uint32), ("hooked", ctypes.c_uint32 * NHOOKED),
                ("fault", ctypes.c_uint32), ("pad", ctypes.c_uint32),
                ("blocks", ctypes.c_uint64), ("insns", ctypes.c_uint64),
                ("mismatches", ctypes.c_uint64), ("unreadable", ctypes.c_uint64)]


class LockCheck:
    """The check installed on one Unicorn instance (handle `uc`), from the
    shared object `helper` built from host/lockcheck.c."""

    def __init__(self, uc: ctypes.c_void_p, helper: str) -> None:
        self._uc = uc
        self._lib = ctypes.CDLL(helper)
        state = self.state = LockState()
        state.vmem_read = ctypes.cast(uclib.uc_vmem_read, ctypes.c_void_p).value
        state.stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
        self._code_hooks: list[int] = []
        self._add(ucc.UC_HOOK_EDGE_GENERATED, self._lib.pyjos_lock_edge_hook)

    def _add(self, kind: int, callback: ctypes._CFuncPtr, begin: int = 1, end: int = 0) -> int:
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(self._uc, ctypes.byref(handle), kind,
                                   ctypes.cast(callback, ctypes.c_void_p),
                                   ctypes.c_void_p(ctypes.addressof(self.state)),
                                   ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if status:
            raise UcError(status)
        return handle.value

    def take_found(self) -> bool:
        """After a stop: True if it was the edge hook's (a new block holds a bad
        `lock` with no code hook yet); then hook that instruction.  The caller
        must drop every translated block before resuming at the same EIP."""
        state = self.state
        if not state.found:
            return False
        state.found = 0
        if state.nhooked == NHOOKED:  # forget them all; they come back as met
            for handle in self._code_hooks:
                uclib.uc_hook_del(self._uc, ctypes.c_size_t(handle))
            self._code_hooks.clear()
            state.nhooked = 0
        eip = state.found_eip
        self._code_hooks.append(self._add(ucc.UC_HOOK_CODE, self._lib.pyjos_lock_code_hook,
                                          eip, eip))
        state.hooked[state.nhooked] = eip
        state.nhooked += 1
        return True

    def take_fault(self) -> bool:
        """After a stop: True if it was a code hook's (EIP is at a bad `lock`,
        which has not run)."""
        fault, self.state.fault = self.state.fault, 0
        return bool(fault)


def decode(helper: str, code: bytes) -> tuple[int, bool]:
    """(length, bad lock) of the 32-bit instruction at the start of code, with
    host/lockcheck.c's decoder (length 0: cut off or over 15 bytes)."""
    fn = ctypes.CDLL(helper).pyjos_insn_decode
    fn.argtypes = (ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int))
    bad = ctypes.c_int()
    length = fn(code, len(code), ctypes.byref(bad))
    return length, bool(bad.value)
