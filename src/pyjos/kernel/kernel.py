"""The kernel: boot, creating envs, the run loop, the console.

Everything runs inline in a CPU's trap hook: a system call, a page fault or
a yield is handled while Unicorn is paused inside ``emu_start`` (trap.py), and
a context switch is a write of the next env's registers and CR3.
``emu_start`` returns only when a time slice of the timer runs out (guest
basic blocks counted by the native timer, or instructions without it:
deterministic either way) or when the kernel stops the CPU (no env left,
monitor, kernel panic).

The kernel serves one CPU at a time (JOS's big kernel lock comes for free in
one host thread): ``self.cpu`` is that CPU, ``self.cpus`` all of them.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import select
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..abi import (
    ENV_TYPE_USER, FL_VM, FORK_STRATEGIES, KSTACKTOP, NENV, PGSIZE, PTE_P, PTE_U, UTRAMPOLINE,
    Env, EnvStatus, Trapframe,
)
from ..guest.build import build_host_library, build_program, resolve_program
from ..guest.elf import parse_elf, symbols
from ..machine import TRAMPOLINE_CODE, Machine, PhysMem
from . import monitor, trap
from .audit import attach as audit_attach, audit as audit_memory
from .cpu import Cpu
from .env import EnvTable, Program, destroy_foreign, env_run
from .events import Events
from .forks import ForkEpisodes
from .load import LoadError, load_icode, set_fork_strategy
from .interrupt import sigint_stops
from .monitor import ON_BREAKPOINT
from .pmap import Pmap
from .sched import sched_pick
from .stats import Stats

HOST_DIR = Path(__file__).parent.parent / "host"
MIB = 1024 * 1024
DEFAULT_MEM_MIB = 128
DEFAULT_MEM = DEFAULT_MEM_MIB * MIB
DEFAULT_QUANTUM = 10_000  # timer units (basic blocks with the native timer)
_MAY_RUN = (EnvStatus.ENV_RUNNABLE, EnvStatus.ENV_RUNNING)


@dataclass
class KernelConfig:
    """Settings of one machine; every run echoes them."""

    mem: int = DEFAULT_MEM
    quantum: int = DEFAULT_QUANTUM
    max_insns: int = 0  # 0 = no limit; enforced in whole time slices (see run())
    fork: str | None = None  # fork() strategy stored into each program (abi.FORK_STRATEGIES)
    cow_faults: str = "user"  # "kernel": the kernel resolves writes to PTE_COW pages
    monitor_input: Iterable[str] | None = None  # lines for the monitor; None = no monitor
    console: str = "lab4"  # "lab3": the lab-3 kernel's lines (see CONSOLES)
    on_breakpoint: str = "stop"  # a user int3: "stop" (the monitor), "destroy", "continue"


# The kernel consoles: which JOS kernel's lines pyjos prints.
CONSOLES = {
    "lab4": "JOS lab 4 (the default)",
    "lab3": "JOS lab 3: `Incoming TRAP frame at ...` at every trap, and `Destroyed the only "
            "environment - nothing more to do!` when the env is gone",
}
# Where JOS lab 3's trap() finds the trap frame: pushed on the kernel stack.
LAB3_INCOMING = f"Incoming TRAP frame at 0x{KSTACKTOP - ctypes.sizeof(Trapframe):08x}\n"


@dataclass
class RunResult:
    """How a run ended."""

    reason: str  # "idle" (no env left), "monitor", "max-insns", "panic", "output-closed",
    #              "interrupted" (SIGINT), "killed" (by gdb)
    message: str = ""
    slices: int = 0


class Kernel:
    """One booted pyjos machine."""

    def __init__(self, config: KernelConfig | None = None,
                 out: Callable[[str], None] | None = None,
                 cin: Callable[[], int] | None = None) -> None:
        self.config = config or KernelConfig()
        if self.config.fork is not None and self.config.fork not in FORK_STRATEGIES:
            raise ValueError(f"unknown fork strategy {self.config.fork!r}")
        if self.config.console not in CONSOLES:
            raise ValueError(f"unknown console {self.config.console!r}")
        if self.config.on_breakpoint not in ON_BREAKPOINT:
            raise ValueError(f"on_breakpoint must be one of {', '.join(ON_BREAKPOINT)}")
        # The monitor's command lines, one iterator for the whole run.
        lines = self.config.monitor_input
        self.monitor_lines = iter(lines) if lines is not None else None
        self._out = out or _stdout_write
        self._cin = cin or _stdin_getc
        self.stats = Stats()
        self.events = Events(self.stats)
        self.forks = ForkEpisodes(self.events, self.stats)
        self.fork_log = self.forks.log  # per fork: traps, syscalls, seconds
        self.upcalls_open: dict[int, list[int]] = {}  # watched only: env -> fault vas (trap.py)
        self.stop_reason: str | None = None
        self.stop_message = ""
        # A debugger's stop handler (pyjos run --gdb): the run loop calls it with
        # the CPU stopped, its env's registers in its CPU; it returns to go on.
        self.debugger: Callable[[Cpu], None] | None = None
        self.mem = PhysMem(self.config.mem)
        machine = Machine(self.mem)
        machine.calibrate()  # before boot: it borrows physical pages 1-5
        helper = build_host_library("preempt", HOST_DIR / "preempt.c")
        machine.install_timer(str(helper) if helper else None)
        self.cpus: list[Cpu] = []
        self.pmap = Pmap(self.mem, self.events, self.cpus)
        self.envtab = EnvTable(self.pmap, self.cprintf)
        self.envs = self.envtab.envs
        self._map_trampoline(machine)
        trapframes = [(self.pmap.envs_pa + i * ctypes.sizeof(Env), self.envtab.fs_gs_address(i))
                      for i in range(NENV)]
        self.cpus.append(Cpu(0, machine, self.events, self.pmap.kern_pgdir, trapframes))
        self.cpu = self.cpus[0]  # the CPU the kernel is serving now
        for cpu in self.cpus:
            self._attach_traps(cpu)
        self.baseline_free = self.pmap.nfree
        audit_attach(self)  # the boot state Kernel.audit() compares against
        self.stats.reset()

    def _attach_traps(self, cpu: Cpu) -> None:
        """Send cpu's traps to trap.py; the lab-3 console first prints JOS lab
        3's line for every trap (a wrapper, so the lab-4 path pays nothing)."""
        on_syscall = functools.partial(trap.syscall_trap, self, cpu)
        on_trap = functools.partial(trap.trap, self, cpu)
        if self.config.console == "lab3":
            def on_syscall(inner=on_syscall) -> None:
                self.cprintf(LAB3_INCOMING)
                inner()

            def on_trap(trapno: int, err: int, is_int: bool, inner=on_trap) -> None:
                self.cprintf(LAB3_INCOMING)
                inner(trapno, err, is_int)
        cpu.machine.on_syscall = on_syscall
        cpu.machine.on_trap = on_trap

    def _map_trampoline(self, machine: Machine) -> None:
        """Map TRAMPOLINE_CODE at UTRAMPOLINE, user-readable, for every env: the
        machine resumes an env there when its ds/es must be reloaded from
        outside a hook (Machine.load_frame)."""
        ppn = self.pmap.page_alloc()
        self.pmap.pages[ppn].pp_ref += 1
        self.mem.write(ppn * PGSIZE, TRAMPOLINE_CODE)
        pt = self.pmap.pgdir_walk(self.pmap.kern_pgdir, UTRAMPOLINE, create=False)
        self.mem.write32(pt, (ppn * PGSIZE) | PTE_P | PTE_U)
        machine.set_trampoline(UTRAMPOLINE)

    def audit(self) -> list[str]:
        """The problems of the memory state (kernel/audit.py); [] when sound."""
        return audit_memory(self)

    @property
    def machine(self) -> Machine:
        """CPU 0's machine (timer unit, registers for tests and tools)."""
        return self.cpus[0].machine

    # --- the calling env ------------------------------------------------------------
    def cur_id(self) -> int:
        """Id of the env running on the CPU being served, 0 if none."""
        idx = self.cpu.env
        return self.envs[idx].env_id if idx is not None else 0

    def envid2env(self, envid: int, checkperm: bool) -> tuple[int, int]:
        """EnvTable.envid2env for the env running on the CPU being served."""
        return self.envtab.envid2env(envid, checkperm, self.cpu.env)

    # --- console -------------------------------------------------------------------
    def cprintf(self, text: str) -> None:
        """Kernel console output.  If the console's reader went away (a closed
        pipe), the machine stops: nobody sees what it would do next."""
        try:
            self._out(text)
        except BrokenPipeError:
            self._out = _discard
            self.halt("output-closed", "the console's reader closed it")

    def cgetc(self) -> int:
        """A console character, or 0 if none is waiting."""
        return self._cin()

    # --- envs --------------------------------------------------------------------
    def create_env(self, program: str, args: list[str] | None = None,
                   parent_id: int = 0) -> int:
        """Build (if needed) and load a program into a new env; return its id.

        Raises BuildError, ElfError or LoadError with a clear message.
        """
        name, _source = resolve_program(program)
        path = build_program(program)
        return self.create_env_from_elf(name, path.read_bytes(), args, parent_id)

    def create_env_from_elf(self, name: str, data: bytes, args: list[str] | None = None,
                            parent_id: int = 0) -> int:
        """Load ELF bytes into a new env with argv = [name, *args]; return its id."""
        image = parse_elf(data)
        r, idx = self.envtab.env_alloc(parent_id, self.cur_id())
        if r < 0:
            raise LoadError(f"cannot create an env for {name}: error {r}")
        try:
            load_icode(self.envtab, idx, image, [name, *(args or [])])
            if self.config.fork is not None:
                set_fork_strategy(self.envtab, idx, data, self.config.fork)
        except LoadError:
            self.envtab.env_free(idx, self.cur_id())
            raise
        self.envs[idx].env_type = ENV_TYPE_USER
        self.envtab.programs[idx] = Program(name, data, symbols(data))
        return self.envs[idx].env_id

    # --- stopping -------------------------------------------------------------------
    def halt(self, reason: str, message: str = "") -> None:
        """Stop every CPU; the run loop ends with this reason."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_message = message
        for cpu in self.cpus:
            cpu.machine.stop()

    def panic(self, message: str, exc: BaseException | None = None) -> None:
        """Kernel panic: print it and stop the machine."""
        self.cprintf(f"kernel panic: {message}\n")
        self.panic_exc = exc
        self.halt("panic", message)

    # --- the run loop ----------------------------------------------------------------
    def run(self) -> RunResult:
        """Run (see _run); Ctrl-C stops the machine cleanly (reason "interrupted"),
        even in the middle of a time slice (interrupt.py).

        A KeyboardInterrupt raised inside Unicorn's callbacks would be swallowed
        by ctypes, so while the machine runs SIGINT only asks it to halt.
        """
        if threading.current_thread() is not threading.main_thread():
            return self._run()
        with sigint_stops(self):
            return self._run()

    def _run(self) -> RunResult:
        """Run until no env is left, the monitor quits, or a limit is hit.

        --max-insns is checked at each timer interrupt: a slice of `quantum`
        units ran at least `quantum` instructions (a basic block holds one or
        more), so the run stops once at least max_insns instructions ran.
        With a debugger, it gets the CPU before the first user instruction and
        at each debug stop (a code hook or a stop request); after it returns,
        the same env goes on at the same instruction with the rest of the slice.
        """
        slices = 0
        quantum = self.config.quantum
        max_slices = -(-self.config.max_insns // quantum) if self.config.max_insns else 0
        self.stop_reason = None
        cpu = self.cpu
        machine = cpu.machine
        if not self._start(cpu) or not self._debug_stop(cpu):
            return self._ended(slices)
        slice_units: int | None = quantum
        while True:
            try:
                expired = machine.run_slice(machine.eip(), slice_units)
            except Exception as exc:  # Unicorn refused to go on: the kernel's fault
                self.panic(f"CPU stopped: {exc}", exc)
                break
            cpu.charge_blocks()
            if self.stop_reason is not None:
                break
            slice_units = quantum
            if self.debugger is not None and (machine.debug_hit or machine.stop_requested):
                if not self._debug_stop(cpu):
                    break
                if not expired:
                    slice_units = None  # the rest of this slice
                    continue
            elif not expired:
                self.panic("the CPU stopped with no reason (no timer, no kernel stop)")
                break
            slices += 1
            if max_slices and slices >= max_slices:
                self.events.bump("traps.timer")
                self._park(cpu)
                cpu.resched = True  # a later run() goes on as this timer interrupt would
                self.halt("max-insns", f"--max-insns {self.config.max_insns} reached: stopped after "
                                       f"{slices} time slices of {quantum} {machine.timer_unit}")
                break
            trap.timer_trap(self, cpu)
            if self.stop_reason is not None:
                break
        return self._ended(slices)

    def _start(self, cpu: Cpu) -> bool:
        """Load cpu's env from outside any hook: the one it ran when the last
        run stopped, if it may run and its time slice had not run out, else
        the next; False if none can run."""
        idx = cpu.env
        if cpu.resched or idx is None or self.envs[idx].env_status not in _MAY_RUN:
            cpu.resched = False
            idx = sched_pick(self)
        if idx is None:
            self.halt("idle")
            return False
        env_run(self, cpu, idx, in_hook=False)
        cpu.flush_tlb_if_stale()
        return True

    def _debug_stop(self, cpu: Cpu) -> bool:
        """Hand a stopped cpu to the debugger, if one is attached (before the
        first user instruction, and when a debug hook or a stop request stopped
        it); it returns when the CPU may go on.  False if the run must end."""
        if self.debugger is not None:
            self.debugger(cpu)
        return self.stop_reason is None

    @contextlib.contextmanager
    def console_captured(self) -> Iterator[list[str]]:
        """Console output goes into the yielded list instead (gdb's monitor)."""
        saved, lines = self._out, []
        self._out = lines.append
        try:
            yield lines
        finally:
            self._out = saved

    def _park(self, cpu: Cpu) -> None:
        """The run stops between slices: the running env's registers go to its
        env_tf and it is RUNNABLE again (so a later run() resumes it)."""
        if cpu.env is not None and self.envs[cpu.env].env_status == EnvStatus.ENV_RUNNING:
            cpu.save_frame(cpu.env)
            if self.envs[cpu.env].env_tf.tf_eflags & FL_VM:  # as sched_yield does
                destroy_foreign(self, cpu, cpu.env, in_hook=False)
                return
            self.envtab.set_status(cpu.env, EnvStatus.ENV_RUNNABLE)

    def _ended(self, slices: int) -> RunResult:
        if self.stop_reason == "idle":
            if self.config.console == "lab3":
                self.cprintf("Destroyed the only environment - nothing more to do!\n")
            else:
                self.cprintf("No runnable environments in the system!\n")
            monitor.sched_halt(self)
        return RunResult(self.stop_reason or "idle", self.stop_message, slices)


def _discard(_text: str) -> None:
    pass


def _stdout_write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _stdin_getc() -> int:
    """A byte from stdin if one is waiting, else 0 (JOS's sys_cgetc never blocks)."""
    try:
        fd = sys.stdin.fileno()
        ready, _, _ = select.select([fd], [], [], 0)
        if not ready:
            return 0
        data = os.read(fd, 1)
    except (OSError, ValueError):
        return 0
    return data[0] if data else 0


__all__ = ["Kernel", "KernelConfig", "RunResult", "LoadError"]
