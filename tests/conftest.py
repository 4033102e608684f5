"""Shared helpers for the grade-style tests: run guest programs, match console lines.

``run_program(name, args=(), **config)`` boots a kernel, runs one program and
returns ``(text, kernel, result)``.  Runs are memoized for the session by
(name, args, config), so each scenario boots once however many tests look at
it.  ``run_programs([...])`` is the unmemoized form (several programs in one
kernel, or programs written into ``tmp_path``).

Every run is checked for leaks: when it ends "idle", every page is back on the
free list and no env is live (the xv6 usertests discipline).

``grade(text, required=[...], forbidden=[...])`` is JOS's grader: each pattern
is a regular expression matched against whole console lines (``.`` is any
character, so ``\\[`` is a literal bracket); every required pattern must match
some line and no forbidden pattern may match any line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import pytest

from pyjos.kernel import Kernel, KernelConfig, RunResult

RunOutput = tuple[str, Kernel, RunResult]


def check_no_leaks(kernel: Kernel, result: RunResult, text: str) -> None:
    """After an idle run: every page is free again and no env is live."""
    if result.reason != "idle":
        return
    live = kernel.envtab.live()
    assert not live, (
        f"run ended idle with live envs {[hex(kernel.envs[i].env_id) for i in live]}\n"
        f"--- output ---\n{text}")
    assert kernel.pmap.nfree == kernel.baseline_free, (
        f"page leak: {kernel.baseline_free - kernel.pmap.nfree} pages not freed "
        f"(nfree {kernel.pmap.nfree}, baseline {kernel.baseline_free})\n--- output ---\n{text}")


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
