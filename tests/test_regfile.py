"""The register file in place (machine/regfile.py): found on this Unicorn,
agreeing with the API while guest code runs, and a fallback that works."""

from __future__ import annotations

import ctypes
import struct

import pytest
from unicorn import unicorn_const as ucc, x86_const as x86

from pyjos.kernel import Kernel, KernelConfig
from pyjos.machine import floor, regfile
from pyjos.machine.machine import Machine, PhysMem

_GPRS = (x86.UC_X86_REG_EAX, x86.UC_X86_REG_ECX, x86.UC_X86_REG_EDX, x86.UC_X86_REG_EBX,
         x86.UC_X86_REG_ESP, x86.UC_X86_REG_EBP, x86.UC_X86_REG_ESI, x86.UC_X86_REG_EDI)
_VALUES = (0x11111111, 0x22222222, 0x33333333, 0x44444444, floor.SP_VA - 16, 0x66666666,
           0x77777777, 0x88888888)
_RESULT_VA = floor.SP_VA - 8  # where the guest stores eax after the trap
_INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)


def _guest() -> bytes:
    """mov $v, %reg for every general register; int $0x30; mov %eax, RESULT;
    int $0x31."""
    code = b"".join(bytes((0xB8 + i,)) + struct.pack("<I", v) for i, v in enumerate(_VALUES))
    return code + b"\xcd\x30" + b"\xa3" + struct.pack("<I", _RESULT_VA) + b"\xcd\x31"


def test_the_register_file_is_found_on_the_pinned_unicorn():
    machine = Machine(PhysMem(4 << 20))
    assert machine.regs is not None and len(machine.regs) == 8
    assert machine._fault_fields is not None  # the fault details in place too
    assert machine._cpu_words is not None  # and eip
    assert list(machine.regs) == [0] * 8  # the self-check leaves the registers as it found them


def test_in_place_reads_what_the_guest_wrote_and_the_guest_sees_what_was_written():
    machine = floor.ring3_machine(_guest())
    seen = {}

    def hook(_uc: int, intno: int, _user: int) -> None:
        if intno == 0x30:
            seen["in_place"] = list(machine.regs)
            seen["api"] = [machine.reg_read(r) for r in _GPRS]
            machine.set_eax(-3)  # in place: the guest must store 0xfffffffd
        else:
            machine.stop()

    handle = machine._raw_hook(ucc.UC_HOOK_INTR, _INTR_CB(hook))
    machine.enter_user(floor.CODE_VA, floor.SP_VA, 0x2, lambda *_: None)
    assert handle
    assert seen["in_place"] == seen["api"] == list(_VALUES)
    assert machine.mem.read32(floor.STACK_PA + (_RESULT_VA & 0xFFF)) == 0xFFFFFFFD


def _console(config: KernelConfig, *programs: tuple[str, list[str]]) -> str:
    out: list[str] = []
    k = Kernel(config, out=out.append)
    for name, args in programs:
        k.create_env(name, args)
    k.run()
    return "".join(out)


def test_a_layout_that_does_not_check_out_falls_back_to_the_api(monkeypatch):
    """With a wrong offset (another Unicorn build), machines keep the API
    calls for registers and fault details and flush the whole TLB, and runs
    are the same."""
    runs = [("syscallloop", ["50"]), ("faultalloc", []), ("hello", []), ("forktree", [])]
    expect = _console(KernelConfig(), *runs)
    monkeypatch.setattr(regfile, "UC_CPU_OFFSET", 0)  # uc_struct's first word: not a pointer
    monkeypatch.setattr(regfile, "_layout_ok", None)
    machine = Machine(PhysMem(4 << 20))
    assert machine.regs is None and machine._fault_fields is None
    assert not machine.can_flush_page  # the whole TLB, through the API
    assert _console(KernelConfig(), *runs) == expect


@pytest.mark.parametrize("touch", floor.TOUCHES)
def test_each_floor_variant_runs_its_loop(touch):
    """Each callback ran once per `int $0x30`: the api and in-place ones add
    the loop's count to eax (as the entry stub left it), the empty one
    nothing (counted, not timed)."""
    eax = []
    for n in (0, 500):
        loop = floor._Floor(touch)
        loop.run(n)
        eax.append(loop.machine.reg_read(x86.UC_X86_REG_EAX))
    assert eax[1] - eax[0] == (0 if touch == "empty" else 500)


def test_resume_at_writes_eip_and_esp_in_place_and_the_guest_runs_there():
    """The trap hook enters an upcall as the kernel does (Machine.resume_at,
    eip and esp in place): the guest goes on at that eip on that stack."""
    # int $0x30; hlt (never reached); at +16: mov %esp, RESULT; int $0x31
    code = (b"\xcd\x30\xf4" + b"\x90" * 13 + b"\x89\x25" + struct.pack("<I", _RESULT_VA)
            + b"\xcd\x31")
    machine = floor.ring3_machine(code)

    def hook(_uc: int, intno: int, _user: int) -> None:
        if intno == 0x30:
            machine.resume_at(floor.CODE_VA + 16, floor.SP_VA - 64)
        else:
            machine.stop()

    handle = machine._raw_hook(ucc.UC_HOOK_INTR, _INTR_CB(hook))
    machine.enter_user(floor.CODE_VA, floor.SP_VA, 0x2, lambda *_: None)
    assert handle and machine._cpu_words is not None
    assert machine.mem.read32(floor.STACK_PA + (_RESULT_VA & 0xFFF)) == floor.SP_VA - 64


def test_an_eip_layout_that_does_not_check_out_falls_back_to_the_api(monkeypatch):
    """With eip's word misplaced, upcalls are entered through a register
    batch and runs are the same."""
    runs = [("faultalloc", []), ("yield", []), ("forktree", [])]
    expect = _console(KernelConfig(), *runs)
    monkeypatch.setattr(regfile, "EIP", regfile.EIP + 1)  # eflags' word
    machine = Machine(PhysMem(4 << 20))
    assert machine.regs is not None and machine._cpu_words is None
    assert _console(KernelConfig(), *runs) == expect
