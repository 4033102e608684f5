"""Kernel events: one registry of names, counted, and published to subscribers.

Every event the kernel reports has a name in ``EVENTS`` with a one-line
meaning.  Counted events (``counted=True``) are the counters of ``--stats``:
``Events.bump(name, n)`` adds n to the running env's count, and
``Events.count(name, n, *args)`` does the same with the event's arguments for
subscribers (two methods only for speed, see Stats.count).  The other
events (``emit``) exist only for subscribers: they mark moments (an env runs,
a system call returns) that a counter cannot hold.

Subscribers (a tracer, a debugger, the memory picture, a notebook) call
``subscribe(callback, names)``; each event then reaches ``callback(event)`` as
an ``Event(name, n, env, cpu, args)``.  While nobody subscribes, ``bump`` and
``count`` are the counters' own methods and ``emit`` does nothing, so watching
costs nothing until someone watches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from ..abi import Sys
from .stats import Stats


@dataclass(frozen=True)
class EventKind:
    """A registry entry: the event's meaning, and whether --stats counts it."""

    meaning: str
    counted: bool = True


def _syscall_events() -> dict[str, EventKind]:
    out = {f"syscalls.{num.name[4:]}": EventKind(f"system call sys_{num.name[4:]}") for num in Sys}
    out["syscalls.unknown"] = EventKind("system call with an unknown number (returns -E_INVAL)")
    return out


EVENTS: dict[str, EventKind] = {
    "traps.syscall": EventKind("trap: int $0x30 (a system call)"),
    "traps.page_fault": EventKind("trap: page fault (#PF)"),
    "traps.breakpoint": EventKind("trap: int3 (the monitor)"),
    "traps.exception": EventKind("trap: any other exception (the env is destroyed)"),
    "traps.fpu": EventKind("trap: #NM, the env's first x87/MMX/SSE instruction since another "
                           "env used its CPU's FPU (the lazy FPU switch, fpu.py)"),
    "traps.timer": EventKind("timer interrupt: a time slice ran out"),
    **_syscall_events(),
    "page_faults": EventKind("a user page fault reached the kernel; args: va, error code"),
    "upcalls": EventKind("a page fault was reflected to the env's upcall; args: va, "
                         "UTrapframe va"),
    "cow_faults_in_kernel": EventKind("--cow-faults kernel: the kernel resolved a write to a "
                                      "PTE_COW page; args: va"),
    "pages_allocated": EventKind("a physical page left the free list; args: ppn"),
    "pages_freed": EventKind("a physical page returned to the free list; args: ppn"),
    "pages_copied": EventKind("a page copied for an env: a copy-on-write copy landed (a new "
                              "writable frame replaced a PTE_COW mapping, or the kernel copied "
                              "a page), or a forking parent dropped a mapping it had written "
                              "(PTE_D) of a frame only its child maps besides (dumb fork's copy, "
                              "forks.py); args: va, ppn"),
    "kernel_page_copies": EventKind("the kernel copied a page itself; args: va, new ppn"),
    "cow_reuses": EventKind("the kernel resolved copy-on-write without a copy (pp_ref 1); "
                            "args: va"),
    "pte_writes": EventKind("page-table entries written"),
    "pt_pages_allocated": EventKind("page-table pages made (by pgdir_walk, sys_fork, or a copy "
                                    "of a shared table)"),
    "pt_shared": EventKind("page tables an on-demand fork shared between parent and child "
                           "(odf.py)"),
    "pt_copied": EventKind("shared page tables copied at their first change (odf.py)"),
    "tlb_flushes": EventKind("TLB flushes before user code ran again"),
    "tlb_shootdowns": EventKind("another CPU's TLB marked stale (a page-table change of the "
                                "directory it has loaded), flushed before it runs again"),
    "kernel_lock_contended": EventKind("kernel entries that would have waited for the big "
                                       "kernel lock (another CPU entered the kernel in the "
                                       "same round of sub-slices)"),
    "env_switches": EventKind("a CPU switched to another env; args: from env index "
                              "(None: none), to env index"),
    "guest_blocks": EventKind("guest basic blocks executed (native timer only), charged at "
                              "each switch to the env that ran them"),
    "fork.calls": EventKind("fork episodes: from sys_exofork/sys_fork until the parent made "
                            "the child runnable; args: child index, traps, syscalls, seconds"),
    "fork.traps": EventKind("traps of the parent during its fork episodes (not timer)"),
    "fork.syscalls": EventKind("system calls of the parent during its fork episodes"),
    # Not counted: moments, for subscribers only.
    "env_run": EventKind("an env starts or resumes running on a CPU; args: env index",
                         counted=False),
    "env_free": EventKind("an env is being freed (its pages still mapped); args: env index, "
                          "env id", counted=False),
    "fork_begin": EventKind("a fork episode began; args: child index", counted=False),
    "syscall_return": EventKind("a system call returned (each call of a batch too); args: "
                                "number, result", counted=False),
    "upcall_return": EventKind("an env's upcall returned to the faulting code, seen at the "
                               "env's first trap after it (its esp off the exception stack; "
                               "emitted only while watched); args: fault va", counted=False),
}

COUNTERS = tuple(name for name, kind in EVENTS.items() if kind.counted)


class Event(NamedTuple):
    """One published event: its name, count, the env charged (id; 0 = the
    kernel), the CPU it happened on, and its arguments."""

    name: str
    n: int
    env: int
    cpu: int
    args: tuple


Callback = Callable[[Event], None]


class Subscription:
    """A subscriber's handle: ``close()`` stops the callbacks."""

    def __init__(self, events: Events, callback: Callback, names: frozenset[str] | None) -> None:
        self._events, self.callback, self.names = events, callback, names

    def close(self) -> None:
        self._events._unsubscribe(self)


class Events:
    """The kernel's event bus; its counters are ``stats`` (stats.py)."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.cpu = 0  # the CPU the kernel is running for (set by the run loop)
        self._subs: list[Subscription] = []
        self.watched = False
        self._unwatched()

    def _unwatched(self) -> None:
        self.bump = self.stats.bump  # the fast path: counting only
        self.count = self.stats.count
        self.emit = _ignore
        self.watched = False

    def subscribe(self, callback: Callback, names: Iterable[str] | None = None) -> Subscription:
        """Call callback(event) for each event named in names (None: all)."""
        wanted = None if names is None else frozenset(names)
        unknown = sorted((wanted or set()) - set(EVENTS))
        if unknown:
            raise ValueError(f"unknown event(s): {', '.join(unknown)}")
        sub = Subscription(self, callback, wanted)
        self._subs.append(sub)
        self.bump = self.count = self._count_and_publish
        self.emit = self._publish
        self.watched = True
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        if not self._subs:
            self._unwatched()

    def _count_and_publish(self, name: str, n: int = 1, *args: object) -> None:
        self.stats.bump(name, n)
        self._deliver(name, n, args)

    def _publish(self, name: str, *args: object) -> None:
        self._deliver(name, 0, args)

    def _deliver(self, name: str, n: int, args: tuple) -> None:
        event = None
        for sub in tuple(self._subs):
            if sub.names is None or name in sub.names:
                if event is None:
                    event = Event(name, n, self.stats.owner, self.cpu, args)
                sub.callback(event)


def _ignore(_name: str, *_args: object) -> None:
    pass
