"""Benchmarks.  Each figure is a difference of two runs of the same program
(N iterations and 0 iterations), so boot, loading and exit cancel out; the
minimum over --repeat measurements is reported.
"""

from __future__ import annotations

import platform
import random
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .. import __version__
from .costmodel import EVENT_COUNTERS, CostModel, event_counts
from ..guest.build import build_host_program
from ..kernel import DEFAULT_MEM, Kernel, KernelConfig
from ..kernel.pmap import MAX_MEM
from ..machine import UNICORN_VERSION
from ..machine.floor import floor_us

NATIVE_SOURCE = Path(__file__).parent.parent / "host" / "forknative.c"


def time_run(programs: list[str], args: list[str], config: KernelConfig | None = None) -> float:
    """Wall seconds of Kernel.run() for programs (boot and load excluded)."""
    return _counted_run(programs, args, config or KernelConfig())[0]


def per_iteration_us(programs: list[str], n: int, repeat: int, per: int,
                     config: KernelConfig | None = None) -> float:
    """Microseconds per event: (t(n) - t(0)) / (n * per), min over repeats."""
    return per_iteration(programs, n, repeat, per, config)[0]


def per_iteration(programs: list[str], n: int, repeat: int, per: int,
                  config: KernelConfig | None = None) -> tuple[float, dict[str, float]]:
    """(microseconds per event as per_iteration_us, counters per event: the
    same difference of the two runs' counts over n * per)."""
    config = config or KernelConfig()
    best = float("inf")
    for _ in range(repeat):
        t0, base, _ = _counted_run(programs, ["0"], config)
        t1, full, _ = _counted_run(programs, [str(n)], config)
        best = min(best, (t1 - t0) / (n * per) * 1e6)
    return best, {k: (full.get(k, 0) - base.get(k, 0)) / (n * per) for k in set(full) | set(base)}


def modelled_us(counts: dict[str, float], models: list[CostModel]) -> dict[str, float]:
    """What the counted events would take on each model's CPU, in microseconds."""
    return {m.name: m.cost(event_counts(counts)) / m.clock_ghz / 1e3
            for m in models if m.clock_ghz}


def environment() -> dict[str, str]:
    """What produced the figures (echoed with every benchmark)."""
    return {"pyjos": __version__, "unicorn": UNICORN_VERSION,
            "python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or "unknown"}


def _counted_run(programs: list[str], args: list[str],
                 config: KernelConfig) -> tuple[float, dict[str, int], list[float]]:
    """(wall seconds of run(), global counters, fork episode seconds) for one
    boot (the console is discarded).  Guest memory is prefaulted, so a figure
    does not include the host's first touch of each frame it uses."""
    kernel = Kernel(replace(config, prefault=True), out=lambda _text: None)
    for program in programs:
        kernel.create_env(program, args)
    start = time.perf_counter()
    result = kernel.run()
    elapsed = time.perf_counter() - start
    if result.reason != "idle":
        raise RuntimeError(f"benchmark run of {programs} ended with {result.reason}: {result.message}")
    counts = dict(kernel.stats.total)
    return elapsed, counts, [seconds for _traps, _calls, seconds in kernel.fork_log]


def _per(counts: dict[str, int], base: dict[str, int], prefix: str, n: int) -> float:
    """Events whose key starts with prefix, per unit, beyond the baseline run."""
    total = sum(v for k, v in counts.items() if k.startswith(prefix))
    total -= sum(v for k, v in base.items() if k.startswith(prefix))
    return total / n


DEFAULT_FORK_PAGES = (0, 16, 64, 256, 1024, 4096, 16384, 65536)
_MIB = 1024 * 1024
_SLACK = 64 * _MIB  # kernel tables, the program, the children's stacks

# Per-fork counter differences (run with F forks minus run with none) / F.
# pages copied: copy-on-write copies and dumb fork's eager copies, both seen
# by the kernel (events.py's pages_copied).
_CYCLE_KEYS = {
    "faults_per_fork": "page_faults",
    "upcalls_per_fork": "upcalls",
    "pages_copied_per_fork": "pages_copied",
    "pages_allocated_per_fork": "pages_allocated",
    "pte_writes_per_fork": "pte_writes",
    "pt_pages_per_fork": "pt_pages_allocated",
    "pt_shared_per_fork": "pt_shared",
    "pt_copied_per_fork": "pt_copied",
    "tlb_flushes_per_fork": "tlb_flushes",
    "env_switches_per_fork": "env_switches",
}


def _median(values: list[float]) -> float:
    return statistics.median(values)


def bench_fork(strategy: str, pages: int, forks: int, repeat: int,
               models: list[CostModel] | None = None, cow_faults: str = "user") -> dict[str, object]:
    """Cost of one fork of a process with `pages` extra mapped pages.

    forkbench maps the pages and forks `forks` times; each child exits at
    once.  traps_per_fork, syscalls_per_fork and ms_per_fork (median; _min
    the fastest) are of the fork call itself: the kernel's fork episodes,
    from sys_exofork or sys_fork until the child is made runnable.  The
    *_per_fork counts below them are differences from the same run with 0
    forks, divided by `forks`: the fork's whole cycle, with the child's life
    (its faults, its exit) and the parent's copy-on-write faults afterwards
    (trap/syscall totals of the cycle are *_per_cycle; ms_per_fork_cycle is
    its wall time).  model_cycles prices the cycle's events under each
    cost model (costmodel.py).  pt_pages_per_fork: page-table pages the
    cycle made.  `forks` shrinks where that many children would not fit in
    memory (fork_plan); the row says how many were made.
    """
    plan = fork_plan(strategy, pages, forks)
    if plan is None:
        raise RuntimeError(f"{strategy} fork at N={pages} does not fit in "
                           f"{MAX_MEM // _MIB} MiB of physical memory")
    mem, forks = plan
    config = KernelConfig(mem=mem, cow_faults=cow_faults)
    cycles, calls_ms, runs = [], [], []
    for _ in range(repeat):
        t0, base, _ = _counted_run(["forkbench"], [str(pages), "0", strategy], config)
        t1, counts, episodes = _counted_run(["forkbench"], [str(pages), str(forks), strategy], config)
        cycles.append((t1 - t0) / forks * 1e3)
        calls_ms += [sec * 1e3 for sec in episodes]
        runs.append((base, counts))
    base, counts = runs[0]
    if any(r != runs[0] for r in runs):
        raise RuntimeError(f"counts of {strategy} N={pages} differ between runs: not deterministic")
    made = counts.get("fork.calls", 0) - base.get("fork.calls", 0)
    if made != forks:
        raise RuntimeError(f"forkbench made {made} forks, not {forks}")
    row: dict[str, object] = {
        "strategy": strategy,
        "pages": pages,
        "forks": forks,
        "cow_faults": cow_faults,
        "traps_per_fork": _per(counts, base, "fork.traps", forks),
        "syscalls_per_fork": _per(counts, base, "fork.syscalls", forks),
        "traps_per_cycle": sum(_per(counts, base, k, forks) for k in EVENT_COUNTERS["trap"]),
        "syscalls_per_cycle": _per(counts, base, "syscalls.", forks),
    }
    for key, counter in _CYCLE_KEYS.items():
        row[key] = _per(counts, base, counter, forks)
    row["ms_per_fork"] = round(_median(calls_ms), 4)
    row["ms_per_fork_min"] = round(min(calls_ms), 4)
    row["ms_per_fork_cycle"] = round(_median(cycles), 4)
    diff = {k: (counts.get(k, 0) - base.get(k, 0)) / forks for k in set(counts) | set(base)}
    row["model_cycles"] = {m.name: round(m.cost(event_counts(diff)), 1) for m in models or []}
    return row


def fork_plan(strategy: str, pages: int, forks: int) -> tuple[int, int] | None:
    """(physical memory, forks) for forkbench of `pages` pages, or None if
    even one fork does not fit in MAX_MEM.

    The parent's pages, plus what each child may hold while the next forks
    are made (the parent does not wait): all the pages for dumb, its page
    tables and a few faulted pages for the others.  Fewer forks are made
    where `forks` children would not fit.
    """
    child = pages if strategy == "dumb" else pages // 1024 + 16
    def need(f: int) -> int:
        return _SLACK + (pages + f * child) * 4096
    while forks > 1 and need(forks) > MAX_MEM:
        forks -= 1
    if need(forks) > MAX_MEM:
        return None
    mem = -(-need(forks) // (4 * _MIB)) * 4 * _MIB
    return max(mem, DEFAULT_MEM), forks


def bench_native(pages: int, forks: int, repeat: int) -> dict[str, object] | None:
    """The same fork cycle on the host (host/forknative.c): N dirty pages,
    fork, the child exits, the parent waits.  ms_per_fork (median, _min) is
    the fork() call, ms_per_fork_cycle the whole cycle.  None where no host
    C compiler works."""
    exe = build_host_program("forknative", NATIVE_SOURCE)
    if exe is None:
        return None
    calls, cycles = [], []
    for _ in range(repeat):
        done = subprocess.run([str(exe), str(pages), str(forks)], capture_output=True,
                              text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"forknative {pages} {forks}: {done.stderr.strip()}")
        for line in done.stdout.splitlines():
            _word, call_ns, cycle_ns = line.split()
            calls.append(int(call_ns) / 1e6)
            cycles.append(int(cycle_ns) / 1e6)
    return {"strategy": "native", "pages": pages, "forks": forks,
            "ms_per_fork": round(_median(calls), 4), "ms_per_fork_min": round(min(calls), 4),
            "ms_per_fork_cycle": round(_median(cycles), 4)}


def add_native(rows: list[dict[str, object]], native: list[dict[str, object]]) -> None:
    """Put each N's native figures beside every row of that N
    (native_ms_per_fork, native_ms_per_fork_cycle)."""
    by_n = {int(r["pages"]): r for r in native}
    for row in rows:
        ref = by_n.get(int(row["pages"]))
        if ref is not None:
            row["native_ms_per_fork"] = ref["ms_per_fork"]
            row["native_ms_per_fork_cycle"] = ref["ms_per_fork_cycle"]


def bench_fork_suite(strategies: list[str], pages: list[int], forks: int, repeat: int,
                     models: list[CostModel], seed: int, cow_faults: str = "user",
                     progress: Callable[[int, int, str], None] | None = None) -> list[dict[str, object]]:
    """bench_fork for every strategy and N, measured in an order shuffled by
    seed (so no strategy always runs first or last); rows sorted by N, then
    by the order of `strategies`."""
    plan = [(s, n) for n in pages for s in strategies]
    order = list(plan)
    random.Random(seed).shuffle(order)
    for s in strategies:  # warm up: first runs pay one-time costs (imports, caches)
        _counted_run(["forkbench"], ["0", "1", s], KernelConfig(cow_faults=cow_faults))
    rows = {}
    for i, (s, n) in enumerate(order):
        if progress:
            progress(i, len(order), f"{s} N={n}")
        if fork_plan(s, n, forks) is not None:
            rows[(s, n)] = bench_fork(s, n, forks, repeat, models, cow_faults)
    if progress:
        progress(len(order), len(order), "done")
    return [rows[key] for key in plan if key in rows]


def skipped_cases(strategies: list[str], pages: list[int], forks: int) -> list[str]:
    """What bench_fork_suite leaves out because it does not fit in memory."""
    return [f"{s} fork at N={n}: not measured, needs more than {MAX_MEM // _MIB} MiB"
            for n in pages for s in strategies if fork_plan(s, n, forks) is None]


def answer_lines(rows: list[dict[str, object]], baseline: str = "cow") -> list[str]:
    """Per N and strategy, against the baseline, under each model and measured:
    'N=1024: batch fork is 6.1x faster than cow fork (model i386), 5.4x (measured)'.
    A ratio below 1 is said as 'slower'."""
    lines = []
    by_n: dict[int, dict[str, dict[str, object]]] = {}
    for row in rows:
        by_n.setdefault(int(row["pages"]), {})[str(row["strategy"])] = row
    for n, group in sorted(by_n.items()):
        base = group.get(baseline)
        if base is None:
            continue
        for name, row in group.items():
            if name == baseline:
                continue
            figures = [(f"model {m}", float(base["model_cycles"][m]) / float(row["model_cycles"][m]))
                       for m in row["model_cycles"]]
            figures.append(("measured", _ratio(base["ms_per_fork_cycle"], row["ms_per_fork_cycle"])))
            head_label, head = figures[0]
            what = "sfork" if name == "sfork" else f"{name} fork"
            rest = ", ".join(f"{_speed(r, True)} ({label})" for label, r in figures[1:])
            lines.append(f"N={n}: {what} is {_speed(head, True)} than {baseline} fork "
                         f"({head_label}), {rest}")
    return lines


def odf_lines(rows: list[dict[str, object]]) -> list[str]:
    """Per N, on-demand fork against the kernel's copying fork, the call
    (measured, median and minimum) and the cycle (model and measured):
    'N=65536: odf fork is 52.0x faster than kernel fork (the call, measured; ...)'."""
    lines = []
    by_n: dict[int, dict[str, dict[str, object]]] = {}
    for row in rows:
        by_n.setdefault(int(row["pages"]), {})[str(row["strategy"])] = row
    for n, group in sorted(by_n.items()):
        odf, kern = group.get("odf"), group.get("kernel")
        if odf is None or kern is None:
            continue
        call = _ratio(kern["ms_per_fork"], odf["ms_per_fork"])
        call_min = _ratio(kern["ms_per_fork_min"], odf["ms_per_fork_min"])
        cycle = [f"{_speed(float(kern['model_cycles'][m]) / float(odf['model_cycles'][m]))} "
                 f"(model {m})" for m in odf["model_cycles"]]
        cycle.append(f"{_speed(_ratio(kern['ms_per_fork_cycle'], odf['ms_per_fork_cycle']))} "
                     "(measured)")
        lines.append(f"N={n}: odf fork is {_speed(call, True)} than kernel fork (the call, "
                     f"measured median; {_speed(call_min)} at the minimum); the cycle: "
                     + ", ".join(cycle))
    return lines


def native_lines(rows: list[dict[str, object]]) -> list[str]:
    """Per N and strategy, against native Linux on this machine (measured):
    'N=16384: kernel fork cycle is 3.1x slower than native (call 2.2x slower)'."""
    lines = []
    for row in rows:
        if "native_ms_per_fork_cycle" not in row:
            continue
        what = "sfork" if row["strategy"] == "sfork" else f"{row['strategy']} fork"
        cycle = _ratio(row["native_ms_per_fork_cycle"], row["ms_per_fork_cycle"])
        call = _ratio(row["native_ms_per_fork"], row["ms_per_fork"])
        lines.append(f"N={row['pages']}: {what} cycle is {_speed(cycle, True)} than native "
                     f"(call {_speed(call, True)}; measured)")
    return lines


def _ratio(a: object, b: object) -> float:
    """a / b, or 0 when either is not positive (see _speed)."""
    return float(a) / float(b) if float(a) > 0 and float(b) > 0 else 0.0


def _speed(ratio: float, words: bool = False) -> str:
    """'6.1x' (or, with words, '6.1x faster' / '2.0x slower'); a ratio <= 0
    comes from a cycle time (a difference of two runs) that noise made <= 0."""
    if ratio <= 0:
        return "not measurably faster or slower" if words else "not measurable"
    if not words:
        return f"{ratio:.1f}x"
    return f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"


def bench_fault(iterations: int, repeat: int,
                models: list[CostModel] = ()) -> dict[str, object]:
    """A user-level page fault round trip: fault, upcall, sys_page_alloc in
    the handler, return to the faulting instruction (and, at exit, the page's
    release)."""
    pages = min(iterations, 16384)
    config = KernelConfig(mem=(64 + pages * 4 // 1024 * 2) * 1024 * 1024)
    us, counts = per_iteration(["faultloop"], pages, repeat, 1, config)
    return {"benchmark": "fault", "faults": pages, "repeat": repeat,
            "us_per_fault": round(us, 3), "traps_per_fault": round(traps_of(counts), 3),
            "model_us": _rounded(modelled_us(counts, models)),
            **environment()}


PROGRAM_RUNS = {"pingpong": (["pingpong"], []), "stresssched": (["stresssched"], []),
                "primes_1877": (["primes"], ["1877"]), "forktree": (["forktree"], [])}


def _rounded(figures: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in figures.items()}


def bench_ipc(messages: int, repeat: int, models: list[CostModel] = ()) -> dict[str, object]:
    """One IPC message between two envs (send, receive, switch), in us."""
    us, counts = per_iteration(["ipcloop"], messages, repeat, 1)
    return {"benchmark": "ipc", "messages": messages, "repeat": repeat,
            "us_per_message": round(us, 3), "traps_per_message": round(traps_of(counts), 3),
            "model_us": _rounded(modelled_us(counts, models)),
            **environment()}


def bench_programs(repeat: int, models: list[CostModel] = (),
                   cpus: list[int] = (1,)) -> dict[str, object]:
    """Wall time of whole programs (the run phase, boot and load excluded),
    and what their counted events would take under each cost model.  With
    several CPU counts, each repeat runs every count back to back (so that
    the machine's load falls on all alike), and each count's time is also a
    ratio to the first count's."""
    out: dict[str, object] = {"benchmark": "programs", "repeat": repeat}
    if list(cpus) != [1]:
        out["cpus"] = list(cpus)
    for key, (programs, args) in PROGRAM_RUNS.items():
        runs: dict[int, list] = {n: [] for n in cpus}
        for _ in range(repeat):
            for n in cpus:
                runs[n].append(_counted_run(programs, args, KernelConfig(cpus=n)))
        ms = {n: min(t for t, _c, _e in r) * 1e3 for n, r in runs.items()}
        first = cpus[0]
        model_ms = {k: v / 1e3 for k, v in modelled_us(runs[first][0][1], models).items()}
        row: dict[str, object] = {"ms": round(ms[first], 3), "model_ms": _rounded(model_ms)}
        if list(cpus) != [1]:
            row["ms"] = {str(n): round(v, 3) for n, v in ms.items()}
            row["ratio"] = {str(n): round(v / ms[first], 3) for n, v in ms.items()}
        out[key] = row
    out.update(environment())
    return out


def bench_floor(iterations: int, repeat: int) -> dict[str, object]:
    """The emulator's floor (machine/floor.py): an `int $0x30` round trip into a
    raw callback that reads and writes eax through Unicorn's API (the floor),
    in place in its register file, and into an empty callback, in us."""
    return {"benchmark": "floor", "iterations": iterations, "repeat": repeat,
            "us_per_trap": round(floor_us(iterations, repeat, "api"), 3),
            "us_per_trap_in_place": round(floor_us(iterations, repeat, "in_place"), 3),
            "us_per_trap_empty_callback": round(floor_us(iterations, repeat, "empty"), 3),
            **environment()}


def traps_of(counts: dict[str, float]) -> float:
    """Traps (system calls, faults, exceptions; not timer interrupts) in counts."""
    return sum(v for k, v in counts.items() if k.startswith("traps.") and k != "traps.timer")


def x_floor(us: float, traps: float | None, floor: float) -> float | None:
    """us over (traps x the floor's us per trap), or None without traps or
    floor, or when us is not positive (too few iterations to tell from noise)."""
    if traps is None or float(traps) <= 0 or floor <= 0 or float(us) <= 0:
        return None
    return round(float(us) / (float(traps) * floor), 2)


def unmeasurable(result: dict[str, object]) -> list[str]:
    """The per-event figures of result that came out <= 0: a difference of two
    runs that run-to-run noise swamped (too few iterations)."""
    return [key for key, value in result.items()
            if key.startswith("us_per_") and isinstance(value, (int, float)) and value <= 0]


def add_floor_ratios(result: dict[str, object], floor: float) -> dict[str, object]:
    """For each figure `us_per_X` with its `traps_per_X`, add `x_floor_per_X`:
    the figure over (its traps x the floor's us per trap), measured in one run."""
    out = dict(result, floor_us_per_trap=floor)
    for key, value in result.items():
        if key.startswith("us_per_") and f"traps_per_{key[7:]}" in result:
            ratio = x_floor(float(value), float(result[f"traps_per_{key[7:]}"]), floor)
            if ratio is not None:
                out[f"x_floor_per_{key[7:]}"] = ratio
    return out


def bench_syscall(iterations: int, repeat: int, models: list[CostModel] = ()) -> dict[str, object]:
    """sys_getenvid round trip, sys_page_map round trip (into a child, as
    fork's duppage does) and yield-and-switch between two envs."""
    us_syscall, c_syscall = per_iteration(["syscallloop"], iterations, repeat, 1)
    us_map, c_map = per_iteration(["pagemaploop"], iterations // 2 or 1, repeat, 1)
    # Two envs each yield n times: 2n yields, each a switch to the other env.
    us_switch, c_switch = per_iteration(["yieldloop", "yieldloop"], iterations // 4 or 1, repeat, 2)
    return {"benchmark": "syscall", "iterations": iterations, "repeat": repeat,
            "us_per_syscall": round(us_syscall, 3), "us_per_page_map": round(us_map, 3),
            "us_per_switch": round(us_switch, 3),
            "traps_per_syscall": round(traps_of(c_syscall), 3),
            "traps_per_page_map": round(traps_of(c_map), 3),
            "traps_per_switch": round(traps_of(c_switch), 3),
            "model_us_per_syscall": _rounded(modelled_us(c_syscall, models)),
            "model_us_per_page_map": _rounded(modelled_us(c_map, models)),
            "model_us_per_switch": _rounded(modelled_us(c_switch, models)), **environment()}


def bench_suite(repeat: int, models: list[CostModel],
                jos: dict[str, object] | None = None,
                progress: Callable[[int, int, str], None] | None = None) -> list[dict[str, object]]:
    """Every benchmark once: each figure of pyjos beside what its counted
    events would take under each cost model, and beside the user's own
    measured JOS figure where `jos` (josfigures.load) has one."""
    steps: list[tuple[str, Callable[[], list[dict[str, object]]]]] = [
        ("floor", lambda: [_row(FLOOR_ROW, "us", round(floor_us(200_000, repeat), 3), None, 1)]),
        ("syscall", lambda: _suite_syscall(repeat, models)),
        ("fault", lambda: _suite_one("user-level page fault round trip", "us",
                                     bench_fault(8192, repeat, models), "us_per_fault")),
        ("ipc", lambda: _suite_one("IPC message", "us", bench_ipc(20_000, repeat, models),
                                   "us_per_message")),
        ("fork", lambda: _suite_fork(repeat, models)),
        ("programs", lambda: _suite_programs(repeat, models)),
    ]
    rows: list[dict[str, object]] = []
    for i, (name, step) in enumerate(steps):
        if progress:
            progress(i, len(steps), name)
        rows += step()
    if progress:
        progress(len(steps), len(steps), "done")
    attach_floor(rows)
    attach_jos(rows, jos)
    return rows


def attach_floor(rows: list[dict[str, object]]) -> None:
    """Give each trap-bound suite row (one with its traps) x_floor: its time
    over (its traps x the floor row's time per trap), measured in one run."""
    floor = next(float(r["value"]) for r in rows if r["name"] == FLOOR_ROW)
    for row in rows:
        us = float(row["value"]) * (1000 if row["unit"] == "ms" else 1)
        row["x_floor"] = x_floor(us, row.get("traps"), floor)


def attach_jos(rows: list[dict[str, object]], jos: dict[str, object] | None) -> None:
    """Set each suite row's reference (the user's JOS figure, or None) and
    ratio (pyjos / the figure, the low end of a range)."""
    figures = dict((jos or {}).get("figures", {}))
    for row in rows:
        ref = figures.get(row["name"])
        low = ref[0] if isinstance(ref, list) else ref
        row["reference"] = ref
        row["ratio"] = round(float(row["value"]) / low, 3) if low else None


# The suite's rows, in order; the keys of a --jos-figures file (josfigures.py).
FLOOR_ROW = "floor: int $0x30 into a raw callback"
SUITE_NAMES = (FLOOR_ROW, "sys_getenvid round trip", "sys_page_map round trip", "yield and switch",
               "user-level page fault round trip",
               "IPC message", "cow fork, N=1034: the call", "cow fork, N=1034: the cycle",
               "cow fork, N=1034: traps", "pingpong", "forktree", "stresssched", "primes to 1877")


def _row(name: str, unit: str, value: float, models: dict[str, float] | None,
         traps: float | None = None) -> dict[str, object]:
    """A suite row; traps (per unit of value) for the trap-bound ones."""
    return {"name": name, "unit": unit, "value": value, "models": models, "traps": traps}


def _suite_one(name: str, unit: str, result: dict[str, object], key: str) -> list[dict[str, object]]:
    return [_row(name, unit, result[key], result["model_us"], result[f"traps_per_{key[7:]}"])]


def _suite_syscall(repeat: int, models: list[CostModel]) -> list[dict[str, object]]:
    r = bench_syscall(100_000, repeat, models)
    return [_row(name, "us", r[f"us_per_{key}"], r[f"model_us_per_{key}"], r[f"traps_per_{key}"])
            for name, key in (("sys_getenvid round trip", "syscall"),
                              ("sys_page_map round trip", "page_map"),
                              ("yield and switch", "switch"))]


def _suite_fork(repeat: int, models: list[CostModel]) -> list[dict[str, object]]:
    row = bench_fork("cow", 1034, 5, repeat, models)
    cycle_ms = {m.name: row["model_cycles"][m.name] / m.clock_ghz / 1e6
                for m in models if m.clock_ghz}
    return [_row("cow fork, N=1034: the call", "ms", row["ms_per_fork"], None, row["traps_per_fork"]),
            _row("cow fork, N=1034: the cycle", "ms", row["ms_per_fork_cycle"], _rounded(cycle_ms)),
            _row("cow fork, N=1034: traps", "", row["traps_per_fork"], None)]


def _suite_programs(repeat: int, models: list[CostModel]) -> list[dict[str, object]]:
    r = bench_programs(repeat, models)
    names = {"pingpong": "pingpong", "forktree": "forktree", "stresssched": "stresssched",
             "primes_1877": "primes to 1877"}
    return [_row(names[k], "ms", r[k]["ms"], r[k]["model_ms"]) for k in names]
