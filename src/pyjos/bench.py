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


def bench_syscall(iterations: int, repeat: int) -> dict[str, object]:
    """sys_getenvid round trip and yield-and-switch between two envs."""
    us_syscall = per_iteration_us(["syscallloop"], iterations, repeat, 1)
    # Two envs each yield n times: 2n yields, each a switch to the other env.
    us_switch = per_iteration_us(["yieldloop", "yieldloop"], iterations // 4 or 1, repeat, 2)
    return {"benchmark": "syscall", "iterations": iterations, "repeat": repeat,
            "us_per_syscall": round(us_syscall, 3), "us_per_switch": round(us_switch, 3),
            "reference_jos_qemu_us_per_syscall": 9.0, **environment()}
