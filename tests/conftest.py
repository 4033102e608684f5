"""Shared helpers for the grade-style tests: run guest programs, match console lines.

``run_program(name, args=(), **config)`` boots a kernel, runs one program and
returns ``(text, kernel, result)``.  Runs are memoized per test process by
(name, args, config), so each scenario boots once however many tests look at
it (with pytest-xdist each worker has its own memo; ``--dist loadfile`` keeps a
file's tests, and their shared scenarios, on one worker).  ``run_programs([...])``
is the unmemoized form (several programs in one kernel, or a .c file's path).

Every run is checked for leaks: when it ends "idle", every page is back on the
free list and no env is live (the xv6 usertests discipline).  A test that boots
a Kernel itself calls ``check_no_leaks`` after its run.

``guest_source("name")`` is the path of tests/guest/name.c, a guest program of
the tests' own (Kernel.create_env and the CLI take a path to a .c file).  The
patterns and bounds several test files share (NO_PANIC, IDLE, exits(), LIMIT,
...) are plain names here: ``from conftest import ...``.

``grade(text, required=[...], forbidden=[...])`` is JOS's grader: each pattern
is a regular expression matched against whole console lines (``.`` is any
character, so ``\\[`` is a literal bracket); every required pattern must match
some line and no forbidden pattern may match any line.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pytest

from pyjos.kernel import Kernel, KernelConfig, RunResult

RunOutput = tuple[str, Kernel, RunResult]

GUEST_DIR = Path(__file__).parent / "guest"

# Console patterns: no panic of either kind; the kernel's idle message.
NO_PANIC = [r".*user panic.*", r"kernel panic.*"]
IDLE = r"No runnable environments in the system!"
# Bounds on a run, so that a broken kernel or library fails a test with reason
# "max-insns" instead of hanging: LIMIT is far above what the small programs
# need (under 100 time slices of 10,000), BIG_LIMIT about five times what
# primes and the exhaustion runs need (up to 3,500 slices).
LIMIT = {"max_insns": 20_000_000}
BIG_LIMIT = {"max_insns": 200_000_000}

# The nodes forktree prints ("I am '<node>'"), and spin's lines in their order.
FORKTREE_NODES = ["", "0", "1", "00", "01", "10", "11",
                  "000", "001", "010", "011", "100", "101", "110", "111"]
SPIN_LINES = [
    r"I am the parent\.  Forking the child\.\.\.",
    r"\[00001000\] new env 00001001",
    r"I am the parent\.  Running the child\.\.\.",
    r"I am the child\.  Spinning\.\.\.",
    r"I am the parent\.  Killing the child\.\.\.",
    r"\[00001000\] destroying 00001001",
    r"\[00001000\] free env 00001001",
    r"\[00001000\] exiting gracefully",
    r"\[00001000\] free env 00001000",
]


def guest_source(name: str) -> str:
    """The path of tests/guest/<name>.c (asserting that it exists)."""
    path = GUEST_DIR / f"{name}.c"
    assert path.is_file(), f"no guest program {path}"
    return str(path)


def exits(*ids: str) -> list[str]:
    """Patterns: each env exits gracefully and is freed by itself."""
    return [p for i in ids for p in (rf"\[{i}\] exiting gracefully", rf"\[{i}\] free env {i}")]


def primes_upto(n: int) -> list[int]:
    """The primes up to and including n."""
    return [p for p in range(2, n + 1) if all(p % d for d in range(2, int(p ** 0.5) + 1))]


def pyjos_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m pyjos ARGS` and capture its output (stdin is not a terminal)."""
    return subprocess.run([sys.executable, "-m", "pyjos", *args], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def check_no_leaks(kernel: Kernel, result: RunResult, text: str) -> None:
    """After an idle run: every page is free again, no env is live, and the
    kernel's audit finds nothing wrong (pp_ref, free list, boot pages)."""
    if result.reason != "idle":
        return
    live = kernel.envtab.live()
    assert not live, (
        f"run ended idle with live envs {[hex(kernel.envs[i].env_id) for i in live]}\n"
        f"--- output ---\n{text}")
    assert kernel.pmap.nfree == kernel.baseline_free, (
        f"page leak: {kernel.baseline_free - kernel.pmap.nfree} pages not freed "
        f"(nfree {kernel.pmap.nfree}, baseline {kernel.baseline_free})\n--- output ---\n{text}")
    problems = kernel.audit()
    assert problems == [], "audit:\n" + "\n".join(problems) + f"\n--- output ---\n{text}"


def boot_and_run(programs: Sequence[str], args: Sequence[str] = (), **config) -> RunOutput:
    """Boot a kernel, create one env per program (each gets args), run it."""
    out: list[str] = []
    kernel = Kernel(KernelConfig(**config), out=out.append)
    for program in programs:
        kernel.create_env(program, list(args))
    result = kernel.run()
    text = "".join(out)
    check_no_leaks(kernel, result, text)
    return text, kernel, result


def _config_key(config: dict) -> tuple:
    items = []
    for key, value in sorted(config.items()):
        if isinstance(value, list):
            value = tuple(value)
        items.append((key, value))
    return tuple(items)


_RUNS: dict[tuple, RunOutput] = {}


def run_program_memo(name: str, args: Sequence[str] = (), **config) -> RunOutput:
    """boot_and_run of one program, once per session per (name, args, config)."""
    key = (name, tuple(args), _config_key(config))
    if key not in _RUNS:
        _RUNS[key] = boot_and_run([name], args, **config)
    return _RUNS[key]


@pytest.fixture(scope="session")
def run_program() -> Callable[..., RunOutput]:
    """run_program(name, args=(), **config) -> (text, kernel, result), memoized."""
    return run_program_memo


@pytest.fixture(scope="session")
def run_programs() -> Callable[..., RunOutput]:
    """run_programs([prog, ...], args=(), **config) -> (text, kernel, result), not memoized."""
    return boot_and_run


# --- the grader ------------------------------------------------------------------------
def match_lines(text: str, required: Iterable[str] = (), forbidden: Iterable[str] = ()
                ) -> tuple[list[str], list[tuple[str, str]]]:
    """(required patterns matching no line, (forbidden pattern, line) pairs that matched)."""
    lines = text.splitlines()
    missing = [p for p in required if not any(re.fullmatch(p, line) for line in lines)]
    bad = [(p, line) for p in forbidden for line in lines if re.fullmatch(p, line)]
    return missing, bad


def grade_text(text: str, required: Iterable[str] = (), forbidden: Iterable[str] = ()) -> None:
    """Assert that every required pattern matches a whole line and no forbidden one does."""
    missing, bad = match_lines(text, list(required), list(forbidden))
    if missing or bad:
        msg = []
        if missing:
            msg.append("missing lines:\n" + "\n".join(f"  {p!r}" for p in missing))
        if bad:
            msg.append("forbidden lines:\n" + "\n".join(f"  {line!r} (matches {p!r})"
                                                      for p, line in bad))
        msg.append(f"--- output ---\n{text}")
        pytest.fail("\n".join(msg), pytrace=False)


@pytest.fixture(scope="session")
def grade() -> Callable[..., None]:
    """grade(text, required=[regex, ...], forbidden=[regex, ...])."""
    return grade_text


def lines_in_order(text: str, patterns: Sequence[str]) -> bool:
    """True if the patterns fullmatch a subsequence of the lines, in order."""
    lines = iter(text.splitlines())
    return all(any(re.fullmatch(p, line) for line in lines) for p in patterns)


@pytest.fixture(scope="session")
def in_order() -> Callable[[str, Sequence[str]], bool]:
    """in_order(text, patterns): the patterns match lines in this order."""
    return lines_in_order
