"""Fork episodes: what one fork costs its parent, whatever the strategy.

A fork runs from the parent's sys_exofork (or sys_fork) until the parent makes
that child RUNNABLE.  The kernel counts the traps the parent makes in between
(system calls and faults; not timer interrupts, which the fork does not
cause) and its system calls, the trap that begins the fork included:
counters ``fork.calls``, ``fork.traps``, ``fork.syscalls``.  ``log`` keeps
(traps, syscalls, wall seconds) of each fork in order (the time is not a
count: it differs from run to run).

A fork that copies pages itself (dumb fork: JOS's user/dumbfork.c, the
library's fork_dumb) does it through a window: the parent maps a new frame
that the child maps too, writes it, and unmaps it.  window_copy counts each
such page as copied (``pages_copied``) from the page tables alone, not from
what the program says: see its rule.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..abi import ENVX
from .events import Events
from .frames import frame_vas
from .stats import Stats

if TYPE_CHECKING:
    from .kernel import Kernel


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

    def window_copy(self, k: Kernel, pgdir: int, ppn: int) -> None:
        """A mapping of frame ppn in pgdir that the CPU marked dirty (PTE_D:
        written through since it was made) is being dropped (unmapped or
        replaced).  When pgdir is the directory of a parent forking a child,
        and the frame's one other reference is the child's mapping of it, the
        parent filled a page that from now on only the child holds: one page
        copied (``pages_copied``; args: the child's va, ppn).  A page it did
        not write, a frame it also maps elsewhere (the page fault handler's
        spare page), a page it keeps sharing (sfork), and any such write
        outside a fork do not count."""
        if not self.in_progress or k.pmap.pages[ppn].pp_ref != 2:
            return
        for child, (parent_id, *_counts) in self.in_progress.items():
            parent = ENVX(parent_id)
            if k.envs[parent].env_id == parent_id and k.envtab.pgdir(parent) == pgdir:
                vas = frame_vas(k, child, ppn)
                if vas:
                    self.events.count("pages_copied", 1, vas[0], ppn)
                    return
