"""The target description gdb reads with ``qXfer:features:read:target.xml``.

gdb accepts an i386 description only if its ``org.gnu.gdb.i386.core`` feature
names the 16 integer registers and the 16 x87 ones, in that order.  The
server supplies the integer registers (numbers 0..15, the ``g`` packet); the
x87 registers (16..31) are described so that gdb takes the description, and
read as unavailable.
"""

from __future__ import annotations

from .target import REGISTERS

_TYPES = {"esp": "data_ptr", "ebp": "data_ptr", "eip": "code_ptr", "eflags": "i386_eflags"}
_X87 = ([(f"st{i}", 80, "i387_ext", "float") for i in range(8)]
        + [(name, 32, "int", "float") for name in
           ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")])
X87_REGISTERS = tuple(name for name, *_ in _X87)
X87_SIZES = tuple(bits // 8 for _, bits, *_ in _X87)

# eflags bits gdb shows by name ("[ IF ZF ]").
_EFLAGS = (("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("TF", 8),
           ("IF", 9), ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16), ("VM", 17),
           ("AC", 18), ("VIF", 19), ("VIP", 20), ("ID", 21))


def _reg(name: str, number: int, bits: int, type_: str, group: str | None = None) -> str:
    group_attr = f' group="{group}"' if group else ""
    return (f'    <reg name="{name}" bitsize="{bits}" type="{type_}"'
            f' regnum="{number}"{group_attr}/>')


def target_xml() -> bytes:
    """The whole description as UTF-8 XML."""
    fields = "\n".join(f'      <field name="{n}" start="{b}" end="{b}"/>' for n, b in _EFLAGS)
    regs = [_reg(name, i, 32, _TYPES.get(name, "int32")) for i, name in enumerate(REGISTERS)]
    regs += [_reg(name, len(REGISTERS) + i, bits, type_, group)
             for i, (name, bits, type_, group) in enumerate(_X87)]
    text = "\n".join([
        '<?xml version="1.0"?>',
        '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
        "<target>",
        "  <architecture>i386</architecture>",
        '  <feature name="org.gnu.gdb.i386.core">',
        '    <flags id="i386_eflags" size="4">',
        fields,
        "    </flags>",
        *regs,
        "  </feature>",
        "</target>",
        "",
    ])
    return text.encode()
