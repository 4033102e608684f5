"""User memory, in one place (xv6's vm.c): checks, copyin, copyout.

Every access the kernel makes to an env's memory by virtual address goes
through here: ``user_mem_check``/``user_mem_assert`` (JOS's checks of a
system call's pointers), ``copyin`` (read), ``copyout`` (write, copying a
copy-on-write page first), and ``copyout_force`` (the loader writing its
image, whatever the pages' permissions).  All walk the range page by page
with ``_chunks``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..abi import E_FAULT, PGSIZE, PTE_COW, PTE_P, PTE_U, PTE_W, ULIM
from .env import env_destroy
from .pmap import Pmap

if TYPE_CHECKING:
    from .kernel import Kernel


def user_mem_check(pmap: Pmap, pgdir: int, va: int, length: int, perm: int) -> int | None:
    """None if [va, va+length) is mapped in pgdir with perm|PTE_P below ULIM;
    else the first bad va."""
    perm |= PTE_P
    end = va + length
    pte = pmap.pte
    for page in range(va & ~0xFFF, (end + 0xFFF) & ~0xFFF, PGSIZE):  # ROUNDDOWN, ROUNDUP
        if page >= ULIM or (pte(pgdir, page) & perm) != perm:
            return max(page, va)
    if end > ULIM:
        return max(ULIM, va)
    return None


def user_page_pa(pmap: Pmap, pgdir: int, va: int, length: int, perm: int) -> int | None:
    """The physical address of [va, va+length) (length >= 1) when it lies in
    one page that pgdir maps with perm|PTE_U|PTE_P below ULIM, so that
    user_mem_check accepts it and, with PTE_W, copyout writes straight there;
    None otherwise (then the caller takes the general path).  The page-fault
    upcall's fast path: one PTE read instead of a walk per check and copy."""
    end = va + length
    if va ^ (end - 1) >= PGSIZE or end > ULIM:
        return None
    perm |= PTE_U | PTE_P
    pte = pmap.pte(pgdir, va)
    if pte & perm != perm:
        return None
    return (pte & ~0xFFF) | (va & 0xFFF)


def user_mem_assert(k: Kernel, idx: int, va: int, length: int, perm: int) -> bool:
    """Like user_mem_check for env idx with PTE_U, but destroys the env (JOS's
    message) on failure; True if the range is good."""
    bad = user_mem_check(k.pmap, k.envtab.pgdir(idx), va, length, perm | PTE_U)
    if bad is None:
        return True
    k.cprintf(f"[{k.envs[idx].env_id:08x}] user_mem_check assertion failure for va {bad:08x}\n")
    env_destroy(k, idx)
    return False


def _chunks(pmap: Pmap, pgdir: int, va: int, length: int) -> Iterator[tuple[int, int, int, int]]:
    """(va, pte, offset into the range, bytes) for each page piece of
    [va, va+length); the pte is read as the piece is reached."""
    off = 0
    while off < length:
        n = min(PGSIZE - (va + off) % PGSIZE, length - off)
        yield va + off, pmap.pte(pgdir, va + off), off, n
        off += n


def _pa(pte: int, va: int) -> int:
    return (pte & ~0xFFF) + va % PGSIZE


def copyin(pmap: Pmap, pgdir: int, va: int, length: int) -> bytes:
    """Bytes of user memory (the range must be mapped: user_mem_check first)."""
    read = pmap.mem.read
    return b"".join(read(_pa(pte, at), n) for at, pte, _off, n in _chunks(pmap, pgdir, va, length))


def copyout(pmap: Pmap, pgdir: int, va: int, data: bytes) -> int:
    """Store data at user va.  Each page must be writable, or copy-on-write:
    then it becomes the env's own copy first (pmap.page_cow_break), so no
    byte lands in a frame shared with another env; a page table on-demand fork
    shares is made the env's own first (pmap.unshare_for_write).  Returns 0, -E_FAULT (a
    page neither writable nor copy-on-write) or -E_NO_MEM."""
    for at, pte, off, n in _chunks(pmap, pgdir, va, len(data)):
        if not pte & PTE_W and pmap.unshare_for_write(pgdir, at):  # on-demand fork's table
            pte = pmap.pte(pgdir, at)
        if not pte & PTE_W:
            if not pte & PTE_COW:
                return -E_FAULT
            r = pmap.page_cow_break(pgdir, at)
            if r < 0:
                return r
            pte = pmap.pte(pgdir, at)
        pmap.mem.write(_pa(pte, at), data[off:off + n])
    return 0


def copyout_force(pmap: Pmap, pgdir: int, va: int, data: bytes) -> None:
    """Store data at user va whatever the pages' permissions (the loader, before
    the env runs: its text is read-only to the env).  The range must be mapped."""
    for at, pte, off, n in _chunks(pmap, pgdir, va, len(data)):
        assert pte & PTE_P, f"copyout_force to unmapped va {at:#x}"
        pmap.mem.write(_pa(pte, at), data[off:off + n])
