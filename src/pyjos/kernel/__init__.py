"""Layer 2, the kernel: JOS's kernel in Python (envs, memory, traps, system calls)."""

from .kernel import DEFAULT_MEM, DEFAULT_MEM_MIB, DEFAULT_QUANTUM, Kernel, KernelConfig, RunResult
from .load import LoadError
from ..guest.elf import ElfError

__all__ = ["DEFAULT_MEM", "DEFAULT_MEM_MIB", "DEFAULT_QUANTUM", "Kernel", "KernelConfig",
           "RunResult", "LoadError", "ElfError"]
