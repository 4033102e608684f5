"""Layer 1, the machine: i386 CPUs on Unicorn over one physical memory.

Knows x86, not JOS: physical memory, the GDT, ring-3 entry, the trap hook,
fast register access (also straight into a frame in memory), Unicorn's
measured workarounds, the native timer.
"""

from .machine import (
    DEBUG_BREAK, DEBUG_REQUEST, DEBUG_STEP, FRAME_REGS, INITIAL_EXTENDED, REGISTERS, TRAMPOLINE_CODE, UNICORN_VERSION, FrameLayout, FrameSlots, Machine,
    MachineError, foreign, PhysMem, UcError,
)

__all__ = ["DEBUG_BREAK", "DEBUG_REQUEST", "DEBUG_STEP", "FRAME_REGS", "INITIAL_EXTENDED", "REGISTERS", "TRAMPOLINE_CODE", "UNICORN_VERSION", "FrameLayout",
           "FrameSlots", "Machine", "MachineError", "PhysMem", "UcError", "foreign"]
