"""Physical page management and x86 page tables (JOS's kern/pmap.c).

Physical pages are numbered by ppn (physical address >> 12).  ``pages[]``, one
``PageInfo`` per physical page, lives in guest memory and is mapped read-only
to users at UPAGES; the free list is threaded through ``pp_link`` as kernel
virtual addresses of PageInfo entries, as in JOS.  (With more than 256 MiB
there are two such lists, see below.)

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

Memory may exceed the 256 MiB that KERNBASE..4 GiB can map (up to
MAX_MEM).  As in JOS, KERNBASE maps physical memory from 0 up to 4 GiB
(supervisor only), so user accesses there stay protection faults; the frames
above that window are reached by the Python kernel directly, never through a
kernel virtual address.  Only page directories must stay inside the window,
because guests see envs[].env_pgdir as a JOS kernel pointer (and pp_link
points into pages[], a boot allocation).  So free pages below the window
and above it are on two lists: page_alloc takes from above first, and
new_pgdir from below; up to 256 MiB the second list is empty and allocation
is JOS's.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..abi import (
    E_FAULT, E_NO_MEM, KERNBASE, NENV, NPDENTRIES, PDX, PDXSHIFT, PGSHIFT, PGSIZE, PTE_ADDR,
    PTE_COW, PTE_D, PTE_P, PTE_SHARE, PTE_SYSCALL, PTE_U, PTE_W, PTSIZE, PTX, PTXSHIFT, ROUNDUP,
    UENVS, UPAGES, UTOP, UVPT, Env, PageInfo, offset_of,
)
from ..machine import PhysMem
from .events import Events

if TYPE_CHECKING:
    from .cpu import Cpu

_U32 = struct.Struct("<I")
PP_REF_MAX = 0xFFFF  # pp_ref is 16 bits (struct PageInfo): a mapping past this fails
_DIR_BITS = PTE_W | PTE_U  # directory bits that limit every page under the entry
_COW_MARK = PTE_P | PTE_W | PTE_SHARE  # writable entries to mark COW: present, W, not shared
PAGEINFO_SIZE = ctypes.sizeof(PageInfo)
# pages[] as 16-bit and 32-bit words: where pp_ref and pp_link are, and each entry's stride
_REF_AT, _REF_STRIDE = offset_of(PageInfo, "pp_ref") // 2, PAGEINFO_SIZE // 2
_LINK_AT, _LINK_STRIDE = offset_of(PageInfo, "pp_link") // 4, PAGEINFO_SIZE // 4
assert PAGEINFO_SIZE % 4 == offset_of(PageInfo, "pp_link") % 4 == 0
assert offset_of(PageInfo, "pp_ref") % 2 == 0
KERN_WINDOW = (1 << 32) - KERNBASE  # physical bytes KERNBASE..4 GiB can map
MAX_MEM = 1 << 30  # pages[] must fit in the 4 MiB at UPAGES; 1 GiB is 2 MiB of it
MIN_MEM = 4 << 20  # the kernel's own pages, and the machine's smallest memory


class Pmap:
    """The physical page allocator and page-table editor."""

    def __init__(self, mem: PhysMem, events: Events, cpus: list[Cpu]) -> None:
        self.mem = mem
        self.words = mem.words  # guest memory as 32-bit words (PTEs: words[pa >> 2])
        self.events = events
        self.cpus = cpus  # every CPU, for TLB and translated-code coherence
        self.npages = self.mem.size // PGSIZE
        self._next_boot = PGSIZE  # page 0 is the boot page
        self.kern_pgdir = self._boot_alloc(PGSIZE)
        self.pages_pa = self._boot_alloc(self.npages * ctypes.sizeof(PageInfo))
        self.envs_pa = self._boot_alloc(NENV * ctypes.sizeof(Env))
        self.pages = (PageInfo * self.npages).from_buffer(self.mem.buf, self.pages_pa)
        # pages[ppn].pp_ref is refs[ppn] and pages[ppn].pp_link is links[ppn]: the
        # hot paths' views (a ctypes field access costs ten times an element)
        table = self.mem.view[self.pages_pa:self.pages_pa + self.npages * PAGEINFO_SIZE]
        self.refs = table.cast("H")[_REF_AT::_REF_STRIDE]
        self.links = table.cast("I")[_LINK_AT::_LINK_STRIDE]
        self._views: dict[str, np.ndarray] = {}  # numpy views of pages[] fields
        # Heads (ppn, 0 = empty) of the free lists of pages below KERN_WINDOW
        # and above it (empty unless memory exceeds the window).
        self._heads = [0, 0]
        self._window_ppn = KERN_WINDOW >> PGSHIFT
        self.nfree = 0
        # Called as dirty_drop(pgdir, ppn) before a mapping whose PTE the
        # CPU marked dirty is dropped (unmapped or replaced): forks.py counts
        # dumb fork's copies there.  None: nothing to tell.
        self.dirty_drop: Callable[[int, int], None] | None = None
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
        self._boot_map(KERNBASE, min(size, KERN_WINDOW), 0, PTE_W)
        self.mem.write32(self.kern_pgdir + PDX(UVPT) * 4, self.kern_pgdir | PTE_P | PTE_U)

    def _page_init(self) -> None:
        """Put every page above the boot allocations on the free lists, lowest first."""
        first_free = self._next_boot >> PGSHIFT
        self.pp_refs()[:first_free] = 1  # the kernel's own pages
        self.boot_pages = first_free
        split = min(self._window_ppn, self.npages)
        for which, lo, hi in ((0, first_free, split), (1, split, self.npages)):
            self._push_free_all(np.arange(hi - 1, lo - 1, -1, dtype=np.intp), which)

    def _pageinfo_kva(self, ppn):
        """Kernel virtual address of pages[ppn] (an int or a uint32 array)."""
        return KERNBASE + self.pages_pa + ppn * PAGEINFO_SIZE

    def _link_ppn(self, link: int) -> int:
        """The ppn a pp_link value points at (0 for the end of the list)."""
        return (link - KERNBASE - self.pages_pa) // PAGEINFO_SIZE if link else 0

    # --- numpy views of guest memory -------------------------------------------------
    def u32(self, pa: int, count: int = 1024) -> np.ndarray:
        """A writable uint32 view of guest physical memory (a page table by default)."""
        return np.frombuffer(self.mem.buf, dtype=np.uint32, count=count, offset=pa)

    def pp_refs(self) -> np.ndarray:
        """pages[].pp_ref as a writable view, strided over struct PageInfo."""
        return self._pages_field("pp_ref")

    def pp_links(self) -> np.ndarray:
        """pages[].pp_link as a writable view, strided over struct PageInfo."""
        return self._pages_field("pp_link")

    def _pages_field(self, name: str) -> np.ndarray:
        view = self._views.get(name)
        if view is None:
            field = getattr(PageInfo, name)
            view = self._views[name] = np.ndarray(
                (self.npages,), dtype=f"<u{field.size}", buffer=self.mem.buf,
                offset=self.pages_pa + field.offset, strides=(PAGEINFO_SIZE,))
        return view

    def _push_free(self, ppn: int) -> None:
        which = int(ppn >= self._window_ppn)
        head = self._heads[which]
        self.links[ppn] = self._pageinfo_kva(head) if head else 0
        self._heads[which] = ppn
        self.nfree += 1

    # --- allocation ------------------------------------------------------------
    def page_alloc(self, zero: bool = True, low: bool = False) -> int | None:
        """Take a page off a free list (pp_ref stays 0); None if none is free.

        Pages above KERN_WINDOW go first; with low, only a page below it.
        """
        heads = self._heads
        which = 0 if low or not heads[1] else 1
        ppn = heads[which]
        if not ppn:
            return None
        heads[which] = self._link_ppn(self.links[ppn])
        self.links[ppn] = 0
        self.nfree -= 1
        if zero:
            self.mem.zero_page(ppn << PGSHIFT)
        self.events.count("pages_allocated", 1, ppn)
        return ppn

    def page_free(self, ppn: int) -> None:
        """Return a page with pp_ref 0 to the free list."""
        if self.refs[ppn] or self.links[ppn]:
            raise AssertionError(f"page_free of page {ppn:#x} still in use")
        self._push_free(ppn)
        self.events.count("pages_freed", 1, ppn)

    def page_decref(self, ppn: int) -> None:
        """Drop one reference; free the page when none is left."""
        left = self.refs[ppn] - 1
        self.refs[ppn] = left
        if left == 0:
            self.page_free(ppn)

    def free_heads(self) -> tuple[int, ...]:
        """The first ppn of each free list (below and above KERN_WINDOW; 0: empty)."""
        return tuple(self._heads)

    def free_list_length(self) -> int:
        """Walk the guest free list (for checks; nfree is the fast answer)."""
        n = 0
        for ppn in self._heads:
            while ppn:
                n += 1
                ppn = self._link_ppn(self.pages[ppn].pp_link)
        return n

    # --- page tables -------------------------------------------------------------
    def pgdir_walk(self, pgdir: int, va: int, create: bool) -> int | None:
        """Physical address of va's PTE in pgdir, creating its table if asked.

        The PTE is for changing: a page table that on-demand fork shares
        (odf.py: a user directory entry without PTE_W) is made this
        directory's own first (unshare_table).  Returns None when the table
        is absent and create is false, or when no page is free for a new (or
        unshared) table.
        """
        words = self.words
        pde_at = (pgdir >> 2) + (va >> PDXSHIFT)  # PDX(va), written out on this hot path
        pde = words[pde_at]
        if pde & PTE_P and not pde & PTE_W and va < UTOP:
            pde = self.unshare_table(pgdir, PDX(va))
            if pde is None:
                return None
        if not pde & PTE_P:
            if not create:
                return None
            ppn = self.page_alloc()
            if ppn is None:
                return None
            self.refs[ppn] += 1
            self.events.bump("pt_pages_allocated")
            pde = (ppn << PGSHIFT) | PTE_P | PTE_W | PTE_U
            words[pde_at] = pde
        return (pde & ~0xFFF) + ((va >> PTXSHIFT) & 0x3FF) * 4  # PTX(va)

    def unshare_for_write(self, pgdir: int, va: int) -> bool:
        """If va (below UTOP) lies under a page table that on-demand fork
        shares (a present user directory entry without PTE_W), make the table
        pgdir's own (unshare_table).  True if that was done."""
        if va >= UTOP:
            return False
        pdx = va >> PDXSHIFT  # PDX(va)
        pde = self.words[(pgdir >> 2) + pdx]
        if not pde & PTE_P or pde & PTE_W:
            return False
        return self.unshare_table(pgdir, pdx) is not None

    def unshare_table(self, pgdir: int, pdx: int) -> int | None:
        """Make the shared page table at pdx pgdir's own: copy it (one more
        reference to each frame in it, pt_copied) unless pgdir is its last
        user, then give the directory entry back PTE_W.  Returns the new
        directory entry, or None when no page is free for the copy."""
        pdes = self.u32(pgdir, PDX(UTOP))
        table = int(pdes[pdx]) & ~0xFFF
        refs = self.pp_refs()
        if refs[table >> PGSHIFT] > 1:
            ppn = self.page_alloc(zero=False)
            if ppn is None:
                return None
            ents = self.u32(table)
            # From now on two tables map these frames: the writable ones
            # become copy-on-write in both, as a fork would have made them.
            writable = (ents & _COW_MARK) == (PTE_P | PTE_W)
            nmarked = int(np.count_nonzero(writable))
            if nmarked:
                ents[writable] = (ents[writable] & ~np.uint32(PTE_W)) | PTE_COW
                self.events.bump("pte_writes", 2 * nmarked)
            self.u32(ppn << PGSHIFT)[:] = ents
            present = ents[(ents & PTE_P) != 0] >> PGSHIFT
            np.add.at(refs, present.astype(np.intp), 1)
            refs[table >> PGSHIFT] -= 1
            refs[ppn] += 1
            table = ppn << PGSHIFT
            self.events.bump("pt_copied")
            self.events.bump("pt_pages_allocated")
        pdes[pdx] = table | PTE_P | PTE_W | PTE_U
        self.mark_stale(pgdir)
        return table | PTE_P | PTE_W | PTE_U

    def pte(self, pgdir: int, va: int) -> int:
        """The PTE for va with its effective permissions, as the CPU sees them
        (0 when its page table is absent): PTE_W and PTE_U stay only if the
        directory entry has them too, and PTE_COW only if it has PTE_W.  So a
        "page" of the read-only UVPT self-map is never writable here."""
        words = self.words
        pde = words[(pgdir >> 2) + (va >> PDXSHIFT)]  # PDX(va)
        if not pde & PTE_P:
            return 0
        pte = words[((pde & ~0xFFF) >> 2) + ((va >> PTXSHIFT) & 0x3FF)]  # PTX(va)
        if ~pde & _DIR_BITS:
            pte &= ~(~pde & _DIR_BITS) & ~(0 if pde & PTE_W else PTE_COW)
        return pte

    def write_pte(self, pgdir: int, va: int, pte_pa: int, value: int) -> None:
        """Store va's PTE (at pte_pa in pgdir's tables), marking the TLB
        stale if a live translation changed."""
        words, at = self.words, pte_pa >> 2
        old = words[at]
        words[at] = value
        self.events.bump("pte_writes")
        if old & PTE_P:
            self.mark_stale(pgdir, va)

    def mark_stale(self, pgdir: int, va: int | None = None) -> None:
        """A live translation of pgdir changed (of the page at va; None: of
        any page): every CPU that has it loaded must flush it from its TLB
        before running user code (for a CPU other than the one being served,
        a TLB shootdown: ``tlb_shootdowns``)."""
        for cpu in self.cpus:
            if cpu.pgdir == pgdir:
                if cpu.num != self.events.cpu and not cpu.tlb_stale:
                    self.events.bump("tlb_shootdowns")  # another CPU's TLB
                cpu.mark_stale(va)

    def page_insert(self, pgdir: int, ppn: int, va: int, perm: int) -> int:
        """Map page ppn at va with perm|PTE_P, replacing any old mapping.

        Returns 0, or -E_NO_MEM when a page table cannot be allocated or the
        page already has PP_REF_MAX references (pp_ref would wrap).
        """
        pte_pa = self.pgdir_walk(pgdir, va, create=True)
        if pte_pa is None:
            return -E_NO_MEM
        old = self.words[pte_pa >> 2]
        if old & PTE_P and old >> PGSHIFT == ppn:  # same page, new permissions
            self.write_pte(pgdir, va, pte_pa, (ppn << PGSHIFT) | perm | PTE_P)
            return 0
        refs = self.refs
        if refs[ppn] >= PP_REF_MAX:
            return -E_NO_MEM
        refs[ppn] += 1
        if old & PTE_P:
            if old & PTE_COW and perm & PTE_W:
                self.events.count("pages_copied", 1, va, ppn)  # a copy-on-write copy lands
            self._drop(pgdir, va, pte_pa, old)
        self.write_pte(pgdir, va, pte_pa, (ppn << PGSHIFT) | perm | PTE_P)
        return 0

    def page_lookup(self, pgdir: int, va: int) -> tuple[int, int] | None:
        """(ppn, pte physical address) of the page mapped at va, or None."""
        pte_pa = self.pgdir_walk(pgdir, va, create=False)
        if pte_pa is None:
            return None
        pte = self.words[pte_pa >> 2]
        if not pte & PTE_P:
            return None
        return pte >> PGSHIFT, pte_pa

    def page_remove(self, pgdir: int, va: int) -> None:
        """Unmap va (silently nothing if unmapped)."""
        pte_pa = self.pgdir_walk(pgdir, va, create=False)
        if pte_pa is None:
            return
        old = self.words[pte_pa >> 2]
        if old & PTE_P:
            self._drop(pgdir, va, pte_pa, old)

    def _drop(self, pgdir: int, va: int, pte_pa: int, old: int) -> None:
        """Clear va's PTE `old` at pte_pa and release its frame (after telling
        dirty_drop if the CPU wrote through it)."""
        if old & PTE_D and self.dirty_drop is not None:
            self.dirty_drop(pgdir, old >> PGSHIFT)
        self.write_pte(pgdir, va, pte_pa, 0)
        self.page_decref(old >> PGSHIFT)

    def page_cow_break(self, pgdir: int, va: int) -> int:
        """Make the copy-on-write page at va private and writable in pgdir.

        Copies the page into a new frame, or, when no other mapping shares
        the frame (pp_ref 1), just makes it writable.  Returns 0; -E_FAULT if
        va holds no copy-on-write page; -E_NO_MEM if no page is free.
        """
        va = va & ~0xFFF
        pte_pa = self.pgdir_walk(pgdir, va, create=False)
        pte = self.words[pte_pa >> 2] if pte_pa is not None else 0
        if not (pte & PTE_P and pte & PTE_COW):
            return -E_FAULT
        perm = (pte & PTE_SYSCALL & ~PTE_COW) | PTE_W
        ppn = pte >> PGSHIFT
        if self.refs[ppn] == 1:
            self.write_pte(pgdir, va, pte_pa, (ppn << PGSHIFT) | perm)
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
        every CPU drops it, through that user mapping (see
        Machine.invalidate_code; Cpu.invalidate_code)."""
        for cpu in self.cpus:
            cpu.invalidate_code(pgdir, va, PGSIZE)

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
        """Unmap every user page below UTOP and free the page tables; a page
        table that on-demand fork shares only loses this directory's reference.

        The same work, counters and free-list order as dropping each PTE and
        then each table in address order (``_drop``, ``page_decref``), done
        with numpy over whole tables: a frame is freed at its last reference,
        so the frames whose every reference is here are pushed in the order of
        their last occurrence, each table right after its entries.
        """
        pdes = self.u32(pgdir, PDX(UTOP))
        tables = np.flatnonzero(pdes & PTE_P)
        if not len(tables):
            return
        drops, writes = [], 0
        refs = self.pp_refs()
        for pdx in tables.tolist():
            table = int(pdes[pdx]) & ~0xFFF
            if refs[table >> PGSHIFT] == 1:  # not shared (odf.py): drop its pages
                ents = self.u32(table)
                present = ents[(ents & PTE_P) != 0]
                writes += len(present)
                drops.append(present >> PGSHIFT)
                ents[:] = 0
            drops.append(np.array([table >> PGSHIFT], dtype=np.uint32))
        pdes[tables] = 0
        if writes:
            self.events.bump("pte_writes", writes)
            self.mark_stale(pgdir)
        self._decref_all(np.concatenate(drops).astype(np.intp))

    def _decref_all(self, seq: np.ndarray) -> None:
        """page_decref every ppn of seq, in order (a ppn may repeat)."""
        refs = self.pp_refs()
        last = len(seq) - 1 - np.unique(seq[::-1], return_index=True)[1]
        ppns = seq[last]
        counts = np.bincount(seq, minlength=self.npages)[ppns]
        if (refs[ppns] < counts).any():
            raise AssertionError("free_user_tables: a page's pp_ref is below its mappings")
        refs[ppns] -= counts.astype(np.uint16)
        freed = seq[np.sort(last[refs[ppns] == 0])]
        self._push_free_all(freed)
        if len(freed):
            self.events.bump("pages_freed", len(freed))

    def _push_free_all(self, ppns: np.ndarray, which: int | None = None) -> None:
        """page_free each page of ppns, in order (the last pushed is a new head);
        which names their free list when the caller knows it."""
        if which is None:
            high = ppns >= self._window_ppn
            self._push_free_all(ppns[~high], 0)
            self._push_free_all(ppns[high], 1)
            return
        if not len(ppns):
            return
        links = self.pp_links()
        if links[ppns].any():
            raise AssertionError("page_free of a page still on a free list")
        head = self._heads[which]
        links[ppns[0]] = self._pageinfo_kva(head) if head else 0
        links[ppns[1:]] = self._pageinfo_kva(ppns[:-1].astype(np.uint32))
        self._heads[which] = int(ppns[-1])
        self.nfree += len(ppns)

    def new_pgdir(self) -> int | None:
        """A page directory with the kernel's mappings above UTOP and UVPT self-map.

        It comes from below KERN_WINDOW, so that env_pgdir holds its JOS kernel
        virtual address; None when no such page is free.
        """
        ppn = self.page_alloc(low=True)
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
