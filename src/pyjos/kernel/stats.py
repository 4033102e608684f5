"""Event counters, globally and per env: the first consumer of events.py.

The names are the counted events of ``events.EVENTS`` (each with its meaning
there); they are the stable keys of ``pyjos run --stats-json`` and of the
benchmarks.  A count is charged to the env that was running (``owner``; 0 is
the kernel itself).
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

    def count(self, name: str, n: int, *_args: object) -> None:
        """bump, for a call site that gives the event's arguments (for
        subscribers, see events.py).  Two methods, because a function taking
        *args misses CPython's fast call path: the argument-less counts on
        the system-call path stay on it."""
        self._mine[name] += n

    def owner_counts(self) -> dict[str, int]:
        """The owner's counts so far."""
        return self._mine

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
