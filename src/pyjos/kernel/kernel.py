"""The kernel: boot, creating envs, the run loop, the console.

Everything runs inline in a CPU's trap hook: a system call, a page fault or
a yield is handled while Unicorn is paused inside ``emu_start`` (trap.py), and
a context switch is a write of the next env's registers and CR3.
``emu_start`` returns only when a time slice of the timer runs out (guest
basic blocks counted by the native timer, or instructions without it:
deterministic either way) or when the kernel stops the CPU (no env left,
monitor, kernel panic).

The kernel serves one CPU at a time (JOS's big kernel lock comes for free in
one host thread): ``self.cpu`` is that CPU, ``self.cpus`` all of them.  With
several CPUs the run loop steps them in a fixed round-robin of sub-slices
(their lengths fixed, or drawn from ``random.Random(seed)``), so a run is
exactly reproducible; each CPU takes its timer interrupt after ``quantum``
units of its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import random
import select
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..abi import (
    ENV_TYPE_USER, FL_VM, FORK_STRATEGIES, KSTACKTOP, NCPU, NENV, PGSIZE, PTE_P, PTE_U,
    UTRAMPOLINE, Env, EnvStatus, Trapframe,
)
from ..guest.build import build_host_library, build_program, resolve_program
from ..guest.elf import parse_elf, symbols
from ..machine import TRAMPOLINE_CODE, Machine, MachineError, PhysMem
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
from .sched import sched_pick, sched_yield
from .stats import Stats

HOST_DIR = Path(__file__).parent.parent / "host"
MIB = 1024 * 1024
DEFAULT_MEM_MIB = 128
DEFAULT_MEM = DEFAULT_MEM_MIB * MIB
DEFAULT_QUANTUM = 10_000  # timer units (basic blocks with the native timer)
SUBSLICES = 4  # with several CPUs, a time slice runs in about this many sub-slices
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
    cpus: int = 1  # CPUs, 1..NCPU
    seed: int | None = None  # sub-slice lengths from random.Random(seed); None: fixed
    prefault: bool = False  # back all guest memory at boot (PhysMem): for steady benchmarks


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
        if not 1 <= self.config.cpus <= NCPU:
            raise ValueError(f"cpus must be 1..{NCPU}, not {self.config.cpus}")
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
        self.mem = PhysMem(self.config.mem, self.config.prefault)
        machine = Machine(self.mem)
        self._watch_helper = native_code_watch() if self.config.cpus > 1 else None
        if self._watch_helper:
            machine.watch_code(self._watch_helper)
        machine.calibrate()  # before boot: it borrows physical pages 1-5
        self._timer_helper = native_timer()
        machine.install_timer(self._timer_helper)
        self._lock_helper = native_lock_check()
        machine.install_lock_check(self._lock_helper)
        self.cpus: list[Cpu] = []
        self.pmap = Pmap(self.mem, self.events, self.cpus)
        self.pmap.dirty_drop = lambda pgdir, ppn: self.forks.window_copy(self, pgdir, ppn)
        self.envtab = EnvTable(self.pmap, self.cprintf)
        self.envs = self.envtab.envs
        self._map_trampoline(machine)
        self._trapframes = [(self.pmap.envs_pa + i * ctypes.sizeof(Env),
                             self.envtab.fs_gs_address(i)) for i in range(NENV)]
        self._rng = random.Random(self.config.seed) if self.config.seed is not None else None
        if self.config.console != "lab3":  # a lab-3 kernel has one CPU and says nothing of it
            self.cprintf(f"SMP: CPU 0 found {self.config.cpus} CPU(s)\n")
            self.cprintf("enabled interrupts: 1 2\n")
        self._add_cpu(machine)
        for _ in range(1, self.config.cpus):
            self._add_cpu(self._boot_ap())
        self.cpu = self.cpus[0]  # the CPU the kernel is serving now
        self.baseline_free = self.pmap.nfree
        audit_attach(self)  # the boot state Kernel.audit() compares against
        self.stats.reset()

    def _add_cpu(self, machine: Machine) -> None:
        """Make machine the next CPU, its traps entering this kernel (through
        trap.counting with several CPUs; the lab-3 console first prints JOS lab
        3's line for every trap: wrappers, so the 1-CPU lab-4 path pays nothing)."""
        cpu = Cpu(len(self.cpus), machine, self.events, self.pmap.kern_pgdir, self._trapframes)
        syscall_entry = functools.partial(trap.syscall_trap, self, cpu)
        trap_entry = functools.partial(trap.trap, self, cpu)
        if self.config.console == "lab3":
            def syscall_entry(inner=syscall_entry) -> None:
                self.cprintf(LAB3_INCOMING)
                inner()

            def trap_entry(trapno: int, err: int, is_int: bool, inner=trap_entry) -> None:
                self.cprintf(LAB3_INCOMING)
                inner(trapno, err, is_int)
        if self.config.cpus > 1:
            syscall_entry, trap_entry = trap.counting(cpu, syscall_entry), trap.counting(cpu, trap_entry)
        machine.on_syscall, machine.on_trap = syscall_entry, trap_entry
        self.cpus.append(cpu)

    def _boot_ap(self) -> Machine:
        """An application processor (JOS's boot_aps / mp_main): a machine over
        the same memory, with paging on the kernel's directory, dropped into
        ring 3 at the trampoline, whose `int $0x30` stops it there."""
        machine = Machine(self.mem)
        if self._watch_helper:
            machine.watch_code(self._watch_helper)
        machine.set_trampoline(UTRAMPOLINE)
        machine.enable_paging(self.pmap.kern_pgdir)

        def parked(_trapno: int, _err: int, _is_int: bool) -> None:
            machine.stop()
        # Into ring 3 before the timer is installed: its budget starts empty
        # and would stop the CPU at the entry stub, still in ring 0.
        machine.enter_user(UTRAMPOLINE, UTRAMPOLINE, 0x2, parked)
        if machine.foreign_mode():
            raise MachineError(f"CPU {len(self.cpus)} did not reach ring 3 at boot")
        machine.install_timer(self._timer_helper)
        machine.install_lock_check(self._lock_helper)
        self.cprintf(f"SMP: CPU {len(self.cpus)} starting\n")
        return machine

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

    # --- counts ---------------------------------------------------------------------
    def cpu_counts(self) -> dict[str, dict[str, int]]:
        """Each CPU's own counts (cpu.CPU_COUNTERS) by CPU number; {} with one CPU
        (its counts are the totals)."""
        if len(self.cpus) == 1:
            return {}
        return {str(cpu.num): dict(cpu.counts) for cpu in self.cpus}

    def stats_dict(self) -> dict[str, object]:
        """What --stats-json writes: Stats.as_dict, and per_cpu with several CPUs."""
        out = self.stats.as_dict()
        per_cpu = self.cpu_counts()
        if per_cpu:
            out["per_cpu"] = per_cpu
        return out

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

        The CPUs run in turn, one sub-slice each per round (with one CPU, a
        sub-slice is its whole time slice); a CPU whose time slice ran out
        takes a timer interrupt.  --max-insns is checked at each timer
        interrupt: the sub-slices run so far, summed over the CPUs, ran at
        least as many timer units (a basic block holds one or more
        instructions), so the run stops once at least max_insns instructions
        ran.  With a debugger, it gets the first CPU before its first user
        instruction and any CPU at its debug stops (a code hook or a stop
        request); after it returns, the same env goes on at the same
        instruction with the rest of its sub-slice.
        """
        self.stop_reason = None
        self._slices = 0
        self._units = 0
        for cpu in self.cpus:
            if cpu.resched or cpu.quantum_left <= 0:
                cpu.quantum_left = self.config.quantum
            self._resume(cpu)
        first = True
        while self.stop_reason is None:
            ran = []
            for cpu in self.cpus:
                if not self._runnable(cpu):
                    cpu.counts["idle_subslices"] += 1
                    continue
                before = cpu.counts["kernel_entries"]
                if first:
                    first = False
                    if not self._debug_stop(cpu):
                        break
                if not self._subslice(cpu):
                    break
                ran.append((cpu, cpu.counts["kernel_entries"] - before))
            else:
                if not ran:
                    self.halt("idle")
                elif len(self.cpus) > 1:
                    self._count_contention(ran)
        return self._ended(self._slices)

    def _resume(self, cpu: Cpu) -> None:
        """At the start of a run: load cpu's env from outside any hook, the one
        it ran when the last run stopped if it may still run and its time slice
        had not run out, else the next one after it (none: cpu stays halted)."""
        idx = cpu.env
        if idx is None:
            return
        self._serve(cpu)
        if cpu.resched or self.envs[idx].env_status not in _MAY_RUN or any(
                other.env == idx for other in self.cpus if other is not cpu):
            cpu.resched = False
            idx = sched_pick(self)
            if idx is None:
                cpu.env = None
                return
        env_run(self, cpu, idx, in_hook=False)

    def _runnable(self, cpu: Cpu) -> bool:
        """Before cpu's sub-slice: make it run something if it can (a halted
        CPU picks an env; one whose env was destroyed or taken away by another
        CPU picks again); False if it stays halted."""
        if cpu.env is not None and not cpu.resched:
            return True
        self._serve(cpu)
        if cpu.env is None:
            cpu.resched = False
            idx = sched_pick(self)
            if idx is None:
                return False
            env_run(self, cpu, idx, in_hook=False)
            cpu.quantum_left = self.config.quantum
        else:
            sched_yield(self, cpu, in_hook=False)
        return cpu.env is not None

    def _serve(self, cpu: Cpu) -> None:
        """The kernel serves cpu now (Kernel.cpu, Events.cpu, the env charged)."""
        self.cpu = cpu
        self.events.cpu = cpu.num
        if cpu.env is not None:
            self.stats.set_owner(self.envs[cpu.env].env_id)

    def _subslice(self, cpu: Cpu) -> bool:
        """Run one sub-slice of cpu, its debug stops included, and its timer
        interrupt if its time slice ran out.  False if the run must end."""
        machine = cpu.machine
        if len(self.cpus) > 1:
            self._serve(cpu)
            machine.sync_code()  # its blocks of frames that changed since it ran (codewatch.py)
        cpu.flush_tlb_if_stale()
        units = self._subslice_units(cpu)
        slice_units: int | None = units
        while True:
            try:
                expired = machine.run_slice(machine.eip(), slice_units)
            except Exception as exc:  # Unicorn refused to go on: the kernel's fault
                self.panic(f"CPU stopped: {exc}", exc)
                return False
            cpu.charge_blocks()
            if self.stop_reason is not None:
                return False
            if not (self.debugger is not None and (machine.debug_hit or machine.stop_requested)):
                break
            if not self._debug_stop(cpu):
                return False
            if expired:
                break
            slice_units = None  # the rest of this sub-slice
        cpu.counts["subslices"] += 1
        if not expired:
            if cpu.env is not None and not cpu.paused:
                self.panic("the CPU stopped with no reason (no timer, no kernel stop)")
                return False
            cpu.paused = False  # it halted, or it waits for another CPU (Cpu.pause)
            units -= machine.slice_left()
        self._units += units
        cpu.quantum_left -= units
        if cpu.quantum_left > 0 or cpu.env is None:
            return True
        return self._timer_interrupt(cpu)

    def _subslice_units(self, cpu: Cpu) -> int:
        """Timer units of cpu's next sub-slice: its whole time slice with one
        CPU, else a part of it (fixed, or drawn from the seeded PRNG)."""
        left = cpu.quantum_left
        if len(self.cpus) == 1:
            return left
        part = max(1, self.config.quantum // SUBSLICES)
        if self._rng is not None:
            part = self._rng.randint(1, 2 * part)
        return min(left, part)

    def _timer_interrupt(self, cpu: Cpu) -> bool:
        """cpu's time slice ran out: stop here if --max-insns is reached, else
        the timer trap (another env, if one can run).  False if the run ends."""
        quantum = self.config.quantum
        cpu.quantum_left = quantum
        cpu.counts["timer_interrupts"] += 1
        if len(self.cpus) > 1:
            cpu.counts["kernel_entries"] += 1
        self._slices += 1
        max_insns = self.config.max_insns
        if max_insns and self._units >= max_insns:
            self.events.bump("traps.timer")
            for each in self.cpus:
                self._park(each)
            cpu.resched = True  # a later run() goes on as this timer interrupt would
            on = f" on {len(self.cpus)} CPUs" if len(self.cpus) > 1 else ""
            self.halt("max-insns", f"--max-insns {max_insns} reached: stopped after "
                                   f"{self._slices} time slices of {quantum} "
                                   f"{cpu.machine.timer_unit}{on}")
            return False
        trap.timer_trap(self, cpu)
        return self.stop_reason is None

    def _count_contention(self, ran: list[tuple[Cpu, int]]) -> None:
        """The big kernel lock over one round: a CPU's kernel entries would
        have waited if another CPU entered the kernel in the same round."""
        busy = [(cpu, n) for cpu, n in ran if n]
        if len(busy) < 2:
            return
        for cpu, n in busy:
            cpu.counts["kernel_lock_contended"] += n
            self.events.bump("kernel_lock_contended", n)

    def _debug_stop(self, cpu: Cpu) -> bool:
        """Hand a stopped cpu (Kernel.cpu) to the debugger, if one is attached
        (before the first user instruction, and when a debug hook or a stop
        request stopped it); it returns when the CPU may go on.  Every CPU is
        stopped then: the envs running on the others have their registers in
        their env_tf meanwhile (the debugger may read and change them).  False
        if the run must end."""
        if self.debugger is not None:
            others = [other for other in self.cpus if other is not cpu and other.env is not None]
            for other in others:
                other.save_frame(other.env)
            self.debugger(cpu)
            for other in others:
                if other.env is not None:
                    other.load_frame(other.env, in_hook=False)
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
        """The run stops between sub-slices: the env running on cpu has its
        registers saved to its env_tf and is RUNNABLE again (so a later run()
        resumes it)."""
        if cpu.env is not None and self.envs[cpu.env].env_status == EnvStatus.ENV_RUNNING:
            cpu.save_frame(cpu.env)
            if cpu.saved_eflags(cpu.env) & FL_VM:  # as sched_yield does
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


def native_timer() -> str | None:
    """The shared object of the native block timer (host/preempt.c, built
    once and cached), or None where no host C compiler builds it."""
    helper = build_host_library("preempt", HOST_DIR / "preempt.c")
    return str(helper) if helper else None


def native_lock_check() -> str | None:
    """The shared object of the native lock-prefix check (host/lockcheck.c,
    built once and cached), or None where no host C compiler builds it."""
    helper = build_host_library("lockcheck", HOST_DIR / "lockcheck.c")
    return str(helper) if helper else None


def native_code_watch() -> str | None:
    """The shared object of the cross-CPU code watch (host/codewatch.c, built
    once and cached; codewatch.py), or None where no host C compiler builds
    it.  Only several CPUs need it."""
    helper = build_host_library("codewatch", HOST_DIR / "codewatch.c")
    return str(helper) if helper else None


def timer_unit() -> str:
    """What a time slice counts on this host: "blocks" or "instructions"."""
    return "blocks" if native_timer() else "instructions"


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
