"""The lock-prefix check (machine/lockcheck.py, host/lockcheck.c): a `lock`
an i386 refuses faults #UD at its eip; the lockable forms still work.

The decoder is checked against objdump on every bundled program and on
hand-made byte strings for each prefix and opcode class; the machine is
checked with tests/guest/lockform.c, which runs one instruction (given in
hex) after three register loads in a fresh code page.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import check_no_leaks, grade_text
from pyjos.guest.build import build_program, list_programs
from pyjos.kernel import Kernel, KernelConfig, audit
from pyjos.kernel import kernel as kernel_module
from pyjos.kernel.kernel import native_lock_check
from pyjos.machine.lockcheck import NHOOKED, decode

GUEST = Path(__file__).parent / "guest"
LOCKFORM = str(GUEST / "lockform.c")
SITE = 0x00A0000C  # CODE + 12 in lockform.c: where the instruction is
DATA = "0000b000"  # DATA in lockform.c, as a little-endian disp32
HELPER = native_lock_check()
pytestmark = pytest.mark.skipif(HELPER is None, reason="no host C compiler builds the check")


def run(envs: list[list[str]], **config) -> tuple[str, Kernel]:
    """Boot, one lockform env per argument list, run to the end, audit."""
    out: list[str] = []
    kernel = Kernel(KernelConfig(**config), out=out.append)
    audit.attach(kernel)
    for args in envs:
        kernel.create_env(LOCKFORM, args)
    result = kernel.run()
    text = "".join(out)
    check_no_leaks(kernel, result, text)
    assert audit.audit(kernel) == [], text
    for cpu in kernel.cpus:
        stats = cpu.machine.lock_check_stats()
        assert stats["blocks"] > 0 and stats["mismatches"] == stats["unreadable"] == 0, stats
    return text, kernel


# --- the decoder ---------------------------------------------------------------------
_OBJDUMP_LINE = re.compile(r"^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*(?:\t(.*))?$")


def _objdump(elf: Path) -> list[tuple[int, bytes, str]]:
    """(address, bytes, text) of each instruction of elf's .text, per objdump."""
    out = subprocess.run(["objdump", "-d", "--insn-width=16", "-j", ".text", str(elf)],
                         capture_output=True, text=True, check=True).stdout
    return [(int(m[1], 16), bytes.fromhex(m[2].replace(" ", "")), m[3] or "")
            for m in map(_OBJDUMP_LINE.match, out.splitlines()) if m]


def test_decoder_agrees_with_objdump_on_every_bundled_program():
    """Walking each program's .text instruction by instruction, the decoder
    finds objdump's boundaries, and a bad lock only where objdump says lock."""
    programs = [name for name, _ in list_programs()] + [LOCKFORM, str(GUEST / "iso_insn.c")]
    checked = 0
    for program in programs:
        insns = _objdump(build_program(program))
        text = b"".join(code for _, code, _ in insns)
        base = insns[0][0]
        for address, code, what in insns:
            length, bad = decode(HELPER, text[address - base:address - base + 15])
            assert (length, bad and "lock" not in what) == (len(code), False), \
                f"{program} {address:#x}: {code.hex()} {what}: decoded as {length} bytes"
            checked += 1
    assert checked > 50_000


D32 = bytes.fromhex(DATA)
# (bytes, length, bad lock): each prefix and opcode class.
HAND_MADE = [
    (b"\xb8" + D32, 5, False),  # imm32
    (b"\x66\xb8\x01\x02", 4, False),  # operand size: imm16
    (b"\xa1" + D32, 5, False),  # moffs32
    (b"\x67\xa1\x01\x02", 4, False),  # address size: moffs16
    (b"\x2e\x36\x3e\x26\x64\x65\x8b\xc0", 8, False),  # segment prefixes
    (b"\xf3\xa4", 2, False), (b"\xf2\xae", 2, False),  # rep movsb, repne scasb
    (b"\x9a" + D32 + b"\x1b\x00", 7, False), (b"\x66\xea\x01\x02\x1b\x00", 6, False),  # far ptr
    (b"\xc8\x10\x00\x01", 4, False), (b"\xc2\x04\x00", 3, False),  # enter, ret imm16
    (b"\x6a\x01", 2, False), (b"\x69\xc0" + D32, 6, False), (b"\x6b\xc0\x01", 3, False),
    (b"\xf6\x05" + D32 + b"\x01", 7, False), (b"\xf6\x15" + D32, 6, False),  # grp3 test / not
    (b"\xf7\x05" + D32 + D32, 10, False), (b"\x66\xf7\x05" + D32 + b"\x01\x00", 9, False),
    (b"\x8b\x44\x24\x04", 4, False), (b"\x8b\x04\x25" + D32, 7, False),  # SIB, SIB no base
    (b"\x8b\x80" + D32, 6, False), (b"\x8b\x05" + D32, 6, False), (b"\x8b\x84\x24" + D32, 7, False),
    (b"\x67\x8b\x06\x01\x02", 5, False), (b"\x67\x8b\x47\x01", 4, False),  # 16-bit ModRM
    (b"\x67\x8b\x87\x01\x02", 5, False), (b"\x67\x8b\x00", 3, False),
    (b"\xe8" + D32, 5, False), (b"\x66\xe8\x01\x02", 4, False), (b"\xeb\xfe", 2, False),
    (b"\x0f\x84" + D32, 6, False), (b"\x66\x0f\x84\x01\x02", 5, False),  # jcc rel32 / rel16
    (b"\x0f\xb6\xc0", 3, False), (b"\x0f\xba\xe0\x05", 4, False), (b"\x0f\xa4\xc2\x03", 4, False),
    (b"\x0f\x38\x00\xc1", 4, False), (b"\x66\x0f\x3a\x0f\xc1\x08", 6, False),  # 3-byte maps
    (b"\x0f\x0f\xc1\xb4", 4, False), (b"\x0f\x20\xc0", 3, False), (b"\x0f\x0b", 2, False),
    (b"\x0f\xc7\x0d" + D32, 7, False), (b"\x0f\xa2", 2, False), (b"\x0f\x31", 2, False),
    (b"\xd9\xee", 2, False), (b"\xdd\x05" + D32, 6, False),  # x87
    (b"\xc5\xf8\x77", 3, False), (b"\xc5\xf9\x6f\xc1", 4, False),  # VEX (2 and 3 bytes)
    (b"\xc4\xe3\x79\x0f\xc1\x08", 6, False), (b"\xc4\xe2\x79\x00\xc1", 5, False),
    (b"\xc4\x05" + D32, 6, False),  # les: c4 with a memory ModRM is not VEX
    (b"\xb8\x00\x00", 0, False), (b"\x26" * 15 + b"\x90", 0, False),  # cut off, over 15 bytes
    # lock: allowed on read-modify-write instructions with a memory destination
    (b"\xf0\x01\x05" + D32, 7, False), (b"\xf0\x00\x05" + D32, 7, False),
    (b"\xf0\x83\x05" + D32 + b"\x01", 8, False), (b"\xf0\x81\x0d" + D32 + D32, 11, False),
    (b"\xf0\xf6\x15" + D32, 7, False), (b"\xf0\xf7\x1d" + D32, 7, False),  # not, neg
    (b"\xf0\xfe\x05" + D32, 7, False), (b"\xf0\xff\x0d" + D32, 7, False),  # inc, dec
    (b"\xf0\x87\x05" + D32, 7, False), (b"\xf0\x0f\xab\x05" + D32, 8, False),  # xchg, bts
    (b"\xf0\x0f\xb3\x05" + D32, 8, False), (b"\xf0\x0f\xbb\x05" + D32, 8, False),
    (b"\xf0\x0f\xba\x2d" + D32 + b"\x01", 9, False), (b"\xf0\x0f\xb1\x0d" + D32, 8, False),
    (b"\xf0\x0f\xc1\x05" + D32, 8, False), (b"\xf0\x0f\xc7\x0d" + D32, 8, False),
    (b"\x66\xf0\x01\x05" + D32, 8, False), (b"\xf0\xf0\x01\x05" + D32, 8, False),
    # ... and nowhere else
    (b"\xf0\x01\xc0", 3, True), (b"\xf0\x03\x05" + D32, 7, True), (b"\xf0\x89\xc0", 3, True),
    (b"\xf0\x89\x05" + D32, 7, True), (b"\xf0\x8d\x04\x24", 4, True), (b"\xf0\x90", 2, True),
    (b"\xf0\x39\x05" + D32, 7, True), (b"\xf0\x83\x3d" + D32 + b"\x01", 8, True),  # cmp
    (b"\xf0\xf6\x05" + D32 + b"\x01", 8, True), (b"\xf0\xfe\x25" + D32, 7, True),  # test, ff /4
    (b"\xf0\xff\x35" + D32, 7, True), (b"\xf0\x87\xc0", 3, True), (b"\xf0\x40", 2, True),
    (b"\xf0\x0f\xa3\x05" + D32, 8, True), (b"\xf0\x0f\xba\x25" + D32 + b"\x01", 9, True),  # bt
    (b"\xf0\x0f\xc7\xc8", 4, True), (b"\xf0\x0f\xb6\xc0", 4, True), (b"\xf0\xc5\xf8\x77", 4, True),
    (b"\xf0\x0f\x38\x00\xc1", 5, True), (b"\xf0\xa4", 2, True),
]


@pytest.mark.parametrize("code,length,bad", HAND_MADE, ids=[c.hex() for c, _, _ in HAND_MADE])
def test_decoder_on_hand_made_instructions(code, length, bad):
    """The bytes alone, and followed by more code (which must not count)."""
    assert decode(HELPER, code) == (length, bad)
    if length:
        assert decode(HELPER, code + b"\x90" * 15) == (length, bad)


# --- the machine ---------------------------------------------------------------------
UD = [r"  trap 0x00000006 Invalid Opcode", rf"  eip  0x{SITE:08x}", r"  eax  0x0000600d",
      r"\[00001000\] free env 00001000"]
# Locked instructions an i386 refuses (#UD), whether or not Unicorn runs them.
NOT_LOCKABLE = ["f089c0", f"f08905{DATA}", f"f08b05{DATA}", "f08d0424", "f001c0", f"f00305{DATA}",
                f"f03905{DATA}", f"f08505{DATA}", "f090", "f050", "f040", f"f00fa305{DATA}",
                "f00fb6c0", "f0f7d0", "f087c0", f"f0833d{DATA}01", f"f0f705{DATA}01000000",
                "f00fc7c8", f"f0c605{DATA}01", f"f0ff35{DATA}", "66f089c0", f"f00fba25{DATA}01"]


@pytest.mark.parametrize("insn", NOT_LOCKABLE)
def test_a_bad_lock_faults_invalid_opcode_at_its_eip(insn):
    """The instructions before it ran (eax), it did not (no `ran` line)."""
    text, _k = run([[insn]])
    grade_text(text, required=[rf"site {SITE:08x}: {insn}", *UD], forbidden=[r"ran .*"])


# (instruction, eax, first dword at DATA) after it ran: eax 0x600d, ecx 3, edx 0, DATA 5, 7.
LOCKABLE = [(f"f00105{DATA}", 0x600D, 0x6012), (f"f00905{DATA}", 0x600D, 0x600D),
            (f"f01105{DATA}", 0x600D, 0x6012), (f"f01905{DATA}", 0x600D, 0xFFFF9FF8),
            (f"f02105{DATA}", 0x600D, 5), (f"f02905{DATA}", 0x600D, 0xFFFF9FF8),
            (f"f03105{DATA}", 0x600D, 0x6008), (f"f00005{DATA}", 0x600D, 0x12),
            (f"f08305{DATA}01", 0x600D, 6), (f"f0810d{DATA}00010000", 0x600D, 0x105),
            (f"f08005{DATA}01", 0x600D, 6), (f"f0ff05{DATA}", 0x600D, 6),
            (f"f0ff0d{DATA}", 0x600D, 4), (f"f0f715{DATA}", 0x600D, 0xFFFFFFFA),
            (f"f0f71d{DATA}", 0x600D, 0xFFFFFFFB), (f"f08705{DATA}", 5, 0x600D),
            (f"f00fab0d{DATA}", 0x600D, 0xD), (f"f00fb30d{DATA}", 0x600D, 5),
            (f"f00fbb0d{DATA}", 0x600D, 0xD), (f"f00fba2d{DATA}01", 0x600D, 7),
            (f"f00fba35{DATA}00", 0x600D, 4), (f"f00fba3d{DATA}02", 0x600D, 1),
            (f"f00fb10d{DATA}", 5, 5), (f"f00fc105{DATA}", 5, 0x6012),
            (f"f00fc70d{DATA}", 5, 5), (f"66f00105{DATA}", 0x600D, 0x6012)]


def test_lockable_forms_with_a_memory_operand_still_work():
    """One env runs them all (each in the same code page: rewritten code is
    checked again) and exits."""
    text, _k = run([[insn for insn, _, _ in LOCKABLE]])
    for insn, eax, mem in LOCKABLE:
        assert f"ran {insn}: eax {eax:08x} mem {mem:08x} 00000007\n" in text, text
    grade_text(text, required=[r"\[00001000\] exiting gracefully"], forbidden=[r".*trap 0x.*"])


def test_rewritten_code_is_checked_again():
    """A good lock, then a bad one written over it at the same address."""
    text, _k = run([[f"f00105{DATA}", "f089c0"]])
    grade_text(text, required=[rf"ran f00105{DATA}: eax 0000600d mem 00006012 00000007", *UD],
               forbidden=[r"ran f089c0.*"])


def test_a_hooked_address_runs_another_envs_good_lock():
    """The code hook a bad lock leaves is on a virtual address, in every address
    space: a good lock at that address in another env still runs."""
    text, _k = run([["f089c0"], [f"f00105{DATA}"]])
    grade_text(text, required=[*UD, rf"ran f00105{DATA}: eax 0000600d mem 00006012 00000007",
                               r"\[00001001\] exiting gracefully"])


def test_more_bad_locks_than_code_hooks():
    """Each env faults at its own address (the instruction after k nops): past
    NHOOKED addresses the hooks are dropped and come back as needed."""
    n = NHOOKED + 3
    text, _k = run([["90" * k + "f089c0"] for k in range(n)] + [["90" * 2 + "f089c0"]])
    eips = re.findall(r"^  eip  0x([0-9a-f]{8})$", text, re.M)
    assert sorted(int(e, 16) for e in eips) == sorted([SITE + k for k in range(n)] + [SITE + 2])
    assert "ran" not in text


def test_every_cpu_checks():
    """Each CPU's Unicorn has its own hooks and translations."""
    text, kernel = run([["f089c0"], [f"f08b05{DATA}"], [f"f00105{DATA}"]], cpus=2)
    assert len(re.findall(r"trap 0x00000006 Invalid Opcode", text)) == 2, text
    assert set(re.findall(r"TRAP frame at 0x[0-9a-f]+ from CPU (\d)", text)) == {"0", "1"}, text
    assert f"ran f00105{DATA}: eax 0000600d mem 00006012 00000007" in text, text


def test_with_the_instruction_count_timer(monkeypatch):
    """Without the native timer (slices counted by Unicorn's instruction count,
    itself a code hook), the check works the same."""
    monkeypatch.setattr(kernel_module, "native_timer", lambda: None)
    text, kernel = run([["f089c0"], [f"90f08b05{DATA}"], [f"f00105{DATA}"]])
    assert kernel.cpus[0].machine.timer_unit == "instructions"
    eips = re.findall(r"^  eip  0x([0-9a-f]{8})$", text, re.M)
    assert sorted(int(e, 16) for e in eips) == [SITE, SITE + 1], text
    assert f"ran f00105{DATA}: eax 0000600d mem 00006012 00000007" in text, text


@pytest.mark.parametrize("insns,trap,eip", [("e460f089c0", "0d", SITE), ("f089c0e460", "06", SITE),
                                            ("90e460f089c0", "0d", SITE + 1)])
def test_the_first_fault_of_a_block_wins(insns, trap, eip):
    """An `in` (#GP, delivered after its block: Machine._io_fault) and a bad
    lock in one block: whichever comes first faults, at its own eip."""
    text, _k = run([[insns]])
    grade_text(text, required=[rf"  trap 0x000000{trap} .*", rf"  eip  0x{eip:08x}"],
               forbidden=[r"ran .*"])
