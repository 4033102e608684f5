"""Loading a program into an env (JOS's load_icode and env_create).

The ELF image's segments get fresh frames with per-segment permissions, the
stack page holds argc/argv as lib/entry.S expects, and, under ``--fork NAME``,
the program's ``pyjos_fork_strategy`` variable is set before it first runs.
"""

from __future__ import annotations

import struct

from ..abi import (
    FORK_STRATEGY_SYMBOL, PGSIZE, PTE_P, PTE_U, PTE_W, ROUNDDOWN, ROUNDUP, USTACKTOP, UTOP,
    fork_strategy,
)
from ..guest.elf import ElfImage, data_symbol
from .env import EnvTable
from .pmap import Pmap
from .vm import copyout_force

MAX_ARG_BYTES = PGSIZE // 2  # argv strings and pointers must fit in the stack page
_USER_RW = PTE_P | PTE_U | PTE_W


class LoadError(Exception):
    """A program could not be turned into an env (too big, bad arguments)."""


def load_icode(envtab: EnvTable, idx: int, image: ElfImage, argv: list[str]) -> None:
    """Map the program's segments and a stack holding argc/argv.

    Raises LoadError when memory runs out or the arguments are too long.
    """
    pmap = envtab.pmap
    perms: dict[int, int] = {}
    for seg in image.segments:
        if seg.memsz == 0:
            continue
        flag = PTE_U | PTE_P | (PTE_W if seg.writable else 0)
        for va in range(ROUNDDOWN(seg.vaddr, PGSIZE), ROUNDUP(seg.vaddr + seg.memsz, PGSIZE), PGSIZE):
            perms[va] = perms.get(va, 0) | flag
    pgdir = envtab.pgdir(idx)
    for va, perm in sorted(perms.items()):
        _map_new(pmap, pgdir, va, perm)
    for seg in image.segments:
        copyout_force(pmap, pgdir, seg.vaddr, seg.data)
    _map_new(pmap, pgdir, USTACKTOP - PGSIZE, PTE_U | PTE_W | PTE_P)
    tf = envtab.envs[idx].env_tf
    tf.tf_eip = image.entry
    tf.tf_esp = _push_args(pmap, pgdir, argv)
    pmap.drop_translations()  # the frames may hold stale translated code


def _map_new(pmap: Pmap, pgdir: int, va: int, perm: int) -> None:
    ppn = pmap.page_alloc()
    if ppn is None or pmap.page_insert(pgdir, ppn, va, perm) < 0:
        if ppn is not None:
            pmap.page_free(ppn)
        raise LoadError("out of memory loading the program (try a larger --mem)")


def _push_args(pmap: Pmap, pgdir: int, argv: list[str]) -> int:
    """Lay out argv strings, the argv array, then argv and argc; return esp.

    At entry [esp] = argc and [esp+4] = argv, as lib/entry.S expects.
    """
    blobs = [a.encode() + b"\0" for a in argv]
    strings = b"".join(blobs)
    size = len(strings) + 4 * (len(argv) + 3)
    if size > MAX_ARG_BYTES:
        raise LoadError(f"arguments too long ({size} bytes, at most {MAX_ARG_BYTES})")
    base = USTACKTOP - len(strings)
    copyout_force(pmap, pgdir, base, strings)
    ptrs, addr = [], base
    for blob in blobs:
        ptrs.append(addr)
        addr += len(blob)
    argv_va = ROUNDDOWN(base, 4) - 4 * (len(argv) + 1)
    copyout_force(pmap, pgdir, argv_va, struct.pack(f"<{len(argv) + 1}I", *ptrs, 0))
    sp = argv_va - 8
    copyout_force(pmap, pgdir, sp, struct.pack("<II", len(argv), argv_va))
    return sp


def set_fork_strategy(envtab: EnvTable, idx: int, elf: bytes, strategy: str) -> None:
    """Store the strategy into the program's pyjos_fork_strategy variable
    (lib/fork.c), which fork() reads; programs without fork() lack it."""
    found = data_symbol(elf, FORK_STRATEGY_SYMBOL)
    if found is None:
        return
    va, size = found
    if size != 4 or va % 4:
        raise LoadError(f"{FORK_STRATEGY_SYMBOL} at {va:#x} is {size} bytes, not an aligned int")
    pgdir = envtab.pgdir(idx)
    # The ELF chose va: it must lie in the program's own writable image.
    for page in range(ROUNDDOWN(va, PGSIZE), ROUNDUP(va + size, PGSIZE), PGSIZE):
        if page >= UTOP or page == USTACKTOP - PGSIZE \
                or (envtab.pmap.pte(pgdir, page) & _USER_RW) != _USER_RW:
            raise LoadError(f"address {va:#x} is not in a writable segment of the program")
    copyout_force(envtab.pmap, pgdir, va, struct.pack("<i", fork_strategy(strategy)))
