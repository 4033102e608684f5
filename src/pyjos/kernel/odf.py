"""On-demand fork (after Zhao et al., "On-demand-fork", EuroSys 2021):
sys_fork_how(FORK_HOW_ODF), an in-kernel fork that shares the parent's
page-table pages with the child instead of copying their entries.

At fork, for every present user page table of the parent:

* its writable pages (not PTE_SHARE) are marked copy-on-write, once, in the
  one table both envs now use (so ``uvpt`` shows PTE_COW to both, and a
  user-level pgfault handler sees what it expects);
* the child's directory entry points at the same table and both directory
  entries lose PTE_W; the table's pp_ref counts the directories that use it
  (``pt_shared`` counts the sharings).

A shared table therefore holds no writable entry, and every write under it
faults as an ordinary copy-on-write fault.  The first change of an entry of a
shared table, which is how any such fault is resolved (the handler's
sys_page_map, or the kernel's page_cow_break with --cow-faults kernel), and
also any sys_page_map / page_unmap / page_alloc under it, copies the table
for the env that changes it (``Pmap.pgdir_walk`` -> ``unshare_table``,
``pt_copied``); the other env keeps the original.  Frames in a shared table
hold one reference for the table, not one per env; copying the table adds
one to each.  env_free drops a shared table's reference without touching its
entries (``Pmap.free_user_tables``).

Tables that cannot be shared are copied at fork as sys_fork copies them
(kfork._fork_table): the exception stack's (the child gets a fresh exception
stack) and any holding a writable PTE_SHARE page (writes to it must not
fault).  Atomicity as sys_fork: every page the fork can need is counted
first; with fewer free, nothing is touched and the call returns -E_NO_MEM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..abi import (
    E_NO_MEM, PDX, PGSHIFT, PGSIZE, PTE_COW, PTE_P, PTE_SHARE, PTE_U, PTE_W, UTOP,
    UXSTACKTOP, EnvStatus,
)
from .kfork import _fork_table
from .syscall import env_clone_registers

if TYPE_CHECKING:
    from .kernel import Kernel

XSTACK = UXSTACKTOP - PGSIZE
_WRITABLE_SHARE = PTE_P | PTE_U | PTE_W | PTE_SHARE


def odf_fork(k: Kernel) -> int:
    """Fork the current env sharing its page tables; the child's id or
    -E_NO_FREE_ENV / -E_NO_MEM."""
    envtab, pmap = k.envtab, k.pmap
    parent = envtab.curenv
    ppgdir = envtab.pgdir(parent)
    pdes = pmap.u32(ppgdir, PDX(UTOP))
    tables = np.flatnonzero(pdes & PTE_P).tolist()
    copied = [pdx for pdx in tables if pdx == PDX(XSTACK) or _has_writable_share(k, pdes, pdx)]
    needed = 1 + len(copied) + 1 + (0 if PDX(XSTACK) in tables else 1)
    if pmap.nfree < needed:
        return -E_NO_MEM
    r, child = envtab.env_alloc(envtab.cur_id())
    if r < 0:
        return r
    env_clone_registers(k, parent, child)
    c = k.envs[child]
    c.env_pgfault_upcall = k.envs[parent].env_pgfault_upcall
    cpgdir = envtab.pgdir(child)
    cpdes = pmap.u32(cpgdir, PDX(UTOP))
    refs = pmap.pp_refs()
    for pdx in tables:
        if pdx in copied:
            _fork_table(k, ppgdir, cpgdir, pdx, refs)
        else:
            _share_table(k, pdes, cpdes, pdx, refs)
    if ppgdir == pmap.current_pgdir:
        pmap.tlb_stale = True
    xstack = pmap.page_alloc()
    pmap.page_insert(cpgdir, xstack, XSTACK, PTE_P | PTE_U | PTE_W)
    envtab.set_status(child, EnvStatus.ENV_RUNNABLE)
    return c.env_id


def _has_writable_share(k: Kernel, pdes: np.ndarray, pdx: int) -> bool:
    ents = k.pmap.u32(int(pdes[pdx]) & ~0xFFF)
    return bool(((ents & _WRITABLE_SHARE) == _WRITABLE_SHARE).any())


def _share_table(k: Kernel, pdes: np.ndarray, cpdes: np.ndarray, pdx: int,
                 refs: np.ndarray) -> None:
    """Point the child's directory entry pdx at the parent's table, both
    read-only, after marking the table's writable entries copy-on-write."""
    table = int(pdes[pdx]) & ~0xFFF
    ents = k.pmap.u32(table)
    w = (ents & (PTE_P | PTE_W)) == (PTE_P | PTE_W)
    nw = int(w.sum())
    if nw:
        ents[w] = (ents[w] & ~np.uint32(PTE_W)) | PTE_COW
        k.stats.bump("pte_writes", nw)
    pdes[pdx] = table | PTE_P | PTE_U
    cpdes[pdx] = table | PTE_P | PTE_U
    refs[table >> PGSHIFT] += 1
    k.stats.bump("pt_shared")
