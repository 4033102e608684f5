"""Who maps each physical frame: the user mappings of the live envs, by frame.

The kernel keeps no reverse map (JOS has none: ``pp_ref`` only counts).  The
monitor's ``vm``, the memory picture (tools/memview.py), the trace's
shared-frames counter and the Python API read one here, built on demand from
the page tables themselves, a page-table page at a time with numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..abi import PDX, PGSHIFT, PTE_P, UTOP

if TYPE_CHECKING:
    from .kernel import Kernel

_USER_PDES = PDX(UTOP)


class Mapping(NamedTuple):
    """One present user page: env index, va, frame number, PTE bits (low 12)."""

    env: int
    va: int
    ppn: int
    perm: int


def env_mappings(k: Kernel, idx: int) -> list[Mapping]:
    """Every present page of env idx below UTOP, in address order."""
    buf = k.pmap.mem.buf
    pgdir = k.envtab.pgdir(idx)
    pdes = np.frombuffer(buf, dtype=np.uint32, count=_USER_PDES, offset=pgdir)
    out: list[Mapping] = []
    for pdx in np.flatnonzero(pdes & PTE_P).tolist():
        table = np.frombuffer(buf, dtype=np.uint32, count=1024,
                              offset=int(pdes[pdx]) & ~0xFFF)
        present = np.flatnonzero(table & PTE_P)
        base = pdx << 22
        for ptx, pte in zip(present.tolist(), table[present].tolist(), strict=True):
            out.append(Mapping(idx, base | (ptx << 12), pte >> PGSHIFT, pte & 0xFFF))
    return out


def frame_mappers(k: Kernel) -> dict[int, list[Mapping]]:
    """frame number -> the mappings of it, over every live env (env order)."""
    out: dict[int, list[Mapping]] = {}
    for idx in k.envtab.live():
        for m in env_mappings(k, idx):
            out.setdefault(m.ppn, []).append(m)
    return out


def shared_frames(mappers: dict[int, list[Mapping]]) -> int:
    """How many frames two or more envs map."""
    return sum(1 for maps in mappers.values() if len({m.env for m in maps}) > 1)


def pp_ref(k: Kernel, ppn: int) -> int:
    """The frame's reference count (pages[ppn].pp_ref)."""
    return k.pmap.pages[ppn].pp_ref
