"""The kernel as a gdb `Target` (`pyjos run --gdb`): envs are threads.

Two threads meet here.  The kernel runs on the main thread; the run loop calls
`KernelTarget.stopped` (``Kernel.debugger``) before the first user
instruction and whenever a debug hook (breakpoint, single step) or a stop
request (gdb's Ctrl-C) stopped the CPU.  There the target saves the env's
registers into its Trapframe and serves the gdb session's requests until one
of them lets the machine go (resume, detach, kill).  The session calls the
Target methods on its own thread; each is handed to the main thread through
a queue (`_call`), so the kernel's state is only ever touched by the thread
that runs it, and Ctrl-C at the terminal (the main thread's SIGINT handler)
still ends the run.  ``interrupt`` only asks the machines to stop.

Without a debugger attached nothing of this runs: no hooks are installed and
the run loop checks two flags per time slice.  After ``D`` the machine runs
freely; a gdb that connects again stops it with its first request.
"""

from __future__ import annotations

import queue
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ...abi import (FL_IF, NENV, PGSHIFT, PGSIZE, PTE_COW, PTE_P, PTE_SYSCALL, PTE_U, ROUNDDOWN,
                    ULIM, UTOP, EnvStatus)
from ...kernel import monitor
from ...kernel.env import env_run
from ...kernel.vm import copyin, user_mem_check
from ...machine import DEBUG_BREAK, DEBUG_STEP
from .server import GdbServer, parse_address
from .target import (CONTINUE, EFAULT, HW_BREAK, SIGINT, SIGTRAP, STEP, STOP_BREAKPOINT,
                     STOP_EXITED, STOP_HW_BREAKPOINT, STOP_INTERRUPT, STOP_STEP, SW_BREAK,
                     StopEvent, Target, TargetError)

if TYPE_CHECKING:
    from ...kernel.cpu import Cpu
    from ...kernel.kernel import Kernel

ERRNO_THREAD = 2  # the session's "no such thread" reply
ENOMEM = 12
_POLL = 0.2  # seconds between checks that the run has not ended
FL_IOPL = 0x3000
FL_VM = 0x20000
_MAY_RUN = (EnvStatus.ENV_RUNNABLE, EnvStatus.ENV_RUNNING)
# monitor commands served to gdb (the others resume or end the monitor)
MONITOR_COMMANDS = ("envs", "vm", "tf", "backtrace", "stats")


class KernelTarget(Target):
    """The gdb view of a booted, not yet running `Kernel`."""

    def __init__(self, kernel: Kernel, log: Callable[[str], None] | None = None) -> None:
        self.k = kernel
        self.log = log or (lambda line: None)
        self._requests: queue.Queue = queue.Queue()
        self._stops: queue.Queue = queue.Queue()
        self._breaks: dict[str, set[int]] = {SW_BREAK: set(), HW_BREAK: set()}
        self._attached = True  # a gdb session wants the machine stopped for it
        self._serving = False  # the main thread handles a stop: it serves requests
        self._go = False  # the request just served lets the machine run
        self._waiting = False  # a resume() waits for the next stop
        self._over_break = False  # stepping off a breakpoint, then continuing
        self._ended = False  # the run is over
        self._exit_code = 0
        kernel.debugger = self.stopped

    # --- the kernel's side (main thread) ----------------------------------------
    def stopped(self, cpu: Cpu) -> None:
        """Kernel.debugger: the CPU stopped; serve gdb until it may go on."""
        if cpu.env is not None:
            cpu.save_frame(cpu.env)
        event = self._stop_event(cpu)
        if event is not None:
            self._serving = True  # before gdb hears of the stop and asks more
            if self._waiting:
                self._waiting = False
                self._stops.put(event)
            self._serve()
        if cpu.env is not None:
            cpu.load_frame(cpu.env, in_hook=False)  # gdb may have changed it
        cpu.flush_tlb_if_stale()

    def _stop_event(self, cpu: Cpu) -> StopEvent | None:
        """What to tell gdb about this stop; None: go on without stopping."""
        machine = cpu.machine
        hit = machine.take_debug_stop()
        tid = self.k.envtab.env_id(cpu.env)
        if hit is None:  # before the first user instruction
            return StopEvent(SIGTRAP, tid, STOP_STEP)
        why, pc = hit
        if why == DEBUG_STEP:
            machine.set_single_step(False)
            over, self._over_break = self._over_break, False
            if not over:
                return StopEvent(SIGTRAP, tid, STOP_STEP)
            if not self._is_break(pc):
                return None  # off the breakpoint: the continue goes on
        if why in (DEBUG_STEP, DEBUG_BREAK):
            hw = pc not in self._breaks[SW_BREAK]
            return StopEvent(SIGTRAP, tid, STOP_HW_BREAKPOINT if hw else STOP_BREAKPOINT)
        if not self._attached and self._requests.empty():
            return None  # a stale request after a detach
        return StopEvent(SIGINT, tid, STOP_INTERRUPT)

    def _serve(self) -> None:
        """Run the session's requests until one lets the machine go (or the
        run is ended from the terminal)."""
        try:
            while self.k.stop_reason is None:
                try:
                    fn, args, reply = self._requests.get(timeout=_POLL)
                except queue.Empty:
                    continue
                reply.put(self._answer(fn, args))
                if self._go:
                    self._go = False
                    return
        finally:
            self._serving = False

    def _answer(self, fn: Callable, args: tuple) -> tuple[bool, object]:
        try:
            return True, fn(*args)
        except TargetError as exc:
            return False, exc
        except Exception as exc:  # a bug here must not take the machine down
            self.log(f"gdb: internal error: {type(exc).__name__}: {exc}")
            return False, TargetError(f"internal error: {exc}")

    def finish(self, exit_code: int = 0) -> None:
        """The run is over (main thread, after Kernel.run): a waiting resume
        gets the exit, every later request an error."""
        self._ended = True
        self._exit_code = exit_code
        self._fail_pending()

    def _fail_pending(self) -> None:
        while True:
            try:
                _fn, _args, reply = self._requests.get_nowait()
            except queue.Empty:
                return
            reply.put((False, TargetError("the machine has stopped running")))

    # --- the session's side ---------------------------------------------------------
    def _call(self, fn: Callable, *args: object) -> object:
        """fn(*args) on the kernel's thread while the machine is stopped."""
        if self._ended:
            raise TargetError("the machine has stopped running")
        reply: queue.Queue = queue.Queue(maxsize=1)
        self._attached = True
        self._requests.put((fn, args, reply))
        if not self._serving:
            self._stop_machines()  # a gdb attached again to a free-running machine
        while True:
            try:
                ok, value = reply.get(timeout=_POLL)
                break
            except queue.Empty:
                if self._ended:
                    self._fail_pending()
        if not ok:
            raise value
        return value

    def _stop_machines(self) -> None:
        for cpu in self.k.cpus:
            cpu.machine.request_stop()

    # --- Target: threads --------------------------------------------------------------
    def threads(self) -> list[int]:
        if self._ended:
            return []
        return self._call(self._threads)

    def _threads(self) -> list[int]:
        return [self.k.envs[i].env_id for i in self.k.envtab.live()]

    def thread_info(self, tid: int) -> str:
        return self._call(self._thread_info, tid)

    def _thread_info(self, tid: int) -> str:
        idx = self._env(tid)
        program = self.k.envtab.programs.get(idx)
        status = EnvStatus(self.k.envs[idx].env_status).name.removeprefix("ENV_")
        cpus = "".join(f" cpu {cpu.num}" for cpu in self.k.cpus if cpu.env == idx)
        return f"env {tid:08x} {program.name if program else '?'} {status}{cpus}"

    def _env(self, tid: int) -> int:
        """The index of live env tid, else TargetError."""
        idx = tid & (NENV - 1)
        e = self.k.envs[idx]
        if tid <= 0 or e.env_id != tid or e.env_status == EnvStatus.ENV_FREE:
            raise TargetError(f"no env {tid:08x}", errno=ERRNO_THREAD)
        return idx

    # --- Target: registers ----------------------------------------------------------------
    def read_registers(self, tid: int) -> list[int]:
        return self._call(self._read_registers, tid)

    def _read_registers(self, tid: int) -> list[int]:
        tf = self.k.envs[self._env(tid)].env_tf
        r = tf.tf_regs
        fs, gs = self.k.cpu.machine.fs_gs()
        return [r.reg_eax, r.reg_ecx, r.reg_edx, r.reg_ebx, tf.tf_esp, r.reg_ebp, r.reg_esi,
                r.reg_edi, tf.tf_eip, tf.tf_eflags, tf.tf_cs, tf.tf_ss, tf.tf_ds, tf.tf_es,
                fs, gs]

    def write_registers(self, tid: int, values: Sequence[int]) -> None:
        self._call(self._write_registers, tid, list(values))

    def _write_registers(self, tid: int, values: list[int]) -> None:
        """As sys_env_set_trapframe allows: ring-3 state only.  Segment
        registers keep their values (fs, gs are not in the Trapframe)."""
        idx = self._env(tid)
        if values[10:] != self._read_registers(tid)[10:]:
            raise TargetError("segment registers cannot be changed")
        eflags = values[9]
        if not eflags & FL_IF or eflags & (FL_IOPL | FL_VM):
            raise TargetError(f"eflags {eflags:#x}: IF must stay set, IOPL 0, no VM86")
        tf = self.k.envs[idx].env_tf
        r = tf.tf_regs
        (r.reg_eax, r.reg_ecx, r.reg_edx, r.reg_ebx, tf.tf_esp, r.reg_ebp, r.reg_esi,
         r.reg_edi, tf.tf_eip, tf.tf_eflags) = values[:10]

    # --- Target: memory -----------------------------------------------------------------------
    def read_memory(self, tid: int, addr: int, length: int) -> bytes:
        return self._call(self._read_memory, tid, addr, length)

    def _read_memory(self, tid: int, addr: int, length: int) -> bytes:
        """User-readable bytes (PTE_U, below ULIM) at addr, up to the first page that is not."""
        pgdir = self.k.envtab.pgdir(self._env(tid))
        end = min(addr + length, ULIM)
        readable = addr
        while readable < end and self.k.pmap.pte(pgdir, readable) & (PTE_P | PTE_U) == PTE_P | PTE_U:
            readable = ROUNDDOWN(readable, PGSIZE) + PGSIZE
        if readable <= addr:
            raise TargetError(f"cannot read {addr:#010x}", errno=EFAULT)
        return copyin(self.k.pmap, pgdir, addr, min(readable, end) - addr)

    def write_memory(self, tid: int, addr: int, data: bytes) -> None:
        self._call(self._write_memory, tid, addr, data)

    def _write_memory(self, tid: int, addr: int, data: bytes) -> None:
        """Write into env tid's user pages (below UTOP, any permission: gdb may
        patch code), each first made the env's own if another env maps its
        frame (copy-on-write, shared text, PTE_SHARE)."""
        k, pmap = self.k, self.k.pmap
        pgdir = k.envtab.pgdir(self._env(tid))
        if addr + len(data) > UTOP or user_mem_check(pmap, pgdir, addr, len(data), PTE_U) is not None:
            raise TargetError(f"cannot write {len(data)} bytes at {addr:#010x}", errno=EFAULT)
        for page in range(ROUNDDOWN(addr, PGSIZE), addr + len(data), PGSIZE):
            self._make_private(pgdir, page)
        for page in range(ROUNDDOWN(addr, PGSIZE), addr + len(data), PGSIZE):
            start, stop = max(addr, page), min(addr + len(data), page + PGSIZE)
            pa = (pmap.pte(pgdir, page) & ~0xFFF) + start - page
            pmap.mem.write(pa, data[start - addr:stop - addr])
        pmap.drop_translations()  # the bytes may be code

    def _make_private(self, pgdir: int, va: int) -> None:
        pmap = self.k.pmap
        pte = pmap.pte(pgdir, va)
        if pte & PTE_COW:
            r = pmap.page_cow_break(pgdir, va)
        elif pmap.pages[pte >> PGSHIFT].pp_ref > 1:
            r = pmap.page_private_copy(pgdir, va, pte & PTE_SYSCALL)
        else:
            return
        if r < 0:
            raise TargetError(f"no free page for a private copy of {va:#010x}", errno=ENOMEM)

    # --- Target: breakpoints --------------------------------------------------------------
    def insert_breakpoint(self, kind: str, addr: int) -> None:
        self._call(self._set_breakpoint, kind, addr, True)

    def remove_breakpoint(self, kind: str, addr: int) -> None:
        self._call(self._set_breakpoint, kind, addr, False)

    def _set_breakpoint(self, kind: str, addr: int, on: bool) -> None:
        """One code hook per address, whatever kinds are set there."""
        (self._breaks[kind].add if on else self._breaks[kind].discard)(addr)
        wanted = self._is_break(addr)
        for cpu in self.k.cpus:
            if wanted:
                cpu.machine.add_code_breakpoint(addr)
            else:
                cpu.machine.remove_code_breakpoint(addr)

    def _is_break(self, addr: int) -> bool:
        return addr in self._breaks[SW_BREAK] or addr in self._breaks[HW_BREAK]

    def _clear_breakpoints(self) -> None:
        for kind, addrs in self._breaks.items():
            for addr in list(addrs):
                self._set_breakpoint(kind, addr, False)

    # --- Target: execution ----------------------------------------------------------------
    def resume(self, action: str, tid: int | None) -> StopEvent:
        self._call(self._start_resume, action, tid)
        while True:
            try:
                return self._stops.get(timeout=_POLL)
            except queue.Empty:
                if self._ended and self._stops.empty():
                    return StopEvent(0, None, STOP_EXITED, self._exit_code)

    def _start_resume(self, action: str, tid: int | None) -> None:
        """STEP: tid's next instruction (tid is put on the CPU first if another
        env is there).  CONTINUE: the CPU goes on with the env it has (tid is
        not honoured); first off a breakpoint it is stopped at."""
        cpu = self.k.cpu
        if action == STEP and tid is not None and self._env(tid) != cpu.env:
            idx = self._env(tid)
            if self.k.envs[idx].env_status not in _MAY_RUN:
                raise TargetError(f"env {tid:08x} is not runnable: it cannot step")
            if any(other.env == idx for other in self.k.cpus):
                raise TargetError(f"env {tid:08x} runs on another CPU: step it when it stops there")
            env_run(self.k, cpu, idx, in_hook=False)
        eip = self.k.envs[cpu.env].env_tf.tf_eip
        self._over_break = action == CONTINUE and self._is_break(eip)
        for other in self.k.cpus:
            other.machine.stop_requested = False  # asked while stopped: nothing to stop
        if action == STEP or self._over_break:
            cpu.machine.set_single_step(True)
        self._waiting = True
        self._go = True

    def interrupt(self) -> None:
        self._stop_machines()

    def detach(self) -> None:
        if not self._ended:
            self._call(self._detach)

    def _detach(self) -> None:
        self._clear_breakpoints()
        for cpu in self.k.cpus:
            cpu.machine.set_single_step(False)
        self._attached = False
        self._waiting = False
        self._go = True

    def kill(self) -> None:
        if not self._ended:
            self._call(self._kill)

    def _kill(self) -> None:
        self._detach()
        self.k.halt("killed", "killed by gdb")

    # --- Target: monitor ----------------------------------------------------------------------
    def monitor(self, command: str) -> str:
        return self._call(self._monitor, command)

    def _monitor(self, command: str) -> str:
        """envs, stats, and vm/tf/backtrace [ENVID] (default: the env on the CPU)."""
        words = command.split()
        if not words or words[0] not in MONITOR_COMMANDS + ("help",):
            raise TargetError(f"unknown monitor command {command.strip()!r}; try "
                              f"{', '.join(MONITOR_COMMANDS)} or help")
        name, args = words[0], words[1:]
        if name == "help":
            return "".join(f"{c} - {monitor.COMMANDS[c][0] if c in monitor.COMMANDS else 'event counters'}\n"
                           for c in MONITOR_COMMANDS)
        if name == "stats":
            from ..cli import format_stats
            return format_stats(self.k.stats.total) + "\n"
        idx = self.k.cpu.env
        if args:
            try:
                idx = self._env(int(args[0], 16))
            except ValueError:
                raise TargetError(f"not an env id: {args[0]!r}") from None
        if idx is None:
            raise TargetError("no env is on the CPU: name one (monitor vm ENVID)")
        with self.k.console_captured() as lines:
            monitor.COMMANDS[name][1](self.k, idx, args)
        return "".join(lines)


class GdbStub:
    """`pyjos run --gdb [HOST:]PORT`: the kernel's target, served over TCP."""

    def __init__(self, kernel: Kernel, address: str, log: Callable[[str], None]) -> None:
        """ValueError for a bad address, OSError if it cannot listen."""
        host, port = parse_address(address)
        self.target = KernelTarget(kernel, log)
        self.server = GdbServer(self.target, host, port, log)
        self.host, self.port = self.server.start()

    def command(self, elf: Path) -> str:
        """The gdb command line that attaches to this stub."""
        return f"gdb -ex {shlex.quote(f'target remote {self.host}:{self.port}')} {shlex.quote(str(elf))}"

    def finish(self, grace: float = 5.0) -> None:
        """The run is over: tell gdb, let it see the exit, stop listening."""
        self.target.finish()
        self.server.close()
        self.server.wait_session(grace)
