"""Who maps each physical frame: the user mappings of the live envs, by frame.

The kernel keeps no reverse map (JOS has none: ``pp_ref`` only counts).  The
monitor's ``vm``, the memory picture (tools/memview.py), the trace's
shared-frames counter and the Python API read one here, built on demand from
the page tables themselves, a page-table page at a time with numpy.
"""

from __future__ import annotations

import ctypes
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..abi import NENV, PDX, PGSHIFT, PTE_P, UTOP, Env, EnvStatus

if TYPE_CHECKING:
    from .kernel import Kernel

_USER_PDES = PDX(UTOP)
_ENV_WORDS = ctypes.sizeof(Env) // 4
assert ctypes.sizeof(Env) % 4 == 0 and Env.env_status.offset % 4 == 0


class Mapping(NamedTuple):
    """One present user page: env index, va, frame number, PTE bits (low 12)."""

    env: int
    va: int
    ppn: int
    perm: int


def _words(k: Kernel) -> np.ndarray:
    """All of physical memory as 32-bit words (one view per machine)."""
    mem = k.pmap.mem
    words = _WORDS.get(mem)
    if words is None:
        words = _WORDS[mem] = np.frombuffer(mem.buf, dtype=np.uint32)
    return words


_WORDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _user_tables(k: Kernel, idx: int) -> Iterator[tuple[int, np.ndarray]]:
    """(pdx, the 1024 entries as a numpy view) of each page table of env
    idx below UTOP, in address order."""
    words = _words(k)
    pd = k.envtab.pgdir(idx) >> 2
    pdes = words[pd:pd + _USER_PDES]
    for pdx in np.flatnonzero(pdes & PTE_P).tolist():
        pt = (int(pdes[pdx]) & ~0xFFF) >> 2
        yield pdx, words[pt:pt + 1024]


def env_mappings(k: Kernel, idx: int) -> list[Mapping]:
    """Every present page of env idx below UTOP, in address order."""
    out: list[Mapping] = []
    for pdx, table in _user_tables(k, idx):
        present = np.flatnonzero(table & PTE_P)
        base = pdx << 22
        for ptx, pte in zip(present.tolist(), table[present].tolist(), strict=True):
            out.append(Mapping(idx, base | (ptx << 12), pte >> PGSHIFT, pte & 0xFFF))
    return out


def frame_vas(k: Kernel, idx: int, ppn: int) -> list[int]:
    """The vas below UTOP at which env idx maps frame ppn, in address order."""
    out: list[int] = []
    for pdx, table in _user_tables(k, idx):
        hits = np.flatnonzero(((table & PTE_P) != 0) & ((table >> PGSHIFT) == ppn))
        out.extend((pdx << 22) | (ptx << 12) for ptx in hits.tolist())
    return out


def live_envs(k: Kernel) -> list[int]:
    """Indexes of the envs that are not free (EnvTable.live, read at once
    through a strided view of envs[].env_status)."""
    first = (k.pmap.envs_pa + Env.env_status.offset) >> 2
    status = _words(k)[first:first + NENV * _ENV_WORDS:_ENV_WORDS]
    return np.flatnonzero(status != EnvStatus.ENV_FREE).tolist()


def frame_mappers(k: Kernel) -> dict[int, list[Mapping]]:
    """frame number -> the mappings of it, over every live env (env order)."""
    out: dict[int, list[Mapping]] = {}
    for idx in live_envs(k):
        for m in env_mappings(k, idx):
            out.setdefault(m.ppn, []).append(m)
    return out


def shared_frames(mappers: dict[int, list[Mapping]]) -> int:
    """How many frames two or more envs map."""
    return sum(1 for maps in mappers.values() if len({m.env for m in maps}) > 1)


def pp_ref(k: Kernel, ppn: int) -> int:
    """The frame's reference count (pages[ppn].pp_ref)."""
    return k.pmap.pages[ppn].pp_ref




def multiply_referenced(k: Kernel) -> int:
    """How many frames have pp_ref > 1: mapped more than once (by two or more
    envs, in every program here), counted at once without a page-table walk."""
    return int(np.count_nonzero(k.pmap.pp_refs() > 1))
