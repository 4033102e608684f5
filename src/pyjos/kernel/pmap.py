"""Physical page management and x86 page tables (JOS's kern/pmap.c).

Physical pages are numbered by ppn (physical address >> 12).  ``pages[]``, one
``PageInfo`` per physical page, lives in guest memory and is mapped read-only
to users at UPAGES; the free list is threaded through ``pp_link`` as kernel
virtual addresses of PageInfo entries, as in JOS.

Page directories and tables are real x86 structures in guest memory that the
CPU walks.  The kernel edits them with plain memory writes and keeps every
CPU's TLB honest: changing or removing a present mapping marks stale the TLB
of each CPU whose loaded directory it belongs to (``mark_stale``), and the trap
tail flushes it before that CPU runs user code again.

Physical memory at boot::

    page 0        GDT and ring-3 entry stub (machine.py)
    kern_pgdir    the boot page directory; its entries at and above UTOP are
                  copied into every env's directory
    kernel PTs    KERNBASE -> physical memory (supervisor only), UPAGES, UENVS
    pages[]       npages * 8 bytes
    envs[]        NENV * 124 bytes
    ...           free pages
"""

from __future__ import annotations

import ctypes
import struct
from typing import TYPE_CHECKING

from ..abi import (
    E_FAULT, E_NO_MEM, KERNBASE, NENV, NPDENTRIES, PDX, PGSHIFT, PGSIZE, PTE_ADDR, PTE_COW,
    PTE_P, PTE_SYSCALL, PTE_U, PTE_W, PTSIZE, PTX, ROUNDUP, UENVS, UPAGES, UTOP, UVPT, Env,
    PageInfo,
)
from ..machine import PhysMem
from .events import Events

if TYPE_CHECKING:
    from .cpu import Cpu

_U32 = struct.Struct("<I")
PP_REF_MAX = 0xFFFF  # pp_ref is 16 bits (struct PageInfo): a mapping past this fails
_DIR_BITS = PTE_W | PTE_U  # directory bits that limit every page under the entry


class Pmap:
    """The physical page allocator and page-table editor."""

    def __init__(self, mem: PhysMem, events: Events, cpus: list[Cpu]) -> None:
        self.mem = mem
        self.events = events
        self.cpus = cpus  # every CPU, for TLB and translated-code coherence
        self.npages = self.mem.size // PGSIZE
        self._next_boot = PGSIZE  # page 0 is the boot page
        self.kern_pgdir = self._boot_alloc(PGSIZE)
        self.pages_pa = self._boot_alloc(self.npages * ctypes.sizeof(PageInfo))
        self.envs_pa = self._boot_alloc(NENV * ctypes.sizeof(Env))
        self.pages = (PageInfo * self.npages).from_buffer(self.mem.buf, self.pages_pa)
        self._free_head = 0  # ppn of the first free page, 0 = empty list
        self.nfree = 0
        self._map_kernel()
        self._page_init()

    # --- boot --------------------------------------------------------------------
    def _boot_alloc(self, n: int) -> int:
        """Physical address of n bytes (page-rounded) of boot memory."""
        pa = self._next_boot
        self._next_boot = ROUNDUP(pa + n, PGSIZE)
        if self._next_boot > self.mem.size:
            raise MemoryError("physical memory too small for the kernel's tables")
        return pa

    def _boot_map(self, va: int, size: int, pa: int, perm: int) -> None:
        """Map [va, va+size) to [pa, pa+size) in kern_pgdir with boot page tables."""
        mem = self.mem
        for off in range(0, size, PGSIZE):
            pde_pa = self.kern_pgdir + PDX(va + off) * 4
            if not mem.read32(pde_pa) & PTE_P:
                mem.write32(pde_pa, self._boot_alloc(PGSIZE) | PTE_P | PTE_W | PTE_U)
            pt = PTE_ADDR(mem.read32(pde_pa))
            mem.write32(pt + PTX(va + off) * 4, (pa + off) | perm | PTE_P)

    def _map_kernel(self) -> None:
        size = self.mem.size
        self._boot_map(UPAGES, ROUNDUP(self.npages * ctypes.sizeof(PageInfo), PGSIZE),
                       self.pages_pa, PTE_U)
        self._boot_map(UENVS, ROUNDUP(NENV * ctypes.sizeof(Env), PGSIZE), self.envs_pa, PTE_U)
        self._boot_map(KERNBASE, size, 0, PTE_W)
        self.mem.write32(self.kern_pgdir + PDX(UVPT) * 4, self.kern_pgdir | PTE_P | PTE_U)

    def _page_init(self) -> None:
        """Put every page above the boot allocations on the free list, lowest first."""
        first_free = self._next_boot >> PGSHIFT
        for ppn in range(first_free):
            self.pages[ppn].pp_ref = 1  # the kernel's own pages
        for ppn in range(self.npages - 1, first_free - 1, -1):
            self._push_free(ppn)
        self.boot_pages = first_free

    def _pageinfo_kva(self, ppn: int) -> int:
        return KERNBASE + self.pages_pa + ppn * ctypes.sizeof(PageInfo)

    def _push_free(self, ppn: int) -> None:
        self.pages[ppn].pp_link = self._pageinfo_kva(self._free_head) if self._free_head else 0
        self._free_head = ppn
        self.nfree += 1

    # --- allocation ------------------------------------------------------------
    def page_alloc(self, zero: bool = True) -> int | None:
        """Take a page off the free list (pp_ref stays 0); None if none is free."""
        ppn = self._free_head
        if not ppn:
            return None
        info = self.pages[ppn]
        link = info.pp_link
        self._free_head = (link - KERNBASE - self.pages_pa) // ctypes.sizeof(PageInfo) if link else 0
        info.pp_link = 0
        self.nfree -= 1
        if zero:
            self.mem.zero_page(ppn << PGSHIFT)
        self.events.count("pages_allocated", 1, ppn)
        return ppn

    def page_free(self, ppn: int) -> None:
        """Return a page with pp_ref 0 to the free list."""
        info = self.pages[ppn]
        if info.pp_ref or info.pp_link:
            raise AssertionError(f"page_free of page {ppn:#x} still in use")
        self._push_free(ppn)
        self.events.count("pages_freed", 1, ppn)

    def page_decref(self, ppn: int) -> None:
        """Drop one reference; free the page when none is left."""
        info = self.pages[ppn]
        info.pp_ref -= 1
        if info.pp_ref == 0:
            self.page_free(ppn)

    def free_list_length(self) -> int:
        """Walk the guest free list (for checks; nfree is the fast answer)."""
        n, ppn = 0, self._free_head
        while ppn:
            n += 1
            link = self.pages[ppn].pp_link
            ppn = (link - KERNBASE - self.pages_pa) // ctypes.sizeof(PageInfo) if link else 0
        return n

    # --- page tables -------------------------------------------------------------
    def pgdir_walk(self, pgdir: int, va: int, create: bool) -> int | None:
        """Physical address of va's PTE in pgdir, creating its table if asked.

        Returns None when the table is absent and create is false, or when no
        page is free for a new table.
        """
        mem = self.mem
        pde_pa = pgdir + PDX(va) * 4
        pde = _U32.unpack_from(mem.buf, pde_pa)[0]
        if not pde & PTE_P:
            if not create:
                return None
            ppn = self.page_alloc()
            if ppn is None:
                return None
            self.pages[ppn].pp_ref += 1
            pde = (ppn << PGSHIFT) | PTE_P | PTE_W | PTE_U
            _U32.pack_into(mem.buf, pde_pa, pde)
        return (pde & ~0xFFF) + PTX(va) * 4

    def pte(self, pgdir: int, va: int) -> int:
        """The PTE for va with its effective permissions, as the CPU sees them
        (0 when its page table is absent): PTE_W and PTE_U stay only if the
        directory entry has them too, and PTE_COW only if it has PTE_W.  So a
        "page" of the read-only UVPT self-map is never writable here."""
        pde = _U32.unpack_from(self.mem.buf, pgdir + PDX(va) * 4)[0]
        if not pde & PTE_P:
            return 0
        pte = _U32.unpack_from(self.mem.buf, (pde & ~0xFFF) + PTX(va) * 4)[0]
        if ~pde & _DIR_BITS:
            pte &= ~(~pde & _DIR_BITS) & ~(0 if pde & PTE_W else PTE_COW)
        return pte

    def write_pte(self, pgdir: int, pte_pa: int, value: int) -> None:
        """Store a PTE, marking the TLB stale if a live translation changed."""
        buf = self.mem.buf
        old = _U32.unpack_from(buf, pte_pa)[0]
        _U32.pack_into(buf, pte_pa, value)
        self.events.bump("pte_writes")
        if old & PTE_P:
            self.mark_stale(pgdir)

    def mark_stale(self, pgdir: int) -> None:
        """A live translation of pgdir changed: every CPU that has it loaded
        must flush its TLB before running user code."""
        for cpu in self.cpus:
            if cpu.pgdir == pgdir:
                cpu.tlb_stale = True

    def page_insert(self, pgdir: int, ppn: int, va: int, perm: int) -> int:
        """Map page ppn at va with perm|PTE_P, replacing any old mapping.

        Returns 0, or -E_NO_MEM when a page table cannot be allocated or the
        page already has PP_REF_MAX references (pp_ref would wrap).
        """
        pte_pa = self.pgdir_walk(pgdir, va, create=True)
        if pte_pa is None:
            return -E_NO_MEM
        buf = self.mem.buf
        old = _U32.unpack_from(buf, pte_pa)[0]
        if old & PTE_P and old >> PGSHIFT == ppn:  # same page, new permissions
            self.write_pte(pgdir, pte_pa, (ppn << PGSHIFT) | perm | PTE_P)
            return 0
        if self.pages[ppn].pp_ref >= PP_REF_MAX:
            return -E_NO_MEM
        self.pages[ppn].pp_ref += 1
        if old & PTE_P:
            if old & PTE_COW and perm & PTE_W and old >> PGSHIFT != ppn:
                self.events.count("pages_copied", 1, va, ppn)  # a copy-on-write copy lands
            self._drop(pgdir, pte_pa, old)
        self.write_pte(pgdir, pte_pa, (ppn << PGSHIFT) | perm | PTE_P)
        return 0

    def page_lookup(self, pgdir: int, va: int) -> tuple[int, int] | None:
        """(ppn, pte physical address) of the page mapped at va, or None."""
        pte_pa = self.pgdir_walk(pgdir, va, create=False)
        if pte_pa is None:
            return None
        pte = _U32.unpack_from(self.mem.buf, pte_pa)[0]
        if not pte & PTE_P:
            return None
        return pte >> PGSHIFT, pte_pa

    def page_remove(self, pgdir: int, va: int) -> None:
        """Unmap va (silently nothing if unmapped)."""
        pte_pa = self.pgdir_walk(pgdir, va, create=False)
        if pte_pa is None:
            return
        old = _U32.unpack_from(self.mem.buf, pte_pa)[0]
        if old & PTE_P:
            self._drop(pgdir, pte_pa, old)

    def _drop(self, pgdir: int, pte_pa: int, old: int) -> None:
        self.write_pte(pgdir, pte_pa, 0)
        self.page_decref(old >> PGSHIFT)

    def page_cow_break(self, pgdir: int, va: int) -> int:
        """Make the copy-on-write page at va private and writable in pgdir.

        Copies the page into a new frame, or, when no other mapping shares
        the frame (pp_ref 1), just makes it writable.  Returns 0; -E_FAULT if
        va holds no copy-on-write page; -E_NO_MEM if no page is free.
        """
        va = va & ~0xFFF
        pte_pa = self.pgdir_walk(pgdir, va, create=False)
        pte = _U32.unpack_from(self.mem.buf, pte_pa)[0] if pte_pa is not None else 0
        if not (pte & PTE_P and pte & PTE_COW):
            return -E_FAULT
        perm = (pte & PTE_SYSCALL & ~PTE_COW) | PTE_W
        ppn = pte >> PGSHIFT
        if self.pages[ppn].pp_ref == 1:
            self.write_pte(pgdir, pte_pa, (ppn << PGSHIFT) | perm)
            self.events.count("cow_reuses", 1, va)
            return 0
        return self.page_private_copy(pgdir, va, perm)

    def page_private_copy(self, pgdir: int, va: int, perm: int) -> int:
        """Map a new copy of the page mapped at va in pgdir in its place, with
        perm (the kernel copies the page).  Returns 0 or -E_NO_MEM."""
        va = va & ~0xFFF
        ppn = self.pte(pgdir, va) >> PGSHIFT
        new = self.page_alloc(zero=False)
        if new is None:
            return -E_NO_MEM
        self.mem.copy_page(new << PGSHIFT, ppn << PGSHIFT)
        self.events.count("kernel_page_copies", 1, va, new)
        r = self.page_insert(pgdir, new, va, perm)  # counts pages_copied
        if r == 0:
            self.code_changed(pgdir, va)
        return r

    def code_changed(self, pgdir: int, va: int) -> None:
        """The kernel rewrote the frame now mapped at va in pgdir: host-side
        writes do not invalidate code translated from its old contents, so
        every CPU drops it, through the user mapping where pgdir is loaded
        (see Machine.invalidate_code), else all of its translated code."""
        for cpu in self.cpus:
            if cpu.pgdir == pgdir:
                cpu.flush_tlb_if_stale()
                cpu.machine.invalidate_code(va, PGSIZE)
            else:
                cpu.machine.tb_flush()

    def drop_translations(self) -> None:
        """Every CPU forgets all translated code (frames were reloaded with code)."""
        for cpu in self.cpus:
            cpu.machine.tb_flush()

    def unload_pgdir(self, pgdir: int) -> None:
        """Every CPU that has pgdir loaded loads the kernel's directory instead
        (before pgdir is freed)."""
        for cpu in self.cpus:
            if cpu.pgdir == pgdir:
                cpu.switch_pgdir(self.kern_pgdir)

    # --- user memory ---------------------------------------------------------------
    def user_pages(self, pgdir: int) -> list[tuple[int, int]]:
        """(va, pte) of every present page below UTOP, in address order."""
        mem = self.mem
        out = []
        for pdx in range(PDX(UTOP)):
            pde = _U32.unpack_from(mem.buf, pgdir + pdx * 4)[0]
            if not pde & PTE_P:
                continue
            table = pde & ~0xFFF
            entries = struct.unpack_from("<1024I", mem.buf, table)
            for ptx, pte in enumerate(entries):
                if pte & PTE_P:
                    out.append(((pdx << 22) | (ptx << 12), pte))
        return out

    def free_user_tables(self, pgdir: int) -> None:
        """Unmap every user page below UTOP and free the page tables."""
        mem = self.mem
        for pdx in range(PDX(UTOP)):
            pde_pa = pgdir + pdx * 4
            pde = mem.read32(pde_pa)
            if not pde & PTE_P:
                continue
            table = PTE_ADDR(pde)
            for ptx, pte in enumerate(struct.unpack_from("<1024I", mem.buf, table)):
                if pte & PTE_P:
                    self._drop(pgdir, table + ptx * 4, pte)
            mem.write32(pde_pa, 0)
            self.page_decref(table >> PGSHIFT)

    def new_pgdir(self) -> int | None:
        """A page directory with the kernel's mappings above UTOP and UVPT self-map."""
        ppn = self.page_alloc()
        if ppn is None:
            return None
        self.pages[ppn].pp_ref += 1
        pa = ppn << PGSHIFT
        start = PDX(UTOP) * 4
        self.mem.view[pa + start : pa + PGSIZE] = self.mem.view[
            self.kern_pgdir + start : self.kern_pgdir + PGSIZE]
        self.mem.write32(pa + PDX(UVPT) * 4, pa | PTE_P | PTE_U)
        return pa


assert NPDENTRIES * 4 == PGSIZE and PTSIZE == 1 << 22
