"""Event counters: every kernel event, globally and per env.

Names are stable keys of ``pyjos run --stats-json`` and of the benchmarks:
``traps.<kind>``, ``syscalls.<name>``, ``page_faults``, ``upcalls``,
``pages_allocated``, ``pages_freed``, ``pages_copied``, ``pte_writes``,
``pt_pages_allocated`` (page-table pages made, by pgdir_walk or sys_fork),
``pt_shared``/``pt_copied`` (page tables on-demand fork shared, and copied
on their first change; odf.py),
``tlb_flushes``, ``env_switches``, ``traps.timer`` (time slices that ran out),
``guest_blocks`` (guest basic blocks executed, charged to the env that ran
them; only with the native timer), ``kernel_page_copies`` (pages the kernel
copied itself), ``cow_reuses`` (copy-on-write resolved by the kernel
without a copy), ``cow_faults_in_kernel`` (--cow-faults kernel),
``fork.calls``/``fork.traps``/``fork.syscalls`` (fork episodes, syscall.py).

``pages_copied`` counts copy-on-write copies however they were made: a
mapping of a new frame with PTE_W replacing a PTE_COW mapping at the same va
(what the user-level pgfault handler does after copying in ring 3), plus any
page the kernel copies itself.
"""

from __future__ import annotations

from collections import defaultdict


class Stats:
    """Global and per-env event counts.  ``owner`` is the env charged."""

    def __init__(self) -> None:
        self.per_env: dict[int, defaultdict[str, int]] = {}
        self._mine = self._counts_of(0)
        self._owner = 0

    def reset(self) -> None:
        """Forget every count (after boot, so a run counts only its own events)."""
        self.per_env.clear()
        self._mine = self._counts_of(self._owner)

    def _counts_of(self, envid: int) -> defaultdict[str, int]:
        counts = self.per_env.get(envid)
        if counts is None:
            counts = self.per_env[envid] = defaultdict(int)
        return counts

    @property
    def owner(self) -> int:
        """The env id that events are charged to (0: the kernel itself)."""
        return self._owner

    def set_owner(self, envid: int) -> None:
        """Charge the following events to env envid."""
        if envid != self._owner:
            self._owner = envid
            counts = self.per_env.get(envid)
            self._mine = counts if counts is not None else self._counts_of(envid)

    def bump(self, name: str, n: int = 1) -> None:
        """Count n events of kind name for the owner."""
        self._mine[name] += n

    @property
    def total(self) -> dict[str, int]:
        """Counts summed over every env (and the kernel's own, owner 0)."""
        out: defaultdict[str, int] = defaultdict(int)
        for counts in self.per_env.values():
            for name, n in counts.items():
                out[name] += n
        return dict(out)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: {"total": {...}, "per_env": {"00001000": {...}}}."""
        return {
            "total": dict(sorted(self.total.items())),
            "per_env": {f"{k:08x}": dict(sorted(v.items()))
                        for k, v in sorted(self.per_env.items()) if v},
        }
