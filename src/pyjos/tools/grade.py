"""pyjos grade: JOS's `make grade` for lab 3 and lab 4, on pyjos's kernel.

The tests are labs.LAB3 and labs.LAB4.  Every program is built first (in
this process; a build error fails its test with the compiler's lines), then
each test boots its own kernel in one of `-j` worker processes, runs its
program until no env is left, the monitor is entered, a stop line is
printed or its instruction budget is spent, and matches the console against
the test's patterns the way JOS's gradelib does.  The table is printed in
the order of the tests, as `make grade` prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ..guest.build import BuildError, build_jos_program, build_program, jos_tree
from ..guest.elf import ElfError
from ..kernel.load import LoadError
from .args import bounded
from .labs import LABS, LabTest

CONTEXT = 2  # lines shown around each GOOD or BAD line of a failed test
TAIL = 5  # last lines shown when a required line is missing
LAB_CONSOLE = {"lab3": "lab3", "lab4": "lab4"}  # the kernel console each lab's lines come from


@dataclass
class Outcome:
    """The result of one test."""

    name: str
    part: str
    points: int
    passed: bool = False
    seconds: float = 0.0
    reason: str = ""  # how the run ended (RunResult.reason), or "build-error"
    missing: list[str] = field(default_factory=list)  # required patterns no line matched
    bad: list[str] = field(default_factory=list)  # lines a forbidden pattern matched
    report: list[str] = field(default_factory=list)  # make grade's lines for a failure
    notes: list[str] = field(default_factory=list)  # what this kernel lacks for the test


# --- matching, as JOS's gradelib ---------------------------------------------------------
def match(text: str, test: LabTest) -> tuple[list[str], list[str], list[str]]:
    """(missing patterns, bad lines, report lines) of the console `text`.

    A required pattern is satisfied by the first line it matches at the
    line's start; a forbidden one makes every line it matches BAD.  The
    report shows the GOOD and BAD lines with CONTEXT lines around them (and
    the last TAIL lines if something is missing), then MISSING 'pattern' lines.
    """
    lines = text.splitlines()
    remaining = list(test.required)
    good, bad = set(), set()
    for i, line in enumerate(lines):
        hits = [p for p in remaining if re.match(p, line)]
        if hits:
            good.add(i)
            remaining = [p for p in remaining if p not in hits]
        if any(re.match(p, line) for p in test.forbidden):
            bad.add(i)
    if not remaining and not bad:
        return [], [], []
    show = {n + d for n in good | bad for d in range(-CONTEXT, CONTEXT + 1)}
    if remaining:
        show.update(range(len(lines) - TAIL, len(lines)))
    report, last = [], -1
    for n in sorted(k for k in show if 0 <= k < len(lines)):
        if n != last + 1:
            report.append("...")
        last = n
        report.append(f"{'BAD ' if n in bad else 'GOOD' if n in good else '    '} {lines[n]}")
    if last != len(lines) - 1:
        report.append("...")
    if bad:
        report.append("unexpected lines in output")
    report.extend(f"MISSING '{p}'" for p in remaining)
    return remaining, [lines[n] for n in sorted(bad)], report


# --- running one test (in a worker process) ---------------------------------------------
class Console:
    """The console of one run: collects the text, and halts the kernel when a
    complete line matches one of the test's stop patterns."""

    def __init__(self, stop_on: tuple[str, ...]) -> None:
        self.parts: list[str] = []
        self.stop_on = stop_on
        self.partial = ""
        self.kernel = None

    def write(self, text: str) -> None:
        self.parts.append(text)
        if not self.stop_on:
            return
        *done, self.partial = (self.partial + text).split("\n")
        for line in done:
            if any(re.match(p, line) for p in self.stop_on) and self.kernel is not None:
                self.kernel.halt("stop-line", line)

    def text(self) -> str:
        return "".join(self.parts)


def kernel_config(test: LabTest, console: str):
    """The KernelConfig of a test: its budget, and its CPU count and console
    where this kernel has those settings; also the notes on what it lacks."""
    from ..kernel import KernelConfig

    have = {f.name for f in fields(KernelConfig)}
    settings: dict = {"max_insns": test.budget}
    notes = []
    for name, value, default, what in (("cpus", test.cpus, 1, f"CPUS={test.cpus}"),
                                       ("console", console, "lab4", f"the {console} console")):
        if value == default:
            continue
        if name in have:
            settings[name] = value
        else:
            notes.append(f"JOS runs this test with {what}, which this pyjos kernel lacks")
    return KernelConfig(**settings), notes


def run_test(test: LabTest, elf: str, console: str) -> Outcome:
    """Boot a kernel, run the test's program (the ELF file elf) and grade its console."""
    from ..kernel import Kernel

    config, notes = kernel_config(test, console)
    out = Console(test.stop_on)
    start = time.monotonic()
    kernel = Kernel(config, out=out.write, cin=lambda: 0)
    out.kernel = kernel
    try:
        kernel.create_env_from_elf(test.program, Path(elf).read_bytes(), [])
    except (ElfError, LoadError) as e:
        return Outcome(test.name, test.part, test.points, reason="load-error", report=[str(e)])
    result = kernel.run()
    text = out.text()
    outcome = Outcome(test.name, test.part, test.points, seconds=time.monotonic() - start,
                      reason=result.reason, notes=notes)
    outcome.missing, outcome.bad, outcome.report = match(text, test)
    if result.reason == "panic":
        outcome.report.append(f"pyjos kernel panic (a pyjos bug): {result.message}")
    elif result.reason == "max-insns":
        outcome.notes.append(f"stopped after its budget of {test.budget:,} instructions "
                             "(JOS: timeout)")
    outcome.passed = not outcome.report
    return outcome


def build_failure(test: LabTest, error: BuildError) -> Outcome:
    return Outcome(test.name, test.part, test.points, reason="build-error",
                   report=str(error).splitlines())


def create_env(kernel, program: str, args: list[str], jos: Path | None) -> int:
    """Load `program` into a new env of `kernel`: a bundled program or .c
    file, or with `jos`, the tree's user/PROGRAM.c built with its library
    (and the fork-strategy variable if the kernel's config sets a --fork)."""
    if jos is None:
        return kernel.create_env(program, args)
    elf = build_jos_program(program, jos, fork_symbol=kernel.config.fork is not None)
    return kernel.create_env_from_elf(Path(program).stem, elf.read_bytes(), args)


# --- the grader ---------------------------------------------------------------------------
def build_all(tests: list[LabTest], jos: Path | None, jobs: int) -> dict[str, Path | BuildError]:
    """Build every test's program, `jobs` at a time; a failed build maps to its BuildError."""
    def build(program: str) -> Path | BuildError:
        try:
            return build_jos_program(program, jos) if jos else build_program(program)
        except BuildError as e:
            return e

    programs = list(dict.fromkeys(t.program for t in tests))
    if programs:
        build(programs[0])  # the library, once, before the programs race for it
    with ThreadPoolExecutor(jobs) as pool:
        return dict(zip(programs, pool.map(build, programs), strict=True))


def grade(lab: str, tests: list[LabTest], jos: Path | None, jobs: int,
          show=print) -> list[Outcome]:
    """Run the tests on `jobs` processes (in this one if jobs is 1), calling
    show() with make grade's lines as results arrive, in the order of the
    tests; return the outcomes."""
    built = build_all(tests, jos, jobs)
    pool = (ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
            if jobs > 1 else contextlib.nullcontext())
    outcomes: list[Outcome] = []
    with pool:
        pending = [_start(pool, test, built[test.program], LAB_CONSOLE[lab]) for test in tests]
        for i, (test, result) in enumerate(zip(tests, pending, strict=True)):
            outcomes.append(result())
            for line in test_lines(outcomes[-1]):
                show(line)
            if i + 1 == len(tests) or tests[i + 1].part != test.part:
                show(part_line(test.part, outcomes))
    return outcomes


def _start(pool, test: LabTest, built: Path | BuildError, console: str) -> Callable[[], Outcome]:
    """A call that returns the test's outcome: its build failure, or its run
    (submitted to pool now if pool is an Executor, else run when called)."""
    if isinstance(built, BuildError):
        return lambda: build_failure(test, built)
    if isinstance(pool, Executor):
        return pool.submit(run_test, test, str(built), console).result
    return lambda: run_test(test, str(built), console)


def test_lines(o: Outcome) -> list[str]:
    """make grade's lines for one test: `name: OK (0.8s)`, or FAIL and its report."""
    lines = [f"{o.name}: {'OK' if o.passed else 'FAIL'} ({o.seconds:.1f}s)"]
    if not o.passed:
        lines.extend(f"    {line}" for line in [*o.report, *(f"note: {n}" for n in o.notes)])
    return lines


def part_line(part: str, outcomes: list[Outcome]) -> str:
    mine = [o for o in outcomes if o.part == part]
    return (f"Part {part} score: {sum(o.points for o in mine if o.passed)}/"
            f"{sum(o.points for o in mine)}\n")


def summary(lab: str, outcomes: list[Outcome]) -> dict:
    """The JSON form of a grade run."""
    parts = sorted({o.part for o in outcomes})
    return {
        "lab": lab,
        "score": sum(o.points for o in outcomes if o.passed),
        "possible": sum(o.points for o in outcomes),
        "parts": {p: {"score": sum(o.points for o in outcomes if o.part == p and o.passed),
                      "possible": sum(o.points for o in outcomes if o.part == p)} for p in parts},
        "tests": [asdict(o) for o in outcomes],
    }


# --- the command line ---------------------------------------------------------------------
def add_parser(sub) -> None:
    """Add `pyjos grade` to the subcommands `sub` (of cli.make_parser)."""
    p = sub.add_parser("grade", help="run JOS's lab 3 or lab 4 grader on pyjos",
                       description="The tests of MIT 6.828's grade-lab3 or grade-lab4 (same "
                                   "names, points, parts and expected lines), each on a fresh "
                                   "kernel; exit status 0 only if every test passes.")
    p.add_argument("lab", choices=sorted(LABS), help="which lab's tests")
    p.add_argument("--jos", type=Path, metavar="DIR",
                   help="build the programs from your JOS tree: DIR/user/NAME.c with DIR/inc "
                        "and DIR/lib (see `pyjos init`)")
    p.add_argument("-j", "--jobs", type=bounded(1, 1024), default=os.cpu_count() or 1, metavar="N",
                   help="tests run at once, one process each (default: the number of cores)")
    p.add_argument("--only", nargs="+", action="extend", metavar="NAME",
                   help="run only these tests (the score is then of these)")
    p.add_argument("--budget-scale", type=bounded(1, 10**6), default=1, metavar="N",
                   help="multiply each test's instruction budget (JOS's timeout) by N, for "
                        "slow but correct code (default 1)")
    p.add_argument("--json", action="store_true",
                   help="print the results as JSON instead of the table")
    p.set_defaults(handler=cmd_grade)


def cmd_grade(ns: argparse.Namespace) -> int:
    """`pyjos grade`: 0 if every test passed, 1 if one failed, 2 for an unknown test."""
    table = LABS[ns.lab]
    names = [t.name for t in table]
    unknown = [n for n in ns.only or () if n not in names]
    if unknown:
        print(f"pyjos: no test {unknown[0]!r} in {ns.lab} (tests: {', '.join(names)})",
              file=sys.stderr)
        return 2
    tests = [replace(t, budget=t.budget * ns.budget_scale) for t in table
             if not ns.only or t.name in ns.only]
    jos = jos_tree(ns.jos) if ns.jos else None  # a BuildError here is main's one-line error
    outcomes = grade(ns.lab, tests, jos, ns.jobs, show=(lambda _line: None) if ns.json else
                     (lambda line: print(line, flush=True)))
    result = summary(ns.lab, outcomes)
    if ns.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"Score: {result['score']}/{result['possible']}")
    return 0 if result["score"] == result["possible"] else 1
