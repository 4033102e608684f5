"""`pyjos run --trace FILE.json`: the kernel's events as a Chrome trace.

The trace-event JSON format is what Perfetto (ui.perfetto.dev) and
chrome://tracing open.  One process per CPU; in it a track (thread) per env,
named by env id and program, and track 0 for the kernel before any env runs.
From the event registry (kernel/events.py):

| on an env's track | record |
|---|---|
| each time the env holds the CPU | a complete slice (`X`) "run" |
| each system call (each call of a batch too, nested in sys_batch) | `X` named `sys_<name>`, its arguments and result |
| page faults, copies, copy-on-write reuses, TLB flushes, timer interrupts, breakpoints, exceptions, env switches | instants (`i`) |

| async (own tracks) | record |
|---|---|
| an upcall, from delivery until the env's first trap back outside its exception stack (the earliest moment the kernel can see the return) | `b`/`e` "upcall" |
| a fork episode, from sys_exofork (or sys_fork) until the child is runnable, with its counted traps and system calls | `b`/`e` "fork" |

Counters (`C`): "free pages", "shared frames" (frames with pp_ref > 1, that
is mapped by two or more envs; sampled at fork ends, exits and copies),
and every counted event's running total under its registry name (written at
each timer interrupt, fork end and exit, and at the end), so the last value of
each equals its `--stats` counter.

The time axis (`ts`, in the format's microseconds) is a clock: ``blocks``
(the default) is guest basic blocks executed plus one unit per kernel event,
so kernel work is ordered and visible (with several CPUs, the blocks of all
CPUs: one axis in the order the run loop stepped them, their sub-slices
taking turns, so an env never runs before the event that made it runnable); ``model:i386|p4|host`` is the cost
model's cycles (guest blocks and counted kernel events priced as in
costmodel.py) turned into microseconds at that CPU's clock rate; ``wall`` is
host time.  All but ``wall`` are deterministic: two runs give
byte-identical files.  Records stream to the file as they happen.
"""

from __future__ import annotations

import json
import time
from json.encoder import c_make_encoder, encode_basestring_ascii
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..kernel.events import COUNTERS, EVENTS, Event
from ..kernel.frames import multiply_referenced
from ..kernel.syscall import TABLE
from .costmodel import EVENT_COUNTERS, MODEL_NAMES, get_models

if TYPE_CHECKING:
    from ..kernel import Kernel

CLOCKS = ("blocks", *(f"model:{m}" for m in MODEL_NAMES), "wall")
_SYSCALLS = tuple(name for name in EVENTS if name.startswith("syscalls."))
_COUNTED = frozenset(COUNTERS)
_NOTES = ("pages_copied", "kernel_page_copies", "cow_reuses")
# --trace-filter categories: event -> the Tracer method that records it.
RECORDS: dict[str, dict[str, str]] = {
    "syscall": {**dict.fromkeys(_SYSCALLS, "_syscall"), "syscall_return": "_syscall_return"},
    "fault": {"page_faults": "_page_fault", "upcalls": "_upcall",
              "upcall_return": "_upcall_return", "cow_faults_in_kernel": "_note",
              "env_free": "_env_free"},
    "copy": dict.fromkeys(_NOTES, "_note"),
    "tlb": {"tlb_flushes": "_note"},
    "switch": {"env_switches": "_switch", "env_run": "_env_run"},
    "fork": {"fork_begin": "_fork_begin", "fork.calls": "_fork_end", "env_free": "_env_free"},
    "trap": dict.fromkeys(("traps.timer", "traps.breakpoint", "traps.exception"), "_note"),
    "counts": dict.fromkeys(("traps.timer", "fork.calls", "env_free"), "_flush_counts"),
    "memory": dict.fromkeys(("env_free", "fork.calls", *_NOTES), "_memory"),
}
CATEGORIES = tuple(RECORDS)


def _no_default(obj: object) -> object:
    raise TypeError(f"not JSON: {obj!r}")


def _encode_slowly(record: dict, _level: int) -> tuple[str]:
    return (json.dumps(record, separators=(",", ":")),)


# json.dumps builds an encoder per call; this is its C encoder, built once
# (compact separators, ASCII output), where Python has it.
_ENCODE = (c_make_encoder(None, _no_default, encode_basestring_ascii, None, ":", ",",
                          False, False, True) if c_make_encoder else _encode_slowly)


class TraceError(ValueError):
    """A bad trace setting (unknown clock or category, or a cost model that
    cannot be had)."""


class Clock:
    """A trace clock: `ts` of the event just delivered, in microseconds."""

    def __init__(self, kernel: Kernel, name: str) -> None:
        if name not in CLOCKS:
            raise TraceError(f"unknown trace clock {name!r} (choose from {', '.join(CLOCKS)})")
        self.kernel, self.name = kernel, name
        self.machines = [cpu.machine for cpu in kernel.cpus]
        self.units = 0.0  # kernel work so far, in the clock's units
        self.block_price, self.scale, self.prices, self.scaled = 1.0, 1.0, {}, False
        self._t0 = time.perf_counter_ns()
        if name.startswith("model:"):
            try:
                model = get_models([name[6:]])[0]
            except RuntimeError as exc:
                raise TraceError(str(exc)) from None
            self.block_price = model.cycles["user_block"]
            self.scale = 1.0 / (model.clock_ghz * 1000.0)  # cycles -> microseconds
            self.prices = _model_prices(model.cycles)
            self.scaled = True
        self.deterministic = name != "wall"

    def tick(self, ev: Event) -> float:
        """Charge the event's kernel work; the time after it."""
        if self.name == "wall":
            return round((time.perf_counter_ns() - self._t0) / 1000.0, 3)
        if self.scaled:
            price = self.prices.get(ev.name)
            if price:
                self.units += price * (ev.n if ev.name in _COUNTED else 1)
        elif ev.name != "guest_blocks":
            self.units += 1
        blocks = sum(machine.blocks_executed() or 0 for machine in self.machines)
        return round((blocks * self.block_price + self.units) * self.scale, 3)


def _model_prices(cycles: dict[str, float]) -> dict[str, float]:
    """Registry event -> cycles.  A system call's dispatch is charged at its
    return (so its slice has the length of its work); guest blocks come from
    the live block count instead of their counter."""
    prices: dict[str, float] = {}
    for event, names in EVENT_COUNTERS.items():
        if event in ("syscall", "user_block"):
            continue
        for name in names:
            prices[name] = cycles[event]
    prices["syscall_return"] = cycles["syscall"]
    return prices


def _syscall_names() -> dict[int, tuple[str, tuple[str, ...]]]:
    import inspect

    out = {}
    for num, entry in TABLE.items():
        params = tuple(inspect.signature(entry.handler).parameters)[1:entry.nargs + 1]
        out[num] = ("sys_" + entry.counter.split(".", 1)[1], params)
    return out


class Tracer:
    """Subscribes to a kernel's events and streams them to a trace file."""

    def __init__(self, kernel: Kernel, path: Path, clock: str = "blocks",
                 categories: Iterable[str] | None = None) -> None:
        self.kernel = kernel
        self.clock = Clock(kernel, clock)
        self.categories = tuple(categories) if categories is not None else CATEGORIES
        if set(self.categories) - set(CATEGORIES):
            raise TraceError(f"unknown trace categories {self.categories} (see CATEGORIES)")
        self.out: TextIO = open(path, "w", encoding="utf-8", buffering=1 << 16)
        self.first = True
        self.tracks: set[tuple[int, int]] = set()
        self.running: dict[int, tuple[int, float]] = {}  # cpu -> (env id, since)
        self.calls: dict[int, list[tuple]] = {}  # cpu -> open calls (name, ts, env, params, values)
        self.upcalls: dict[int, list[float]] = {}  # env id -> open upcalls' start
        self.forks: set[int] = set()  # child ids of the fork episodes in progress
        self.totals: dict[str, int] = {}
        self.dirty: set[str] = set()
        self.syscalls = _syscall_names()
        self.counting = "counts" in self.categories
        self.handlers: dict[str, list[Callable[[Event, float], None]]] = {}
        for cat in self.categories:
            for name, method in RECORDS[cat].items():
                handlers = self.handlers.setdefault(name, [])
                if getattr(self, method) not in handlers:
                    handlers.append(getattr(self, method))
        self.out.write('{"otherData":' + json.dumps(
            {"generator": "pyjos", "clock": clock, "categories": list(self.categories)},
            separators=(",", ":")) + ',\n"traceEvents":[\n')
        # Every event, whatever the filter: the clock counts them all.
        self.sub = kernel.events.subscribe(self.on_event)

    # --- writing ------------------------------------------------------------------------
    def emit(self, record: dict[str, Any]) -> None:
        """Write one trace record."""
        self.out.write(("" if self.first else ",\n") + "".join(_ENCODE(record, 0)))
        self.first = False

    def track(self, cpu: int, env: int) -> int:
        """The track of env on cpu (named the first time); its tid."""
        if (cpu, env) not in self.tracks:
            if not any(c == cpu for c, _ in self.tracks):
                self.emit({"ph": "M", "name": "process_name", "pid": cpu + 1,
                           "args": {"name": f"cpu {cpu}"}})
            self.tracks.add((cpu, env))
            self.emit({"ph": "M", "name": "thread_name", "pid": cpu + 1, "tid": env,
                       "args": {"name": self._env_name(env)}})
            self.emit({"ph": "M", "name": "thread_sort_index", "pid": cpu + 1, "tid": env,
                       "args": {"sort_index": env}})
        return env

    def _env_name(self, envid: int) -> str:
        if envid == 0:
            return "kernel"
        prog = self.kernel.envtab.programs.get(envid % len(self.kernel.envs))
        return f"env {envid:08x} {prog.name if prog else ''}".rstrip()

    def instant(self, ev: Event, ts: float, name: str, cat: str, args: dict) -> None:
        self.emit({"ph": "i", "s": "t", "name": name, "cat": cat, "ts": ts, "pid": ev.cpu + 1,
                   "tid": self.track(ev.cpu, ev.env), "args": args})

    def span(self, cpu: int, tid: int, name: str, cat: str, start: float, end: float,
             args: dict) -> None:
        self.emit({"ph": "X", "name": name, "cat": cat, "ts": start,
                   "dur": round(end - start, 3), "pid": cpu + 1,
                   "tid": self.track(cpu, tid), "args": args})

    def async_mark(self, ph: str, ev: Event, ts: float, name: str, ident: str,
                   args: dict, tid: int | None = None) -> None:
        self.emit({"ph": ph, "name": name, "cat": name, "id": ident, "ts": ts,
                   "pid": ev.cpu + 1, "tid": self.track(ev.cpu, ev.env if tid is None else tid),
                   "args": args})

    # --- events -------------------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        """The subscription's callback: one kernel event."""
        ts = self.clock.tick(ev)
        if self.counting and ev.name in _COUNTED:
            self.totals[ev.name] = self.totals.get(ev.name, 0) + ev.n
            self.dirty.add(ev.name)
        for handler in self.handlers.get(ev.name, ()):
            handler(ev, ts)

    def _syscall(self, ev: Event, ts: float) -> None:
        """A call begins: remember it until its syscall_return."""
        regs = ev.args[0]
        known = self.syscalls.get(regs[0])
        if known is None:
            name, params, values = "sys_unknown", ("number",), (regs[0],)
        else:
            name, params = known
            values = tuple(regs[1:len(params) + 1])
        self.calls.setdefault(ev.cpu, []).append((name, ts, ev.env, params, values))

    def _syscall_return(self, ev: Event, ts: float) -> None:
        stack = self.calls.get(ev.cpu)
        if not stack:
            return
        name, start, tid, params, values = stack.pop()
        args: dict[str, Any] = {p: f"0x{v:08x}" for p, v in zip(params, values, strict=True)}
        ret = ev.args[1]
        args["ret"] = ret - (1 << 32) if ret >= 1 << 31 else ret
        self.span(ev.cpu, tid, name, "syscall", start, ts, args)

    def _page_fault(self, ev: Event, ts: float) -> None:
        va, err = ev.args
        self.instant(ev, ts, "page fault", "fault",
                     {"va": f"0x{va:08x}", "err": err, "write": bool(err & 2),
                      "present": bool(err & 1)})

    def _upcall(self, ev: Event, ts: float) -> None:
        stack = self.upcalls.setdefault(ev.env, [])
        stack.append(ts)
        self.async_mark("b", ev, ts, "upcall", f"{ev.env:x}.{len(stack)}",
                        {"va": f"0x{ev.args[0]:08x}", "depth": len(stack)})

    def _upcall_return(self, ev: Event, ts: float) -> None:
        stack = self.upcalls.get(ev.env)
        if stack:
            self.async_mark("e", ev, ts, "upcall", f"{ev.env:x}.{len(stack)}", {})
            stack.pop()

    def _end_upcalls(self, ev: Event, envid: int, ts: float) -> None:
        """envid is freed (or the run ended) inside its upcalls: they end here."""
        stack = self.upcalls.pop(envid, [])
        while stack:
            self.async_mark("e", ev, ts, "upcall", f"{envid:x}.{len(stack)}", {"ended": True},
                            tid=envid)
            stack.pop()

    def _env_free(self, ev: Event, ts: float) -> None:
        """An env is freed: its upcalls end, and a fork making it ends unfinished."""
        envid = ev.args[1]
        self._end_upcalls(ev, envid, ts)
        if envid in self.forks:
            self._end_fork(ev, ts, envid, {"unfinished": True})

    _NOTE_NAMES = {"cow_faults_in_kernel": ("kernel cow fault", "fault"),
                   "pages_copied": ("page copied", "copy"),
                   "kernel_page_copies": ("kernel page copy", "copy"),
                   "cow_reuses": ("cow reuse", "copy"), "tlb_flushes": ("TLB flush", "tlb"),
                   "traps.timer": ("timer", "trap"), "traps.breakpoint": ("breakpoint", "trap"),
                   "traps.exception": ("exception", "trap")}

    def _note(self, ev: Event, ts: float) -> None:
        name, cat = self._NOTE_NAMES[ev.name]
        args: dict[str, Any] = {}
        if ev.args:
            args["va"] = f"0x{ev.args[0]:08x}"
        if len(ev.args) > 1:
            args["ppn"] = f"0x{ev.args[1]:05x}"
        self.instant(ev, ts, name, cat, args)

    def _switch(self, ev: Event, ts: float) -> None:
        self._end_run(ev.cpu, ts)
        frm, to = ev.args
        envs = self.kernel.envs
        self.instant(ev, ts, "env switch", "switch",
                     {"from": f"{envs[frm].env_id:08x}" if frm is not None else None,
                      "to": f"{envs[to].env_id:08x}"})

    def _env_run(self, ev: Event, ts: float) -> None:
        envid = self.kernel.envs[ev.args[0]].env_id
        if self.running.get(ev.cpu, (None,))[0] != envid:
            self._end_run(ev.cpu, ts)
            self.running[ev.cpu] = (envid, ts)

    def _end_run(self, cpu: int, ts: float) -> None:
        if cpu in self.running:
            envid, since = self.running.pop(cpu)
            self.span(cpu, envid, "run", "switch", since, ts, {})

    def _fork_begin(self, ev: Event, ts: float) -> None:
        child = self.kernel.envs[ev.args[0]].env_id
        self.forks.add(child)
        self.async_mark("b", ev, ts, "fork", f"{child:x}", {"child": f"{child:08x}"})

    def _end_fork(self, ev: Event, ts: float, child: int, args: dict) -> None:
        self.forks.discard(child)
        self.async_mark("e", ev, ts, "fork", f"{child:x}", {"child": f"{child:08x}", **args})

    def _fork_end(self, ev: Event, ts: float) -> None:
        child_idx, traps, calls, seconds = ev.args
        args: dict[str, Any] = {"traps": traps, "syscalls": calls}
        if not self.clock.deterministic:
            args["seconds"] = seconds
        self._end_fork(ev, ts, self.kernel.envs[child_idx].env_id, args)

    def _flush_counts(self, ev: Event | None, ts: float) -> None:
        cpu = ev.cpu if ev is not None else 0
        for name in sorted(self.dirty):
            self.emit({"ph": "C", "name": name, "cat": "counts", "ts": ts, "pid": cpu + 1,
                       "args": {"count": self.totals[name]}})
        self.dirty.clear()

    def _memory(self, ev: Event | None, ts: float) -> None:
        cpu = ev.cpu if ev is not None else 0
        shared = multiply_referenced(self.kernel)
        self.emit({"ph": "C", "name": "free pages", "cat": "memory", "ts": ts, "pid": cpu + 1,
                   "args": {"pages": self.kernel.pmap.nfree}})
        self.emit({"ph": "C", "name": "shared frames", "cat": "memory", "ts": ts,
                   "pid": cpu + 1, "args": {"frames": shared}})

    # --- the end --------------------------------------------------------------------------
    def close(self) -> None:
        """End open slices, write the last counter values, close the file."""
        self.sub.close()
        end = self.clock.tick(Event("end", 0, 0, 0, ()))
        for cpu in list(self.running):
            self._end_run(cpu, end)
        for cpu, stack in self.calls.items():  # a call that never returned (the run stopped)
            while stack:
                name, start, tid, _params, _values = stack.pop()
                self.span(cpu, tid, name, "syscall", start, end, {"ret": None})
        end_ev = Event("end", 0, 0, 0, ())
        for envid in list(self.upcalls):
            self._end_upcalls(end_ev, envid, end)
        for child in sorted(self.forks):
            self._end_fork(end_ev, end, child, {"unfinished": True})
        self._flush_counts(None, end)
        if "memory" in self.categories:
            self._memory(None, end)
        self.out.write("\n]}\n")
        self.out.close()
