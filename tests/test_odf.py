"""On-demand fork (odf.py): page tables shared copy-on-write.

fork() runs as odf in the bundled fork programs (KernelConfig(fork="odf"), as
`run --fork odf`: the loader stores FORK_ODF into their pyjos_fork_strategy);
big_fork.c checks
copy-on-write isolation of every page at several N; every run passes
conftest's leak check, which a wrong reference count on a shared table or on
the frames under it would fail.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import guest_source, check_no_leaks
from pyjos.kernel import Kernel, KernelConfig

GUEST = Path(__file__).parent / "guest"
MIB = 1 << 20
NO_PANIC = [r".*user panic.*", r"kernel panic.*"]
LIMIT = {"max_insns": 200_000_000}


def run_odf(program: str, args: list[str] = (), leaks: bool = True,
            **config) -> tuple[str, Kernel]:
    """Run a bundled program whose fork() is fork_odf (leak-checked unless
    its envs stay blocked by design)."""
    out: list[str] = []
    k = Kernel(KernelConfig(**{**LIMIT, "fork": "odf", **config}), out=out.append)
    k.create_env(program, list(args))
    result = k.run()
    text = "".join(out)
    assert result.reason == "idle", text[-2000:]
    if leaks:
        check_no_leaks(k, result, text)
    return text, k


@pytest.mark.parametrize("cow_faults", ["user", "kernel"])
def test_cowisolate(grade, cow_faults):
    text, k = run_odf("cowisolate", cow_faults=cow_faults)
    grade(text, required=[r"cowisolate: OK"], forbidden=NO_PANIC)
    assert text.count("cowisolate: OK") == 2
    total = k.stats.total
    assert total["pt_shared"] >= 1 and total["pt_copied"] >= 1
    assert total["syscalls.fork"] == 1


def test_forkchain(grade):
    text, _k = run_odf("forkchain")
    grade(text, required=[rf"forkchain: depth {d} OK" for d in (3, 2, 1, 0)],
          forbidden=NO_PANIC)


def test_forktree(grade):
    text, k = run_odf("forktree")
    nodes = sorted(re.findall(r"I am '([01]*)'", text))
    assert nodes == sorted(["", "0", "1", "00", "01", "10", "11", "000", "001", "010", "011",
                            "100", "101", "110", "111"]), text
    grade(text, forbidden=NO_PANIC)
    assert k.stats.total["syscalls.fork"] == 14


def test_spin(grade):
    text, _k = run_odf("spin")
    grade(text, required=[r"\[00001000\] destroying 00001001"], forbidden=NO_PANIC)


def test_pingpong(grade):
    text, _k = run_odf("pingpong")
    grade(text, required=[r"1001 got 10 from 1000"], forbidden=NO_PANIC)


def test_primes(grade):
    """Every stage ends blocked in ipc_recv, so there is no leak check."""
    text, _k = run_odf("primes", ["1877"], leaks=False)
    found = [int(p) for p in re.findall(r"^CPU 0: (\d+) ", text, re.M)]
    assert found == [p for p in range(2, 1878) if all(p % d for d in range(2, int(p ** .5) + 1))]
    grade(text, forbidden=NO_PANIC)


def test_exhaustion_is_clean():
    """Out of memory, odf fails with -E_NO_MEM or a child's fault handler
    panics; nothing leaks and the kernel does not panic."""
    text, k = run_odf("forktree", mem=4 * MIB)
    assert "kernel panic" not in text
    assert not k.envtab.live()


@pytest.mark.parametrize("npages", [0, 1, 1023, 1024, 1025])
@pytest.mark.parametrize("cow_faults", ["user", "kernel"])
def test_isolation_every_page(run_programs, grade, npages, cow_faults):
    text, k, result = run_programs([str(GUEST / "big_fork.c")], [str(npages), "odf", "1"],
                                   cow_faults=cow_faults, **LIMIT)
    assert result.reason == "idle", text[-2000:]
    grade(text, required=[r"big_fork: child ok", rf"big_fork: parent ok, {npages} pages \(odf\)"],
          forbidden=NO_PANIC)
    total = k.stats.total
    assert total["pages_copied"] >= npages  # the child wrote every page
    assert total["pt_shared"] >= 1 + (npages > 0) + (npages > 1024)


@pytest.mark.slow
def test_isolation_65536(run_programs, grade):
    text, _k, result = run_programs([str(GUEST / "big_fork.c")], ["65536", "odf", "1"],
                                    mem=1024 * MIB, max_insns=4_000_000_000)
    assert result.reason == "idle", text[-2000:]
    grade(text, required=[r"big_fork: child ok", r"big_fork: parent ok, 65536 pages \(odf\)"],
          forbidden=NO_PANIC)


def test_fork_shares_tables_and_copies_on_demand():
    """forkbench: an odf fork makes one page-table page (the exception
    stack's) and shares the others; a kernel fork makes them all."""
    counts = {}
    for how in ("kernel", "odf"):
        k = Kernel(KernelConfig(**LIMIT), out=lambda _s: None)
        k.create_env("forkbench", ["4096", "1", how])
        assert k.run().reason == "idle"
        counts[how] = k.stats.total
    odf, kern = counts["odf"], counts["kernel"]
    assert kern.get("pt_shared", 0) == 0 and odf["pt_shared"] >= 5  # 4 tables of pages + text
    assert odf["pt_pages_allocated"] < kern["pt_pages_allocated"]
    assert odf["pte_writes"] < kern["pte_writes"]
    assert odf["syscalls.fork"] == kern["syscalls.fork"] == 1


def test_bad_how_is_einval(tmp_path, run_programs):
    src = tmp_path / "badhow.c"
    src.write_text('#include <inc/lib.h>\nvoid umain(int argc, char **argv)\n'
                   '{ cprintf("how 7: %d\\n", sys_fork_how(7)); }\n')
    text, _k, _r = run_programs([str(src)])
    assert "how 7: -3" in text, text  # -E_INVAL


def test_cli_fork_odf():
    done = subprocess.run([sys.executable, "-m", "pyjos", "run", "-q", "--fork", "odf",
                           "forktree"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("exiting gracefully") == 15


# --- frames and reference counts (the FRAMES program of test_strategies) ----------------------
def _frames(tmp_path) -> tuple[str, dict]:
    from test_strategies import _rows

    text, _k = run_odf(str(guest_source("frames")))
    return text, _rows(text)


def test_frames_shared_until_written(tmp_path, grade):
    """The same frames until the child writes.  The fork writes no page-table
    entry: the child reads the parent's entry (PTE_W, no PTE_COW) through the
    shared table, whose directory entry is read-only (so the page is not
    writable); the child's first write copies the table and marks the
    writable entries copy-on-write in both copies.  A frame under a shared
    page table holds one reference for the table (as in the ODF paper), so
    pages[].pp_ref reads 1 for it until a table is copied (JOS's per-mapping
    count would say 2; cowshare, which checks that, sees 1)."""
    text, rows = _frames(tmp_path)
    grade(text, required=[r"child contents OK", r"child sees 77", r"parent sees 4103 8199"],
          forbidden=NO_PANIC)
    parent, child = rows[("parent", "rw")], rows[("child", "rw")]
    assert child["frame"] == parent["frame"] and child["cow"] == 0 and child["w"] == 1, text
    assert child["ref"] == 1, text  # one table, one reference
    written = rows[("child", "rw-written")]
    assert written["frame"] != parent["frame"] and written["w"] == 1 and written["ref"] == 1
    # the child's write copied its table: the read-only frame is now in two tables
    assert rows[("child", "ro-end")]["frame"] == rows[("parent", "ro")]["frame"]
    assert rows[("child", "ro-end")]["ref"] == 2, text
    end = rows[("parent", "rw-end")]
    assert end["frame"] == parent["frame"] and end["cow"] == 1 and end["ref"] == 1, text


def test_fork_exhaustion_envs(tmp_path):
    src = guest_source("exhaust")
    text, _k = run_odf(str(src), mem=128 * MIB)
    assert re.search(r"^fork failed after 1023 children: out of environments$", text, re.M)
    assert "exhaustion: parent done" in text and "user panic" not in text


def test_fork_exhaustion_memory(tmp_path):
    """Out of memory.  Under odf the first write under a shared table needs a
    page for the table's copy besides the page's own, so a copy-on-write
    fault can fail where cow's would not: every panic is the fault handler's
    out of memory, the kernel does not panic, and freeing every env left
    (children blocked in ipc_recv whose parent may not have destroyed them)
    returns every page."""
    src = guest_source("exhaust")
    text, k = run_odf(str(src), leaks=False, mem=8 * MIB)
    assert "kernel panic" not in text
    panics = re.findall(r"^\[([0-9a-f]{8})\] user panic in \S+ at (.*)$", text, re.M)
    assert all(re.fullmatch(r"lib/fork\.c:\d+: fork pgfault: .*out of memory", msg)
               for _who, msg in panics), panics[:3]
    # sys_fork's PARENT_RESERVE covers the parent's next faults here too
    assert re.search(r"^fork failed after \d+ children: out of memory$", text, re.M), text[-2000:]
    assert "exhaustion: parent done" in text
    for idx in k.envtab.live():
        k.envtab.env_free(idx)
    assert k.pmap.nfree == k.baseline_free == k.pmap.free_list_length()
