"""Cost models: what a counted kernel event would cost on real hardware.

pyjos runs on an emulator, so its wall times say how fast *pyjos* is, not how
fast a fork would be on a CPU.  A cost model answers the second question: it
multiplies the events the kernel counted (stats.py) by a per-event cost in
CPU cycles.  Nothing is estimated that was not counted; what is estimated is
only the price of each event, and every price below says where it comes
from.

Events (and the counters they multiply):

| event        | counted as                                  | what it stands for |
|--------------|---------------------------------------------|--------------------|
| trap         | traps.syscall + page_fault + breakpoint + exception | entry to and exit from the kernel: INT/fault through a gate with the ring change and TSS stack switch, the trap entry code, IRET back |
| syscall      | syscalls.* (each call of a batch too)       | system-call dispatch: argument fetch, table lookup, return value |
| pte_write    | pte_writes                                  | writing one page-table entry (and finding it) |
| page_alloc   | pages_allocated                             | allocating a page, which zeroes 4 KiB |
| page_copy    | kernel_page_copies                          | the kernel copying 4 KiB (copies made in user space are user work, below) |
| tlb_flush    | tlb_flushes                                 | reloading CR3 and refilling the TLB |
| upcall       | upcalls                                     | a user-level fault round trip beyond its trap: the kernel pushes the UTrapframe, the upcall runs, and returns to the faulting instruction without the kernel |
| env_switch   | env_switches                                | picking the next env, loading its CR3 (and the refills that follow) |
| user_block   | guest_blocks                                | one guest basic block of user work: the library walking uvpt, copying a page with memmove (a `rep movsl` runs one block per word), the program itself |

Timer interrupts are not priced: they depend on the time slice, not on fork.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

EVENTS = ("trap", "syscall", "pte_write", "page_alloc", "page_copy", "tlb_flush", "upcall",
          "env_switch", "user_block")

# counter name(s) -> event; a counter absent from a run counts 0.
EVENT_COUNTERS: dict[str, tuple[str, ...]] = {
    "trap": ("traps.syscall", "traps.page_fault", "traps.breakpoint", "traps.exception",
             "traps.fpu"),
    "syscall": ("syscalls.",),  # a prefix: every system call by name
    "pte_write": ("pte_writes",),
    "page_alloc": ("pages_allocated",),
    "page_copy": ("kernel_page_copies",),
    "tlb_flush": ("tlb_flushes",),
    "upcall": ("upcalls",),
    "env_switch": ("env_switches",),
    "user_block": ("guest_blocks",),
}


@dataclass(frozen=True)
class CostModel:
    """Cycles per event, with the source of each figure."""

    name: str
    description: str
    cycles: dict[str, float]
    sources: dict[str, str] = field(default_factory=dict)
    clock_ghz: float | None = None  # to turn cycles into time, where known

    def cost(self, events: dict[str, float]) -> float:
        """Cycles for the given event counts."""
        return sum(self.cost_by_event(events).values())

    def cost_by_event(self, events: dict[str, float]) -> dict[str, float]:
        """Cycles of each event kind for the given event counts."""
        return {e: self.cycles[e] * n for e, n in events.items()}


def event_counts(counters: dict[str, float]) -> dict[str, float]:
    """Map kernel counters (stats.py names) onto the model's events."""
    out = {}
    for event, names in EVENT_COUNTERS.items():
        total = 0.0
        for name in names:
            if name.endswith("."):
                total += sum(v for k, v in counters.items()
                             if k.startswith(name) and k != "syscalls.unknown")
            else:
                total += counters.get(name, 0)
        out[event] = total
    return out


def priced(counters: dict[str, float], models: list[CostModel]) -> dict[str, dict[str, object]]:
    """What a run's counters would cost under each model, JSON-ready:
    {model: {"cycles": total, "per_event": {event: cycles}, "clock_ghz": clock,
    "ms": total at that clock (None without one)}}."""
    events = event_counts(counters)
    out: dict[str, dict[str, object]] = {}
    for m in models:
        per_event = m.cost_by_event(events)
        total = sum(per_event.values())
        out[m.name] = {"cycles": round(total), "per_event": {e: round(c) for e, c in per_event.items()},
                       "clock_ghz": m.clock_ghz,
                       "ms": round(total / m.clock_ghz / 1e6, 6) if m.clock_ghz else None}
    return out


# --- i386: Intel 80386 Programmer's Reference Manual (1986), clock counts ------------------
# The trap path is the JOS one (kern/trapentry.S and env_pop_tf), instruction by
# instruction: INT n through a gate to an inner level (99), push ds, push es (2
# each), PUSHA (18), MOV to ds and es in protected mode (2 + 18 + 18), push esp
# and CALL (2 + 7); back: POPA (24), POP es and ds in protected mode (21 + 21),
# ADD esp (2), IRET to an outer level (82).  Sum: 318.
I386 = CostModel(
    name="i386",
    description="Intel 80386, clock counts from its programmer's reference manual",
    cycles={
        "trap": 318,
        "syscall": 120,
        "pte_write": 50,
        "page_alloc": 5 + 5 * 1024,
        "page_copy": 5 + 4 * 1024,
        "tlb_flush": 5 + 32 * 9,
        "upcall": 150,
        "env_switch": 100 + 5 + 32 * 9,
        "user_block": 12,
    },
    sources={
        "trap": "manual clocks of the JOS trap entry and exit path (sum of 14 instructions, see module)",
        "syscall": "estimate: ~30 instructions of dispatch and argument fetch at ~4 clocks",
        "pte_write": "MOV m32 (2 clocks) plus ~12 instructions finding the entry (estimate)",
        "page_alloc": "REP STOSD: 5 + 5n clocks, n = 1024",
        "page_copy": "REP MOVSD: 5 + 4n clocks, n = 1024",
        "tlb_flush": "MOV CR3 (5) plus refilling the 32-entry TLB, 2 memory reads each (~9 clocks)",
        "upcall": "estimate: 13 stores of the UTrapframe, the upcall stub's call, POPA (24), "
                  "POPF (5), RET (10) and its stack shuffling",
        "env_switch": "scheduler loop (~25 instructions, estimate) plus MOV CR3 and TLB refill",
        "user_block": "estimate: ~3 instructions at ~4 clocks (a rep movsl step is 4)",
    },
    clock_ghz=0.033,
)

# --- p4: Pentium 4 ----------------------------------------------------------------------
# The anchor is the measured int 0x80/iret round trip of getppid on a Pentium 4,
# about 1761 cycles (issue 7's figure, the one usually quoted against sysenter).
# It includes the dispatch of a trivial call, which is split off here.
P4 = CostModel(
    name="p4",
    description="Pentium 4: int 0x80/iret round trip measured at ~1761 cycles (getppid)",
    cycles={
        "trap": 1761 - 100,
        "syscall": 100,
        "pte_write": 20,
        "page_alloc": 1000,
        "page_copy": 2000,
        "tlb_flush": 500 + 64 * 25,
        "upcall": 300,
        "env_switch": 400 + 500 + 64 * 25,
        "user_block": 4,
    },
    sources={
        "trap": "getppid round trip via int 0x80 measured at ~1761 cycles, less the dispatch",
        "syscall": "estimate: dispatch of a trivial call (~100 cycles)",
        "pte_write": "estimate: a cached store and the lookup of the entry",
        "page_alloc": "estimate: zeroing 4 KiB at ~4 bytes/cycle",
        "page_copy": "estimate: copying 4 KiB at ~2 bytes/cycle",
        "tlb_flush": "estimate: MOV CR3 (~500) plus refilling a 64-entry DTLB at ~25 cycles each",
        "upcall": "estimate: the frame push, upcall entry and return to the faulting instruction",
        "env_switch": "estimate: scheduler (~400) plus MOV CR3 and TLB refill",
        "user_block": "estimate: ~3 instructions at a CPI near 1.3",
    },
    clock_ghz=2.8,
)

PRESETS = {"i386": I386, "p4": P4}
MODEL_NAMES = ("i386", "p4", "host")


def host_model(calibrate_exe: Path | None = None) -> CostModel:
    """The `host` model: measured on this machine by host/calibrate.c.

    Measured: a system call (getppid), 4 KiB copy and zeroing, a fault round
    trip (mprotect + SIGSEGV handler + return), a context switch (pipe
    ping-pong between two processes on one CPU), and the TSC rate.  The fault
    and switch figures include system calls, which are taken out.  A page-
    table write and a TLB flush cannot be measured from user space: the p4
    estimates are used for those.  Raises RuntimeError if no host compiler
    can build the calibration program or it fails.
    """
    from ..guest.build import BuildError, build_host_program

    try:
        exe = calibrate_exe or build_host_program("calibrate",
                                                  Path(__file__).parent.parent / "host" / "calibrate.c")
    except BuildError as exc:
        raise RuntimeError(f"cannot build the host calibration program: {exc}") from None
    if exe is None:
        raise RuntimeError("the host cost model needs a host C compiler (gcc) to calibrate")
    done = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"host calibration failed: {done.stderr.strip() or done.returncode}")
    m = {k: float(v) for k, v in (line.split() for line in done.stdout.splitlines() if line.strip())}
    syscall = m["syscall"]
    return CostModel(
        name="host",
        description="this machine, calibrated now (host/calibrate.c)",
        cycles={
            "trap": syscall,
            "syscall": 0.0,
            "pte_write": P4.cycles["pte_write"],
            "page_alloc": m["zero_4k"],
            "page_copy": m["copy_4k"],
            "tlb_flush": P4.cycles["tlb_flush"],
            "upcall": max(0.0, m["fault_roundtrip"] - 4 * syscall),
            "env_switch": max(0.0, m["switch"] - 2 * syscall),
            "user_block": P4.cycles["user_block"],
        },
        sources={
            "trap": f"measured: getppid round trip, {syscall:.0f} cycles (dispatch included)",
            "syscall": "included in the measured trap",
            "pte_write": "not measurable from user space: the p4 estimate",
            "page_alloc": "measured: memset of 4 KiB",
            "page_copy": "measured: memcpy of 4 KiB",
            "tlb_flush": "not measurable from user space: the p4 estimate",
            "upcall": "measured: mprotect + SIGSEGV + handler mprotect + sigreturn, "
                      "less 4 kernel entries",
            "env_switch": "measured: pipe ping-pong on one CPU, per switch, less its 2 system calls",
            "user_block": "not measured: the p4 estimate",
        },
        clock_ghz=m["tsc_per_ns"],
    )


def get_models(names: list[str]) -> list[CostModel]:
    """The named models (the host one is calibrated now)."""
    out = []
    for name in names:
        if name == "host":
            out.append(host_model())
        elif name in PRESETS:
            out.append(PRESETS[name])
        else:
            raise ValueError(f"unknown cost model {name!r} (choose from {', '.join(MODEL_NAMES)})")
    return out
