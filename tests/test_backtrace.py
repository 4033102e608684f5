"""The monitor's backtrace names each frame's source position, as JOS's
mon_backtrace with debuginfo_eip: `file:line: fn+offset` from the program's
DWARF line table, `<unknown>` where it has none."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from conftest import check_no_leaks, guest_source

from pyjos.guest.build import GUEST_DIR, build_program
from pyjos.guest.dwarf import Sequence, source_line
from pyjos.kernel.kernel import Kernel, KernelConfig

FRAME = re.compile(r"^  (?:ebp [0-9a-f]{8}  )?eip ([0-9a-f]{8})(?:  args(?: [0-9a-f]{8}){5})?\n"
                   r"         (\S+):(\d+): (\S+)\+(\d+)$", re.M)


def marker_line(path: Path, marker: str) -> int:
    """The 1-based number of the one line of path containing marker."""
    found = [n for n, line in enumerate(path.read_text().splitlines(), 1) if marker in line]
    assert len(found) == 1, (path, marker, found)
    return found[0]


def frames(text: str) -> list[tuple[int, str, int, str]]:
    """(eip, file, line, function) of each backtrace frame in the text."""
    return [(int(eip, 16), file, int(line), fn) for eip, file, line, fn, _off in FRAME.findall(text)]


def backtrace_of(elf: bytes) -> str:
    """The console of a run of elf whose monitor runs `backtrace`, `continue`."""
    out: list[str] = []
    kernel = Kernel(KernelConfig(monitor_input=["backtrace", "continue"]), out=out.append)
    kernel.create_env_from_elf("btlines", elf)
    result = kernel.run()
    text = "".join(out)
    check_no_leaks(kernel, result, text)
    assert result.reason == "idle" and "btlines 140" in text, text
    return text


def test_backtrace_shows_file_and_line_of_each_frame():
    """umain -> f -> g -> int3: g after its int3 (the trap's eip), then each return address on the
    line of its call (its value is used on that line), then libmain and
    _start on the statement after their call (JOS looks up the return eip
    itself)."""
    source = Path(guest_source("btlines"))
    elf = build_program(str(source))
    text = backtrace_of(elf.read_bytes())
    lib = GUEST_DIR / "lib"
    expected = [
        ("btlines.c", marker_line(source, "@resume"), "g"),
        ("btlines.c", marker_line(source, "@call-g"), "f"),
        ("btlines.c", marker_line(source, "@call-f"), "umain"),
        ("lib/libmain.c", marker_line(lib / "libmain.c", "umain(argc, argv);") + 1, "libmain"),
        ("lib/entry.S", marker_line(lib / "entry.S", "call\tlibmain") + 1, "_start"),
    ]
    got = frames(text)
    assert [(f, line, fn) for _eip, f, line, fn in got] == expected, text
    # binutils' addr2line reads the same DWARF independently: same lines
    a2l = subprocess.run(["addr2line", "-e", str(elf), *(f"{eip:x}" for eip, *_ in got)],
                         capture_output=True, text=True, check=True).stdout.split()
    assert [(Path(p.split(":")[0]).name, int(p.split(":")[1].split()[0])) for p in a2l] == \
        [(Path(f).name, line) for f, line, _fn in expected]


def test_backtrace_offsets_are_decimal_from_the_symbol():
    """fn+offset is eip minus the function's address (binutils' nm), in decimal."""
    elf = build_program(guest_source("btlines"))
    text = backtrace_of(elf.read_bytes())
    nm = subprocess.run(["nm", str(elf)], capture_output=True, text=True, check=True).stdout
    addr = {line.split()[2]: int(line.split()[0], 16) for line in nm.splitlines()
            if len(line.split()) == 3}
    shown = re.findall(r"^  (?:ebp [0-9a-f]{8}  )?eip ([0-9a-f]{8}).*\n\s+\S+ (\w+)\+(\d+)$",
                       text, re.M)
    assert len(shown) == 5, text
    for eip, fn, off in shown:
        assert int(off) == int(eip, 16) - addr[fn], (fn, eip, off)


def test_backtrace_without_line_info_says_unknown(tmp_path):
    """A program without DWARF (objcopy --strip-debug): the symbols remain,
    every position is `<unknown>:0`, as JOS's debuginfo_eip leaves it."""
    stripped = tmp_path / "btlines"
    subprocess.run(["objcopy", "--strip-debug", str(build_program(guest_source("btlines"))),
                    str(stripped)], check=True)
    got = frames(backtrace_of(stripped.read_bytes()))
    assert [(f, line, fn) for _eip, f, line, fn in got] == [
        ("<unknown>", 0, fn) for fn in ("g", "f", "umain", "libmain", "_start")]


def test_backtrace_eip_outside_every_sequence(run_programs):
    """bt's looping frame returns to eip 0: no line, no symbol."""
    text, _k, _result = run_programs([guest_source("bt")], ["loop"],
                                     monitor_input=["backtrace", "continue"])
    assert "  ebp" in text and re.search(
        r"^  ebp [0-9a-f]{8}  eip 00000000  args .*\n         <unknown>:0: <unknown>\+0$",
        text, re.M), text


def test_source_line_rows_and_sequence_ends():
    table = (Sequence(0x100, 0x110, (0x100, 0x100, 0x108), (("a.c", 1), ("a.c", 2), ("a.c", 5))),
             Sequence(0x200, 0x204, (0x200,), (("lib/b.S", 9),)))
    assert source_line(table, 0xff) is None
    assert source_line(table, 0x100) == ("a.c", 2)  # the last row at an address covers it
    assert source_line(table, 0x107) == ("a.c", 2)
    assert source_line(table, 0x10f) == ("a.c", 5)
    assert source_line(table, 0x110) is None  # a sequence's end is outside it
    assert source_line(table, 0x203) == ("lib/b.S", 9)
    assert source_line(table, 0x204) is None
    assert source_line((), 0x100) is None
