"""The saved trap frame of an env: recording a trap, and JOS's print_trapframe."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..abi import FEC_PR, FEC_U, FEC_WR, Trap, trapname

if TYPE_CHECKING:
    from .kernel import Kernel


def record_trap(k: Kernel, idx: int, trapno: int, err: int) -> None:
    """Save the CPU state of env idx (running on k.cpu) into env_tf with the
    trap number and error code."""
    k.cpu.save_frame(idx)
    tf = k.envs[idx].env_tf
    tf.tf_trapno = trapno
    tf.tf_err = err
    tf.tf_cs, tf.tf_ss = k.cpu.machine.segments()[2:]


def format_trapframe(k: Kernel, idx: int, cr2: int | None = None) -> str:
    """JOS's print_trapframe (lab 4's) of envs[idx].env_tf, trapped on k.cpu."""
    tf = k.envs[idx].env_tf
    r = tf.tf_regs
    where = "" if k.config.console == "lab3" else f" from CPU {k.cpu.num}"  # lab 3: one CPU
    lines = [f"TRAP frame at 0x{k.envtab.kva(idx):08x}{where}"]
    for name, val in (("edi ", r.reg_edi), ("esi ", r.reg_esi), ("ebp ", r.reg_ebp),
                      ("oesp", r.reg_oesp), ("ebx ", r.reg_ebx), ("edx ", r.reg_edx),
                      ("ecx ", r.reg_ecx), ("eax ", r.reg_eax)):
        lines.append(f"  {name} 0x{val:08x}")
    lines.append(f"  es   0x----{tf.tf_es:04x}")
    lines.append(f"  ds   0x----{tf.tf_ds:04x}")
    lines.append(f"  trap 0x{tf.tf_trapno:08x} {trapname(tf.tf_trapno)}")
    if tf.tf_trapno == Trap.T_PGFLT:
        lines.append(f"  cr2  0x{(cr2 if cr2 is not None else k.cpu.machine.cr2()):08x}")
        err = tf.tf_err
        lines.append(f"  err  0x{err:08x} [{'user' if err & FEC_U else 'kernel'}, "
                     f"{'write' if err & FEC_WR else 'read'}, "
                     f"{'protection' if err & FEC_PR else 'not-present'}]")
    else:
        lines.append(f"  err  0x{tf.tf_err:08x}")
    lines.append(f"  eip  0x{tf.tf_eip:08x}")
    lines.append(f"  cs   0x----{tf.tf_cs:04x}")
    lines.append(f"  flag 0x{tf.tf_eflags:08x}")
    lines.append(f"  esp  0x{tf.tf_esp:08x}")
    lines.append(f"  ss   0x----{tf.tf_ss:04x}")
    return "\n".join(lines) + "\n"


def print_trapframe(k: Kernel, idx: int) -> None:
    k.cprintf(format_trapframe(k, idx))
