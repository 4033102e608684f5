"""Fork episodes: what one fork costs its parent, whatever the strategy.

A fork runs from the parent's sys_exofork (or sys_fork) until the parent makes
that child RUNNABLE.  The kernel counts the traps the parent makes in between
(system calls and faults; not timer interrupts, which the fork does not
cause) and its system calls, the trap that begins the fork included:
counters ``fork.calls``, ``fork.traps``, ``fork.syscalls``.  ``log`` keeps
(traps, syscalls, wall seconds) of each fork in order (the time is not a
count: it differs from run to run).
"""

from __future__ import annotations

import time

from .events import Events
from .stats import Stats


class ForkEpisodes:
    """The forks in progress and the log of finished ones."""

    def __init__(self, events: Events, stats: Stats) -> None:
        self.events = events
        self.stats = stats
        # child index -> (parent id, parent's traps, its syscalls, start time)
        self.in_progress: dict[int, tuple[int, int, int, float]] = {}
        self.log: list[tuple[int, int, float]] = []

    def _counts(self) -> tuple[int, int]:
        """(traps but timer interrupts, system calls) of the env charged now."""
        mine = self.stats.owner_counts()
        traps = sum(v for key, v in mine.items() if key.startswith("traps.") and key != "traps.timer")
        calls = sum(v for key, v in mine.items() if key.startswith("syscalls."))
        return traps, calls

    def begin(self, parent_id: int, child: int, start: float | None = None) -> None:
        """parent_id started making child at `start` (default: now); its
        current trap and call are part of the fork."""
        traps, calls = self._counts()
        when = time.perf_counter() if start is None else start
        self.in_progress[child] = (parent_id, traps - 1, calls - 1, when)
        self.events.emit("fork_begin", child)

    def end(self, parent_id: int, child: int) -> None:
        """child became runnable: if parent_id was making it, count the fork."""
        begun = self.in_progress.pop(child, None)
        if begun is None or begun[0] != parent_id:
            return
        seconds = time.perf_counter() - begun[3]
        traps, calls = self._counts()
        self.log.append((traps - begun[1], calls - begun[2], seconds))
        self.events.count("fork.calls", 1, child, traps - begun[1], calls - begun[2], seconds)
        self.events.bump("fork.traps", traps - begun[1])
        self.events.bump("fork.syscalls", calls - begun[2])

    def forget(self, child: int) -> None:
        """child was destroyed: a fork of it in progress ends uncounted."""
        self.in_progress.pop(child, None)
