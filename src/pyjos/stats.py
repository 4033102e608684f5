"""Event counters: every kernel event, globally and per env.

Names are stable keys of ``pyjos run --stats-json`` and of the benchmarks:
``traps.<kind>``, ``syscalls.<name>``, ``page_faults``, ``upcalls``,
``pages_allocated``, ``pages_freed``, ``pages_copied``, ``pte_writes``,
``tlb_flushes``, ``env_switches``, ``instructions`` (an upper bound per slice
when preemption is by block counting).
"""

from __future__ import annotations

from collections import Counter


class Stats:
    """Global and per-env event counts.  ``owner`` is the env charged."""

    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self.per_env: dict[int, Counter[str]] = {}
        self.owner = 0

    def bump(self, name: str, n: int = 1) -> None:
        """Count n events of kind name for the current owner."""
        self.total[name] += n
        env = self.per_env.get(self.owner)
        if env is None:
            env = self.per_env[self.owner] = Counter()
        env[name] += n

    def snapshot(self) -> dict[str, int]:
        """A copy of the global counts (for differences around a region)."""
        return dict(self.total)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: {"total": {...}, "per_env": {"00001000": {...}}}."""
        return {
            "total": dict(sorted(self.total.items())),
            "per_env": {f"{k:08x}": dict(sorted(v.items()))
                        for k, v in sorted(self.per_env.items())},
        }
