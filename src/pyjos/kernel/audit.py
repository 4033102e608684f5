"""The kernel's self-check: is the memory state sound after whatever ran?

``attach(kernel)`` records, once at boot, the kernel's own pages (page 0, the
boot directory and the boot page tables); ``audit(kernel)`` then returns the
problems it finds (an empty list: sound):

* every frame's ``pp_ref`` equals its references: one per user PTE below
  UTOP, one per user page table (a directory entry below UTOP), one per env
  directory, plus the kernel's own (each boot page, and each other frame
  the kernel maps to users above UTOP, such as the trampoline);
* no frame holding a page table or directory is mapped by a user PTE;
* the free list is a chain of distinct pages above the boot pages with
  ``pp_ref`` 0, as long as ``nfree``, and every other page has ``pp_link`` 0;
* the boot pages and tables are as at boot (accessed and dirty bits aside);
* every env's directory maps UTOP and above exactly as the boot directory,
  with its own UVPT self-map.

It reads memory with numpy and changes nothing.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..abi import KERNBASE, NPDENTRIES, PDX, PGSHIFT, PGSIZE, PTE_P, PTE_U, UTOP, UVPT, PageInfo

if TYPE_CHECKING:
    from .kernel import Kernel

_AD = np.uint32(0x60)  # PTE_A | PTE_D: the CPU sets them
_PU = PTE_P | PTE_U
_KERNEL_PDX = slice(PDX(UTOP), NPDENTRIES)
_MAX_REPORTS = 20  # problems of one kind listed before "... and N more"


@dataclass
class BootImage:
    """The kernel's own pages as they were at boot: ppn -> a copy of the page."""

    pages: dict[int, np.ndarray]


def attach(kernel: Kernel) -> BootImage:
    """Record the boot state audit() compares against (call once, at boot)."""
    pmap = kernel.pmap
    ppns = [0, pmap.kern_pgdir >> PGSHIFT] + _kernel_tables(kernel)
    image = BootImage({ppn: _page(kernel, ppn).copy() for ppn in ppns})
    kernel.boot_image = image
    return image


def audit(kernel: Kernel) -> list[str]:
    """The problems found in kernel's memory state; [] when it is sound."""
    problems: list[str] = []
    image = getattr(kernel, "boot_image", None)
    if image is None:
        problems.append("no boot image: audit.attach(kernel) was not called at boot")
    else:
        problems += _check_boot_pages(kernel, image)
    problems += _check_env_dirs(kernel)
    free_problems, free = _check_free_list(kernel)
    problems += _check_refs(kernel, free)
    return problems + free_problems


# --- memory views ------------------------------------------------------------------
def _page(kernel: Kernel, ppn: int) -> np.ndarray:
    """The 1024 words of physical page ppn (a read-only view)."""
    view = np.frombuffer(kernel.pmap.mem.buf, dtype=np.uint32, count=PGSIZE // 4,
                         offset=ppn << PGSHIFT)
    view.flags.writeable = False
    return view


def _kernel_tables(kernel: Kernel) -> list[int]:
    """ppns of the page tables the boot directory uses above UTOP (not UVPT)."""
    pgdir = _page(kernel, kernel.pmap.kern_pgdir >> PGSHIFT)
    return [int(pde) >> PGSHIFT for pdx, pde in enumerate(pgdir)
            if pdx >= PDX(UTOP) and pdx != PDX(UVPT) and pde & PTE_P]


def _env_dirs(kernel: Kernel) -> list[tuple[int, int]]:
    """(env index, directory ppn) of every live env."""
    return [(idx, kernel.envtab.pgdir(idx) >> PGSHIFT) for idx in kernel.envtab.live()]


def _limited(problems: list[str]) -> list[str]:
    if len(problems) <= _MAX_REPORTS:
        return problems
    return problems[:_MAX_REPORTS] + [f"... and {len(problems) - _MAX_REPORTS} more"]


# --- the checks -----------------------------------------------------------------------
def _check_boot_pages(kernel: Kernel, image: BootImage) -> list[str]:
    problems = []
    for ppn, before in image.pages.items():
        now = _page(kernel, ppn)
        mask = np.uint32(0xFFFFFFFF) if ppn == 0 else ~_AD
        changed = np.flatnonzero((now & mask) != (before & mask))
        for word in changed[:4].tolist():
            problems.append(f"boot page {ppn:#x} changed at offset {word * 4:#x}: "
                            f"{int(before[word]):#010x} -> {int(now[word]):#010x}")
    return problems


def _check_env_dirs(kernel: Kernel) -> list[str]:
    """Each env's directory at and above UTOP is the boot directory's."""
    problems = []
    boot = _page(kernel, kernel.pmap.kern_pgdir >> PGSHIFT)[_KERNEL_PDX] & ~_AD
    uvpt = PDX(UVPT) - PDX(UTOP)
    dirs = _env_dirs(kernel)
    for idx, ppn in dirs:
        if ppn >= kernel.pmap.npages:
            problems.append(f"env {kernel.envs[idx].env_id:08x}: directory {ppn:#x} "
                            "outside physical memory")
            continue
        mine = _page(kernel, ppn)[_KERNEL_PDX] & ~_AD
        expect = boot.copy()
        expect[uvpt] = (ppn << PGSHIFT) | _PU
        for i in np.flatnonzero(mine != expect)[:4].tolist():
            problems.append(f"env {kernel.envs[idx].env_id:08x}: directory entry "
                            f"{PDX(UTOP) + i:#x} is {int(mine[i]):#010x}, boot has "
                            f"{int(expect[i]):#010x}")
    seen = [ppn for _idx, ppn in dirs]
    if len(set(seen)) != len(seen):
        problems.append("two envs share a page directory")
    return problems


def _user_refs(kernel: Kernel) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(references per frame from env directories and user PTEs, frames used
    as user page tables or directories, frames named outside memory)."""
    npages = kernel.pmap.npages
    refs = np.zeros(npages, dtype=np.int64)
    tables = np.zeros(npages, dtype=bool)
    mapped: list[np.ndarray] = []
    wild: list[int] = []
    for _idx, dppn in _env_dirs(kernel):
        if dppn >= npages:
            continue
        refs[dppn] += 1
        tables[dppn] = True
        pdes = _page(kernel, dppn)[:PDX(UTOP)]
        for pde in pdes[(pdes & PTE_P) != 0].tolist():
            tppn = pde >> PGSHIFT
            if tppn >= npages:
                wild.append(tppn)
                continue
            refs[tppn] += 1
            tables[tppn] = True
            ptes = _page(kernel, tppn)
            mapped.append(ptes[(ptes & PTE_P) != 0] >> PGSHIFT)
    if mapped:
        frames = np.concatenate(mapped).astype(np.int64)
        refs += np.bincount(frames[frames < npages], minlength=npages)[:npages]
        wild += frames[frames >= npages].tolist()
    return refs, tables, wild


def _kernel_refs(kernel: Kernel) -> np.ndarray:
    """The kernel's own references: every boot page, and every frame above the
    boot pages that the boot tables map to users (the trampoline)."""
    pmap = kernel.pmap
    refs = np.zeros(pmap.npages, dtype=np.int64)
    refs[:pmap.boot_pages] = 1
    for tppn in _kernel_tables(kernel):
        ptes = _page(kernel, tppn)
        user = ptes[(ptes & _PU) == _PU] >> PGSHIFT
        user = user[(user >= pmap.boot_pages) & (user < pmap.npages)].astype(np.int64)
        np.add.at(refs, user, 1)
    return refs


def _pp_refs(kernel: Kernel) -> np.ndarray:
    """pages[].pp_ref, as a copy of wider integers to compare with counts."""
    return kernel.pmap.pp_refs().astype(np.int64)


def _check_refs(kernel: Kernel, free: np.ndarray) -> list[str]:
    """pp_ref against the references; a page neither referenced nor free is leaked."""
    user, tables, wild = _user_refs(kernel)
    problems = [f"a user mapping names frame {f:#x}, outside physical memory" for f in wild[:4]]
    expect = user + _kernel_refs(kernel)
    have = _pp_refs(kernel)
    bad = [f"page {ppn:#x}: pp_ref {int(have[ppn])}, {int(expect[ppn])} references"
           for ppn in np.flatnonzero(have != expect).tolist()]
    bad += [f"page {ppn:#x} is leaked: not free and not referenced"
            for ppn in np.flatnonzero((expect == 0) & ~free).tolist()]
    problems += _limited(bad)
    # A user PTE that maps a table or directory lets its env rewrite mappings.
    exposed = []
    for _idx, dppn in _env_dirs(kernel):
        if dppn >= kernel.pmap.npages:
            continue
        for pde in _page(kernel, dppn)[:PDX(UTOP)].tolist():
            if not pde & PTE_P or pde >> PGSHIFT >= kernel.pmap.npages:
                continue
            ptes = _page(kernel, pde >> PGSHIFT)
            frames = ptes[(ptes & PTE_P) != 0] >> PGSHIFT
            frames = frames[frames < kernel.pmap.npages]
            hit = frames[tables[frames] | (frames < kernel.pmap.boot_pages)]
            exposed += [f"page {int(f):#x} (a page table, directory or kernel page) is "
                        "mapped by a user PTE" for f in hit.tolist()]
    return problems + _limited(exposed)


def _check_free_list(kernel: Kernel) -> tuple[list[str], np.ndarray]:
    """(problems of the free list, which pages are on it).

    The lists are followed with numpy by pointer doubling (a walk of 2**k
    links after k rounds), so the check costs a few milliseconds however
    much memory there is; each page's pp_link is read once."""
    pmap = kernel.pmap
    npages = pmap.npages
    size = ctypes.sizeof(PageInfo)
    links = pmap.pp_links().astype(np.int64)
    rel = links - (KERNBASE + pmap.pages_pa)
    ok_link = (links == 0) | ((rel % size == 0) & (rel > 0) & (rel < npages * size))
    nxt = np.where(ok_link & (links != 0), rel // size, 0)  # page 0: the end of a list
    problems: list[str] = []
    on_list = np.zeros(npages, dtype=bool)
    for head in pmap.free_heads():
        if not head:
            continue
        if not 0 < head < npages:
            problems.append(f"free list holds page {head:#x}, outside the allocatable pages")
            continue
        seen, cycle = _reachable(nxt, head)
        if cycle:
            problems.append(f"free list from page {head:#x} has a cycle")
        if (seen & on_list).any():
            problems.append(f"free lists share page {int(np.flatnonzero(seen & on_list)[0]):#x}")
        on_list |= seen
    low = np.flatnonzero(on_list[: pmap.boot_pages])
    problems += [f"free list holds page {int(p):#x}, outside the allocatable pages" for p in low]
    on_list[: pmap.boot_pages] = False
    refs = pmap.pp_refs()
    problems += _limited([f"free page {int(p):#x} has pp_ref {int(refs[p])}"
                          for p in np.flatnonzero(on_list & (refs != 0))])
    problems += _limited([f"free page {int(p):#x} links to {int(links[p]):#010x}, not a PageInfo"
                          for p in np.flatnonzero(on_list & ~ok_link)])
    n = int(on_list.sum())
    if n != pmap.nfree:
        problems.append(f"free list has {n} pages, nfree says {pmap.nfree}")
    stray = np.flatnonzero(~on_list & (links != 0) & (np.arange(npages) != 0))
    problems += _limited([f"page {int(p):#x} is not free but has pp_link set"
                          for p in stray.tolist()])
    return problems, on_list


def _reachable(nxt: np.ndarray, head: int) -> tuple[np.ndarray, bool]:
    """(the pages of the list from head, True if it never ends): pointer
    doubling over nxt, where page 0 ends a list."""
    seen = np.zeros(len(nxt), dtype=bool)
    seen[head] = True
    jump = nxt.copy()
    jump[0] = 0
    for _ in range(max(1, len(nxt).bit_length())):
        seen[jump[seen]] = True  # the pages 2**k further on from each one seen
        jump = jump[jump]
    seen[0] = False
    return seen, bool(jump[head])
