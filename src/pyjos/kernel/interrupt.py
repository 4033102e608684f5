"""Ctrl-C while the machine runs: SIGINT stops it within milliseconds.

Python runs a signal handler only between bytecodes of the main thread, and
while a time slice runs the main thread is inside ``emu_start`` (C), so a
handler alone would wait for the next trap: forever for a spinning env under
a long quantum.  ``sigint_stops(kernel)`` therefore also has the C-level
handler write to a wakeup pipe (``signal.set_wakeup_fd``) that a watcher
thread reads; the watcher stops every CPU (``Kernel.halt``: ``uc_emu_stop``
may be called from any thread).  At the monitor's ``K> `` prompt the handler
raises KeyboardInterrupt, which ends the prompt (monitor.TerminalLines).
Costs one thread per ``Kernel.run`` and nothing per slice or trap.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .monitor import TerminalLines

if TYPE_CHECKING:
    from .kernel import Kernel

MESSAGE = "interrupted by SIGINT"


@contextlib.contextmanager
def sigint_stops(k: Kernel) -> Iterator[None]:
    """While inside: SIGINT halts k ("interrupted").  Main thread only."""
    def on_sigint(_signum: int, _frame: object) -> None:
        k.halt("interrupted", MESSAGE)
        lines = k.config.monitor_input
        if isinstance(lines, TerminalLines) and lines.prompting:
            lines.prompting = False  # a second SIGINT must not raise again
            raise KeyboardInterrupt

    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    watcher = threading.Thread(target=_watch, args=(k, rfd), name="pyjos-sigint", daemon=True)
    previous = signal.signal(signal.SIGINT, on_sigint)
    previous_fd = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous)
        os.close(wfd)  # the watcher reads end-of-file and returns
        watcher.join()
        os.close(rfd)


def _watch(k: Kernel, rfd: int) -> None:
    """Stop the machine at each SIGINT byte on the wakeup pipe.  The signal
    may have hit any thread (numpy's among them): if the main thread waits
    at the K> prompt, it gets the signal again, which interrupts its read."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    while data := os.read(rfd, 64):
        if signal.SIGINT in data:
            k.halt("interrupted", MESSAGE)
            lines = k.config.monitor_input
            if isinstance(lines, TerminalLines) and lines.prompting:
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
