"""Benchmarks.  Each figure is a difference of two runs of the same program
(N iterations and 0 iterations), so boot, loading and exit cancel out; the
minimum over --repeat measurements is reported.
"""

from __future__ import annotations

import platform
import time

from . import __version__
from .kernel import Kernel, KernelConfig
from .machine import UNICORN_VERSION


def _quiet(_text: str) -> None:
    pass


def time_run(programs: list[str], args: list[str], config: KernelConfig | None = None) -> float:
    """Wall seconds of Kernel.run() for programs (boot and load excluded)."""
    kernel = Kernel(config or KernelConfig(), out=_quiet)
    for program in programs:
        kernel.create_env(program, args)
    start = time.perf_counter()
    result = kernel.run()
    elapsed = time.perf_counter() - start
    if result.reason != "idle":
        raise RuntimeError(f"benchmark run of {programs} ended with {result.reason}: {result.message}")
    return elapsed


def per_iteration_us(programs: list[str], n: int, repeat: int, per: int) -> float:
    """Microseconds per event: (t(n) - t(0)) / (n * per), min over repeats."""
    best = float("inf")
    for _ in range(repeat):
        base = time_run(programs, ["0"])
        full = time_run(programs, [str(n)])
        best = min(best, (full - base) / (n * per) * 1e6)
    return best


def environment() -> dict[str, str]:
    """What produced the figures (echoed with every benchmark)."""
    return {"pyjos": __version__, "unicorn": UNICORN_VERSION,
            "python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or "unknown"}


def _counted_run(programs: list[str], args: list[str],
                 config: KernelConfig) -> tuple[float, dict[str, int], list[float]]:
    """(wall seconds of run(), global counters, fork episode seconds) for one boot."""
    kernel = Kernel(config, out=_quiet)
    for program in programs:
        kernel.create_env(program, args)
    start = time.perf_counter()
    result = kernel.run()
    elapsed = time.perf_counter() - start
    if result.reason != "idle":
        raise RuntimeError(f"benchmark run of {programs} ended with {result.reason}: {result.message}")
    return elapsed, dict(kernel.stats.total), kernel.fork_seconds


def _per(counts: dict[str, int], base: dict[str, int], prefix: str, n: int) -> float:
    """Events whose key starts with prefix, per unit, beyond the baseline run."""
    total = sum(v for k, v in counts.items() if k.startswith(prefix))
    total -= sum(v for k, v in base.items() if k.startswith(prefix))
    return total / n


FORK_STRATEGIES = ("dumb", "cow", "batch", "kernel", "sfork")


def bench_fork(strategy: str, pages: int, forks: int, repeat: int) -> dict[str, object]:
    """Cost of one fork of a process with `pages` extra mapped pages.

    forkbench maps the pages, forks `forks` times and waits for each child to
    exit.  traps_per_fork, syscalls_per_fork and ms_per_fork (median; _min
    the fastest) are of the fork call itself: the kernel's fork episodes, from
    sys_exofork or sys_fork until the child is made runnable.  The other
    figures are differences from the same run with 0 forks, so they cover the
    fork, the child's life (its faults, its exit) and the parent's
    copy-on-write faults afterwards; ms_per_fork_cycle is that in wall time.
    """
    mem = max(128, 32 + pages * 2 * 4 // 1024) * 1024 * 1024
    config = KernelConfig(mem=mem)
    cycles, calls_ms = [], []
    for _ in range(repeat):
        t0, base, _ = _counted_run(["forkbench"], [str(pages), "0", strategy], config)
        t1, counts, episodes = _counted_run(["forkbench"], [str(pages), str(forks), strategy], config)
        cycles.append((t1 - t0) / forks * 1e3)
        calls_ms += [s * 1e3 for s in episodes]
    cycles.sort()
    calls_ms.sort()
    calls = counts.get("fork.calls", 0) - base.get("fork.calls", 0)
    if calls != forks:
        raise RuntimeError(f"forkbench made {calls} forks, not {forks}")
    return {
        "strategy": strategy,
        "pages": pages,
        "forks": forks,
        "traps_per_fork": _per(counts, base, "fork.traps", forks),
        "syscalls_per_fork": _per(counts, base, "fork.syscalls", forks),
        "traps_per_fork_and_child": (_per(counts, base, "traps.", forks)
                                     - _per(counts, base, "traps.timer", forks)),
        "faults_per_fork": _per(counts, base, "page_faults", forks),
        "pages_copied_per_fork": _per(counts, base, "pages_copied", forks),
        "pages_allocated_per_fork": _per(counts, base, "pages_allocated", forks),
        "pte_writes_per_fork": _per(counts, base, "pte_writes", forks),
        "tlb_flushes_per_fork": _per(counts, base, "tlb_flushes", forks),
        "ms_per_fork": round(calls_ms[len(calls_ms) // 2], 4),
        "ms_per_fork_min": round(calls_ms[0], 4),
        "ms_per_fork_cycle": round(cycles[len(cycles) // 2], 4),
    }


def bench_fault(iterations: int, repeat: int) -> dict[str, object]:
    """A user-level page fault round trip: fault, upcall, sys_page_alloc in
    the handler, return to the faulting instruction (and, at exit, the page's
    release)."""
    pages = min(iterations, 16384)
    config = KernelConfig(mem=(64 + pages * 4 // 1024 * 2) * 1024 * 1024)
    best = float("inf")
    for _ in range(repeat):
        base = time_run(["faultloop"], ["0"], config)
        full = time_run(["faultloop"], [str(pages)], config)
        best = min(best, (full - base) / pages * 1e6)
    return {"benchmark": "fault", "faults": pages, "repeat": repeat,
            "us_per_fault": round(best, 3), **environment()}


# Real JOS under QEMU on this machine class, program phase only (ABI.md, issues).
JOS_REFERENCE_MS = {"pingpong": (11, 17), "stresssched": (440, 540), "primes_1877": (1500, 2100),
                    "forktree": (40, 63)}
PROGRAM_RUNS = {"pingpong": (["pingpong"], []), "stresssched": (["stresssched"], []),
                "primes_1877": (["primes"], ["1877"]), "forktree": (["forktree"], [])}


def bench_ipc(messages: int, repeat: int) -> dict[str, object]:
    """One IPC message between two envs (send, receive, switch), in us."""
    us = per_iteration_us(["ipcloop"], messages, repeat, 1)
    return {"benchmark": "ipc", "messages": messages, "repeat": repeat,
            "us_per_message": round(us, 3), **environment()}


def bench_programs(repeat: int) -> dict[str, object]:
    """Wall time of whole programs (the run phase, boot and load excluded)."""
    out: dict[str, object] = {"benchmark": "programs", "repeat": repeat}
    for key, (programs, args) in PROGRAM_RUNS.items():
        ms = min(time_run(programs, args) for _ in range(repeat)) * 1e3
        low, high = JOS_REFERENCE_MS[key]
        out[key] = {"ms": round(ms, 3), "reference_jos_qemu_ms": [low, high],
                    "ratio_to_reference_low": round(ms / low, 3)}
    out.update(environment())
    return out


def bench_syscall(iterations: int, repeat: int) -> dict[str, object]:
    """sys_getenvid round trip and yield-and-switch between two envs."""
    us_syscall = per_iteration_us(["syscallloop"], iterations, repeat, 1)
    # Two envs each yield n times: 2n yields, each a switch to the other env.
    us_switch = per_iteration_us(["yieldloop", "yieldloop"], iterations // 4 or 1, repeat, 2)
    return {"benchmark": "syscall", "iterations": iterations, "repeat": repeat,
            "us_per_syscall": round(us_syscall, 3), "us_per_switch": round(us_switch, 3),
            "reference_jos_qemu_us_per_syscall": 9.0, **environment()}
