"""Cross-CPU coherence of translated code: the ctypes side of host/codewatch.c.

Each CPU is its own Unicorn instance with its own translated-code cache.  A
guest store drops the blocks it changes only in the storing CPU's cache
(QEMU watches its own stores), so another CPU would go on running the old
code.  With several CPUs every machine gets a `CodeWatch`: a block hook lists
the frames the CPU translated code from, each with a copy of its bytes, and
before the CPU runs again (`Machine.sync_code`) the frames whose bytes
changed are taken off the list and the CPU drops its blocks of them.  One
CPU needs none of this.
"""

from __future__ import annotations

import ctypes

from unicorn import UcError, unicorn_const as ucc
from unicorn.unicorn_py3.unicorn import uclib

from ..abi import PGSIZE

MAX_FRAMES = 256  # frames a CPU's list holds (1 MiB of copies); past that, all blocks go


class WatchState(ctypes.Structure):
    """struct pyjos_codewatch of host/codewatch.c."""

    _fields_ = [("mem", ctypes.c_void_p), ("mem_size", ctypes.c_uint64),
                ("pgdir", ctypes.c_uint32), ("max", ctypes.c_uint32),
                ("n", ctypes.c_uint32), ("overflow", ctypes.c_uint32),
                ("frames", ctypes.c_void_p), ("copies", ctypes.c_void_p),
                ("listed", ctypes.c_void_p), ("changed", ctypes.c_void_p),
                ("blocks", ctypes.c_uint64), ("dropped", ctypes.c_uint64)]


class CodeWatch:
    """The watch of one CPU (Unicorn handle uch, page directory pgdir now
    loaded) over guest memory at host address mem_address (mem_size bytes),
    with the hook of the shared object `helper` built from host/codewatch.c."""

    def __init__(self, helper: str, uch: int, mem_address: int, mem_size: int, pgdir: int,
                 max_frames: int = MAX_FRAMES) -> None:
        lib = ctypes.CDLL(helper)
        self._lib = lib
        state = self.state = WatchState()
        state.mem, state.mem_size, state.pgdir, state.max = mem_address, mem_size, pgdir, max_frames
        self._frames = (ctypes.c_uint32 * max_frames)()
        self._copies = ctypes.create_string_buffer(max_frames * PGSIZE)
        self._listed = (ctypes.c_uint8 * ((mem_size // PGSIZE + 7) // 8))()
        self._changed = (ctypes.c_uint32 * max_frames)()
        state.frames, state.copies = ctypes.addressof(self._frames), ctypes.addressof(self._copies)
        state.listed, state.changed = ctypes.addressof(self._listed), ctypes.addressof(self._changed)
        self._at = ctypes.addressof(state)
        self._check = ctypes.PYFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)(
            ctypes.cast(lib.pyjos_code_check, ctypes.c_void_p).value)
        self._forget = ctypes.PYFUNCTYPE(None, ctypes.c_void_p)(
            ctypes.cast(lib.pyjos_code_forget, ctypes.c_void_p).value)
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(ctypes.c_void_p(uch), ctypes.byref(handle),
                                   ucc.UC_HOOK_EDGE_GENERATED,
                                   ctypes.cast(lib.pyjos_code_block_hook, ctypes.c_void_p),
                                   ctypes.c_void_p(self._at), ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status:
            raise UcError(status)

    def loaded(self, pgdir: int) -> None:
        """The CPU loaded page directory pgdir into CR3."""
        self.state.pgdir = pgdir

    def take(self) -> list[int] | None:
        """The listed frames whose bytes changed since they were listed (the
        CPU must drop its blocks of them before it runs again), now off the
        list; None if a frame did not fit on the list: the CPU must drop all
        its blocks (Machine.tb_flush, which empties the list: forget)."""
        if self.state.overflow:
            return None
        n = self._check(self._at)
        return list(self._changed[:n]) if n else []

    def forget(self) -> None:
        """The CPU dropped all its translated code: empty the list."""
        self._forget(self._at)

    def frames(self) -> list[int]:
        """The frames on the list, in the order they joined it."""
        return list(self._frames[:self.state.n])

    def counts(self) -> dict[str, int]:
        """Blocks seen translated, and frames found changed."""
        return {"blocks": self.state.blocks, "dropped": self.state.dropped}
