"""The kernel counts dumb fork's copies (pages_copied) from the page tables:
a forking parent that drops a mapping the CPU marked dirty (PTE_D) of a
frame only its child maps besides has copied one page for it (forks.py)."""

from __future__ import annotations

import io
import re

import pytest
from conftest import guest_source
from elftools.elf.elffile import ELFFile

from pyjos.abi import PGSIZE, ROUNDUP, UTEXT, UXSTACKTOP
from pyjos.guest.build import build_program
from pyjos.kernel import Kernel, KernelConfig
from pyjos.kernel.frames import env_mappings
from pyjos.tools.cli import main


def test_the_cpu_sets_accessed_and_dirty_bits(run_programs):
    """The rule relies on Unicorn setting A and D in the guest's PTEs as a CPU does."""
    text, _k, result = run_programs([guest_source("dirtybits")])
    assert result.reason == "idle", text
    lines = [line for line in text.splitlines() if " A " in line]
    assert lines == ["read-then-written before A 1 D 0", "untouched A 0 D 0", "read A 1 D 0",
                     "written A 1 D 1", "read-then-written A 1 D 1"], text


def stats_line(out: str, name: str) -> int:
    """The value of counter name in a --stats table (0 if absent)."""
    found = re.search(rf"^{re.escape(name)} +(\d+)$", out, re.M)
    return int(found.group(1)) if found else 0


def pages_given_by_forks(program: str, args: list[str], fork: str | None) -> tuple[int, int]:
    """(pages each child has below the exception stack when its fork ends,
    summed over the forks; the run's pages_copied)."""
    kernel = Kernel(KernelConfig(fork=fork), out=lambda _text: None)
    given = []
    kernel.events.subscribe(
        lambda ev: given.append(sum(m.va < UXSTACKTOP - PGSIZE
                                    for m in env_mappings(kernel, ev.args[0]))),
        ["fork.calls"])
    kernel.create_env(program, args)
    assert kernel.run().reason == "idle"
    assert given, "no fork ended"
    return sum(given), kernel.stats.total.get("pages_copied", 0)


def test_stats_fork_dumb_forktree_counts_every_page_given(capfd):
    """Dumb fork copies each page it gives the child: pages_copied in
    `--stats --fork dumb forktree` is the sum of the children's pages."""
    assert main(["run", "-q", "--stats", "--fork", "dumb", "forktree"]) == 0
    shown = stats_line(capfd.readouterr().out, "pages_copied")
    given, copied = pages_given_by_forks("forktree", [], "dumb")
    assert shown == copied == given > 14 * 4  # 14 forks, text, data, bss, stack at least


@pytest.mark.parametrize("fork", ["cow", "batch"])
def test_cow_forktree_copies_only_at_faults(fork):
    """Copy-on-write forks give the same pages without copying them: each
    copy is a fault's (the page fault handler's spare page, written and
    mapped over the faulting page, is no window copy)."""
    kernel = Kernel(KernelConfig(fork=fork), out=lambda _text: None)
    kernel.create_env("forktree")
    assert kernel.run().reason == "idle"
    total = kernel.stats.total
    assert total["pages_copied"] == total["upcalls"] > 0, total


def test_dumb_fork_count_is_what_the_library_copied():
    """forkbench reports fork_dumb's own count of copies (copypage calls)."""
    out: list[str] = []
    kernel = Kernel(KernelConfig(fork="dumb"), out=out.append)
    kernel.create_env("forkbench", ["16", "2", "dumb"])
    assert kernel.run().reason == "idle"
    reported = int(re.search(r"(\d+) pages copied at fork time", "".join(out)).group(1))
    assert kernel.stats.total["pages_copied"] == reported > 2 * 16


def test_jos_dumbfork_counts_each_duppage():
    """JOS's user/dumbfork.c copies [UTEXT, end) and its stack page, through
    UTEMP mapped onto the child's page."""
    elf = ELFFile(io.BytesIO(build_program("dumbfork").read_bytes()))
    end = next(s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()
               if s.name == "end")
    given, copied = pages_given_by_forks("dumbfork", [], None)
    assert copied == given == (ROUNDUP(end, PGSIZE) - UTEXT) // PGSIZE + 1


@pytest.mark.parametrize("case, copies", [
    ("written", 1), ("given", 1),  # the parent filled a page only the child has
    ("unwritten", 0),  # the child's page mapped here, only read
    ("own", 0),  # our own written page, still ours elsewhere
    ("nofork", 0),  # a written page dropped with no fork in progress
    ("after", 0),  # the child's page written after its fork ended
])
def test_what_counts_as_a_copy(run_programs, case, copies):
    text, k, result = run_programs([guest_source("windows")], [case])
    assert result.reason == "idle" and f"windows {case} done" in text, text
    assert k.stats.total.get("pages_copied", 0) == copies, (case, k.stats.total)
