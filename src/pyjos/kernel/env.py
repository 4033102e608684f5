"""Environments (JOS's kern/env.c): envs[] in guest memory, ids, loading.

``envs[]`` is an array of ``abi.Env`` laid over guest physical memory and
mapped read-only to users at UENVS, so ``thisenv->env_id`` works natively in
the guest.  The free list is threaded through ``env_link`` (kernel virtual
addresses), with the freed env pushed at the front as JOS does, so env ids and
their reuse match JOS exactly.

While an env runs, its registers live in the CPU; ``env_tf`` is written when
it stops running (``Kernel.save_frame``) and read when it resumes.
"""

from __future__ import annotations

import ctypes
import struct
from bisect import bisect_left, insort
from collections.abc import Callable

from ..abi import (
    E_BAD_ENV, E_NO_FREE_ENV, E_NO_MEM, ENV_TYPE_USER, FL_IF, GD_UD, GD_UT,
    KERNBASE, NENV, PGSHIFT, PGSIZE, PTE_P, PTE_U, PTE_W, ROUNDDOWN, ROUNDUP,
    USTACKTOP, UTOP, Env, EnvStatus,
)
from ..guest.elf import ElfImage
from .pmap import Pmap

ENVGENSHIFT = 12  # >= LOGNENV
_MAY_RUN = (EnvStatus.ENV_RUNNABLE, EnvStatus.ENV_RUNNING)
ENV_SIZE = ctypes.sizeof(Env)
MAX_ARG_BYTES = PGSIZE // 2  # argv strings and pointers must fit in the stack page


class LoadError(Exception):
    """A program could not be turned into an env (too big, bad arguments)."""


class EnvTable:
    """envs[], the env free list, and the operations of kern/env.c."""

    def __init__(self, pmap: Pmap, emit: Callable[[str], None]) -> None:
        self.pmap = pmap
        self.emit = emit
        array = (Env * NENV).from_buffer(pmap.mem.buf, pmap.envs_pa)
        # One ctypes view per slot, made once: indexing the array would build a
        # new view on every access.  Views hold no data of their own.
        self.envs: list[Env] = [array[i] for i in range(NENV)]
        self.curenv: int | None = None  # index of the running env
        self.runnable: list[int] = []  # sorted indexes of RUNNABLE and RUNNING envs (sched.py)
        self._free_head: int | None = None
        # Physical address of each env's page directory (env_pgdir holds its
        # JOS kernel virtual address, for guests; the kernel uses this).
        self._pgdir_pa = [0] * NENV
        for i in range(NENV - 1, -1, -1):
            self._push_free(i)

    # --- ids -----------------------------------------------------------------
    def kva(self, idx: int) -> int:
        """Kernel virtual address of envs[idx] (what JOS pointers hold)."""
        return KERNBASE + self.pmap.envs_pa + idx * ENV_SIZE

    def cur_id(self) -> int:
        """Id of the running env, 0 if none (the creator id JOS prints)."""
        return self.envs[self.curenv].env_id if self.curenv is not None else 0

    def envid2env(self, envid: int, checkperm: bool) -> tuple[int, int]:
        """(0, index) of the env named by envid, or (-E_BAD_ENV, -1).

        envid 0 is the current env.  With checkperm the env must be the
        current env or its immediate child.
        """
        if envid == 0:
            return 0, self.curenv
        idx = envid & (NENV - 1)
        e = self.envs[idx]
        if e.env_status == EnvStatus.ENV_FREE or e.env_id != envid:
            return -E_BAD_ENV, -1
        if checkperm and idx != self.curenv and e.env_parent_id != self.cur_id():
            return -E_BAD_ENV, -1
        return 0, idx

    def pgdir(self, idx: int) -> int:
        """Physical address of env idx's page directory."""
        return self._pgdir_pa[idx]

    def set_status(self, idx: int, status: EnvStatus) -> None:
        """Change an env's status; the one place that does (keeps `runnable`,
        the envs that may run: RUNNABLE or RUNNING)."""
        e = self.envs[idx]
        was, now = e.env_status in _MAY_RUN, status in _MAY_RUN
        if was and not now:
            del self.runnable[bisect_left(self.runnable, idx)]
        elif now and not was:
            insort(self.runnable, idx)
        e.env_status = status

    # --- life cycle --------------------------------------------------------------
    def _push_free(self, idx: int) -> None:
        self.envs[idx].env_link = self.kva(self._free_head) if self._free_head is not None else 0
        self._free_head = idx

    def env_alloc(self, parent_id: int) -> tuple[int, int]:
        """(0, index) of a new RUNNABLE env with an empty user address space.

        Errors: -E_NO_FREE_ENV when all NENV envs exist, -E_NO_MEM when no page
        is left for its page directory.
        """
        idx = self._free_head
        if idx is None:
            return -E_NO_FREE_ENV, -1
        pgdir = self.pmap.new_pgdir()
        if pgdir is None:
            return -E_NO_MEM, -1
        e = self.envs[idx]
        link = e.env_link
        self._free_head = (link - self.kva(0)) // ENV_SIZE if link else None
        generation = (e.env_id + (1 << ENVGENSHIFT)) & ~(NENV - 1) & 0x7FFFFFFF
        if generation <= 0:
            generation = 1 << ENVGENSHIFT
        ctypes.memset(ctypes.addressof(e), 0, ENV_SIZE)
        e.env_id = generation | idx
        e.env_parent_id = parent_id
        e.env_type = ENV_TYPE_USER
        e.env_pgdir = KERNBASE + pgdir  # new_pgdir keeps it below KERN_WINDOW
        self._pgdir_pa[idx] = pgdir
        tf = e.env_tf
        tf.tf_ds = tf.tf_es = tf.tf_ss = GD_UD | 3
        tf.tf_cs = GD_UT | 3
        tf.tf_esp = USTACKTOP
        tf.tf_eflags = FL_IF
        self.set_status(idx, EnvStatus.ENV_RUNNABLE)
        self.emit(f"[{self.cur_id():08x}] new env {e.env_id:08x}\n")
        return 0, idx

    def env_free(self, idx: int) -> None:
        """Release env idx's memory and return it to the free list."""
        e = self.envs[idx]
        self.emit(f"[{self.cur_id():08x}] free env {e.env_id:08x}\n")
        pmap = self.pmap
        pgdir = self.pgdir(idx)
        if pmap.current_pgdir == pgdir:
            pmap.switch_pgdir(pmap.kern_pgdir)
        pmap.free_user_tables(pgdir)
        pmap.page_decref(pgdir >> PGSHIFT)
        e.env_pgdir = 0
        self._pgdir_pa[idx] = 0
        self.set_status(idx, EnvStatus.ENV_FREE)
        if self.curenv == idx:
            self.curenv = None
        self._push_free(idx)

    def live(self) -> list[int]:
        """Indexes of every env that is not free."""
        return [i for i in range(NENV) if self.envs[i].env_status != EnvStatus.ENV_FREE]

    # --- loading -------------------------------------------------------------------
    def load_icode(self, idx: int, image: ElfImage, argv: list[str]) -> None:
        """Map the program's segments and a stack holding argc/argv.

        Raises LoadError when memory runs out or the arguments are too long.
        """
        perms: dict[int, int] = {}
        for seg in image.segments:
            if seg.memsz == 0:
                continue
            flag = PTE_U | PTE_P | (PTE_W if seg.writable else 0)
            for va in range(ROUNDDOWN(seg.vaddr, PGSIZE), ROUNDUP(seg.vaddr + seg.memsz, PGSIZE), PGSIZE):
                perms[va] = perms.get(va, 0) | flag
        pgdir = self.pgdir(idx)
        for va, perm in sorted(perms.items()):
            self._map_new(pgdir, va, perm)
        for seg in image.segments:
            self._copy_in(pgdir, seg.vaddr, seg.data)
        self._map_new(pgdir, USTACKTOP - PGSIZE, PTE_U | PTE_W | PTE_P)
        tf = self.envs[idx].env_tf
        tf.tf_eip = image.entry
        tf.tf_esp = self._push_args(pgdir, argv)
        self.pmap.machine.tb_flush()  # the frames may hold stale translated code

    def _map_new(self, pgdir: int, va: int, perm: int) -> None:
        ppn = self.pmap.page_alloc()
        if ppn is None or self.pmap.page_insert(pgdir, ppn, va, perm) < 0:
            if ppn is not None:
                self.pmap.page_free(ppn)
            raise LoadError("out of memory loading the program (try a larger --mem)")

    def copy_to_user(self, idx: int, va: int, data: bytes) -> None:
        """Write data at va in env idx's loaded image (before it runs)."""
        self._copy_in(self.pgdir(idx), va, data)

    def _copy_in(self, pgdir: int, va: int, data: bytes) -> None:
        """Write data at user va through pgdir (the pages are mapped)."""
        mem = self.pmap.mem
        off = 0
        while off < len(data):
            n = min(PGSIZE - (va + off) % PGSIZE, len(data) - off)
            ppn, _ = self.pmap.page_lookup(pgdir, va + off)
            pa = (ppn << PGSHIFT) + (va + off) % PGSIZE
            mem.write(pa, data[off : off + n])
            off += n

    def _push_args(self, pgdir: int, argv: list[str]) -> int:
        """Lay out argv strings, the argv array, then argv and argc; return esp.

        At entry [esp] = argc and [esp+4] = argv, as lib/entry.S expects.
        """
        blobs = [a.encode() + b"\0" for a in argv]
        strings = b"".join(blobs)
        size = len(strings) + 4 * (len(argv) + 3)
        if size > MAX_ARG_BYTES:
            raise LoadError(f"arguments too long ({size} bytes, at most {MAX_ARG_BYTES})")
        base = USTACKTOP - len(strings)
        self._copy_in(pgdir, base, strings)
        ptrs, addr = [], base
        for blob in blobs:
            ptrs.append(addr)
            addr += len(blob)
        argv_va = ROUNDDOWN(base, 4) - 4 * (len(argv) + 1)
        self._copy_in(pgdir, argv_va, struct.pack(f"<{len(argv) + 1}I", *ptrs, 0))
        sp = argv_va - 8
        self._copy_in(pgdir, sp, struct.pack("<II", len(argv), argv_va))
        return sp


assert UTOP % PGSIZE == 0 and ENV_SIZE == 124
