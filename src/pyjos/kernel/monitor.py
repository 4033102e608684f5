"""The kernel monitor, entered on a user breakpoint (``int3``).

As in JOS, a breakpoint prints the monitor banner and the trap frame.  With a
source of command lines (a terminal, or lines given by a test) the monitor
reads commands at the ``K> `` prompt; ``continue`` resumes the env after its
``int3``.  Without one, the run ends there, with the env still alive.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..abi import PGSIZE, PTE_COW, PTE_P, PTE_SHARE, PTE_U, PTE_W, EnvStatus, Trap
from ..guest.elf import symbolize
from .trapframe import print_trapframe, record_trap
from .vm import copyin, user_mem_check

if TYPE_CHECKING:
    from .kernel import Kernel

MAX_FRAMES = 64


def breakpoint(k: Kernel, idx: int, err: int) -> None:
    """Handle env idx's int3: banner, trap frame, then the command loop (or stop)."""
    record_trap(k, idx, Trap.T_BRKPT, err)
    k.cprintf("Welcome to the JOS kernel monitor!\nType 'help' for a list of commands.\n")
    print_trapframe(k, idx)
    lines = k.config.monitor_input
    if lines is None:
        k.cprintf("K> (no terminal: the run stops in the monitor)\n")
        k.halt("monitor", f"breakpoint in env {k.envs[idx].env_id:08x}")
        return
    for line in lines:
        if not isinstance(lines, TerminalLines):
            k.cprintf(f"K> {line}\n")
        words = line.split()
        if not words:
            continue
        cmd = COMMANDS.get(words[0])
        if cmd is None:
            k.cprintf(f"Unknown command '{words[0]}'\n")
            continue
        verdict = cmd[1](k, idx, words[1:])
        if verdict == "continue":
            return
        if verdict == "quit":
            break
    k.halt("monitor", "quit from the monitor")


class TerminalLines:
    """Monitor commands typed at the terminal, prompting with ``K> ``."""

    def __iter__(self):
        while True:
            try:
                yield input("K> ")
            except EOFError:
                return


def mon_help(k: Kernel, idx: int, args: list[str]) -> str | None:
    """List the commands."""
    for name, (desc, _fn) in COMMANDS.items():
        k.cprintf(f"{name} - {desc}\n")
    return None


def mon_backtrace(k: Kernel, idx: int, args: list[str]) -> str | None:
    """Walk the user stack's frame-pointer chain."""
    tf = k.envs[idx].env_tf
    prog = k.envtab.programs.get(idx)
    pgdir = k.envtab.pgdir(idx)
    syms = prog.symbols if prog else []
    k.cprintf("Stack backtrace:\n")
    ebp, eip = tf.tf_regs.reg_ebp, tf.tf_eip
    k.cprintf(f"  eip {eip:08x}  {symbolize(syms, eip)}\n")
    for _ in range(MAX_FRAMES):
        if ebp == 0 or user_mem_check(k.pmap, pgdir, ebp, 28, PTE_U) is not None:
            break
        words = struct.unpack("<7I", copyin(k.pmap, pgdir, ebp, 28))
        ret = words[1]
        args_s = " ".join(f"{a:08x}" for a in words[2:])
        k.cprintf(f"  ebp {ebp:08x}  eip {ret:08x}  args {args_s}  {symbolize(syms, ret)}\n")
        ebp = words[0]
    return None


def mon_tf(k: Kernel, idx: int, args: list[str]) -> str | None:
    """Print the trap frame again."""
    print_trapframe(k, idx)
    return None


def mon_envs(k: Kernel, idx: int, args: list[str]) -> str | None:
    """List live envs: id, parent, status, runs, program."""
    for i in k.envtab.live():
        e = k.envs[i]
        prog = k.envtab.programs.get(i)
        k.cprintf(f"  {e.env_id:08x} parent {e.env_parent_id:08x} "
                  f"{EnvStatus(e.env_status).name:16s} runs {e.env_runs:6d} "
                  f"{prog.name if prog else '?'}\n")
    return None


def mon_vm(k: Kernel, idx: int, args: list[str]) -> str | None:
    """Show the env's user page mappings (runs of pages with equal perms)."""
    k.cprintf(format_mappings(k, idx))
    return None


def format_mappings(k: Kernel, idx: int) -> str:
    """Text table of env idx's mapped user pages, grouping contiguous runs."""
    rows = []
    run: list[int] | None = None  # [start va, end va, first frame, perm bits]
    for va, pte in k.pmap.user_pages(k.envtab.pgdir(idx)):
        perm = pte & (PTE_P | PTE_W | PTE_U | PTE_COW | PTE_SHARE)
        if run and run[1] == va and run[3] == perm:
            run[1] = va + PGSIZE
            continue
        if run:
            rows.append(run)
        run = [va, va + PGSIZE, pte & ~0xFFF, perm]
    if run:
        rows.append(run)
    out = [f"  {'va range':17s}  {'pages':>5s}  {'frame':8s}  perm\n"]
    for start, end, frame, perm in rows:
        bits = "".join(c if perm & b else "-" for c, b in (
            ("P", PTE_P), ("W", PTE_W), ("U", PTE_U), ("C", PTE_COW), ("S", PTE_SHARE)))
        out.append(f"  {start:08x}-{end:08x}  {(end - start) // PGSIZE:5d}  {frame:08x}  {bits}\n")
    return "".join(out)


def mon_continue(k: Kernel, idx: int, args: list[str]) -> str | None:
    """Resume the env after its breakpoint."""
    return "continue"


def mon_quit(k: Kernel, idx: int, args: list[str]) -> str | None:
    """Stop the machine."""
    return "quit"


Command = Callable[["Kernel", int, list[str]], "str | None"]
COMMANDS: dict[str, tuple[str, Command]] = {
    "help": ("Display this list of commands", mon_help),
    "backtrace": ("Display a backtrace of the user stack", mon_backtrace),
    "tf": ("Display the trap frame", mon_tf),
    "envs": ("List the live environments", mon_envs),
    "vm": ("Display this environment's page mappings", mon_vm),
    "continue": ("Resume the environment", mon_continue),
    "quit": ("Stop the machine", mon_quit),
}
