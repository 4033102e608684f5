"""What the gdb server needs from a machine: the `Target` interface.

The server (session.py) drives one Target.  Threads are JOS envs: a gdb
thread id is the env id itself (always > 0).  Registers are the 16 i386
registers in gdb's order (`REGISTERS`), each an unsigned 32-bit int.  Memory
is addressed by virtual address in the address space of one thread.
Breakpoint addresses apply to every thread (all envs link at the same
addresses).

Threading contract: the server calls every method from one thread at a time,
except `interrupt`, which it may call from another thread while `resume`
is blocked.  A method that cannot do what is asked raises `TargetError`; any
other exception is a bug in the target.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

# gdb's i386 register order (the "g" packet and register numbers 0..15).
REGISTERS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
             "eip", "eflags", "cs", "ss", "ds", "es", "fs", "gs")
EIP = REGISTERS.index("eip")

# Signals as gdb numbers them (its own numbering, same as Linux for these).
SIGINT = 2
SIGTRAP = 5
SIGSEGV = 11

# Resume actions.
CONTINUE = "continue"
STEP = "step"

# Breakpoint kinds (Z0 and Z1).
SW_BREAK = "sw"
HW_BREAK = "hw"

# Stop reasons.
STOP_BREAKPOINT = "swbreak"  # a Z0 breakpoint; pc is the breakpoint address
STOP_HW_BREAKPOINT = "hwbreak"  # a Z1 breakpoint; pc is the breakpoint address
STOP_STEP = "step"  # a single step finished
STOP_INTERRUPT = "interrupt"  # interrupt() was called
STOP_SIGNAL = "signal"  # the thread took a fault (signal says which)
STOP_EXITED = "exited"  # nothing left to run; exit_code is the status


class TargetError(Exception):
    """The target cannot do what was asked (bad address, dead thread...).

    `errno` is the number the server puts in its ``E`` reply.
    """

    def __init__(self, message: str, errno: int = 1):
        super().__init__(message)
        self.errno = errno


EFAULT = 14  # errno of TargetError for memory that is not mapped


@dataclass(frozen=True)
class StopEvent:
    """Why and where the machine stopped.

    `thread` is the env that stopped (None only when reason is STOP_EXITED).
    """

    signal: int
    thread: int | None
    reason: str
    exit_code: int = 0


class Target(abc.ABC):
    """A stopped-or-running machine the gdb server inspects and controls."""

    @abc.abstractmethod
    def threads(self) -> list[int]:
        """The live threads' ids (env ids, each > 0), in a stable order.

        Called only while the machine is stopped.  New envs appear, exited
        ones disappear; the list is empty only after the machine has exited.
        """

    @abc.abstractmethod
    def thread_info(self, tid: int) -> str:
        """One line describing thread `tid` for gdb's ``info threads``.

        E.g. "env 00001001 forktree RUNNABLE cpu 0".  TargetError if `tid`
        is not live.
        """

    @abc.abstractmethod
    def read_registers(self, tid: int) -> list[int]:
        """Thread `tid`'s 16 registers in `REGISTERS` order, as unsigned ints.

        For a thread that is not the one on the CPU these are its saved
        trapframe.  TargetError if `tid` is not live.
        """

    @abc.abstractmethod
    def write_registers(self, tid: int, values: Sequence[int]) -> None:
        """Set thread `tid`'s 16 registers (`REGISTERS` order).

        The target may refuse values that would break the machine's
        invariants (e.g. a ring-0 cs) with TargetError; then nothing changes.
        """

    @abc.abstractmethod
    def read_memory(self, tid: int, addr: int, length: int) -> bytes:
        """Up to `length` bytes at virtual address `addr` in `tid`'s space.

        Returns fewer bytes if the range runs into an unmapped page; raises
        TargetError(errno=EFAULT) if the first byte is not readable.
        """

    @abc.abstractmethod
    def write_memory(self, tid: int, addr: int, data: bytes) -> None:
        """Write `data` at `addr` in `tid`'s address space only.

        All or nothing: TargetError(errno=EFAULT) and no change if any byte is
        not mapped.  A page shared copy-on-write with another env must be
        copied first, so no other thread ever sees the change.
        """

    @abc.abstractmethod
    def insert_breakpoint(self, kind: str, addr: int) -> None:
        """Stop any thread about to execute `addr` (kind SW_BREAK or HW_BREAK).

        Inserting an address twice is the same as once.  The target must not
        change guest memory to do it (no int3 written into code).
        """

    @abc.abstractmethod
    def remove_breakpoint(self, kind: str, addr: int) -> None:
        """Undo `insert_breakpoint`; removing an absent breakpoint is not an error."""

    @abc.abstractmethod
    def resume(self, action: str, tid: int | None) -> StopEvent:
        """Run the machine until it stops again, and say why.

        STEP: thread `tid` executes exactly one instruction (a system call
        instruction counts as one: the stop is at the next user instruction
        with the result in eax), then STOP_STEP.  CONTINUE: every thread runs
        (`tid`, if given, is the thread to run first) until a breakpoint
        (the stop is before executing it, pc = the breakpoint address), a
        fault, interrupt(), or the machine has nothing left to run
        (STOP_EXITED).  The thread that last stopped at a breakpoint executes
        that instruction first instead of stopping at once again (other
        threads at the same address do stop).  Blocks until the stop.
        """

    @abc.abstractmethod
    def interrupt(self) -> None:
        """Make the resume() in progress return STOP_INTERRUPT soon (SIGINT).

        Called from another thread; returns at once.  No effect if no resume()
        is in progress.
        """

    @abc.abstractmethod
    def monitor(self, command: str) -> str:
        """Run a kernel monitor command (gdb's ``monitor CMD``); return its output.

        TargetError for an unknown command.
        """

    @abc.abstractmethod
    def detach(self) -> None:
        """gdb is gone: remove every breakpoint and let the machine run on freely."""

    @abc.abstractmethod
    def kill(self) -> None:
        """End the run (gdb's ``kill``); the machine does not run again."""
