"""``pyjos fuzz``: a deterministic guest fuzzer that must not hurt the kernel.

Boots one machine with ``envs`` copies of the guest program ``fuzz`` (each
issues its share of the calls from its own seed: raw system calls and
batches with edge-value arguments, forks, faulting children, pages passed
over IPC) and one ``fuzz bystander`` env that checks its own memory and
registers until it is the last env.  The run is a failure if the kernel
panics (a Python exception in the kernel included), the run does not end
with every env gone, the bystander complains or never reports, or
``kernel.audit`` finds a problem afterwards.

Calls are counted by the kernel: every system call trap and every call of a
batch (the ``syscalls.*`` counters).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..kernel import Kernel, KernelConfig, audit

DEFAULT_ENVS = 3
# A safety net, not a goal: a run that is still going after this many guest
# instructions per requested call is stuck.
_INSNS_PER_CALL = 1_000


@dataclass
class FuzzResult:
    """The outcome of one fuzzing run."""

    seed: int
    calls: int  # system calls the kernel handled (batched calls included)
    seconds: float
    reason: str  # how the run ended (RunResult.reason)
    problems: list[str] = field(default_factory=list)  # empty: the kernel held
    tail: list[str] = field(default_factory=list)  # the console's last lines

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        rate = self.calls / self.seconds if self.seconds > 0 else 0.0
        verdict = "ok" if self.ok else f"{len(self.problems)} problem(s)"
        return (f"pyjos fuzz: seed {self.seed}: {self.calls:,} calls in {self.seconds:.1f} s "
                f"({rate:,.0f} calls/s), run ended {self.reason}, audit and bystander: {verdict}")


def fuzz(seed: int, calls: int, envs: int = DEFAULT_ENVS, quantum: int = 10_000,
         fork: str | None = None, out=None) -> FuzzResult:
    """Run the fuzzer; out (if given) receives the console text as it comes."""
    text: list[str] = []

    def console(chunk: str) -> None:
        text.append(chunk)
        if out is not None:
            out(chunk)

    config = KernelConfig(quantum=quantum, fork=fork,
                          max_insns=max(calls, 1_000) * _INSNS_PER_CALL)
    kernel = Kernel(config, out=console)
    audit.attach(kernel)
    share = -(-calls // envs)
    for i in range(envs):
        kernel.create_env("fuzz", [str(seed * 1_000 + i), str(share)])
    kernel.create_env("fuzz", ["bystander"])
    kernel.stats.reset()
    start = time.perf_counter()
    result = kernel.run()
    seconds = time.perf_counter() - start
    done = sum(v for k, v in kernel.stats.total.items() if k.startswith("syscalls."))
    console_text = "".join(text)
    return FuzzResult(seed, done, seconds, result.reason,
                      _problems(kernel, result, console_text), console_text.splitlines()[-40:])


def _problems(kernel: Kernel, result, text: str) -> list[str]:
    problems = []
    if result.reason != "idle":
        problems.append(f"the run ended {result.reason}: {result.message}")
    if "kernel panic" in text:
        problems.append("the kernel panicked")
    if "bystander complaint" in text:
        problems.append(next(line for line in text.splitlines() if "bystander complaint" in line))
    elif result.reason == "idle" and "bystander ok" not in text:
        problems.append("the bystander never reported (it was destroyed)")
    if kernel.envtab.live():
        problems.append(f"{len(kernel.envtab.live())} envs still live")
    problems += [f"audit: {p}" for p in audit.audit(kernel)]
    return problems
