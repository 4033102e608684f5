"""Source positions of guest addresses, from an ELF's DWARF line programs.

line_table() reads .debug_line once per ELF (cached) into sequences of rows;
source_line() maps an address to the (file, line) of the row that covers it:
the row with the largest address <= addr in the sequence whose range holds
addr.  File names are relative to the guest tree, as JOS prints them
(user/hello.c, lib/libmain.c); a file outside every tree (a program beside
its headers, as tests build them) is named by its base name, as its
__FILE__ is.
"""

from __future__ import annotations

import bisect
import functools
import io
import os
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile

from .build import GUEST_DIR

_ENTRY = os.path.join("lib", "entry.S")  # every guest tree's first object


@dataclass(frozen=True)
class Sequence:
    """One line-program sequence: rows (addr, file, line) sorted by addr,
    covering [start, end)."""

    start: int
    end: int
    addrs: tuple[int, ...]
    positions: tuple[tuple[str, int], ...]


LineTable = tuple[Sequence, ...]  # sorted by start


@functools.lru_cache(maxsize=32)
def line_table(data: bytes) -> LineTable:
    """The line sequences of ELF `data`, sorted by start address; empty if it
    has no (readable) .debug_line."""
    try:
        elf = ELFFile(io.BytesIO(data))
        if not elf.has_dwarf_info():
            return ()
        dwarf = elf.get_dwarf_info()
        units = [(cu, dwarf.line_program_for_CU(cu)) for cu in dwarf.iter_CUs()]
        roots = _tree_roots(units)
        seqs = [seq for cu, prog in units if prog is not None
                for seq in _sequences(prog, _file_names(cu, prog, roots))]
    except Exception:  # pyelftools raises assorted exception types on malformed input
        return ()
    return tuple(sorted(seqs, key=lambda s: s.start))


def source_line(table: LineTable, addr: int) -> tuple[str, int] | None:
    """(file, line) of the row covering addr, or None if no sequence holds it."""
    index = bisect.bisect_right(table, addr, key=lambda s: s.start) - 1
    if index < 0 or addr >= table[index].end:
        return None
    seq = table[index]
    return seq.positions[bisect.bisect_right(seq.addrs, addr) - 1]


def _sequences(prog, names: list[str]) -> list[Sequence]:
    """The sequences of one line program, with its file indexes named."""
    out, addrs, positions = [], [], []
    for entry in prog.get_entries():
        state = entry.state
        if state is None:
            continue
        if state.end_sequence:
            if addrs:
                out.append(Sequence(addrs[0], state.address, tuple(addrs), tuple(positions)))
            addrs, positions = [], []
            continue
        addrs.append(state.address)
        positions.append((names[state.file] if 0 <= state.file < len(names) else "<unknown>",
                          state.line))
    return out


def _file_names(cu, prog, roots: list[str]) -> list[str]:
    """File names of a line program, indexed as its rows' `file` (from 0 in
    DWARF 5, from 1 before: index 0 then names nothing)."""
    version = prog.header["version"]
    comp_dir = _text(cu.get_top_DIE().attributes.get("DW_AT_comp_dir"))
    dirs = [_text(d) for d in prog.header["include_directory"]]
    if version < 5:
        dirs = [comp_dir, *dirs]
    names = [] if version >= 5 else ["<unknown>"]
    for entry in prog.header["file_entry"]:
        directory = dirs[entry.dir_index] if 0 <= entry.dir_index < len(dirs) else ""
        path = os.path.join(comp_dir, directory, _text(entry.name))
        names.append(_relative(os.path.normpath(path), roots))
    return names


def _tree_roots(units) -> list[str]:
    """Guest trees the program was built from: that of its lib/entry.S (a JOS
    tree's or pyjos's own), then pyjos's."""
    roots = []
    for cu, _prog in units:
        top = cu.get_top_DIE().attributes
        name = os.path.join(_text(top.get("DW_AT_comp_dir")), _text(top.get("DW_AT_name")))
        if name.endswith(os.sep + _ENTRY):
            roots.append(os.path.normpath(name[:-len(_ENTRY)]))
    return [*roots, str(GUEST_DIR)]


def _relative(path: str, roots: list[str]) -> str:
    """path relative to the first guest tree holding it, else its base name."""
    for root in roots:
        if path.startswith(root + os.sep):
            return path[len(root) + 1:]
    return os.path.basename(path)


def _text(value) -> str:
    """A DWARF string (an attribute or a raw value) as text; "" for none."""
    if value is None:
        return ""
    raw = getattr(value, "value", value)
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
