"""Cross-CPU coherence of translated code (machine/codewatch.py,
host/codewatch.c): each CPU's Unicorn caches the code it translated, and a
store drops changed blocks only in the storing CPU's cache; before a CPU
runs again it drops its blocks of every frame whose bytes changed since."""

from __future__ import annotations

import ctypes
import struct

import pytest
from unicorn import unicorn_const as ucc, x86_const as x86

from conftest import LIMIT, guest_source
from pyjos.abi import PGSIZE
from pyjos.kernel import Kernel, KernelConfig, kernel as kernel_module
from pyjos.machine import floor
from pyjos.machine.codewatch import CodeWatch

_INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
CODE_PA = 3 * PGSIZE  # ring3_machine's code frame
XMODIFY = guest_source("xmodify")


def _code(value: int) -> bytes:
    """1: mov $value, %eax; int $0x31; jmp 1b"""
    return b"\xb8" + struct.pack("<I", value) + b"\xcd\x31" + b"\xeb\xf7"


def _machine(max_frames: int | None = None):
    """A ring-3 machine running _code(1) at CODE_VA, with a code watch."""
    helper = kernel_module.native_code_watch()
    assert helper, "no host C compiler built host/codewatch.c"
    machine = floor.ring3_machine(_code(1))
    if max_frames is None:
        machine.watch_code(helper)
    else:
        machine._watch = CodeWatch(helper, machine._uch, machine.mem.address, machine.mem.size,
                                   machine.reg_read(x86.UC_X86_REG_CR3), max_frames)
    seen: list[int] = []

    def hook(_uc: int, _intno: int, _user: int) -> None:
        seen.append(machine.reg_read(x86.UC_X86_REG_EAX))
        machine.stop()
    machine._keep = _INTR_CB(hook)
    machine._raw_hook(ucc.UC_HOOK_INTR, machine._keep)
    return machine, seen


def _run(machine) -> None:
    """Run the loop once more: into ring 3 the first time, then on from the
    `int $0x31` where the CPU stopped (as the kernel resumes a CPU)."""
    if machine.eip() == 0:
        machine.enter_user(floor.CODE_VA, floor.SP_VA, 0x2, lambda *_: None)
    else:
        machine.run(machine.eip())


def test_a_changed_frame_loses_its_blocks_before_the_cpu_runs_again():
    machine, seen = _machine()
    _run(machine)
    assert CODE_PA // PGSIZE in machine.watched_code()[0]  # listed when translated
    machine.mem.write(CODE_PA, _code(2))  # as another CPU's store would: unseen here
    _run(machine)
    assert seen == [1, 1]  # the translated block is cached: the old code ran
    machine.sync_code()
    assert CODE_PA // PGSIZE not in machine.watched_code()[0]
    _run(machine)
    assert seen == [1, 1, 2]
    assert CODE_PA // PGSIZE in machine.watched_code()[0]  # translated again, listed again
    frames, counts = machine.watched_code()
    machine.sync_code()  # nothing changed: nothing dropped
    assert machine.watched_code() == (frames, counts)


def test_past_its_room_the_watch_drops_every_block():
    machine, seen = _machine(max_frames=1)  # the entry stub's frame and the code's: two
    _run(machine)
    machine.mem.write(CODE_PA, _code(3))
    flushed = []
    flush = machine.tb_flush
    machine.tb_flush = lambda: (flushed.append(1), flush())
    machine.sync_code()
    assert flushed == [1] and machine.watched_code()[0] == []
    _run(machine)
    assert seen == [1, 3]


def test_only_several_cpus_watch_their_code():
    one = Kernel(KernelConfig(cpus=1), out=lambda _s: None)
    assert one.cpus[0].machine.watched_code() is None
    two = Kernel(KernelConfig(cpus=2), out=lambda _s: None)
    assert all(c.machine.watched_code() is not None for c in two.cpus)


def _xmodify() -> list[str]:
    out: list[str] = []
    k = Kernel(KernelConfig(cpus=2, **LIMIT), out=out.append)
    k.create_env(XMODIFY)
    assert k.run().reason == "idle"
    return [line for line in "".join(out).splitlines() if line.startswith("xmodify")]


def test_code_the_guest_rewrites_runs_new_on_every_cpu(monkeypatch):
    """tests/guest/xmodify.c: code run on both CPUs, then rewritten by the
    env on one CPU, then by another env through its own mapping: both CPUs
    run the new code (and without the watch, one of them does not)."""
    assert _xmodify() == ["xmodify: 0 stale calls after the env's own rewrite",
                          "xmodify: 0 stale calls after another env's rewrite"]
    monkeypatch.setattr(kernel_module, "native_code_watch", lambda: None)
    assert _xmodify() == ["xmodify: 1 stale calls after the env's own rewrite",
                          "xmodify: 1 stale calls after another env's rewrite"]
