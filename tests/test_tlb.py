"""One-page TLB flushes (Machine.tlb_flush_page, QEMU's tlb_flush_page): the
flushed page is translated anew, the others stay cached, as after invlpg;
and the kernel flushes only the pages whose entries changed."""

from __future__ import annotations

import ctypes
import struct

import pytest
from unicorn import unicorn_const as ucc, x86_const as x86

from pyjos.abi import PGSIZE
from pyjos.kernel import Kernel, KernelConfig
from pyjos.kernel.cpu import TLB_PAGES_MAX
from pyjos.machine import floor

_INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
D1, D2 = floor.CODE_VA + 2 * PGSIZE, floor.CODE_VA + 3 * PGSIZE  # two data pages
OLD = {D1: (6 * PGSIZE, 0x1111), D2: (7 * PGSIZE, 0x2222)}  # frame, the word in it
NEW = {D1: (8 * PGSIZE, 0x3333), D2: (9 * PGSIZE, 0x4444)}


def _guest() -> bytes:
    """Read D1 and D2 (the TLB caches both), int $0x30, read them again
    into ecx and edx, int $0x31."""
    return (b"\xa1" + struct.pack("<I", D1) + b"\x8b\x1d" + struct.pack("<I", D2) + b"\xcd\x30"
            + b"\x8b\x0d" + struct.pack("<I", D1) + b"\x8b\x15" + struct.pack("<I", D2)
            + b"\xcd\x31")


def _map(mem, va: int, frame: int) -> None:
    """va -> frame, user writable, in ring3_machine's page table."""
    mem.write32(floor.PT_PA + ((va >> 12) & 0x3FF) * 4, frame | 0x7)


def _reads_after(flush: str) -> tuple[int, int]:
    """What the guest reads at D1 and D2 after the kernel remapped both to
    new frames in its `int $0x30` and flushed as `flush` says."""
    machine = floor.ring3_machine(_guest())
    mem = machine.mem
    for pages in (OLD, NEW):
        for frame, word in pages.values():
            mem.write32(frame, word)
    for va, (frame, _word) in OLD.items():
        _map(mem, va, frame)
    seen = []

    def hook(_uc: int, intno: int, _user: int) -> None:
        if intno == 0x30:
            for va, (frame, _word) in NEW.items():
                _map(mem, va, frame)
            if flush == "page":
                machine.tlb_flush_page(D1)
            elif flush == "all":
                machine.tlb_flush()
        else:
            seen.extend(machine.reg_read(r) for r in (x86.UC_X86_REG_ECX, x86.UC_X86_REG_EDX))
            machine.stop()

    handle = machine._raw_hook(ucc.UC_HOOK_INTR, _INTR_CB(hook))
    machine.enter_user(floor.CODE_VA, floor.SP_VA, 0x2, lambda *_: None)
    assert handle and len(seen) == 2
    return seen[0], seen[1]


def test_the_machine_can_flush_one_page_on_the_pinned_unicorn():
    assert floor.ring3_machine(b"").can_flush_page


@pytest.mark.parametrize("flush, expect", [
    ("none", (0x1111, 0x2222)),  # the TLB really caches: without a flush, the old frames
    ("page", (0x3333, 0x2222)),  # D1 alone translated anew
    ("all", (0x3333, 0x4444)),
])
def test_a_page_flush_drops_that_page_alone(flush, expect):
    assert _reads_after(flush) == expect


@pytest.fixture
def k() -> Kernel:
    return Kernel(KernelConfig(mem=8 << 20), out=lambda _s: None)


def _flushes(k, pages: list[int]) -> list[str]:
    """Mark pages stale on k's CPU one by one and flush: the machine calls made."""
    calls: list[str] = []
    machine = k.cpu.machine
    machine.tlb_flush_page = lambda va: calls.append(f"page {va:#x}")
    machine.tlb_flush = lambda: calls.append("all")
    for va in pages:
        k.cpu.mark_stale(va)
    k.cpu.flush_tlb_if_stale()
    return calls


def test_the_kernel_flushes_the_stale_pages_or_past_a_few_the_whole_tlb(k):
    flushes = k.stats.total.get("tlb_flushes", 0)
    assert _flushes(k, [0x1000, 0x5000, 0x1000]) == ["page 0x1000", "page 0x5000"]
    assert _flushes(k, [0x1000, None]) == ["all"]  # None: any page (a whole table changed)
    many = [i * PGSIZE for i in range(TLB_PAGES_MAX + 1)]
    assert _flushes(k, many) == ["all"]
    assert _flushes(k, many[:TLB_PAGES_MAX]) == [f"page {va:#x}" for va in many[:TLB_PAGES_MAX]]
    assert _flushes(k, []) == []  # nothing stale: no flush
    assert k.stats.total["tlb_flushes"] == flushes + 4  # one per flush, as before


def test_without_qemus_page_flush_the_kernel_flushes_the_whole_tlb(monkeypatch):
    """A Unicorn build that does not export tlb_flush_page: machines say so,
    and the kernel flushes the whole TLB instead (the runs are the same)."""
    from pyjos.machine import machine as machine_module
    runs = ["faultalloc", "forktree"]
    expect = [_console(name) for name in runs]
    monkeypatch.setattr(machine_module, "_tlb_flush_page", None)
    assert not floor.ring3_machine(b"").can_flush_page
    assert [_console(name) for name in runs] == expect


def _console(program: str) -> str:
    out: list[str] = []
    k = Kernel(KernelConfig(), out=out.append)
    k.create_env(program)
    k.run()
    return "".join(out)
