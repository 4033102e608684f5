"""The kernel monitor, entered on a user breakpoint (``int3``) and when no
env is left (JOS's sched_halt).

As in JOS, a breakpoint prints the monitor banner and the trap frame.  With a
source of command lines (a terminal, or lines given by a test) the monitor
reads commands at the ``K> `` prompt; ``continue`` resumes the env after its
``int3``.  Without one, the run ends there, with the env still alive.
``KernelConfig.on_breakpoint`` may skip the monitor: "destroy" ends the env,
"continue" resumes it, and the other envs run on either way.  When the last
env is gone the monitor prints its banner and, on a terminal, takes commands
until ``quit`` (or the end of input).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..abi import PTE_COW, PTE_P, PTE_SHARE, PTE_U, PTE_W, EnvStatus, Trap
from ..guest.dwarf import line_table, source_line
from ..guest.elf import symbol_at
from .env import env_destroy
from .frames import env_mappings, frame_mappers, pp_ref
from .trapframe import print_trapframe, record_trap
from .vm import copyin, user_mem_check

if TYPE_CHECKING:
    from .env import Program
    from .kernel import Kernel

MAX_FRAMES = 64
# What a user int3 does (KernelConfig.on_breakpoint; "stop" is JOS's monitor).
ON_BREAKPOINT = ("stop", "destroy", "continue")


BANNER = "Welcome to the JOS kernel monitor!\nType 'help' for a list of commands.\n"
_NEED_ENV = frozenset({"backtrace", "tf", "vm", "continue"})


def breakpoint(k: Kernel, idx: int, err: int) -> None:
    """Handle env idx's int3: banner, trap frame, then the command loop (or stop)."""
    record_trap(k, idx, Trap.T_BRKPT, err)
    k.cprintf(BANNER)
    print_trapframe(k, idx)
    policy = k.config.on_breakpoint
    if policy != "stop":
        k.cprintf(f"K> (--on-breakpoint {policy})\n")
        if policy == "destroy":
            env_destroy(k, idx)
        return
    if k.monitor_lines is None:
        k.cprintf("K> (no terminal: the run stops in the monitor)\n")
        k.halt("monitor", f"breakpoint in env {k.envs[idx].env_id:08x}")
        return
    if command_loop(k, idx) != "continue":
        k.halt("monitor", "quit from the monitor")


def sched_halt(k: Kernel) -> None:
    """No env is left (JOS's sched_halt enters the monitor): the banner, and
    with a source of command lines, commands until `quit` or the end of input."""
    k.cprintf(BANNER)
    if k.monitor_lines is not None:
        command_loop(k, None)


def command_loop(k: Kernel, idx: int | None) -> str:
    """Read and run commands at ``K> `` for env idx (None: no env is left);
    "continue" when the env is to resume, "quit" when the monitor is done."""
    lines = k.monitor_lines
    for line in lines:
        if not isinstance(k.config.monitor_input, TerminalLines):
            k.cprintf(f"K> {line}\n")
        words = line.split()
        if not words:
            continue
        cmd = COMMANDS.get(words[0])
        if cmd is None:
            k.cprintf(f"Unknown command '{words[0]}'\n")
            continue
        if idx is None and words[0] in _NEED_ENV:
            k.cprintf(f"{words[0]}: no environment is left\n")
            continue
        verdict = cmd[1](k, idx, words[1:])
        if verdict in ("continue", "quit"):
            return verdict
    return "quit"


class TerminalLines:
    """Monitor commands typed at the terminal, prompting with ``K> ``; end of
    input or Ctrl-C (a KeyboardInterrupt from interrupt.py's handler while
    ``prompting``) ends them."""

    def __init__(self) -> None:
        self.prompting = False

    def __iter__(self):
        while True:
            self.prompting = True
            try:
                line = input("K> ")
            except (EOFError, KeyboardInterrupt):
                print()
                return
            finally:
                self.prompting = False
            yield line


def mon_help(k: Kernel, idx: int, args: list[str]) -> str | None:
    """List the commands."""
    for name, (desc, _fn) in COMMANDS.items():
        k.cprintf(f"{name} - {desc}\n")
    return None


def mon_backtrace(k: Kernel, idx: int, args: list[str]) -> str | None:
    """Walk the user stack's frame-pointer chain, as JOS's mon_backtrace: the
    trap's eip, then per frame its ebp, return eip and first five argument
    words, each eip followed by its source position (see source_position)."""
    tf = k.envs[idx].env_tf
    prog = k.envtab.programs.get(idx)
    pgdir = k.envtab.pgdir(idx)
    k.cprintf("Stack backtrace:\n")
    ebp, eip = tf.tf_regs.reg_ebp, tf.tf_eip
    k.cprintf(f"  eip {eip:08x}\n{source_position(prog, eip)}")
    for _ in range(MAX_FRAMES):
        if ebp == 0 or user_mem_check(k.pmap, pgdir, ebp, 28, PTE_U) is not None:
            break
        words = struct.unpack("<7I", copyin(k.pmap, pgdir, ebp, 28))
        ret = words[1]
        args_s = " ".join(f"{a:08x}" for a in words[2:])
        k.cprintf(f"  ebp {ebp:08x}  eip {ret:08x}  args {args_s}\n{source_position(prog, ret)}")
        ebp = words[0]
    return None


def source_position(prog: Program | None, eip: int) -> str:
    """JOS's line after each frame (debuginfo_eip): `file:line: fn+offset`,
    offset in decimal; file and line from the ELF's DWARF line table, fn
    from its symbols, and `<unknown>` (line 0, offset 0) for what they lack."""
    where = source_line(line_table(bytes(prog.elf)), eip) if prog else None
    file, line = where or ("<unknown>", 0)
    found = symbol_at(prog.symbols, eip) if prog else None
    name, start = found or ("<unknown>", eip)
    return f"         {file}:{line}: {name}+{eip - start}\n"


def mon_tf(k: Kernel, idx: int, args: list[str]) -> str | None:
    """Print the trap frame again."""
    print_trapframe(k, idx)
    return None


def mon_envs(k: Kernel, idx: int, args: list[str]) -> str | None:
    """List live envs: id, parent, status, runs, program, and (with several
    CPUs) the CPU of a running one."""
    on_cpu = {cpu.env: cpu.num for cpu in k.cpus if cpu.env is not None and len(k.cpus) > 1}
    for i in k.envtab.live():
        e = k.envs[i]
        prog = k.envtab.programs.get(i)
        where = f" cpu {on_cpu[i]}" if i in on_cpu else ""
        k.cprintf(f"  {e.env_id:08x} parent {e.env_parent_id:08x} "
                  f"{EnvStatus(e.env_status).name:16s} runs {e.env_runs:6d} "
                  f"{prog.name if prog else '?'}{where}\n")
    return None


def mon_vm(k: Kernel, idx: int, args: list[str]) -> str | None:
    """Show the env's user pages: frame, pp_ref, bits, other envs mapping it."""
    k.cprintf(format_mappings(k, idx))
    return None


PERM_BITS = (("P", PTE_P), ("W", PTE_W), ("U", PTE_U), ("C", PTE_COW), ("S", PTE_SHARE))


def perm_string(perm: int) -> str:
    """PTE bits as five letters, "-" for each bit clear: P W U C(OW) S(HARE)."""
    return "".join(c if perm & b else "-" for c, b in PERM_BITS)


def format_mappings(k: Kernel, idx: int) -> str:
    """Text table of env idx's mapped user pages, one row per page: va, frame
    number, pp_ref, bits, and the other envs that map the same frame (id, and
    @va where their va differs)."""
    mappers = frame_mappers(k)
    out = [f"  {'va':8s}  {'frame':>5s}  {'pp_ref':>6s}  perm   also mapped by\n"]
    for m in env_mappings(k, idx):
        others = " ".join(
            f"{k.envs[o.env].env_id:08x}" + (f"@{o.va:08x}" if o.va != m.va else "")
            for o in mappers.get(m.ppn, ()) if o.env != idx)
        out.append(f"  {m.va:08x}  {m.ppn:05x}  {pp_ref(k, m.ppn):6d}  {perm_string(m.perm)}  "
                   f"{others or '-'}\n")
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
