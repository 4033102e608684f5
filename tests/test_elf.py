"""Tests of ELF validation (pyjos.guest.elf): valid images load, every malformed one is an ElfError."""

from __future__ import annotations

import random
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pyjos.abi import UTOP
from pyjos.guest.elf import ElfError, ElfImage, Segment, parse_elf, symbolize, symbols

PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_W, PF_R = 1, 2, 4
EHDR_SIZE, PHDR_SIZE = 52, 32
# Byte offsets of the fields the tests corrupt.
E_TYPE, E_MACHINE, E_ENTRY, E_PHOFF, E_PHENTSIZE, E_PHNUM = 16, 18, 24, 28, 42, 44
P_TYPE, P_OFFSET, P_VADDR, P_FILESZ, P_MEMSZ = 0, 4, 8, 16, 20

TEXT = bytes(range(1, 17))  # 16 bytes of "code"
DATA = b"data"


def make_elf(
    entry: int = 0x800020,
    headers: tuple[tuple[int, int, bytes, int, int], ...] = (
        (PT_LOAD, 0x800020, TEXT, 16, PF_R | PF_X),
        (PT_LOAD, 0x801000, DATA, 0x2000, PF_R | PF_W),
        (PT_NOTE, 0, b"note", 4, PF_R),
    ),
) -> bytearray:
    """An ELF32 i386 executable: header, program headers (type, vaddr, data, memsz, flags), then data."""
    phoff = EHDR_SIZE
    offset = phoff + PHDR_SIZE * len(headers)
    phdrs, blobs = b"", b""
    for p_type, vaddr, blob, memsz, flags in headers:
        phdrs += struct.pack("<8I", p_type, offset + len(blobs), vaddr, vaddr, len(blob), memsz, flags, 0x1000)
        blobs += blob
    ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    ehdr = struct.pack("<16sHHIIIIIHHHHHH", ident, 2, 3, 1, entry, phoff, 0, 0,
                       EHDR_SIZE, PHDR_SIZE, len(headers), 40, 0, 0)
    return bytearray(ehdr + phdrs + blobs)


def patched(fmt: str, offset: int, value: int) -> Callable[[bytearray], bytes]:
    """A corruption that stores value (struct format fmt) at offset."""
    def corrupt(elf: bytearray) -> bytes:
        struct.pack_into("<" + fmt, elf, offset, value)
        return bytes(elf)
    return corrupt


def in_phdr(index: int, field: int, value: int) -> Callable[[bytearray], bytes]:
    return patched("I", EHDR_SIZE + index * PHDR_SIZE + field, value)


# --- Valid images ------------------------------------------------------------------

def test_valid_image() -> None:
    image = parse_elf(bytes(make_elf()))
    assert image == ElfImage(entry=0x800020, segments=(
        Segment(vaddr=0x800020, memsz=16, filesz=16, data=TEXT, writable=False, executable=True),
        Segment(vaddr=0x801000, memsz=0x2000, filesz=4, data=DATA, writable=True, executable=False),
    ))
    assert image.segments[1].end == 0x803000


def test_non_load_headers_are_ignored_even_if_bogus() -> None:
    elf = make_elf()
    struct.pack_into("<II", elf, EHDR_SIZE + 2 * PHDR_SIZE + P_OFFSET, 0xFFFFFF00, 0xFFFFFF00)
    assert len(parse_elf(bytes(elf)).segments) == 2


def test_segment_may_end_exactly_at_the_limit() -> None:
    elf = make_elf(entry=UTOP - 16, headers=((PT_LOAD, UTOP - 16, TEXT, 16, PF_R | PF_X),))
    assert parse_elf(bytes(elf)).segments[0].end == UTOP


def test_custom_limit() -> None:
    with pytest.raises(ElfError, match=r"is not below UTOP \(ends at 0x00803000, limit 0x00802000\)"):
        parse_elf(bytes(make_elf()), limit=0x802000)


# --- Malformed images ----------------------------------------------------------------

MALFORMED: dict[str, tuple[Callable[[bytearray], bytes], str]] = {
    "empty file": (lambda elf: b"", r"^not an ELF file \(file is empty\)$"),
    "random bytes": (lambda elf: random.Random(1).randbytes(300), r"^not an ELF file \(bad magic number\)$"),
    "truncated header": (lambda elf: bytes(elf[:40]), r"^truncated ELF header \(40 bytes, need 52\)$"),
    "64-bit class": (patched("B", 4, 2), r"^not a 32-bit ELF \(it is 64-bit\)$"),
    "unknown class": (patched("B", 4, 7), r"^not a 32-bit ELF \(class 7\)$"),
    "big endian": (patched("B", 5, 2), r"^not a little-endian ELF$"),
    "bad version": (patched("B", 6, 0), r"^unsupported ELF version 0/1$"),
    "relocatable object": (patched("H", E_TYPE, 1), r"^not an executable ELF \(type 1: relocatable object\)$"),
    "shared object": (patched("H", E_TYPE, 3), r"^not an executable ELF \(type 3: shared object or PIE\)$"),
    "x86-64 machine": (patched("H", E_MACHINE, 62), r"^ELF is for machine 62 \(x86-64\), not i386$"),
    "unknown machine": (patched("H", E_MACHINE, 999), r"^ELF is for machine 999 \(unknown\), not i386$"),
    "phentsize": (patched("H", E_PHENTSIZE, 40), r"^bad program header size 40 \(expected 32\)$"),
    "phoff past end": (patched("I", E_PHOFF, 0xFFFFFFF0), r"^program header 0 extends past end of file$"),
    "phnum past end": (patched("H", E_PHNUM, 9), r"^program header 3 extends past end of file$"),
    "no program headers": (patched("H", E_PHNUM, 0), r"^ELF has no loadable \(PT_LOAD\) segments$"),
    "entry segment not PT_LOAD": (in_phdr(0, P_TYPE, PT_NOTE), r"^entry point 0x00800020 is not inside any loadable segment$"),
    "segment past end": (in_phdr(0, P_FILESZ, 0x100000), r"^segment 0 at 0x00800020 extends past end of file$"),
    "offset past end": (in_phdr(1, P_OFFSET, 0xFFFFFFFF), r"^segment 1 at 0x00801000 extends past end of file$"),
    "filesz > memsz": (in_phdr(0, P_MEMSZ, 4),
                       r"^segment 0 at 0x00800020 has file size 0x10 larger than memory size 0x4$"),
    "segment above limit": (in_phdr(1, P_VADDR, UTOP - 0x1000),
                            r"^segment 1 at 0xeebff000 is not below UTOP \(ends at 0xeec01000, limit 0xeec00000\)$"),
    "segment wraps": (in_phdr(1, P_VADDR, 0xFFFFF000),
                      r"^segment 1 at 0xfffff000 wraps around the end of the address space$"),
    "entry outside": (patched("I", E_ENTRY, 0x100), r"^entry point 0x00000100 is not inside any loadable segment$"),
    "entry at segment end": (patched("I", E_ENTRY, 0x800030),
                             r"^entry point 0x00800030 is not inside any loadable segment$"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed(case: str) -> None:
    corrupt, message = MALFORMED[case]
    with pytest.raises(ElfError, match=message):
        parse_elf(corrupt(make_elf()))


def test_only_pt_load_segments_count() -> None:
    elf = make_elf(headers=((PT_NOTE, 0x800020, TEXT, 16, PF_R),))
    with pytest.raises(ElfError, match=r"^ELF has no loadable \(PT_LOAD\) segments$"):
        parse_elf(bytes(elf))


def mutate(rng: random.Random, elf: bytes) -> bytes:
    """One random corruption: byte flips, a word overwritten with an edge value, or a truncation."""
    data = bytearray(elf)
    choice = rng.randrange(3)
    if choice == 0:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif choice == 1:
        value = rng.choice([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, len(data), UTOP, rng.getrandbits(32)])
        struct.pack_into("<I", data, rng.randrange(len(data) - 3), value)
    else:
        del data[rng.randrange(len(data)):]
    return bytes(data)


def test_fuzzed_images_give_only_elf_errors() -> None:
    rng = random.Random(6828)
    valid = bytes(make_elf())
    outcomes = {"ok": 0, "error": 0}
    for _ in range(3000):
        data = mutate(rng, valid)
        try:
            parse_elf(data)
            outcomes["ok"] += 1
        except ElfError as e:
            assert str(e) and "\n" not in str(e)
            outcomes["error"] += 1
        assert isinstance(symbols(data), list)
    assert outcomes["ok"] > 0 and outcomes["error"] > 0


# --- Symbols -----------------------------------------------------------------------

SYMS = [(0x800020, 0, "_start"), (0x800030, 0x10, "umain"), (0x800040, 8, "exit")]


@pytest.mark.parametrize("addr, name", [
    (0x800020, "_start+0x0"),
    (0x800021, "0x00800021"),  # a size-0 symbol covers only its own address
    (0x800030, "umain+0x0"),
    (0x80003F, "umain+0xf"),
    (0x800047, "exit+0x7"),
    (0x800048, "0x00800048"),
    (0x100, "0x00000100"),
])
def test_symbolize(addr: int, name: str) -> None:
    assert symbolize(SYMS, addr) == name


def test_symbolize_without_symbols() -> None:
    assert symbolize([], 0x800020) == "0x00800020"


@pytest.mark.parametrize("data", [b"", b"\x7fELF", bytes(make_elf()), random.Random(2).randbytes(500)])
def test_symbols_of_files_without_symtab(data: bytes) -> None:
    assert symbols(data) == []


@pytest.fixture
def compiled_elf(tmp_path: Path) -> bytes:
    """A real static i386 executable from gcc -m32, or skip if gcc cannot make one."""
    source = tmp_path / "tiny.c"
    source.write_text(
        "int counter = 5;\n"
        "int bump(int n) { return counter += n; }\n"
        "void _start(void) { for (;;) bump(1); }\n"
    )
    out = tmp_path / "tiny"
    cmd = ["gcc", "-m32", "-O1", "-ffreestanding", "-fno-pie", "-no-pie", "-nostdlib", "-static",
           "-fno-asynchronous-unwind-tables", "-o", str(out), str(source)]
    try:
        subprocess.run(cmd, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("gcc -m32 cannot link a static i386 executable here")
    return out.read_bytes()


def test_compiled_executable(compiled_elf: bytes) -> None:
    image = parse_elf(compiled_elf)
    syms = symbols(compiled_elf)
    by_name = {name: (addr, size) for addr, size, name in syms}
    assert {"_start", "bump"} <= set(by_name)
    assert image.entry == by_name["_start"][0]
    assert any(seg.executable and seg.vaddr <= image.entry < seg.end for seg in image.segments)
    assert any(seg.writable and struct.pack("<I", 5) in seg.data for seg in image.segments)
    bump, size = by_name["bump"]
    assert symbolize(syms, bump + size - 1) == f"bump+0x{size - 1:x}"
