"""The kernel: boot, the run loop, context switches, the console.

Everything runs inline in the CPU's trap hook: a system call, a page fault or
a yield is handled while Unicorn is paused inside ``emu_start``, and a context
switch is a write of the next env's registers and CR3.  ``emu_start`` returns
only when the instruction budget of a time slice runs out (the timer
interrupt, deterministic because it counts instructions) or when the kernel
stops the CPU (no env left, monitor, kernel panic).
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import sched, syscall, trap
from ..abi import (
    ENV_TYPE_USER, GD_UD, KERNBASE, NENV, PGSIZE, PTE_P, PTE_U, UENVS, Env, EnvStatus,
)
from ..guest.build import build_host_library, build_program, resolve_program
from ..guest.elf import ElfError, data_symbol, parse_elf, symbols
from .env import EnvTable, LoadError
from ..machine import Machine
from .pmap import Pmap
from .stats import Stats

HOST_DIR = Path(__file__).parent.parent / "host"
# enum fork_strategy in guest/inc/lib.h, and the variable fork() reads.
FORK_STRATEGIES = {"dumb": 0, "cow": 1, "batch": 2, "kernel": 3}
FORK_SYMBOL = "pyjos_fork_strategy"
DEFAULT_MEM = 128 * 1024 * 1024
DEFAULT_QUANTUM = 10_000  # timer units (basic blocks with the native timer)
# A user-readable page just past envs[] holding `int $0x30`: the run loop
# resumes an env there when its ds/es must be reloaded, which Unicorn only
# allows inside a trap hook (see resume()).
TRAMPOLINE_VA = UENVS + 0x20000
TRAMPOLINE_CODE = b"\xcd\x30"
_SEGS = struct.Struct("<HxxH")  # tf_es, tf_ds at offset 32 of struct Trapframe
_U32 = struct.Struct("<I")
_RUNNING = EnvStatus.ENV_RUNNING


@dataclass
class KernelConfig:
    """Settings of one machine; every run echoes them."""

    mem: int = DEFAULT_MEM
    quantum: int = DEFAULT_QUANTUM
    max_insns: int = 0  # 0 = no limit; enforced in whole time slices (see run())
    fork: str | None = None  # fork() strategy stored into each program (FORK_STRATEGIES)
    cow_faults: str = "user"  # "kernel": the kernel resolves writes to PTE_COW pages
    monitor_input: Iterable[str] | None = None  # lines for the monitor; None = no monitor


@dataclass
class RunResult:
    """How a run ended."""

    reason: str  # "idle" (no env left), "monitor", "max-insns", "panic", "output-closed",
    #              "interrupted" (SIGINT)
    message: str = ""
    slices: int = 0


@dataclass
class Program:
    """A loaded program: its name, ELF bytes and symbols (for backtraces)."""

    name: str
    elf: bytes
    symbols: list[tuple[int, int, str]] = field(default_factory=list)


class Kernel:
    """One booted pyjos machine."""

    def __init__(self, config: KernelConfig | None = None,
                 out: Callable[[str], None] | None = None,
                 cin: Callable[[], int] | None = None) -> None:
        self.config = config or KernelConfig()
        self._out = out or _stdout_write
        self._cin = cin or _stdin_getc
        self.stats = Stats()
        self.machine = Machine(self.config.mem)
        self.machine.calibrate()
        helper = build_host_library("preempt", HOST_DIR / "preempt.c")
        self.machine.install_timer(str(helper) if helper else None)
        self.pmap = Pmap(self.machine, self.stats)
        self.envtab = EnvTable(self.pmap, self.cprintf)
        self.envs = self.envtab.envs
        self._tf_pa = [self.pmap.envs_pa + i * ctypes.sizeof(Env) for i in range(NENV)]
        self._frames = [self.machine.frame_slots(pa) for pa in self._tf_pa]
        self.programs: dict[int, Program] = {}  # env index -> program it runs
        self.resched = False
        self.fork_episodes: dict[int, tuple[int, int, int, float]] = {}  # see syscall.fork_begin
        self.fork_log: list[tuple[int, int, float]] = []  # per fork: traps, syscalls, seconds
        self.stop_reason: str | None = None
        self.stop_message = ""
        self._resume_pending: int | None = None
        self._map_trampoline()
        self.machine.set_cr3(self.pmap.kern_pgdir)
        self.machine.on_trap = self.on_trap
        self.machine.on_syscall = self.on_syscall
        # es, ds as last seen in the CPU (after a save_frame, or read when the
        # running env died); env_run reloads them when the next env differs.
        self._cpu_segs = (GD_UD | 3, GD_UD | 3)
        self._blocks_mark = self.machine.blocks_executed() or 0
        self.baseline_free = self.pmap.nfree
        self.stats.reset()

    def _map_trampoline(self) -> None:
        ppn = self.pmap.page_alloc()
        self.pmap.pages[ppn].pp_ref += 1
        self.pmap.mem.write(ppn * PGSIZE, TRAMPOLINE_CODE)
        pt = self.pmap.pgdir_walk(self.pmap.kern_pgdir, TRAMPOLINE_VA, create=False)
        self.pmap.mem.write32(pt, (ppn * PGSIZE) | PTE_P | PTE_U)

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
        r, idx = self.envtab.env_alloc(parent_id)
        if r < 0:
            raise LoadError(f"cannot create an env for {name}: error {r}")
        try:
            self.envtab.load_icode(idx, image, [name, *(args or [])])
        except LoadError:
            self.envtab.env_free(idx)
            raise
        self.envs[idx].env_type = ENV_TYPE_USER
        if self.config.fork is not None:
            self._set_fork_strategy(idx, data)
        self.programs[idx] = Program(name, data, symbols(data))
        return self.envs[idx].env_id

    def _set_fork_strategy(self, idx: int, data: bytes) -> None:
        """Store config.fork into the program's pyjos_fork_strategy variable
        (lib/fork.c), which fork() reads; programs without fork() lack it."""
        found = data_symbol(data, FORK_SYMBOL)
        if found is None:
            return
        va, size = found
        if size != 4:
            raise LoadError(f"{FORK_SYMBOL} is {size} bytes, not an int")
        value = struct.pack("<i", FORK_STRATEGIES[self.config.fork])
        self.envtab.copy_to_user(idx, va, value)

    # --- registers of the running env ----------------------------------------------
    def save_frame(self, idx: int) -> None:
        """Copy the CPU registers of the running env into its env_tf."""
        self._frames[idx].save()
        self._cpu_segs = _SEGS.unpack_from(self.pmap.mem.buf, self._tf_pa[idx] + 32)

    def load_frame(self, idx: int) -> None:
        """Load env idx's env_tf into the CPU registers (not segments)."""
        self._frames[idx].load()

    def env_run(self, idx: int, in_hook: bool) -> None:
        """Make env idx the running env and load its state into the CPU."""
        envtab = self.envtab
        envs = self.envs
        cur = envtab.curenv
        if cur != idx:
            if cur is not None and envs[cur].env_status == _RUNNING:
                envtab.set_status(cur, EnvStatus.ENV_RUNNABLE)
            envtab.curenv = idx
            self.stats.bump("env_switches")
            self.charge_blocks()
        e = envs[idx]
        envtab.set_status(idx, EnvStatus.ENV_RUNNING)
        e.env_runs += 1
        self.stats.set_owner(e.env_id)
        self.pmap.switch_pgdir(e.env_pgdir - KERNBASE)
        self._frames[idx].load()
        segs = _SEGS.unpack_from(self.pmap.mem.buf, self._tf_pa[idx] + 32)
        if segs != self._cpu_segs:
            if in_hook:
                self.machine.set_data_segments(*segs)
                self._cpu_segs = segs
            else:
                self._resume_pending = idx
                self.machine.set_eip(TRAMPOLINE_VA)

    def charge_blocks(self) -> None:
        """Count the guest basic blocks run since the last call (stats
        `guest_blocks`), for the env that ran them: called at every switch."""
        now = self.machine.blocks_executed()
        if now is not None:
            self.stats.bump("guest_blocks", now - self._blocks_mark)
            self._blocks_mark = now

    def schedule(self, eax: int | None = None) -> None:
        """Switch to the next runnable env, or stop the CPU if there is none.

        eax, if given, is the current env's system-call result: it goes into
        its saved frame (or the CPU, if it keeps running).
        """
        self.resched = False
        cur = self.envtab.curenv  # None if the env just destroyed itself
        if cur is not None:
            self.save_frame(cur)  # also records the CPU's es/ds
            if eax is not None:  # tf_regs.reg_eax is at offset 28 of the Trapframe
                _U32.pack_into(self.pmap.mem.buf, self._tf_pa[cur] + 28, eax & 0xFFFFFFFF)
        else:
            self._cpu_segs = self.machine.data_segments()  # the dead env may have changed them
        nxt = sched.sched_pick(self)
        if nxt is None:
            self.envtab.curenv = None
            self.halt("idle")
            return
        if nxt != cur:
            self.env_run(nxt, in_hook=True)
        else:
            self.envs[cur].env_runs += 1
            if eax is not None:
                self.machine.set_eax(eax)

    def halt(self, reason: str, message: str = "") -> None:
        """Stop the CPU; the run loop ends with this reason."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_message = message
        self.machine.stop()

    # --- traps ---------------------------------------------------------------------
    def on_trap(self, trapno: int, err: int, is_int: bool) -> None:
        """Every trap from ring 3 arrives here, inline in the CPU hook."""
        if self._resume_pending is not None and trapno == 48 \
                and self.machine.eip() == TRAMPOLINE_VA + len(TRAMPOLINE_CODE):
            idx, self._resume_pending = self._resume_pending, None
            tf = self.envs[idx].env_tf
            self.machine.set_data_segments(tf.tf_es, tf.tf_ds)
            self._cpu_segs = (tf.tf_es, tf.tf_ds)
            self.load_frame(idx)
            return
        try:
            trap.trap_dispatch(self, trapno, err, is_int)
            if self.resched and self.stop_reason is None:
                self.schedule()
            self.pmap.flush_tlb_if_stale()
        except Exception as exc:  # a Python exception in the kernel is a kernel bug
            self.panic(f"kernel bug in trap {trapno}: {type(exc).__name__}: {exc}", exc)

    def on_syscall(self) -> None:
        """The fast path for `int $0x30` (the hook knows it needs no details)."""
        if self._resume_pending is not None:
            self.on_trap(48, 0, True)
            return
        try:
            self.stats.bump("traps.syscall")
            syscall.syscall_trap(self)
            if self.pmap.tlb_stale:
                self.pmap.flush_tlb_if_stale()
        except Exception as exc:  # a Python exception in the kernel is a kernel bug
            self.panic(f"kernel bug in a system call: {type(exc).__name__}: {exc}", exc)

    def panic(self, message: str, exc: BaseException | None = None) -> None:
        """Kernel panic: print it and stop the machine."""
        self.cprintf(f"kernel panic: {message}\n")
        self.panic_exc = exc
        self.halt("panic", message)

    # --- the run loop ----------------------------------------------------------------
    def run(self) -> RunResult:
        """Run (see _run); Ctrl-C stops the machine cleanly (reason "interrupted").

        A KeyboardInterrupt raised inside Unicorn's callbacks would be swallowed
        by ctypes, so while the machine runs SIGINT only asks it to halt.
        """
        if threading.current_thread() is not threading.main_thread():
            return self._run()
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        try:
            return self._run()
        finally:
            signal.signal(signal.SIGINT, previous)

    def _on_sigint(self, _signum: int, _frame: object) -> None:
        self.halt("interrupted", "interrupted by SIGINT")

    def _run(self) -> RunResult:
        """Run until no env is left, the monitor quits, or a limit is hit.

        --max-insns is checked at each timer interrupt: a slice of `quantum`
        units ran at least `quantum` instructions (a basic block holds one or
        more), so the run stops once at least max_insns instructions ran.
        """
        slices = 0
        quantum = self.config.quantum
        max_slices = -(-self.config.max_insns // quantum) if self.config.max_insns else 0
        self.stop_reason = None
        while True:
            idx = sched.sched_pick(self)
            if idx is None:
                self.halt("idle")
                break
            self.env_run(idx, in_hook=False)
            self.pmap.flush_tlb_if_stale()
            try:
                expired = self.machine.run_slice(self.machine.eip(), quantum)
            except Exception as exc:  # Unicorn refused to go on: the kernel's fault
                self.panic(f"CPU stopped: {exc}", exc)
                break
            self.charge_blocks()
            if self.stop_reason is not None:
                break
            if not expired:
                self.panic("the CPU stopped with no reason (no timer, no kernel stop)")
                break
            slices += 1
            self.stats.bump("traps.timer")
            cur = self.envtab.curenv
            if cur is not None and self.envs[cur].env_status == EnvStatus.ENV_RUNNING:
                if self._resume_pending is None:
                    self.save_frame(cur)
                self._resume_pending = None
                self.envtab.set_status(cur, EnvStatus.ENV_RUNNABLE)
            if max_slices and slices >= max_slices:
                self.halt("max-insns", f"--max-insns {self.config.max_insns} reached: stopped after "
                                       f"{slices} time slices of {quantum} {self.machine.timer_unit}")
                break
        if self.stop_reason == "idle":
            self.cprintf("No runnable environments in the system!\n")
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


__all__ = ["Kernel", "KernelConfig", "RunResult", "ElfError", "LoadError"]
