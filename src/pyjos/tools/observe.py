"""What `pyjos run` can watch: its --trace and --memview options.

``add_options`` puts them on the run command's parser; ``watching`` opens the
trace and the memory picture on a booted System before any env exists (so
every counted event reaches them), and closes them however the run ends.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from ..api import System
from .memview import MOMENTS, MemView
from .trace import CATEGORIES, CLOCKS, Tracer, TraceError


T = TypeVar("T")


class ObserveError(Exception):
    """A bad --trace/--memview setting or an output file that cannot be written."""


def add_options(run: argparse.ArgumentParser) -> None:
    """The --trace and --memview options of `pyjos run`."""
    run.add_argument("--trace", type=Path, metavar="FILE.json",
                     help="write the run's events as a Chrome trace (open it in "
                          "ui.perfetto.dev or chrome://tracing)")
    run.add_argument("--trace-clock", default="blocks", metavar="CLOCK",
                     help="the trace's time axis: blocks (guest basic blocks plus one unit per "
                          "kernel event; the default), model:i386, model:p4, model:host "
                          "(a cost model's cycles), wall (host time); all but wall give "
                          "byte-identical traces on every run")
    run.add_argument("--trace-filter", default=None, metavar="CAT[,CAT...]",
                     help=f"keep only these kinds of records ({', '.join(CATEGORIES)}; "
                          "default all)")
    run.add_argument("--memview", type=Path, metavar="FILE.html",
                     help="write a self-contained HTML picture of every env's pages at chosen "
                          "moments (see --memview-at)")
    run.add_argument("--memview-at", default=None, metavar="WHEN[,WHEN...]",
                     help=f"the memview's moments: {', '.join(MOMENTS)} (after each fork "
                          "episode, as each env exits, after the run; default all)")


def choose(kind: str, text: str | None, valid: tuple[str, ...]) -> tuple[str, ...]:
    """The names of a comma-separated option value, all from valid (None: all)."""
    if text is None:
        return valid
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in valid]
    if bad or not names:
        raise ObserveError(f"unknown {kind} {', '.join(map(repr, bad)) or repr(text)} "
                           f"(choose from {', '.join(valid)})")
    return names


def check(ns: argparse.Namespace) -> None:
    """Raise ObserveError for a bad clock, filter or moment list (before booting)."""
    choose("trace clock", ns.trace_clock, CLOCKS)
    if "," in ns.trace_clock:
        raise ObserveError(f"one trace clock, not {ns.trace_clock!r}")
    choose("trace category", ns.trace_filter, tuple(CATEGORIES))
    choose("memview moment", ns.memview_at, MOMENTS)


def _opened(path: Path, make: Callable[[], T]) -> T:
    """make() an observer writing to path; ObserveError if it cannot."""
    try:
        return make()
    except TraceError as exc:
        raise ObserveError(str(exc)) from None
    except OSError as exc:
        raise ObserveError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def watching(system: System, ns: argparse.Namespace, title: str) -> Iterator[None]:
    """Trace and/or picture the run inside the with-block, as ns asks."""
    observers: list[Tracer | MemView] = []
    try:
        if ns.trace is not None:
            observers.append(_opened(ns.trace, lambda: Tracer(
                system.kernel, ns.trace, ns.trace_clock,
                choose("trace category", ns.trace_filter, tuple(CATEGORIES)))))
        if ns.memview is not None:
            observers.append(_opened(ns.memview, lambda: MemView(
                system.kernel, ns.memview, choose("memview moment", ns.memview_at, MOMENTS),
                title)))
        yield
    finally:
        for observer in observers:
            observer.close()
