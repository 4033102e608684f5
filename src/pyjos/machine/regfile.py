"""The general registers read and written in place, without a Unicorn call.

Measured with callgrind on the floor loop (``pyjos bench floor``): one raw
``uc_reg_read`` or ``uc_reg_write`` from Python costs about 5,000 host
instructions, and Unicorn's own part of that is about 80; the rest is the
ctypes foreign call (argument conversion, libffi, releasing and retaking the
GIL).  A trap that reads its arguments and writes its result pays that twice,
four times what the callback itself costs (about 2,400).

Unicorn keeps the CPU state in QEMU's ``CPUX86State``, whose first member is
``regs[16]`` (64-bit: Unicorn runs every x86 mode on QEMU's x86-64 target,
eax..edi at indices 0-7), reached as ``uc->cpu->env_ptr``.  The two offsets
below are those of unicorn 2.1.4's x86-64 Linux build, found by scanning its
structures for register values written through the API.  Every machine checks
them before use (``find_env``): values written with ``uc_reg_write`` must appear
in place and values written in place must read back through ``uc_reg_read``;
otherwise (another build or platform) the machine keeps the API calls.

Only the eight general registers and (written only) eip are touched this
way, and only while the CPU is stopped in a hook or between runs, when QEMU
holds them there.  eip follows ``regs[]``; QEMU's next block lookup reads
it, as after its own interrupt delivery (the API's write of eip also makes
Unicorn leave and re-enter its CPU loop, which a stopped CPU does not need).
eflags (partly kept in QEMU's lazy condition codes) and the segment
registers (loading one has side effects) always go through the API.  The
fault details that machine.py reads out of a saved context (error code,
``exception_is_int``, ``old_exception``) are fields of the same structure: a
saved context is a copy of its first bytes (``context_is_env`` checks it), so
they too are read and written in place, without saving and restoring the
whole context at every fault.
"""

from __future__ import annotations

import ctypes

from unicorn import x86_const as x86

UC_CPU_OFFSET = 0x1B8  # struct uc_struct: CPUState *cpu
CPU_ENV_PTR_OFFSET = 0x128  # CPUState: void *env_ptr (-> CPUX86State)
# QEMU's register numbers (R_EAX ...), the index of each in regs[].
EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI = range(8)
_API_REGS = (x86.UC_X86_REG_EAX, x86.UC_X86_REG_ECX, x86.UC_X86_REG_EDX, x86.UC_X86_REG_EBX,
             x86.UC_X86_REG_ESP, x86.UC_X86_REG_EBP, x86.UC_X86_REG_ESI, x86.UC_X86_REG_EDI)
_BYTES = 8 * 8
EIP = 16  # the 64-bit word after regs[16] in CPUX86State

_memory_view = ctypes.pythonapi.PyMemoryView_FromMemory
_memory_view.restype = ctypes.py_object
_memory_view.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int)
_PYBUF_WRITE = 0x200

_layout_ok: bool | None = None  # the pointers lie in this process's memory (checked once)


def _readable(addresses: tuple[int, ...]) -> bool:
    """Each address (with _BYTES after it) lies in a mapping of this process
    that is readable and writable."""
    spans = []
    with open("/proc/self/maps", encoding="ascii") as maps:
        for line in maps:
            bounds, perms = line.split()[:2]
            if perms.startswith("rw"):
                lo, hi = (int(x, 16) for x in bounds.split("-"))
                spans.append((lo, hi))
    return all(any(lo <= a and a + _BYTES <= hi for lo, hi in spans) for a in addresses)


def _word(address: int) -> int:
    return ctypes.c_uint64.from_address(address).value


def find_env(uch: int, read: object, write: object) -> int | None:
    """The address of the CPU state (CPUX86State) of the Unicorn instance
    uch, or None if the layout does not check out.  read/write are raw
    ``uc_reg_read``/``uc_reg_write``.

    Run before the CPU first runs: it writes test values into the general
    registers and leaves them as it found them."""
    global _layout_ok
    if _layout_ok is False:
        return None
    if _layout_ok is None:
        cpu_field = uch + UC_CPU_OFFSET
        ok = _readable((cpu_field,))
        if ok:
            cpu = _word(cpu_field)
            ok = _readable((cpu + CPU_ENV_PTR_OFFSET,)) and _readable(
                (_word(cpu + CPU_ENV_PTR_OFFSET),))
        _layout_ok = ok
        if not ok:
            return None
    env = _word(_word(uch + UC_CPU_OFFSET) + CPU_ENV_PTR_OFFSET)
    if not _agrees(uch, general_registers(env), tuple(enumerate(_API_REGS)), read, write):
        _layout_ok = False
        return None
    return env


def cpu_state(uch: int) -> int:
    """The address of the Unicorn instance uch's QEMU CPUState (the ``cpu``
    that env_ptr hangs off): for QEMU functions that take it.  Only once
    find_env has checked the layout on this instance."""
    return _word(uch + UC_CPU_OFFSET)


def general_registers(env: int) -> memoryview:
    """eax..edi of the CPU state at env, as a live memoryview of 64-bit words
    (indices EAX..EDI)."""
    return _memory_view(env, _BYTES, _PYBUF_WRITE).cast("Q")


def cpu_words(env: int) -> memoryview:
    """The CPU state at env up to eip, as a live memoryview of 64-bit words:
    regs[] (EAX..EDI), then EIP."""
    return _memory_view(env, 8 * (EIP + 1), _PYBUF_WRITE).cast("Q")


def eip_agrees(uch: int, env: int, read: object, write: object) -> bool:
    """eip written through the API shows in place (cpu_words[EIP]) and eip
    written in place reads back through the API (find_env must have found
    env).  Leaves eip as it found it."""
    return _agrees(uch, cpu_words(env), ((EIP, x86.UC_X86_REG_EIP),), read, write)


def context_is_env(env: int, data: int, size: int) -> bool:
    """The size bytes of a context just saved at data are the CPU state at env
    (so that a field of the saved context can be read and written in place)."""
    return ctypes.string_at(data, size) == ctypes.string_at(env, size)


def _agrees(uch: int, view: memoryview, regs: tuple[tuple[int, int], ...], read: object,
            write: object) -> bool:
    """For each (index, API register) of regs: a value written through the
    API shows in place at view[index], and one written in place reads back
    through the API.  Each register is left as it was found."""
    one = ctypes.c_uint64()
    addr = ctypes.addressof(one)

    def api_read(reg: int) -> int:
        one.value = 0
        read(uch, reg, addr)
        return one.value & 0xFFFFFFFF

    def api_write(reg: int, value: int) -> None:
        one.value = value
        write(uch, reg, addr)
    found = [api_read(reg) for _at, reg in regs]
    try:
        for n, (_at, reg) in enumerate(regs):
            api_write(reg, 0x5A5A0000 + n * 0x0101)
        if [view[at] for at, _reg in regs] != [0x5A5A0000 + n * 0x0101 for n in range(len(regs))]:
            return False
        for n, (at, reg) in enumerate(regs):
            view[at] = 0x3C3C0000 + n * 0x0202
            if api_read(reg) != 0x3C3C0000 + n * 0x0202:
                return False
        return True
    finally:
        for (_at, reg), value in zip(regs, found, strict=True):
            api_write(reg, value)
