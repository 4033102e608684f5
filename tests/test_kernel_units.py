"""Unit tests of the kernel's pieces (pmap, env, sched, user memory checks) on a
booted Kernel, without running guest code."""

from __future__ import annotations

import os

import pytest

from pyjos.kernel import sched, vm
from pyjos.abi import (
    E_BAD_ENV, E_NO_FREE_ENV, E_NO_MEM, ENVX, KERNBASE, NENV, PDX, PGSHIFT, PGSIZE,
    PTE_ADDR, PTE_P, PTE_U, PTE_W, PTSIZE, ULIM, UENVS, UPAGES, USTACKTOP, UTEXT, UTOP,
    UVPD, UVPT, EnvStatus,
)
from pyjos.guest.elf import ElfError
from pyjos.kernel.load import LoadError
from pyjos.kernel import Kernel, KernelConfig
from pyjos.machine import PhysMem

MIB = 1 << 20


@pytest.fixture
def k() -> Kernel:
    """A freshly booted 8 MiB machine whose console output after its boot
    lines (test_cpus.py checks those) is kept in k.out."""
    out: list[str] = []
    kernel = Kernel(KernelConfig(mem=8 * MIB), out=out.append)
    assert out == ["SMP: CPU 0 found 1 CPU(s)\n", "enabled interrupts: 1 2\n"]
    out.clear()
    kernel.out = out  # type: ignore[attr-defined]
    return kernel


def alloc_env(k: Kernel, parent_id: int = 0) -> int:
    """Index of a new env (asserting success)."""
    r, idx = k.envtab.env_alloc(parent_id)
    assert r == 0
    return idx


def read_user(k: Kernel, idx: int, va: int, n: int) -> bytes:
    """n bytes at va of env idx (vm.copyin through its page directory)."""
    return vm.copyin(k.pmap, k.envtab.pgdir(idx), va, n)


def user_mem_check(k: Kernel, idx: int, va: int, n: int, perm: int) -> int | None:
    """vm.user_mem_check of env idx's page directory."""
    return vm.user_mem_check(k.pmap, k.envtab.pgdir(idx), va, n, perm)


def user_perm(k: Kernel, pgdir: int, va: int) -> int:
    """Effective P|W|U bits of va in pgdir (PDE and PTE combined), 0 if unmapped."""
    pde = k.pmap.mem.read32(pgdir + PDX(va) * 4)
    pte = k.pmap.pte(pgdir, va)
    if not (pde & PTE_P and pte & PTE_P):
        return 0
    return pde & pte & (PTE_P | PTE_W | PTE_U)


# --- the page allocator ------------------------------------------------------------------
def test_boot_free_list(k):
    assert k.pmap.nfree == k.baseline_free > 0
    assert k.pmap.free_list_length() == k.pmap.nfree
    assert k.pmap.nfree + k.pmap.boot_pages < k.pmap.npages  # + trampoline page


def test_page_alloc_and_free(k):
    pm = k.pmap
    before = pm.nfree
    ppn = pm.page_alloc()
    assert ppn is not None and ppn >= pm.boot_pages
    assert pm.pages[ppn].pp_ref == 0 and pm.pages[ppn].pp_link == 0
    assert pm.nfree == before - 1 == pm.free_list_length()
    pm.page_free(ppn)
    assert pm.nfree == before == pm.free_list_length()


def test_page_alloc_zeroes(k):
    pm = k.pmap
    ppn = pm.page_alloc()
    pm.mem.write(ppn << PGSHIFT, b"\xff" * PGSIZE)
    pm.page_free(ppn)
    again = pm.page_alloc()
    assert again == ppn  # LIFO free list
    assert pm.mem.read(again << PGSHIFT, PGSIZE) == bytes(PGSIZE)


def test_page_free_of_referenced_page_is_refused(k):
    pm = k.pmap
    ppn = pm.page_alloc()
    pm.pages[ppn].pp_ref = 1
    with pytest.raises(AssertionError):
        pm.page_free(ppn)
    pm.page_decref(ppn)  # drops to 0: freed
    assert pm.nfree == k.baseline_free


def test_page_decref_frees_at_zero(k):
    pm = k.pmap
    ppn = pm.page_alloc()
    pm.pages[ppn].pp_ref = 2
    pm.page_decref(ppn)
    assert pm.nfree == k.baseline_free - 1
    pm.page_decref(ppn)
    assert pm.nfree == k.baseline_free == pm.free_list_length()


def test_exhausting_memory(k):
    pm = k.pmap
    pgdir = pm.new_pgdir()
    taken = []
    while (ppn := pm.page_alloc(zero=False)) is not None:
        taken.append(ppn)
    assert pm.nfree == 0 and pm.free_list_length() == 0
    assert pm.page_alloc() is None
    assert len(set(taken)) == len(taken)  # no page handed out twice
    # A mapping that needs a new page table fails cleanly, without a reference.
    victim = taken.pop()
    assert pm.page_insert(pgdir, victim, 0x10000000, PTE_P | PTE_U | PTE_W) == -E_NO_MEM
    assert pm.pages[victim].pp_ref == 0
    assert pm.pgdir_walk(pgdir, 0x10000000, create=True) is None
    assert pm.page_lookup(pgdir, 0x10000000) is None
    # So does a new env.
    assert k.envtab.env_alloc(0) == (-E_NO_MEM, -1)
    assert k.envtab.live() == []
    for ppn in [victim, *taken]:
        pm.page_free(ppn)
    pm.page_decref(pgdir >> PGSHIFT)
    assert pm.nfree == k.baseline_free == pm.free_list_length()
    # The env free list was not disturbed: the first env is still 0x1000 in slot 0.
    idx = alloc_env(k)
    assert (idx, k.envs[idx].env_id) == (0, 0x1000)


# --- page tables ---------------------------------------------------------------------------
def test_pgdir_walk_create_and_no_create(k):
    pm = k.pmap
    pgdir = pm.new_pgdir()
    va = 0x10000000
    free = pm.nfree
    assert pm.pgdir_walk(pgdir, va, create=False) is None
    assert pm.nfree == free
    pte_pa = pm.pgdir_walk(pgdir, va, create=True)
    assert pte_pa is not None
    assert pm.nfree == free - 1  # one page table
    pde = pm.mem.read32(pgdir + PDX(va) * 4)
    assert pde & (PTE_P | PTE_W | PTE_U) == PTE_P | PTE_W | PTE_U
    assert pm.pages[pde >> PGSHIFT].pp_ref == 1
    assert pte_pa == PTE_ADDR(pde) + ((va >> 12) & 0x3FF) * 4
    assert pm.mem.read(PTE_ADDR(pde), PGSIZE) == bytes(PGSIZE)  # a zeroed table
    # A second walk, also to a neighbour in the same 4 MiB, allocates nothing.
    assert pm.pgdir_walk(pgdir, va, create=True) == pte_pa
    assert pm.pgdir_walk(pgdir, va + PGSIZE, create=False) == pte_pa + 4
    assert pm.nfree == free - 1


def test_page_insert_lookup_remove_refcounts(k):
    pm = k.pmap
    pgdir = pm.new_pgdir()
    va, va2 = 0x10000000, 0x10001000
    ppn = pm.page_alloc()
    assert pm.page_lookup(pgdir, va) is None
    assert pm.page_insert(pgdir, ppn, va, PTE_U | PTE_W) == 0
    assert pm.pages[ppn].pp_ref == 1
    found = pm.page_lookup(pgdir, va)
    assert found is not None and found[0] == ppn
    assert pm.mem.read32(found[1]) == (ppn << PGSHIFT) | PTE_P | PTE_U | PTE_W
    # Re-inserting the same page at the same va changes perms, keeps pp_ref 1.
    assert pm.page_insert(pgdir, ppn, va, PTE_U) == 0
    assert pm.pages[ppn].pp_ref == 1
    assert pm.pte(pgdir, va) == (ppn << PGSHIFT) | PTE_P | PTE_U
    # The same page at a second va: two references.
    assert pm.page_insert(pgdir, ppn, va2, PTE_U) == 0
    assert pm.pages[ppn].pp_ref == 2
    # Another page over va drops the first page's reference.
    other = pm.page_alloc()
    assert pm.page_insert(pgdir, other, va, PTE_U | PTE_W) == 0
    assert pm.pages[ppn].pp_ref == 1 and pm.pages[other].pp_ref == 1
    assert pm.page_lookup(pgdir, va)[0] == other
    # Removing the last mappings frees both pages; removing nothing is fine.
    free = pm.nfree
    pm.page_remove(pgdir, va2)
    assert pm.pages[ppn].pp_ref == 0 and pm.nfree == free + 1
    pm.page_remove(pgdir, va)
    assert pm.nfree == free + 2
    pm.page_remove(pgdir, va)
    pm.page_remove(pgdir, 0x30000000)  # no page table there
    assert pm.page_lookup(pgdir, va) is None
    assert pm.nfree == free + 2 == pm.free_list_length()


def test_page_insert_marks_tlb_stale_only_for_live_mappings(k):
    pm, cpu = k.pmap, k.cpu
    pgdir = pm.new_pgdir()
    cpu.switch_pgdir(pgdir)
    a, b = pm.page_alloc(), pm.page_alloc()
    pm.page_insert(pgdir, a, 0x10000000, PTE_U | PTE_W)
    assert not cpu.tlb_stale  # a new mapping needs no flush
    pm.page_insert(pgdir, b, 0x10000000, PTE_U | PTE_W)
    assert cpu.tlb_stale  # a changed one does
    cpu.flush_tlb_if_stale()
    assert not cpu.tlb_stale
    pm.page_remove(pgdir, 0x10000000)
    assert cpu.tlb_stale
    cpu.switch_pgdir(pm.kern_pgdir)


def test_new_pgdir_layout(k):
    pm = k.pmap
    pgdir = pm.new_pgdir()
    assert pm.pages[pgdir >> PGSHIFT].pp_ref == 1
    pdes = [pm.mem.read32(pgdir + i * 4) for i in range(1024)]
    kern = [pm.mem.read32(pm.kern_pgdir + i * 4) for i in range(1024)]
    assert all(p == 0 for p in pdes[:PDX(UTOP)])  # no user mappings
    for i in range(PDX(UTOP), 1024):
        if i == PDX(UVPT):
            assert pdes[i] == pgdir | PTE_P | PTE_U  # self-map, read-only
        else:
            assert pdes[i] == kern[i], f"PDE {i:#x}"
    assert pdes[PDX(KERNBASE)] & PTE_P and pdes[PDX(UPAGES)] & PTE_P and pdes[PDX(UENVS)] & PTE_P
    assert not pdes[PDX(ULIM)] & PTE_P  # MMIO window: nothing there


def test_pages_and_envs_visible_read_only(k):
    pm = k.pmap
    pgdir = pm.new_pgdir()
    pages_bytes = pm.npages * 8
    for off in range(0, pages_bytes, PGSIZE):
        assert user_perm(k, pgdir, UPAGES + off) == PTE_P | PTE_U
        assert PTE_ADDR(pm.pte(pgdir, UPAGES + off)) == pm.pages_pa + off
    for off in range(0, NENV * 124, PGSIZE):
        assert user_perm(k, pgdir, UENVS + off) == PTE_P | PTE_U
        assert PTE_ADDR(pm.pte(pgdir, UENVS + off)) == pm.envs_pa + off
    # uvpd: the directory itself, through the self-map, read-only.
    assert user_perm(k, pgdir, UVPD) == PTE_P | PTE_U
    assert PTE_ADDR(pm.pte(pgdir, UVPD)) == pgdir


def test_kernel_region_supervisor_only(k):
    pm = k.pmap
    pgdir = pm.new_pgdir()
    for pa in (0, PGSIZE, pm.pages_pa, pm.envs_pa, pm.mem.size - PGSIZE):
        perm = user_perm(k, pgdir, KERNBASE + pa)
        assert perm == PTE_P | PTE_W, f"KERNBASE+{pa:#x}: {perm:#x}"
        assert PTE_ADDR(pm.pte(pgdir, KERNBASE + pa)) == pa
    assert user_perm(k, pgdir, KERNBASE + pm.mem.size) == 0  # beyond physical memory


def test_free_user_tables_releases_everything(k):
    pm = k.pmap
    pgdir = pm.new_pgdir()
    for va in (0x0, 0x800000, 0x10000000, UTOP - PGSIZE):
        pm.page_insert(pgdir, pm.page_alloc(), va, PTE_U | PTE_W)
    shared = pm.page_alloc()
    pm.page_insert(pgdir, shared, 0x20000000, PTE_U)
    pm.pages[shared].pp_ref += 1  # also held elsewhere
    pm.free_user_tables(pgdir)
    assert pm.user_pages(pgdir) == []
    assert pm.pages[shared].pp_ref == 1
    pm.page_decref(shared)
    pm.page_decref(pgdir >> PGSHIFT)
    assert pm.nfree == k.baseline_free == pm.free_list_length()


# --- environments ----------------------------------------------------------------------------
def test_env_alloc_ids_and_reuse(k):
    a = alloc_env(k)
    b = alloc_env(k)
    assert (a, k.envs[a].env_id) == (0, 0x1000)
    assert (b, k.envs[b].env_id) == (1, 0x1001)
    e = k.envs[a]
    assert e.env_status == EnvStatus.ENV_RUNNABLE and e.env_parent_id == 0
    assert e.env_tf.tf_cs == 0x1B and e.env_tf.tf_ds == e.env_tf.tf_es == e.env_tf.tf_ss == 0x23
    assert e.env_tf.tf_eflags & 0x200  # FL_IF
    assert e.env_pgdir >= KERNBASE
    k.envtab.env_free(a)
    assert k.envs[a].env_status == EnvStatus.ENV_FREE
    c = alloc_env(k)
    assert (c, k.envs[c].env_id) == (0, 0x2000)  # the freed slot first, next generation
    d = alloc_env(k)
    assert (d, k.envs[d].env_id) == (2, 0x1002)
    assert "".join(k.out) == (
        "[00000000] new env 00001000\n[00000000] new env 00001001\n"
        "[00000000] free env 00001000\n[00000000] new env 00002000\n"
        "[00000000] new env 00001002\n")


def test_env_free_returns_every_page(k):
    idx = alloc_env(k)
    pgdir = k.envtab.pgdir(idx)
    for va in (0x800000, 0x801000, USTACKTOP - PGSIZE, 0x30000000):
        k.pmap.page_insert(pgdir, k.pmap.page_alloc(), va, PTE_U | PTE_W)
    k.envtab.env_free(idx)
    assert k.pmap.nfree == k.baseline_free == k.pmap.free_list_length()
    assert k.envtab.live() == []


def test_envid2env(k):
    parent = alloc_env(k)
    pid = k.envs[parent].env_id
    k.cpu.env = parent
    child = alloc_env(k, pid)
    cid = k.envs[child].env_id
    stranger = alloc_env(k)
    sid = k.envs[stranger].env_id
    et = k.envtab
    assert k.envid2env(0, True) == (0, parent)
    assert k.envid2env(pid, True) == (0, parent)
    assert k.envid2env(cid, True) == (0, child)
    assert k.envid2env(sid, True) == (-E_BAD_ENV, -1)  # not ours
    assert k.envid2env(sid, False) == (0, stranger)
    assert k.envid2env(0x1000 | 0x3FF, False) == (-E_BAD_ENV, -1)  # a free slot
    assert k.envid2env(cid + 0x1000, False) == (-E_BAD_ENV, -1)  # wrong generation
    # A grandchild is not an immediate child.
    k.cpu.env = child
    grandchild = alloc_env(k, cid)
    k.cpu.env = parent
    assert k.envid2env(k.envs[grandchild].env_id, True) == (-E_BAD_ENV, -1)
    # A stale id: the slot was freed and reused.
    k.envtab.env_free(child)
    assert k.envid2env(cid, False) == (-E_BAD_ENV, -1)
    reused = alloc_env(k, pid)
    assert reused == child and k.envs[reused].env_id == cid + 0x1000
    assert k.envid2env(cid, True) == (-E_BAD_ENV, -1)
    assert k.envid2env(cid + 0x1000, True) == (0, child)
    k.cpu.env = None


def test_nenv_exhaustion():
    big = Kernel(KernelConfig(mem=16 * MIB), out=lambda _s: None)
    ids = []
    for _ in range(NENV):
        r, idx = big.envtab.env_alloc(0)
        assert r == 0
        ids.append(big.envs[idx].env_id)
    assert ids == [0x1000 + i for i in range(NENV)]
    free = big.pmap.nfree
    assert big.envtab.env_alloc(0) == (-E_NO_FREE_ENV, -1)
    assert big.pmap.nfree == free  # no page directory leaked
    big.envtab.env_free(ENVX(0x1005))
    r, idx = big.envtab.env_alloc(0)
    assert (r, idx, big.envs[idx].env_id) == (0, 5, 0x2005)
    for i in range(NENV):
        big.envtab.env_free(i)
    assert big.pmap.nfree == big.baseline_free


def test_create_env_loads_program(k):
    envid = k.create_env("hello", ["a", "b"])
    idx = ENVX(envid)
    assert envid == 0x1000
    e = k.envs[idx]
    assert e.env_tf.tf_eip == 0x800020
    assert UTEXT <= e.env_tf.tf_eip < UTEXT + PTSIZE
    pgdir = k.envtab.pgdir(idx)
    assert user_perm(k, pgdir, UTEXT) == PTE_P | PTE_U  # text read-only
    assert user_perm(k, pgdir, USTACKTOP - PGSIZE) == PTE_P | PTE_U | PTE_W
    assert user_perm(k, pgdir, USTACKTOP) == 0  # guard page
    # The stack holds argc, argv -> ["hello", "a", "b", NULL].
    esp = e.env_tf.tf_esp
    argc = int.from_bytes(read_user(k, idx, esp, 4), "little")
    argv = int.from_bytes(read_user(k, idx, esp + 4, 4), "little")
    assert argc == 3
    ptrs = [int.from_bytes(read_user(k, idx, argv + 4 * i, 4), "little") for i in range(4)]
    assert ptrs[3] == 0
    strings = [read_user(k, idx, p, 8).split(b"\0")[0] for p in ptrs[:3]]
    assert strings == [b"hello", b"a", b"b"]


def test_create_env_args_too_long_frees_the_env(k):
    with pytest.raises(LoadError):
        k.create_env("hello", ["x" * 5000])
    assert k.envtab.live() == []
    assert k.pmap.nfree == k.baseline_free
    assert k.create_env("hello") == 0x2000  # slot 0 was used, then freed


def test_create_env_from_bad_elf_allocates_nothing(k):
    with pytest.raises(ElfError):
        k.create_env_from_elf("x", b"garbage")
    assert k.envtab.live() == [] and k.pmap.nfree == k.baseline_free
    assert k.out == []


def test_create_env_out_of_memory_is_a_load_error():
    tiny = Kernel(KernelConfig(mem=4 * MIB), out=lambda _s: None)
    pm = tiny.pmap
    hoard = []
    while pm.nfree > 3:
        hoard.append(pm.page_alloc(zero=False))
    with pytest.raises(LoadError):
        tiny.create_env("hello")
    assert tiny.envtab.live() == []
    for ppn in hoard:
        pm.page_free(ppn)
    assert pm.nfree == tiny.baseline_free


# --- user memory checks -------------------------------------------------------------------
def test_user_mem_check(k):
    idx = ENVX(k.create_env("hello"))
    check = user_mem_check
    stack = USTACKTOP - PGSIZE
    assert check(k, idx, stack, PGSIZE, PTE_U | PTE_W) is None
    assert check(k, idx, stack + 16, 8, PTE_U) is None
    assert check(k, idx, stack, PGSIZE + 1, PTE_U) == USTACKTOP  # runs into the guard page
    assert check(k, idx, UTEXT + 0x10, 4, PTE_U | PTE_W) == UTEXT + 0x10  # text is read-only
    assert check(k, idx, UTEXT, 4, PTE_U) is None
    assert check(k, idx, 0, 1, PTE_U) == 0
    assert check(k, idx, 1, 1, PTE_U) == 1  # the first bad va, not its page
    assert check(k, idx, UENVS, 4, PTE_U) is None  # envs[] is user-readable
    assert check(k, idx, UENVS, 4, PTE_U | PTE_W) == UENVS
    assert check(k, idx, UVPD, PGSIZE, PTE_U) is None  # the directory, read-only
    assert check(k, idx, UVPD, 4, PTE_U | PTE_W) == UVPD
    assert check(k, idx, UVPT + (UTEXT >> 10), 4, PTE_U) is None  # text's page table
    assert check(k, idx, ULIM, 1, PTE_U) == ULIM
    assert check(k, idx, ULIM - 4, 8, PTE_U) in (ULIM - 4, ULIM)
    assert check(k, idx, KERNBASE + 0x100000, 4, PTE_U) == KERNBASE + 0x100000
    assert check(k, idx, 0xFFFFFFF0, 0x20, PTE_U) == 0xFFFFFFF0  # wraps past 4 GiB


# --- the scheduler --------------------------------------------------------------------------
def test_sched_round_robin(k):
    a, b, c = alloc_env(k), alloc_env(k), alloc_env(k)
    et = k.envtab
    assert sched.sched_pick(k) == a  # no current env: the first runnable
    k.cpu.env = a
    et.set_status(a, EnvStatus.ENV_RUNNING)
    assert sched.sched_pick(k) == b
    et.set_status(b, EnvStatus.ENV_NOT_RUNNABLE)
    assert sched.sched_pick(k) == c
    et.set_status(a, EnvStatus.ENV_RUNNABLE)
    k.cpu.env = c
    et.set_status(c, EnvStatus.ENV_RUNNING)
    assert sched.sched_pick(k) == a  # wraps around
    et.set_status(a, EnvStatus.ENV_NOT_RUNNABLE)
    assert sched.sched_pick(k) == c  # only the running env is left: it runs on
    et.set_status(c, EnvStatus.ENV_NOT_RUNNABLE)
    assert sched.sched_pick(k) is None
    assert et.runnable == []
    k.cpu.env = None


def _resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize("prefault", [False, True])
def test_prefaulted_memory_is_backed_at_boot_and_lazy_memory_is_not(prefault):
    """PhysMem(prefault=True) (KernelConfig.prefault, what the benchmarks
    boot with) has the host back every page at once; by default pages stay
    unbacked until first touched."""
    before = _resident_bytes()
    mem = PhysMem(64 * MIB, prefault=prefault)
    grown = _resident_bytes() - before
    assert (grown >= 60 * MIB) if prefault else (grown < 8 * MIB), grown
    assert mem.read(0, 16) == bytes(16) and mem.read(63 * MIB, 16) == bytes(16)


def test_the_benchmarks_boot_prefaulted(monkeypatch):
    from pyjos.tools import bench
    seen = []
    real = bench.Kernel

    def kernel(config, **kw):
        seen.append(config.prefault)
        return real(config, **kw)
    monkeypatch.setattr(bench, "Kernel", kernel)
    bench.per_iteration_us(["syscallloop"], 10, 1, 1)
    assert seen == [True, True]


def test_user_page_pa_is_the_fast_case_of_user_mem_check(k):
    """user_page_pa gives the physical address exactly where the range is in
    one page that user_mem_check accepts with that perm; else None."""
    pm = k.pmap
    pgdir = pm.new_pgdir()
    rw, ro = pm.page_alloc(), pm.page_alloc()
    pm.page_insert(pgdir, rw, 0x10000000, PTE_U | PTE_W)
    pm.page_insert(pgdir, ro, 0x10001000, PTE_U)
    cases = [(0x10000010, 52, PTE_W), (0x10000FF0, 16, PTE_W), (0x10000FF0, 32, 0),
             (0x10001000, 1, 0), (0x10001000, 1, PTE_W), (0x10002000, 1, 0),
             (0xEF7FFFFF, 1, 0), (ULIM - 1, 1, 0)]
    for va, length, perm in cases:
        pa = vm.user_page_pa(pm, pgdir, va, length, perm)
        ok = vm.user_mem_check(pm, pgdir, va, length, perm | PTE_U) is None
        one_page = va >> 12 == (va + length - 1) >> 12
        assert (pa is not None) == (ok and one_page), (hex(va), length, perm)
        if pa is not None:
            assert pa == (pm.pte(pgdir, va) & ~0xFFF) | (va & 0xFFF)
    assert vm.user_page_pa(pm, pgdir, 0x10000010, 52, PTE_W) == (rw << 12) | 0x10
