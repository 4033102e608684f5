"""ELF loading: validate an i386 executable and extract what the loader maps.

parse_elf() hand-parses the file with struct and checks every field the loader
relies on, so a malformed or hostile file gives an ElfError with a one-line
reason, never another exception.  symbols() and symbolize() turn guest
addresses into `name+0xoff` for diagnostics.
"""

from __future__ import annotations

import bisect
import io
import struct
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from ..abi import UTOP

ELF_MAGIC = b"\x7fELF"
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
EV_CURRENT = 1
ET_EXEC = 2
EM_386 = 3
PT_LOAD = 1
PF_X = 0x1
PF_W = 0x2

_EHDR = struct.Struct("<16sHHIIIIIHHHHHH")  # Elf32_Ehdr, 52 bytes
_PHDR = struct.Struct("<IIIIIIII")  # Elf32_Phdr, 32 bytes
_ADDRESS_SPACE = 1 << 32

_TYPE_NAMES = {0: "no file type", 1: "relocatable object", 3: "shared object or PIE", 4: "core file"}
_MACHINE_NAMES = {
    2: "SPARC", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 40: "ARM",
    50: "IA-64", 62: "x86-64", 183: "AArch64", 243: "RISC-V",
}


class ElfError(Exception):
    """The file is not a loadable i386 executable; the message says why in one line."""


@dataclass(frozen=True)
class Segment:
    """One PT_LOAD segment: `data` (filesz bytes) goes at vaddr, zero-filled up to memsz."""

    vaddr: int
    memsz: int
    filesz: int
    data: bytes
    writable: bool
    executable: bool

    @property
    def end(self) -> int:
        """First address past the segment in memory."""
        return self.vaddr + self.memsz


@dataclass(frozen=True)
class ElfImage:
    """What the loader needs from an executable: its entry point and loadable segments."""

    entry: int
    segments: tuple[Segment, ...]


def parse_elf(data: bytes, *, limit: int = UTOP) -> ElfImage:
    """Validate `data` as a 32-bit little-endian i386 ET_EXEC file and return its image.

    Every PT_LOAD segment must lie within the file, have filesz <= memsz and end
    at or below `limit`; the entry point must lie inside a loadable segment.
    Other program headers are ignored.  Raises ElfError on any violation.
    """
    data = bytes(data)
    ehdr = _check_header(data)
    entry, phoff, phentsize, phnum = ehdr[4], ehdr[5], ehdr[9], ehdr[10]
    if phnum and phentsize != _PHDR.size:
        raise ElfError(f"bad program header size {phentsize} (expected {_PHDR.size})")
    segments = tuple(
        _load_segment(data, index, phdr, limit)
        for index, phdr in enumerate(_program_headers(data, phoff, phnum))
        if phdr[0] == PT_LOAD
    )
    if not segments:
        raise ElfError("ELF has no loadable (PT_LOAD) segments")
    if not any(seg.vaddr <= entry < seg.end for seg in segments):
        raise ElfError(f"entry point 0x{entry:08x} is not inside any loadable segment")
    return ElfImage(entry=entry, segments=segments)


def _check_header(data: bytes) -> tuple[int, ...]:
    """Return the unpacked ELF header after checking identity, type and machine."""
    if not data:
        raise ElfError("not an ELF file (file is empty)")
    if data[:4] != ELF_MAGIC:
        raise ElfError("not an ELF file (bad magic number)")
    if len(data) < _EHDR.size:
        raise ElfError(f"truncated ELF header ({len(data)} bytes, need {_EHDR.size})")
    ehdr = _EHDR.unpack_from(data)
    ident, e_type, e_machine, e_version = ehdr[:4]
    if ident[4] != ELFCLASS32:
        detail = " (it is 64-bit)" if ident[4] == ELFCLASS64 else f" (class {ident[4]})"
        raise ElfError("not a 32-bit ELF" + detail)
    if ident[5] != ELFDATA2LSB:
        raise ElfError("not a little-endian ELF")
    if ident[6] != EV_CURRENT or e_version != EV_CURRENT:
        raise ElfError(f"unsupported ELF version {ident[6]}/{e_version}")
    if e_type != ET_EXEC:
        kind = _TYPE_NAMES.get(e_type, "unknown")
        raise ElfError(f"not an executable ELF (type {e_type}: {kind})")
    if e_machine != EM_386:
        machine = _MACHINE_NAMES.get(e_machine, "unknown")
        raise ElfError(f"ELF is for machine {e_machine} ({machine}), not i386")
    return ehdr


def _program_headers(data: bytes, phoff: int, phnum: int) -> list[tuple[int, ...]]:
    """Unpack phnum program headers starting at phoff, each checked to lie within the file."""
    headers = []
    for index in range(phnum):
        offset = phoff + index * _PHDR.size
        if offset + _PHDR.size > len(data):
            raise ElfError(f"program header {index} extends past end of file")
        headers.append(_PHDR.unpack_from(data, offset))
    return headers


def _load_segment(data: bytes, index: int, phdr: tuple[int, ...], limit: int) -> Segment:
    """Check one PT_LOAD header against the file and `limit` and return its Segment."""
    _, offset, vaddr, _, filesz, memsz, flags, _ = phdr
    where = f"segment {index} at 0x{vaddr:08x}"
    if offset + filesz > len(data):
        raise ElfError(f"{where} extends past end of file")
    if filesz > memsz:
        raise ElfError(f"{where} has file size 0x{filesz:x} larger than memory size 0x{memsz:x}")
    if vaddr + memsz > _ADDRESS_SPACE:
        raise ElfError(f"{where} wraps around the end of the address space")
    if vaddr + memsz > limit:
        raise ElfError(f"{where} is not below UTOP (ends at 0x{vaddr + memsz:08x}, limit 0x{limit:08x})")
    return Segment(
        vaddr=vaddr,
        memsz=memsz,
        filesz=filesz,
        data=data[offset:offset + filesz],
        writable=bool(flags & PF_W),
        executable=bool(flags & PF_X),
    )


Symbols = list[tuple[int, int, str]]


def symbols(data: bytes) -> Symbols:
    """Return the code symbols of an ELF file as sorted (addr, size, name) tuples:
    FUNC symbols, and global NOTYPE labels in executable sections (assembly
    entry points such as `_start`), which have no size: each is taken to
    cover the code up to the next symbol.

    Returns an empty list if the file has no symbol table or cannot be parsed.
    """
    try:
        elf = ELFFile(io.BytesIO(bytes(data)))
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return []
        funcs = sorted((sym["st_value"], sym["st_size"], sym.name)
                       for sym in symtab.iter_symbols() if sym["st_info"]["type"] == "STT_FUNC")
        labels = {sym["st_value"]: sym.name for sym in symtab.iter_symbols()
                  if _code_label(elf, sym)}
        starts = sorted({f[0] for f in funcs} | set(labels))
        for addr, name in labels.items():
            nxt = bisect.bisect_right(starts, addr)
            funcs.append((addr, starts[nxt] - addr if nxt < len(starts) else 1, name))
        return sorted(funcs)
    except Exception:  # pyelftools raises assorted exception types on malformed input
        return []


def _code_label(elf: ELFFile, sym) -> bool:
    """A global NOTYPE symbol defined in an executable section."""
    if sym["st_info"]["type"] != "STT_NOTYPE" or sym["st_info"]["bind"] != "STB_GLOBAL":
        return False
    shndx = sym["st_shndx"]
    if not isinstance(shndx, int):  # SHN_UNDEF, SHN_ABS
        return False
    return bool(elf.get_section(shndx)["sh_flags"] & 0x4)  # SHF_EXECINSTR


def data_symbol(data: bytes, name: str) -> tuple[int, int] | None:
    """(address, size) of the OBJECT symbol `name`, or None if there is none."""
    try:
        symtab = ELFFile(io.BytesIO(bytes(data))).get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return None
        for sym in symtab.get_symbol_by_name(name) or []:
            if sym["st_info"]["type"] == "STT_OBJECT":
                return sym["st_value"], sym["st_size"]
    except Exception:  # pyelftools raises assorted exception types on malformed input
        return None
    return None


def symbol_at(syms: Symbols, addr: int) -> tuple[str, int] | None:
    """(name, start) of the symbol of `syms` that holds `addr`, or None.

    A symbol of size 0 covers only its own address.
    """
    index = bisect.bisect_right(syms, addr, key=lambda sym: sym[0]) - 1
    if index >= 0:
        start, size, name = syms[index]
        if addr < start + max(size, 1):
            return name, start
    return None


def symbolize(syms: Symbols, addr: int) -> str:
    """Name `addr` as `name+0xoff` if it lies inside a symbol of `syms` (see
    symbol_at), else as `0x%08x`."""
    found = symbol_at(syms, addr)
    if found is None:
        return f"0x{addr:08x}"
    return f"{found[0]}+0x{addr - found[1]:x}"
