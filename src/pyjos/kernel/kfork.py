"""sys_fork: an atomic copy-on-write fork done by the kernel in one trap.

The child gets the parent's registers (eax = 0), its page-fault upcall, a
fresh exception stack, copy-on-write mappings of every writable or
copy-on-write page (the parent's are re-marked copy-on-write), the parent's
read-only pages shared read-only and its PTE_SHARE pages shared as they are;
then it is RUNNABLE.  These are the page rules of the user-level fork()
(lib/fork.c), applied to whole page-table pages at a time with numpy.

Atomicity: every page the fork can need (directory, one table per present
user page table, exception stack, and a table for it) is counted first; if
fewer are free, plus PARENT_RESERVE for the parent's next faults, nothing is
touched and the call returns -E_NO_MEM.  After that point nothing can fail.
The same holds for references: if any frame would pass PP_REF_MAX mappings
(pp_ref is 16 bits), the call returns -E_NO_MEM before touching anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..abi import (
    E_NO_MEM, PDX, PGSHIFT, PGSIZE, PTE_COW, PTE_P, PTE_SHARE, PTE_SYSCALL, PTE_U, PTE_W,
    PTX, UTOP, UXSTACKTOP, EnvStatus,
)
from .env import env_clone_registers
from .pmap import PP_REF_MAX

if TYPE_CHECKING:
    from .kernel import Kernel

XSTACK = UXSTACKTOP - PGSIZE
_PU = PTE_P | PTE_U
# Pages left free beyond the fork's own, for the parent's copy-on-write
# faults right after it (its stack, the page it stores the child's id in,
# each a copy plus pgfault's next spare): with fewer, the fork fails with
# -E_NO_MEM instead of leaving a parent that cannot take its next fault.
PARENT_RESERVE = 4


def kernel_fork(k: Kernel) -> int:
    """Fork the current env; return the child's id or -E_NO_FREE_ENV/-E_NO_MEM."""
    return fork_with(k, None)


# How on-demand fork (odf.py) shares page tables: share(k, pdes, child_pdes,
# pdxs, refs) makes the child's directory entries pdxs point at the parent's
# tables (pdes and child_pdes are the two directories' user entries).
Sharer = Callable[["Kernel", np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


def fork_with(k: Kernel, share: Sharer | None) -> int:
    """kernel_fork, sharing every page table but the exception stack's with
    share instead of copying them (with None, every table is copied)."""
    envtab, pmap = k.envtab, k.pmap
    parent = k.cpu.env
    ppgdir = envtab.pgdir(parent)
    pdes = pmap.u32(ppgdir, PDX(UTOP))
    tables = np.flatnonzero(pdes & PTE_P)
    shared = tables[tables != PDX(XSTACK)] if share else tables[:0]
    copied = tables[tables == PDX(XSTACK)] if share else tables
    needed = 1 + len(copied) + 1 + (0 if PDX(XSTACK) in tables else 1)
    if pmap.nfree < needed + PARENT_RESERVE or not _refs_fit(k, ppgdir, copied.tolist()):
        return -E_NO_MEM
    parent_id = k.cur_id()
    r, child = envtab.env_alloc(parent_id, parent_id)
    if r < 0:
        return r
    env_clone_registers(k, parent, child)
    c = k.envs[child]
    c.env_pgfault_upcall = k.envs[parent].env_pgfault_upcall
    cpgdir = envtab.pgdir(child)
    refs = pmap.pp_refs()
    for pdx in copied.tolist():
        _fork_table(k, ppgdir, cpgdir, pdx, refs)
    if len(shared):
        share(k, pdes, pmap.u32(cpgdir, PDX(UTOP)), shared, refs)
        pmap.mark_stale(ppgdir)
    xstack = pmap.page_alloc()
    pmap.page_insert(cpgdir, xstack, XSTACK, PTE_P | PTE_U | PTE_W)
    envtab.set_status(child, EnvStatus.ENV_RUNNABLE)
    return c.env_id


def _shared_entries(k: Kernel, ppgdir: int, pdx: int) -> tuple[np.ndarray, np.ndarray]:
    """(the parent's page table pdx, which of its entries the child shares)."""
    pmap = k.pmap
    ptable = int(pmap.u32(ppgdir + pdx * 4, 1)[0]) & ~0xFFF
    pents = pmap.u32(ptable)
    present = (pents & _PU) == _PU
    if pdx == PDX(XSTACK):
        present[PTX(XSTACK)] = False  # the child gets a fresh exception stack
    return pents, present


def _refs_fit(k: Kernel, ppgdir: int, tables: list[int]) -> bool:
    """True if the child's mappings add no frame past PP_REF_MAX references."""
    if not tables:
        return True
    frames = np.concatenate([pents[present] >> PGSHIFT for pents, present in
                             (_shared_entries(k, ppgdir, pdx) for pdx in tables)])
    ppns, adds = np.unique(frames.astype(np.intp), return_counts=True)
    return bool(np.all(k.pmap.pp_refs()[ppns].astype(np.int64) + adds <= PP_REF_MAX))


def _fork_table(k: Kernel, ppgdir: int, cpgdir: int, pdx: int, refs: np.ndarray) -> None:
    """Give the child its copy of the parent's page table pdx and re-mark the
    parent's writable pages copy-on-write."""
    pmap = k.pmap
    pents, present = _shared_entries(k, ppgdir, pdx)
    frames = pents & ~np.uint32(0xFFF)
    perms = pents & np.uint32(PTE_SYSCALL)
    share = present & ((perms & PTE_SHARE) != 0)
    cow = present & ~share & ((perms & (PTE_W | PTE_COW)) != 0)
    cperms = np.where(cow, (perms & ~np.uint32(PTE_W)) | PTE_COW, perms)
    cents = np.where(present, frames | cperms, 0).astype(np.uint32)
    ctable = pmap.page_alloc()
    pmap.pages[ctable].pp_ref += 1
    pmap.u32(ctable << PGSHIFT)[:] = cents
    pmap.u32(cpgdir + pdx * 4, 1)[0] = (ctable << PGSHIFT) | PTE_P | PTE_W | PTE_U
    np.add.at(refs, (frames[present] >> PGSHIFT).astype(np.intp), 1)
    remark = cow & ((perms & PTE_W) != 0)
    nremark = int(remark.sum())
    if nremark:
        pents[remark] = (pents[remark] & ~np.uint32(PTE_W)) | PTE_COW
        pmap.mark_stale(ppgdir)
    k.events.bump("pte_writes", int(present.sum()) + nremark)
    k.events.bump("pt_pages_allocated")
