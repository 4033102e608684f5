"""A CPU as the kernel sees it (JOS's struct CpuInfo, xv6's struct cpu).

Each CPU has its own machine (a Unicorn instance over the one physical
memory), the env it runs, the page directory it has loaded, whether its TLB is
stale, a reschedule request, and the guest-block mark of its timer.  Nothing
else in the kernel keeps "the current" anything: the running env of a CPU is
``cpu.env``, and ``Kernel.cpu`` is the CPU the kernel is serving now.

Register frames: each env's registers are saved into and loaded from its
``env_tf`` in guest memory by register batches bound to that Trapframe, one set
per CPU (``frames``); the layout comes from ``abi.Trapframe``.  fs and gs,
which a Trapframe has no slot for, go to the env's words in
``EnvTable.fs_gs``.
"""

from __future__ import annotations

from ..abi import KSTACKTOP, KSTKGAP, KSTKSIZE, Trapframe, offset_of
from ..machine import FrameLayout, Machine
from .events import Events

# Registers an env can change in ring 3, and their slots in struct Trapframe.
TRAPFRAME_LAYOUT: FrameLayout = tuple(
    (reg, offset_of(Trapframe, field)) for reg, field in (
        ("edi", "tf_regs.reg_edi"), ("esi", "tf_regs.reg_esi"), ("ebp", "tf_regs.reg_ebp"),
        ("ebx", "tf_regs.reg_ebx"), ("edx", "tf_regs.reg_edx"), ("ecx", "tf_regs.reg_ecx"),
        ("eax", "tf_regs.reg_eax"), ("es", "tf_es"), ("ds", "tf_ds"), ("eip", "tf_eip"),
        ("eflags", "tf_eflags"), ("esp", "tf_esp")))


# Pages a stale TLB drops one at a time (as invlpg); past that, the whole TLB.
TLB_PAGES_MAX = 8

# What `--stats` counts for each CPU.
CPU_COUNTERS = ("subslices", "timer_interrupts", "kernel_entries", "kernel_lock_contended",
                "idle_subslices", "guest_blocks")


class Cpu:
    """One CPU: its machine and the kernel's per-CPU state."""

    def __init__(self, num: int, machine: Machine, events: Events, pgdir: int,
                 trapframes: list[tuple[int, int]]) -> None:
        self.num = num
        self.kstacktop = KSTACKTOP - num * (KSTKSIZE + KSTKGAP)  # JOS's percpu_kstacks[num]
        self.machine = machine
        self.events = events
        self.env: int | None = None  # index of the env running here
        self.pgdir = pgdir  # physical address of the loaded page directory
        self.tlb_stale = False  # a live translation changed: flush before user code runs
        self._stale_pages: list[int] | None = []  # the pages to flush then; None: all
        self.resched = False  # the trap tail must pick another env
        self.fpu_env: int | None = None  # whose x87/SSE state the FPU holds (fpu.py)
        self.paused = False  # it ended its sub-slice early, its env waiting for another CPU's
        self.blocks_mark = machine.blocks_executed() or 0
        self.quantum_left = 0  # timer units of its time slice still to run (kernel.py)
        # Per-CPU counts (--stats), kept by the run loop (kernel_entries only
        # with several CPUs: see trap.counting).
        self.counts = dict.fromkeys(CPU_COUNTERS, 0)
        self.frames = [machine.frame_slots(pa, TRAPFRAME_LAYOUT, fs_gs) for pa, fs_gs in trapframes]
        machine.set_cr3(pgdir)

    def pause(self) -> None:
        """End this CPU's sub-slice when the current trap returns, so that the
        other CPUs run (the run loop goes on to the next CPU)."""
        self.paused = True
        self.machine.stop()

    def switch_pgdir(self, pgdir: int) -> None:
        """Load pgdir into CR3 (which also flushes the TLB)."""
        if pgdir != self.pgdir:
            self.machine.set_cr3(pgdir)
            self.pgdir = pgdir
            self.tlb_stale = False
            self._stale_pages = []

    def mark_stale(self, va: int | None) -> None:
        """A live translation of the loaded directory changed: of the page at
        va, or (None) of any page."""
        pages = self._stale_pages
        if pages is not None and va not in pages:
            if va is None or len(pages) == TLB_PAGES_MAX or not self.machine.can_flush_page:
                self._stale_pages = None
            else:
                pages.append(va)
        self.tlb_stale = True

    def flush_tlb_if_stale(self) -> None:
        """Flush the TLB before user code runs if a live mapping changed: the
        stale pages one by one, or the whole TLB."""
        if self.tlb_stale:
            pages = self._stale_pages
            if pages is None:
                self.machine.tlb_flush()
            else:
                for va in pages:
                    self.machine.tlb_flush_page(va)
            self._stale_pages = []
            self.tlb_stale = False
            self.events.bump("tlb_flushes")

    def invalidate_code(self, pgdir: int, va: int, size: int) -> None:
        """Drop this CPU's code translated from the frames mapped at
        [va, va+size) in pgdir.  If pgdir is not the loaded directory, it is
        loaded for that moment: the two CR3 writes flush the TLB, which costs
        far less than dropping every translated block (with 4 CPUs, forktree
        --cow-faults kernel ran 3.4x the instructions of 1 CPU that way).  A
        CPU with a code watch (several CPUs) needs neither: it is not running,
        and before it runs again its watch drops the code of the frames whose
        bytes changed (Machine.sync_code)."""
        if pgdir == self.pgdir:
            self.flush_tlb_if_stale()
            self.machine.invalidate_code(va, size)
            return
        if self.machine.watches_code:
            return
        self.machine.set_cr3(pgdir)
        self.machine.invalidate_code(va, size)
        self.machine.set_cr3(self.pgdir)

    def save_frame(self, idx: int) -> None:
        """The CPU's registers -> env idx's env_tf (idx runs here)."""
        self.machine.save_frame(self.frames[idx])

    def saved_eflags(self, idx: int) -> int:
        """EFLAGS in env idx's env_tf (as the last save_frame left it)."""
        return self.frames[idx].eflags()

    def load_frame(self, idx: int, in_hook: bool) -> None:
        """env idx's env_tf -> the CPU's registers, segments included; the
        FPU traps (#NM) unless it holds idx's state (fpu.py)."""
        self.machine.load_frame(self.frames[idx], in_hook)
        self.machine.set_fpu_trap(self.fpu_env != idx)

    def charge_blocks(self) -> None:
        """Count the guest basic blocks run since the last call (`guest_blocks`)
        for the env charged now: called at every switch and slice end."""
        now = self.machine.blocks_executed()
        if now is not None:
            self.events.bump("guest_blocks", now - self.blocks_mark)
            self.counts["guest_blocks"] += now - self.blocks_mark
            self.blocks_mark = now
