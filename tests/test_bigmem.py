"""Physical memory above the 256 MiB that KERNBASE maps (up to 1 GiB).

The kernel reaches frames directly, page directories stay below the window
(env_pgdir is a JOS kernel address), KERNBASE..4 GiB stays supervisor-only,
forks of big processes work with every strategy that fits, and page-table
teardown (vectorised) does exactly what dropping each PTE in turn did.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pyjos.abi import E_NO_MEM, KERNBASE, PDX, PGSHIFT, PGSIZE, PTE_P, PTE_U, PTE_W, UTOP, PageInfo
from pyjos.kernel import Kernel, KernelConfig
from pyjos.kernel.pmap import KERN_WINDOW

GUEST = Path(__file__).parent / "guest"
MIB = 1024 * 1024
NO_PANIC = [r".*user panic.*", r"kernel panic.*"]
LIMIT = {"max_insns": 2_000_000_000}


def pyjos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyjos", *args], capture_output=True,
                          text=True, timeout=120)


# --- --mem bounds ---------------------------------------------------------------------
@pytest.mark.parametrize("mem", ["3", "1025", "4096", "lots"])
def test_mem_out_of_range_is_one_clear_line(mem):
    proc = pyjos("run", "-q", "--mem", mem, "hello")
    assert proc.returncode != 0
    assert "--mem" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    if mem.isdigit():
        assert "memory must be 4 to 1024 MiB" in proc.stderr, proc.stderr


def test_mem_1024_boots_and_runs():
    proc = pyjos("run", "-q", "--mem", "1024", "hello")
    assert proc.returncode == 0, proc.stderr
    assert "hello, world" in proc.stdout


# --- the kernel's layout at 1 GiB ---------------------------------------------------------
@pytest.fixture(scope="module")
def big() -> Kernel:
    return Kernel(KernelConfig(mem=1024 * MIB), out=lambda _s: None)


def test_kernbase_maps_the_window_only(big):
    pm = big.pmap
    pdes = pm.u32(pm.kern_pgdir)
    # the boot map wrapped past 4 GiB once and wrote user directory entries
    assert not (pdes[:PDX(UTOP)] & PTE_P).any()
    for pa in (0, 255 * MIB, KERN_WINDOW - PGSIZE):
        pte = pm.pte(pm.kern_pgdir, KERNBASE + pa)
        assert pte & ~0xFFF == pa and pte & (PTE_P | PTE_W | PTE_U) == PTE_P | PTE_W
    assert pm.npages == 262144 and pm.free_list_length() == pm.nfree


def test_pages_above_the_window_go_first_pgdirs_stay_below(big):
    pm = big.pmap
    ppn = pm.page_alloc()
    assert ppn << PGSHIFT >= KERN_WINDOW
    pm.page_free(ppn)
    r, idx = big.envtab.env_alloc(0)
    assert r == 0
    pgdir = big.envtab.pgdir(idx)
    assert pgdir < KERN_WINDOW and big.envs[idx].env_pgdir == KERNBASE + pgdir
    big.envtab.env_free(idx)
    assert pm.nfree == big.baseline_free == pm.free_list_length()


def test_env_alloc_without_a_low_page_is_no_mem():
    """When pages below the window run out, env_alloc says -E_NO_MEM cleanly."""
    k = Kernel(KernelConfig(mem=260 * MIB), out=lambda _s: None)
    pm = k.pmap
    taken = []
    while (ppn := pm.page_alloc(low=True)) is not None:
        taken.append(ppn)
    assert all(p << PGSHIFT < KERN_WINDOW for p in taken)
    above = pm.nfree
    assert above > 1000  # the 4 MiB above the window (less the trampoline page)
    r, _idx = k.envtab.env_alloc(0)
    assert r == -E_NO_MEM and pm.nfree == above
    pm.page_free(taken.pop())
    r, idx = k.envtab.env_alloc(0)
    assert r == 0 and k.envtab.pgdir(idx) < KERN_WINDOW


@pytest.mark.parametrize("va, mode, err", [
    ("f0000000", "r", "0x00000005 [user, read, protection]"),
    ("fffff000", "r", "0x00000005 [user, read, protection]"),
    ("f8000000", "w", "0x00000007 [user, write, protection]"),
])
def test_user_access_to_kernbase_is_a_protection_fault(run_programs, va, mode, err):
    text, _k, result = run_programs([str(GUEST / "big_kernaccess.c")], [va, mode],
                                    mem=1024 * MIB)
    assert result.reason == "idle"
    assert f"[00001000] user fault va {va} ip" in text, text
    assert f"  err  {err}" in text, text
    assert "no fault" not in text


# --- forks of big processes -----------------------------------------------------------------
def _big_fork(run_programs, grade, npages: int, strategy: str, mem: int,
              stride: int = 1) -> Kernel:
    """big_fork: the child reads every page and writes every stride-th one."""
    text, k, result = run_programs([str(GUEST / "big_fork.c")],
                                   [str(npages), strategy, str(stride)], mem=mem * MIB, **LIMIT)
    assert result.reason == "idle", text[-2000:]
    grade(text, required=[r"big_fork: child ok",
                          rf"big_fork: parent ok, {npages} pages \({strategy}\)"],
          forbidden=NO_PANIC)
    return k


@pytest.mark.parametrize("strategy", ["dumb", "cow", "batch", "kernel"])
def test_fork_across_the_window(run_programs, grade, strategy):
    """288 MiB: the process's 12288 pages fill the 8192 above the window and
    4096 below, the child's copies or tables land on both sides."""
    _big_fork(run_programs, grade, 12288, strategy, 288)


def test_dumb_fork_out_of_memory_is_said(run_programs, grade):
    text, k, result = run_programs([str(GUEST / "big_fork.c")], ["40000", "dumb"],
                                   mem=288 * MIB, **LIMIT)
    assert result.reason == "idle"
    assert re.search(r"user panic in big_fork at .*: big_fork: dumb: out of memory", text), \
        text[-2000:]
    assert "kernel panic" not in text


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["cow", "batch", "kernel"])
def test_fork_512_mib_process(run_programs, grade, strategy):
    """131072 dirty pages (512 MiB) at --mem 1024: every strategy that fits
    (the child writes every 64th page: copies of all would need 1 GiB more)."""
    k = _big_fork(run_programs, grade, 131072, strategy, 1024, stride=64)
    assert k.stats.total["pages_copied"] >= 131072 // 64


@pytest.mark.slow
def test_fork_512_mib_dumb_does_not_fit(run_programs):
    text, _k, result = run_programs([str(GUEST / "big_fork.c")], ["131072", "dumb"],
                                    mem=1024 * MIB, **LIMIT)
    assert result.reason == "idle"
    assert "big_fork: dumb: out of memory" in text, text[-2000:]


# --- vectorised teardown = the per-PTE teardown ------------------------------------------------
def _reference_free(pm, pgdir: int) -> None:
    """free_user_tables as it was: one page_remove per PTE, then the table."""
    for pdx in range(PDX(UTOP)):
        pde = pm.mem.read32(pgdir + pdx * 4)
        if not pde & PTE_P:
            continue
        table = pde & ~0xFFF
        for ptx in range(1024):
            pte = pm.mem.read32(table + ptx * 4)
            if pte & PTE_P:
                pm.page_remove(pgdir, (pdx << 22) | (ptx << 12))
        pm.mem.write32(pgdir + pdx * 4, 0)
        pm.page_decref(table >> PGSHIFT)


def _free_list(pm) -> list[int]:
    out = []
    links = pm.pp_links()
    for ppn in pm.free_heads():
        while ppn:
            out.append(ppn)
            link = int(links[ppn])
            ppn = (link - KERNBASE - pm.pages_pa) // ctypes.sizeof(PageInfo) if link else 0
    return out


def _teardown_scene(mem: int) -> tuple[Kernel, int]:
    """Two pgdirs sharing frames, a frame mapped twice, tables on both sides."""
    k = Kernel(KernelConfig(mem=mem * MIB), out=lambda _s: None)
    pm = k.pmap
    a, b = pm.new_pgdir(), pm.new_pgdir()
    rng = np.random.default_rng(16)
    perm = PTE_U | PTE_W
    for va in (rng.choice(1 << 14, 3000, replace=False) * PGSIZE + 0x1000000).tolist():
        ppn = pm.page_alloc()
        pm.page_insert(a, ppn, va, perm)
        if va % 3 == 0:
            pm.page_insert(b, ppn, va, perm)  # shared: survives a's teardown
        if va % 7 == 0:
            pm.page_insert(a, ppn, va + (1 << 26), perm)  # twice in a
    k.cpu.switch_pgdir(a)
    return k, a


@pytest.mark.parametrize("mem", [64, 272])
def test_free_user_tables_matches_per_pte_teardown(mem):
    fast, a = _teardown_scene(mem)
    slow, a2 = _teardown_scene(mem)
    assert a == a2
    fast.stats.reset()
    slow.stats.reset()
    fast.pmap.free_user_tables(a)
    _reference_free(slow.pmap, a)
    for key in ("pages_freed", "pte_writes"):
        assert fast.stats.total.get(key) == slow.stats.total.get(key) > 0, key
    assert fast.pmap.nfree == slow.pmap.nfree
    assert _free_list(fast.pmap) == _free_list(slow.pmap)
    assert (fast.pmap.pp_refs() == slow.pmap.pp_refs()).all()
    assert fast.cpu.tlb_stale and slow.cpu.tlb_stale
    assert not (fast.pmap.u32(a, PDX(UTOP)) & PTE_P).any()
