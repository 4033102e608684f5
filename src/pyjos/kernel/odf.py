"""On-demand fork (after Zhao et al., "On-demand-fork", EuroSys 2021):
sys_fork_how(FORK_HOW_ODF), an in-kernel fork that shares the parent's
page-table pages with the child instead of copying their entries.

At fork, for every present user page table of the parent, the child's
directory entry points at the same table and both directory entries lose
PTE_W; the table's pp_ref counts the directories that use it (``pt_shared``
counts the sharings).  Nothing else is written: the fork costs one directory
entry per 4 MiB, whatever the number of pages (the paper's point).

Every write under a shared table therefore faults (the directory entry is
read-only).  The kernel then makes the table the writer's own before anything
else (``trap.page_fault_handler`` -> ``Pmap.unshare_for_write``): it copies the
table (``pt_copied``), marking its writable entries copy-on-write in both
copies, as a fork would have, and gives the directory entry back PTE_W.  The
fault then goes on as an ordinary copy-on-write fault (to the env's upcall,
whose handler sees PTE_COW in ``uvpt``, or in the kernel with --cow-faults
kernel); if the writer was the table's last user, the write just runs again.
Any other change under a shared table (sys_page_map / page_unmap /
page_alloc, a system call storing into user memory) unshares it the same way
(``Pmap.pgdir_walk``, ``vm.copyout``).  Frames in a shared table hold one
reference for the table, not one per env; copying the table adds one to each.
env_free drops a shared table's reference without touching its entries
(``Pmap.free_user_tables``).

The fork itself is kfork.fork_with: every table is shared but the exception
stack's, which is copied (the child gets a fresh exception stack).  A table
holding writable PTE_SHARE pages is shared too: the first write to such a
page faults once, the table is copied, and its PTE_SHARE entries stay
writable in both copies (they are not marked), so the sharing goes on.
Atomicity as sys_fork: every page the fork can need is counted first; with
fewer free, nothing is touched and the call returns -E_NO_MEM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..abi import PGSHIFT, PTE_W
from .kfork import fork_with

if TYPE_CHECKING:
    from .kernel import Kernel

def odf_fork(k: Kernel) -> int:
    """Fork the current env sharing its page tables; the child's id or
    -E_NO_FREE_ENV / -E_NO_MEM."""
    return fork_with(k, _share_tables)


def _share_tables(k: Kernel, pdes: np.ndarray, cpdes: np.ndarray, pdxs: np.ndarray,
                  refs: np.ndarray) -> None:
    """Point the child's directory entries pdxs at the parent's tables, both
    read-only; the tables' entries are not touched (Pmap.unshare_table marks
    them copy-on-write when a table is first copied)."""
    entries = pdes[pdxs] & ~np.uint32(PTE_W)
    pdes[pdxs] = entries
    cpdes[pdxs] = entries
    np.add.at(refs, (entries >> PGSHIFT).astype(np.intp), 1)
    k.events.bump("pt_shared", len(pdxs))
