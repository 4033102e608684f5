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

The fork itself is kfork.fork_with.  Tables that cannot be shared are copied
at fork as sys_fork copies them: the exception stack's (the child gets a fresh exception
stack) and any holding a writable PTE_SHARE page (writes to it must not
fault).  Atomicity as sys_fork: every page the fork can need is counted
first; with fewer free, nothing is touched and the call returns -E_NO_MEM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..abi import PGSHIFT, PTE_COW, PTE_P, PTE_SHARE, PTE_U, PTE_W
from .kfork import fork_with

if TYPE_CHECKING:
    from .kernel import Kernel

_WRITABLE_SHARE = PTE_P | PTE_U | PTE_W | PTE_SHARE


def odf_fork(k: Kernel) -> int:
    """Fork the current env sharing its page tables; the child's id or
    -E_NO_FREE_ENV / -E_NO_MEM."""
    return fork_with(k, (_shareable, _share_table))


def _shareable(k: Kernel, pdes: np.ndarray, pdx: int) -> bool:
    """A table may be shared unless it holds a writable PTE_SHARE page."""
    ents = k.pmap.u32(int(pdes[pdx]) & ~0xFFF)
    return not ((ents & _WRITABLE_SHARE) == _WRITABLE_SHARE).any()


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
        k.events.bump("pte_writes", nw)
    pdes[pdx] = table | PTE_P | PTE_U
    cpdes[pdx] = table | PTE_P | PTE_U
    refs[table >> PGSHIFT] += 1
    k.events.bump("pt_shared")
